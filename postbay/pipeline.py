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

from postbay.backend import Backend, in_bands, numpy_backend
from postbay.colour import DEFAULT_OCIO_CONFIG, convert
from postbay.cuts import CutDetector
from postbay.errors import PostbayError
from postbay.recipe import Step
from postbay.registry import FrameFormat, StepContext
from postbay.subtitles import Captions

__all__ = ["Pipeline", "StageTimer", "run_stages", "windowed", "to_float", "to_uint16"]

_SCALE = 1.0 / 65535.0


def to_float(picture: np.ndarray, backend: Backend) -> Any:
    """uint16 RGB on the host → float32 [0, 1] on the backend (converted after upload; on the
    CPU in bands of rows on the worker threads)."""
    xp = backend.xp
    x = backend.asarray(picture)
    out = xp.empty(x.shape, xp.float32)

    def rows(r0: int, r1: int) -> None:
        xp.multiply(x[r0:r1], np.float32(_SCALE), out=out[r0:r1])

    _by_rows(backend, x.shape[0], rows)
    return out


def to_uint16(frame: Any, backend: Backend) -> np.ndarray:
    """float32 RGB on the backend → clipped uint16 RGB on the host (converted before download)."""
    xp = backend.xp
    out = xp.empty(frame.shape, xp.uint16)

    def rows(r0: int, r1: int) -> None:
        x = xp.clip(frame[r0:r1], 0.0, 1.0)
        x *= 65535.0
        x += 0.5
        out[r0:r1] = x  # truncation after + 0.5: rounded

    _by_rows(backend, frame.shape[0], rows)
    return backend.to_host(out)


def _by_rows(backend: Backend, rows: int, work: Callable[[int, int], None]) -> None:
    """``work`` over all rows: in bands on the CPU worker threads, in one piece on a GPU."""
    if backend.name == "cpu":
        in_bands(rows, work, min_rows=64)
    else:
        work(0, rows)


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
    """Cumulative wall time spent pulling from each stage of a chain of generators, and the
    stage running now: pulls nest (a step pulls from the one before it), so the innermost
    stage being pulled, the top of ``active``, is the one whose code executes."""

    def __init__(self) -> None:
        self.cumulative: dict[str, float] = {}
        self.order: list[str] = []
        self.active: list[str] = []  # stages being pulled now, outermost first (the consumer's thread)

    def wrap(self, name: str, it: Iterable[Any]) -> Iterator[Any]:
        self.order.append(name)
        self.cumulative[name] = 0.0
        return self._timed(name, iter(it))

    def _timed(self, name: str, iterator: Iterator[Any]) -> Iterator[Any]:
        while True:
            t0 = time.perf_counter()
            self.active.append(name)
            try:
                item = next(iterator)
            except StopIteration:
                self.cumulative[name] += time.perf_counter() - t0
                return
            finally:
                self.active.pop()
            self.cumulative[name] += time.perf_counter() - t0
            yield item

    def current(self) -> str | None:
        """The stage whose code runs now (None between frames); safe to ask from another thread."""
        try:
            return self.active[-1]
        except IndexError:
            return None

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
    """A recipe's frame and audio steps, ready to run on one clip.

    ``cuts`` are the range's shot cuts the caller knows (a timeline's, or the render's pass for
    audio steps); frame steps that declare ``needs_cuts`` also get those the detector finds on
    the way in. ``references`` and ``music`` are the decoded media of the steps that
    declare ``reads``, by step index; ``captions`` is left by a captions step for the burn-in.
    """

    steps: list[Step]
    backend: Backend = field(default_factory=numpy_backend)
    ocio_config: str = DEFAULT_OCIO_CONFIG
    info: Any = None
    seed: int = 0
    cuts: tuple[int, ...] | None = None
    references: dict[int, np.ndarray] = field(default_factory=dict)
    music: dict[int, np.ndarray] = field(default_factory=dict)
    captions: Captions | None = None
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

    def _context(self, step: Step, fmt_in: FrameFormat | None, fmt_out: FrameFormat | None) -> StepContext:
        proc = step.processor
        ctx = StepContext(backend=self.backend if proc.kind != "audio" else numpy_backend(),
                          fmt_in=fmt_in, fmt_out=fmt_out,  # type: ignore[arg-type]  # audio steps have none
                          window=proc.window_for(step.params), step_index=step.index, info=self.info, seed=self.seed,
                          cuts=(self.cuts or ()) if proc.needs_cuts else (), ocio_config=self.ocio_config,
                          reference=self.references.get(step.index),
                          music=self.music.get(step.index), captions=self.captions)
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
            if proc.needs_cuts:
                stream = _find_cuts(stream, ctx)
            if proc.kind == "stream":
                stream = _held_in_window(step, ctx, stream)
            else:
                before, after = ctx.window
                stream = _apply_frames(proc.function, windowed(stream, before, after), ctx, step.params)
            stream = self.timer.wrap(f"{step.index}:{step.name}", stream)
        if space != "display":
            stream = self.timer.wrap(f"colour {space}→display", self._convert(stream, space, "display"))
        return self.timer.wrap("download", (to_uint16(f, self.backend) for f in stream))

    def current_step(self) -> str | None:
        """What the frame stages do now, for :mod:`postbay.activity`: ``"denoise 1/7"`` (the
        recipe's step and its place among all its steps), ``"decoding"`` or ``"encoding"`` while
        the chain waits on the decoder or the encoder, ``"colour display→linear"`` between steps.
        None before :meth:`process` built the chain."""
        if not self.timer.order:
            return None
        stage = self.timer.current()
        if stage is None or stage == "download":  # waiting to hand a frame to the encoder, or converting it for it
            return "encoding"
        if stage == "upload":  # waiting for the next decoded frame
            return "decoding"
        index, _, name = stage.partition(":")
        return f"{name} {index}/{len(self.steps)}" if index.isdigit() else stage

    def process_audio(self, samples: np.ndarray, rate: int) -> np.ndarray:
        """Run the audio steps over (channels, n) float32 samples."""
        for step in self.audio_steps:
            ctx = self._context(step, None, None)
            t0 = time.perf_counter()
            samples = step.processor.function(samples, rate, ctx, step.params)
            self.timer.cumulative[f"{step.index}:{step.name}"] = time.perf_counter() - t0
            self.captions = ctx.captions
        return samples


