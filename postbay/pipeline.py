"""The frame pipeline: pictures stream through a recipe's steps with bounded memory.

Like a VapourSynth graph, each step declares the frames it needs around the current one and
the colour space it works in; the pipeline buffers exactly that window (edges repeated at
the ends of the clip), converts colour between steps through OpenColorIO only where the
declared space changes, and hands the processor arrays on the chosen backend. Whatever
the clip's length, memory holds a few windows of frames, never the clip.

Decode, processing and encode run in three threads joined by small bounded queues
(:func:`run_stages`): PyAV and NumPy release the GIL, so they overlap.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from postbay.backend import Backend, numpy_backend
from postbay.colour import DEFAULT_CONFIG, convert
from postbay.recipe import Step
from postbay.registry import FrameFormat, StepContext

__all__ = ["Pipeline", "StageTimer", "run_stages", "windowed", "to_float", "to_uint16"]

_SCALE = 1.0 / 65535.0


def to_float(picture: np.ndarray, backend: Backend) -> Any:
    """uint16 RGB on the host → float32 [0, 1] on the backend (converted after upload)."""
    x = backend.asarray(picture).astype(backend.xp.float32)
    x *= _SCALE
    return x


def to_uint16(frame: Any, backend: Backend) -> np.ndarray:
    """float32 RGB on the backend → clipped uint16 RGB on the host (converted before download)."""
    xp = backend.xp
    x = xp.clip(frame, 0.0, 1.0)
    x *= 65535.0
    x += 0.5
    return backend.to_host(x.astype(xp.uint16))


def windowed(frames: Iterable[Any], before: int, after: int) -> Iterator[list[Any]]:
    """Yield, for each frame, the list ``[n-before … n … n+after]`` with edges repeated."""
    history: deque[Any] = deque(maxlen=max(before, 1))
    ahead: deque[Any] = deque()

    def window() -> list[Any]:
        past = list(history)[-before:] if before else []
        past = [past[0]] * (before - len(past)) + past if past else [ahead[0]] * before
        future = list(ahead)[: after + 1]
        future += [future[-1]] * (after + 1 - len(future))
        return past + future

    for frame in frames:
        ahead.append(frame)
        if len(ahead) > after:
            yield window()
            history.append(ahead.popleft())
    while ahead:
        yield window()
        history.append(ahead.popleft())


class StageTimer:
    """Cumulative wall time spent pulling from each stage of a chain of generators."""

    def __init__(self) -> None:
        self.cumulative: dict[str, float] = {}
        self.order: list[str] = []

    def wrap(self, name: str, it: Iterable[Any]) -> Iterator[Any]:
        self.order.append(name)
        self.cumulative[name] = 0.0
        return self._timed(name, iter(it))

    def _timed(self, name: str, iterator: Iterator[Any]) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.cumulative[name] += time.perf_counter() - t0
                return
            self.cumulative[name] += time.perf_counter() - t0
            yield item

    def self_times(self) -> dict[str, float]:
        """Time of each stage alone (its cumulative time less its upstream's)."""
        out: dict[str, float] = {}
        previous = 0.0
        for name in self.order:
            total = self.cumulative[name]
            out[name] = round(max(0.0, total - previous), 4)
            previous = total
        return out


@dataclass
class Pipeline:
    """A recipe's frame and audio steps, ready to run on one clip."""

    steps: list[Step]
    backend: Backend = field(default_factory=numpy_backend)
    ocio_config: str = DEFAULT_CONFIG
    info: Any = None
    seed: int = 0
    shared: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    timer: StageTimer = field(default_factory=StageTimer)

    @property
    def frame_steps(self) -> list[Step]:
        return [s for s in self.steps if s.processor.kind != "audio"]

    @property
    def audio_steps(self) -> list[Step]:
        return [s for s in self.steps if s.processor.kind == "audio"]

    def formats(self, fmt_in: FrameFormat) -> list[FrameFormat]:
        """The format after each frame step (the last one is what the encoder gets)."""
        fmts = [fmt_in]
        for step in self.frame_steps:
            fmts.append(step.processor.output_format(step.params, fmts[-1]))
        return fmts

    def output_format(self, fmt_in: FrameFormat) -> FrameFormat:
        return self.formats(fmt_in)[-1]

    def max_window(self) -> int:
        return sum(sum(s.processor.window_for(s.params)) for s in self.frame_steps)

    def _context(self, step: Step, fmt_in: FrameFormat, fmt_out: FrameFormat) -> StepContext:
        ctx = StepContext(backend=self.backend, fmt_in=fmt_in, fmt_out=fmt_out,
                          window=step.processor.window_for(step.params), step_index=step.index, info=self.info,
                          seed=self.seed, shared=self.shared)
        self.notes[f"{step.index}:{step.name}"] = ctx.notes
        return ctx

    def _convert(self, frames: Iterable[Any], src: str, dst: str) -> Iterator[Any]:
        for frame in frames:
            yield convert(frame, src, dst, self.backend, self.ocio_config)

    def process(self, pictures: Iterable[np.ndarray], fmt_in: FrameFormat) -> Iterator[np.ndarray]:
        """Run the frame steps over uint16 RGB pictures; yields uint16 RGB pictures."""
        fmts = self.formats(fmt_in)
        stream: Iterator[Any] = self.timer.wrap("upload", (to_float(p, self.backend) for p in pictures))
        space = "display"
        for i, step in enumerate(self.frame_steps):
            proc = step.processor
            if proc.colourspace != space:
                stream = self.timer.wrap(f"colour {space}→{proc.colourspace}",
                                         self._convert(stream, space, proc.colourspace))
                space = proc.colourspace
            ctx = self._context(step, fmts[i], fmts[i + 1])
            if proc.kind == "stream":
                stream = proc.function(stream, ctx, step.params)
            else:
                before, after = ctx.window
                stream = _apply_frames(proc.function, windowed(stream, before, after), ctx, step.params)
            stream = self.timer.wrap(f"{step.index}:{step.name}", stream)
        if space != "display":
            stream = self.timer.wrap(f"colour {space}→display", self._convert(stream, space, "display"))
        return self.timer.wrap("download", (to_uint16(f, self.backend) for f in stream))

    def process_audio(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Run the audio steps over (channels, n) float32 samples."""
        for step in self.audio_steps:
            ctx = StepContext(backend=numpy_backend(), fmt_in=None, fmt_out=None,  # type: ignore[arg-type]
                              step_index=step.index, info=self.info, seed=self.seed, shared=self.shared)
            self.notes[f"{step.index}:{step.name}"] = ctx.notes
            t0 = time.perf_counter()
            samples = step.processor.function(samples, rate, ctx, step.params)
            self.timer.cumulative[f"{step.index}:{step.name}"] = time.perf_counter() - t0
        return samples


def _apply_frames(fn: Callable[..., Any], windows: Iterable[list[Any]], ctx: StepContext, params: Any) -> Iterator[Any]:
    for n, window in enumerate(windows):
        ctx.shared["frame_index"] = n
        yield fn(window, ctx, params)


_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def run_stages(source: Iterable[Any], transform: Callable[[Iterable[Any]], Iterable[Any]],
               sink: Callable[[Any], None], *, depth: int = 4,
               cancelled: Callable[[], bool] | None = None) -> None:
    """Decode (``source``) → ``transform`` → ``sink`` (encode) in three threads.

    Queues hold at most ``depth`` items each, so memory stays bounded. The first error in
    any stage stops all of them and is raised here.
    """
    q_in: queue.Queue[Any] = queue.Queue(maxsize=depth)
    q_out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(q: queue.Queue[Any], item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q: queue.Queue[Any]) -> Any:
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return _DONE

    def produce() -> None:
        try:
            for item in source:
                if cancelled is not None and cancelled():
                    raise InterruptedError("cancelled")
                if not put(q_in, item):
                    return
            put(q_in, _DONE)
        except BaseException as exc:  # handed to the caller
            put(q_in, _Failure(exc))

    def inputs() -> Iterator[Any]:
        while True:
            item = get(q_in)
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item

    def consume() -> None:
        try:
            while True:
                item = get(q_out)
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    errors.append(item.exc)
                    return
                sink(item)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    errors: list[BaseException] = []
    producer = threading.Thread(target=produce, name="postbay-decode", daemon=True)
    consumer = threading.Thread(target=consume, name="postbay-encode", daemon=True)
    producer.start()
    consumer.start()
    try:
        for item in transform(inputs()):
            if stop.is_set() or not put(q_out, item):
                break
        else:
            put(q_out, _DONE)
    except BaseException as exc:
        errors.append(exc)
        stop.set()
    consumer.join()
    stop.set()
    producer.join()
    if errors:
        raise errors[0]
