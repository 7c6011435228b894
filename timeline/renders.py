"""Rendering a conform's shots: each render job is one :func:`postbay.render.finish_clip` call.

The jobs run in parallel in a process pool (a worker gets the recipe as its TOML data, since
a processor record may hold lambdas); each worker reports its finished frames on a queue, so
a long shot still shows progress, which is the daemon's heartbeat. Also here: the ASC CDL a
``match`` step leaves in a finished clip's notes, and the hero's reference still.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from fractions import Fraction
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from postbay.activity import ACTIVITY
from postbay.errors import PostbayError
from postbay.media import VideoReader, probe
from postbay.recipe import Recipe, parse_recipe
from postbay.render import finish_clip
from postbay.timeline.plan import ClipPlan, RenderJob

__all__ = ["Progress", "ShotPool", "cdl_from_notes", "match_step", "recipe_data", "reference_still", "render_jobs"]

#: ``progress(frames done, frames in all)``.
Progress = Callable[[int, int], None]


def recipe_data(recipe: Recipe) -> dict[str, Any]:
    """The recipe as the TOML data it parses from: what crosses to a worker process (a processor
    record may hold lambdas, which do not pickle)."""
    data: dict[str, Any] = {
        "name": recipe.name, "description": recipe.description,
        "steps": [{"processor": s.name, **s.params.model_dump(mode="json", exclude_unset=True)} for s in recipe.steps
                  if s.added_by is None],  # added steps come back from their step's parameters
        "output": recipe.output.model_dump(mode="json"),
        "deliveries": [d.model_dump(mode="json", exclude_none=True) for d in recipe.deliveries],
    }
    data.update(recipe.timeline.model_dump(exclude_none=True))
    return data


@functools.lru_cache(maxsize=8)
def _worker_recipe(text: str, source: str) -> Recipe:
    return parse_recipe(json.loads(text), source=source)


#: In a render worker process: where it reports the frames each shot has finished (set by
#: the pool's initializer), so a long shot still shows progress, which is the daemon's heartbeat.
_frames_queue: Any = None


def _report_to(queue: Any) -> None:
    global _frames_queue
    _frames_queue = queue


def _render_one(media: str, recipe: Recipe | tuple[str, str], out_dir: str, start: int, count: int, name: str,
                reference: np.ndarray | None, gpu: str, ocio_config: str, progress: Progress | None = None,
                rate: Fraction | None = None) -> tuple[str | None, dict[str, Any], str | None, float]:
    """Worker: one finish_clip call; errors come back as text (they cross a process boundary).

    ``recipe`` is a :class:`Recipe` in-process, or ``(JSON data, source)`` in a worker process.
    ``progress`` is called in-process; a worker process sends its frames to the pool's queue.
    """
    t0 = time.perf_counter()
    if progress is None and _frames_queue is not None:
        queue = _frames_queue
        progress = lambda done, total: queue.put((name, done))  # noqa: E731
    try:
        if isinstance(recipe, tuple):
            recipe = _worker_recipe(*recipe)
        info = probe(media, rate=rate) if rate else None  # an image sequence plays at the timeline's rate
        result = finish_clip(media, recipe, out_dir, gpu=gpu, ocio_config=ocio_config, start=start, count=count,
                             name=name, reference=reference, progress=progress, info=info)
        report = dict(result.report)
        report["report_path"] = str(result.report_path)
        return str(result.output), report, None, time.perf_counter() - t0
    except PostbayError as exc:
        return None, {}, str(exc), time.perf_counter() - t0
    except Exception as exc:  # a processor bug must not take the other shots down
        return None, {}, f"{media}: {type(exc).__name__}: {exc}", time.perf_counter() - t0


def _pool(workers: int) -> tuple[ProcessPoolExecutor, Any]:
    """A pool of render workers and the queue on which they report finished frames."""
    # fork is cheapest (postbay is already imported) and safe while this is the only thread;
    # a threaded host (the daemon, the API) gets forkserver, which forks from a clean server.
    ctx: BaseContext
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("fork")
    else:
        server = multiprocessing.get_context("forkserver")
        server.set_forkserver_preload(["postbay.render", "postbay.processors"])
        ctx = server
    frames = ctx.SimpleQueue()
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_report_to, initargs=(frames,)), frames


class ShotPool(Protocol):
    """Somewhere else to render shots (the Ray executor's pool fans them out over a cluster)."""

    workers: int  # shots that can render at once

    def map(self, fn: Callable[..., Any], arglists: list[tuple[Any, ...]],
            tick: Callable[[], None]) -> Iterator[tuple[int, Any, str | None]]:
        """``(index, fn(*args) or the exception that lost it, node)`` per shot as each finishes;
        ``tick()`` now and then while none does (the job's heartbeat)."""
        ...


def render_jobs(jobs: list[RenderJob], recipe: Recipe, out_dir: Path, *, workers: int,
                 reference: np.ndarray | None, gpu: str, ocio_config: str, progress: Progress | None,
                 shot_pool: ShotPool | None = None) -> None:
    """Render every shot: in this process (one worker), in a pool of processes here, or, with a
    ``shot_pool``, wherever the pool puts them (a cluster); each job gets its output or error.
    The activity says ``shot K/N``: K-1 shots are finished, the K-th renders (with others, in a pool)."""
    total = sum(j.count for j in jobs)
    done = 0
    partial: dict[str, int] = {}  # frames finished so far of the shots still rendering
    shots_done = 0

    def report() -> None:
        ACTIVITY.in_shot(min(shots_done + 1, len(jobs)), len(jobs))
        if progress is not None:
            progress(done + sum(partial.values()), total)

    def finished(job: RenderJob, outcome: tuple[Any, ...]) -> None:
        nonlocal done, shots_done
        shots_done += 1
        output, report_data, error, seconds = outcome
        job.output = Path(output) if output else None
        job.report, job.error, job.seconds = report_data, error, seconds
        partial.pop(job.name, None)
        done += job.count
        report()

    def shot_progress(name: str) -> Progress:
        def update(frames: int, _: int) -> None:
            partial[name] = frames
            report()
        return update

    ACTIVITY.in_shot(1, len(jobs))
    ACTIVITY.begin("rendering")  # the shots' own phases and steps where they render in this process
    report()
    if shot_pool is None and (workers <= 1 or len(jobs) <= 1):
        for job in jobs:
            finished(job, _render_one(str(job.media), recipe, str(out_dir), job.start, job.count, job.name,
                                      reference, gpu, ocio_config, shot_progress(job.name), job.rate))
        return
    portable = (json.dumps(recipe_data(recipe)), recipe.source)
    args = lambda job: (str(job.media), portable, str(out_dir), job.start, job.count, job.name, reference, gpu,  # noqa: E731
                        ocio_config, None, job.rate)
    if shot_pool is not None:
        for i, outcome, node in shot_pool.map(_render_one, [args(job) for job in jobs], report):
            jobs[i].node = node
            if isinstance(outcome, BaseException):  # the worker or its node was lost
                outcome = (None, {}, f"{jobs[i].media}: render worker failed: {outcome}", 0.0)
            finished(jobs[i], outcome)
        return
    pool, frames = _pool(min(workers, len(jobs)))
    with pool:
        pending: dict[Future[Any], RenderJob] = {pool.submit(_render_one, *args(job)): job for job in jobs}
        while pending:
            ready, _ = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            moved = not frames.empty()
            while not frames.empty():
                name, count = frames.get()
                if any(job.name == name for job in pending.values()):
                    partial[name] = count
            for fut in ready:
                job = pending.pop(fut)
                try:
                    finished(job, fut.result())
                except Exception as exc:  # the worker process died (out of memory, killed)
                    finished(job, (None, {}, f"{job.media}: render worker failed: {type(exc).__name__}: {exc}", 0.0))
            if moved and not ready:
                report()


def cdl_from_notes(notes: dict[str, Any]) -> dict[str, Any] | None:
    """The ASC CDL a ``match`` step left in a finished clip's notes, as slope/offset/power/saturation."""
    for key, value in (notes or {}).items():
        if ":match" not in key or not isinstance(value, dict) or not isinstance(value.get("cdl"), dict):
            continue
        cdl = value["cdl"]
        sop = cdl.get("asc_sop", cdl)
        try:
            out: dict[str, Any] = {"slope": [float(v) for v in sop["slope"]],
                                   "offset": [float(v) for v in sop["offset"]],
                                   "power": [float(v) for v in sop["power"]]}
        except (KeyError, TypeError, ValueError):
            return None
        sat = cdl.get("saturation", cdl.get("sat", cdl.get("asc_sat", 1.0)))
        out["saturation"] = float(sat)
        return out
    return None


def match_step(recipe: Recipe) -> Any:
    for step in recipe.steps:
        if step.name == "match":
            return step
    return None


def reference_still(plan: ClipPlan) -> np.ndarray:
    """The hero's middle frame of its cut, as (H, W, 3) float32 display-space RGB."""
    middle = (plan.used[0] + plan.used[1]) // 2
    for _, picture in VideoReader(plan.media, start=middle, count=1):
        return picture.astype(np.float32) / np.float32(65535.0)
    raise PostbayError("cannot decode the hero frame", path=plan.media)