def _find_cuts(frames: Iterable[Any], ctx: StepContext) -> Iterator[Any]:
    """Pass frames on, adding each shot cut seen to ``ctx.cuts`` (which starts with those the job
    gave) before the frame that starts the shot."""
    detect = CutDetector(ctx.backend)
    for n, frame in enumerate(frames):
        if detect(frame):
            ctx.cuts = tuple(sorted({*ctx.cuts, n}))
        yield frame


def _held_in_window(step: Step, ctx: StepContext, frames: Iterator[Any]) -> Iterator[Any]:
    """Run a stream step, failing as soon as it holds more frames than the window it declares.

    Held frames are those pulled from upstream and not yet given back (scaled by the frame
    count ratio when the step changes the rate): a step that reads ahead past its window
    would hold the whole clip in memory on a long shot.
    """
    before, after = ctx.window
    limit = before + after + 1 + (1 if step.processor.changes_rate else 0)
    ratio = ctx.fmt_in.frames / ctx.fmt_out.frames if ctx.fmt_out.frames else 1.0
    pulled = given = 0

    def upstream() -> Iterator[Any]:
        nonlocal pulled
        for frame in frames:
            pulled += 1
            held = pulled - int(given * ratio)
            if held > limit:
                raise PostbayError(f"step {step.index} ({step.name}) holds {held} frames, more than its declared "
                                   f"window ({before} before, {after} after)",
                                   hint=f"the processor from {step.processor.origin} must declare the frames it "
                                        "buffers as its window")
            yield frame

    for out in step.processor.function(upstream(), ctx, step.params):
        given += 1
        yield out


def _apply_frames(fn: Callable[..., Any], windows: Iterable[list[Any]], ctx: StepContext, params: Any) -> Iterator[Any]:
    for n, window in enumerate(windows):
        ctx.frame_index = n
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
