"""Conform an edit: finish only what the cut uses, hand the editor back the same timeline.

For each clip of the cut postbay finishes the used source range plus ``handles`` frames
each side (12 by default, clamped to the media), so the editor can still trim and
dissolve. Clips that use overlapping parts of one file render that union once. Each render
is a normal :func:`postbay.render.finish_clip` job (verified before it is published,
carrying the source timecode of its first frame), and the renders run in parallel.

The conformed timeline keeps its structure (tracks, order, transitions, markers, gaps,
start) and points every clip at its finished shot, written in the input's format and as
``.otio``; ``<name>.conform.json`` says clip by clip where the media was found, what was
rendered, what each written format lost, and how long it took.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio

from postbay import __version__
from postbay.colour import DEFAULT_OCIO_CONFIG
from postbay.errors import PostbayError
from postbay.media import VideoReader, frames_to_timecode, probe
from postbay.publish import write_json_atomic, write_text_atomic
from postbay.recipe import Recipe, parse_recipe
from postbay.render import finish_clip
from postbay.timeline.reader import FORMATS, LoadedTimeline, read_timeline, timelines_of
from postbay.timeline.relink import MEDIA_SUFFIXES, MediaInfo, Relink, Relinker, media_origin
from postbay.timeline.writeback import Picture, Written, write_all

__all__ = ["ClipPlan", "ConformResult", "RenderJob", "conform_timeline", "DEFAULT_HANDLES",
           "hero_clip", "cdl_from_notes", "recipe_data"]

DEFAULT_HANDLES = 12
Progress = Callable[[int, int], None]
_HERO_MARKERS = {"hero", "ref"}


@dataclass
class RenderJob:
    """One finished file: a range of one media file, used by one or more clips."""

    media: Path
    start: int  # first frame, counted from the file's first frame
    count: int
    name: str
    clips: list[str] = field(default_factory=list)
    output: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"media": str(self.media), "start": self.start, "frames": self.count, "name": self.name,
                "clips": self.clips, "output": str(self.output) if self.output else None, "error": self.error,
                "seconds": round(self.seconds, 3), "report": self.report.get("report_path")}


@dataclass
class ClipPlan:
    """What happens to one clip of the cut."""

    key: str  # "<timeline>/V1/3": timeline, track, 1-based position in the track
    timeline: int
    track: int  # index in the timeline's stack
    track_label: str  # V1, V2, A1…
    position: int
    name: str
    status: str = "pending"  # conformed | missing | failed | passed through
    relink: Relink | None = None
    media_rate: Fraction | None = None
    origin: int = 0  # the media's first frame on the source timecode clock
    origin_from: str = ""
    used: tuple[int, int] = (0, 0)  # [start, end) file frames the cut shows (transitions included)
    handles: tuple[int, int] = (0, 0)
    job: RenderJob | None = None
    effects: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cdl: dict[str, Any] | None = None
    lost: list[str] = field(default_factory=list)  # what each written format drops of this clip
    conformed_clip: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        rate = self.media_rate
        tc = (lambda f: frames_to_timecode(f, rate)) if rate else (lambda f: None)
        out: dict[str, Any] = {
            "clip": self.key, "name": self.name, "track": self.track_label, "position": self.position,
            "status": self.status, "relink": self.relink.to_dict() if self.relink else None, "notes": self.notes,
        }
        if self.job is not None and rate:
            out.update({
                "source": str(self.relink.path) if self.relink else None,
                "source_rate": f"{rate.numerator}/{rate.denominator}",
                "range": {"start": self.used[0], "end": self.used[1], "frames": self.used[1] - self.used[0],
                          "start_tc": tc(self.origin + self.used[0]), "end_tc": tc(self.origin + self.used[1])},
                "origin": self.origin_from,
                "handles": {"before": self.handles[0], "after": self.handles[1]},
                "output": str(self.job.output) if self.job.output else None,
                "render": self.job.name, "shared_with": [k for k in self.job.clips if k != self.key],
                "seconds": round(self.job.seconds, 3),
            })
        if self.effects:
            out["effects"] = self.effects
        if self.cdl is not None:
            out["cdl"] = self.cdl
        if self.lost:
            out["lost"] = self.lost
        return out


@dataclass
class ConformResult:
    """What a conform produced: the plan, the renders, the timelines written, the deliveries."""

    source: Path
    out_dir: Path
    loaded: LoadedTimeline
    clips: list[ClipPlan]
    jobs: list[RenderJob]
    written: list[Written] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    captions: dict[str, Any] | None = None  # the programme's captions (cues, sidecars, notes)
    timings: dict[str, float] = field(default_factory=dict)
    report_path: Path | None = None
    summary_path: Path | None = None
    status: str = "done"
    conformed: Any = None  # the conformed OTIO timeline (or collection)

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def outputs(self) -> list[Path]:
        """Every file the conform published: shots, timelines, caption sidecars, deliveries, report."""
        paths = [j.output for j in self.jobs if j.output] + [w.path for w in self.written if w.path]
        paths += [Path(p) for p in (self.captions or {}).get("sidecars", [])]
        paths += [Path(d["output"]) for d in self.deliveries if d.get("output")]
        return paths + [p for p in (self.report_path, self.summary_path) if p]


# --------------------------------------------------------------------------------------------
# Planning


def _safe(text: str, limit: int = 40) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text or "").strip("._-")
    return text[:limit] or "clip"


def _frames(rt: otio.opentime.RationalTime, rate: Fraction, *, ceil: bool = False) -> int:
    """A time as a frame count at ``rate``: exact when the rates agree, via seconds otherwise."""
    if abs(rt.rate - float(rate)) < 1e-6:
        return int(round(rt.value))
    value = rt.value * float(rate) / rt.rate
    return int(math.ceil(value - 1e-6)) if ceil else int(math.floor(value + 1e-6))


def _time_effect(clip: otio.schema.Clip) -> tuple[float, list[dict[str, Any]]]:
    """The clip's speed (1 = normal, 0 = freeze) and its effects described for the report."""
    speed = 1.0
    described = []
    for effect in clip.effects:
        entry: dict[str, Any] = {"effect": effect.effect_name or effect.schema_name(), "schema": effect.schema_name()}
        if isinstance(effect, otio.schema.FreezeFrame):
            speed = 0.0
            entry["kind"] = "freeze frame"
        elif isinstance(effect, otio.schema.LinearTimeWarp):
            speed *= effect.time_scalar
            entry.update(kind="speed", time_scalar=effect.time_scalar)
        else:
            entry["kind"] = "effect"
        entry["kept"] = "as timeline metadata; the finished shot is rendered at normal speed"
        described.append(entry)
    return speed, described


def _media_span(clip: otio.schema.Clip, speed: float) -> otio.opentime.TimeRange:
    """The part of the source a clip shows, its transitions' overlap and speed included."""
    visible = clip.visible_range()
    if speed == 1.0:
        return visible
    trimmed = clip.trimmed_range()
    extra_before = trimmed.start_time - visible.start_time
    extra_after = visible.end_time_exclusive() - trimmed.end_time_exclusive()
    shown = trimmed.duration + extra_before + extra_after
    rate = shown.rate
    consumed = otio.opentime.RationalTime(max(1.0, math.ceil(abs(speed) * shown.value)), rate)
    return otio.opentime.TimeRange(visible.start_time, consumed)


def hero_clip(plans: list[ClipPlan], timeline_items: dict[str, otio.schema.Clip]) -> ClipPlan | None:
    """The shot the cut is matched to: a clip marked ``hero``/``REF``, else the first clip."""
    found = [p for p in plans if p.status != "missing" and p.track_label.startswith("V")]
    for plan in found:
        clip = timeline_items[plan.key]
        names = {m.name.strip().lower() for m in clip.markers}
        track = clip.parent()
        if track is not None:
            span = clip.range_in_parent()
            names |= {m.name.strip().lower() for m in track.markers if span.contains(m.marked_range.start_time)}
        if names & _HERO_MARKERS:
            return plan
    return found[0] if found else None


def _clip_slots(timelines: list[Any]) -> Iterator[tuple[int, int, str, str, int, str, otio.schema.Clip]]:
    """Every clip of the timelines as ``(timeline, track index, kind, track label, position,
    key, clip)``; the key (``V1/3``, prefixed by the timeline's name when there are several)
    names the clip in plans, reports and file names."""
    multi = len(timelines) > 1
    for ti, tl in enumerate(timelines):
        counters = {"Video": 0, "Audio": 0}
        for si, track in enumerate(tl.tracks):
            if not isinstance(track, otio.schema.Track):
                continue
            kind = track.kind if track.kind in counters else "Video"
            counters[kind] += 1
            label = f"{kind[0]}{counters[kind]}"
            prefix = f"{_safe(tl.name, 24)}/" if multi else ""
            for pos, item in enumerate(track, start=1):
                if isinstance(item, otio.schema.Clip):
                    yield ti, si, kind, label, pos, f"{prefix}{label}/{pos}", item


def _plan(loaded: LoadedTimeline, relinker: Relinker, handles: int) -> tuple[list[ClipPlan], dict[str, otio.schema.Clip]]:
    plans: list[ClipPlan] = []
    items: dict[str, otio.schema.Clip] = {}
    for ti, si, kind, label, pos, key, item in _clip_slots(loaded.timelines):
        plan = ClipPlan(key=key, timeline=ti, track=si, track_label=label, position=pos, name=item.name or "")
        items[key] = item
        plans.append(plan)
        if isinstance(item.media_reference, otio.schema.GeneratorReference):
            plan.status = "passed through"
            plan.notes.append("generator: passed through untouched")
            continue
        if not item.enabled:
            plan.status = "passed through"
            plan.notes.append("disabled clip: passed through untouched")
            continue
        plan.relink = relinker.locate(item)
        if not plan.relink.found:
            plan.status = "failed" if plan.relink.how == "unreadable" else "missing"
            if plan.relink.how == "unreadable":
                plan.notes.append(plan.relink.tried[-1])
            continue
        if kind == "Audio":
            plan.status = "passed through"
            continue
        info = relinker.probe(plan.relink.path)
        _place(plan, item, info, handles)
    return plans, items


def _place(plan: ClipPlan, clip: otio.schema.Clip, info: MediaInfo, handles: int) -> None:
    """Where the clip's used range lies in its media file, with handles clamped to the file."""
    video = info.require_video()
    rate = video.rate_fraction
    plan.media_rate = rate
    speed, plan.effects = _time_effect(clip)
    span = _media_span(clip, speed)
    start_tc = _frames(span.start_time, rate)
    end_tc = _frames(span.end_time_exclusive(), rate, ceil=True)
    origin, plan.origin_from = media_origin(info)
    ref = clip.media_reference
    avail = getattr(ref, "available_range", None)
    if (start_tc < origin or end_tc > origin + video.frames) and not info.timecode and avail is not None:
        alt = _frames(avail.start_time, rate)
        if alt <= start_tc and end_tc <= alt + video.frames:
            origin, plan.origin_from = alt, "no timecode in the file: start taken from the timeline's media reference"
    plan.origin = origin
    start, end = start_tc - origin, end_tc - origin
    if start < 0 or end > video.frames or end <= start:
        plan.status = "failed"
        plan.notes.append(f"the cut uses frames {start}–{end} of a {video.frames}-frame file "
                          f"({plan.origin_from}); the media is shorter than the edit")
        return
    plan.used = (start, end)
    plan.handles = (min(handles, start), min(handles, video.frames - end))
    if plan.handles != (handles, handles):
        plan.notes.append(f"handles clamped to the media: {plan.handles[0]} before, {plan.handles[1]} after")
    if abs(float(rate) - float(clip.trimmed_range().duration.rate)) > 1e-3:
        plan.notes.append(f"source runs at {float(rate):.3f} fps in a {clip.trimmed_range().duration.rate:.3f} fps "
                          "timeline: add a retime step to conform its rate")
    plan.status = "planned"


def _group_jobs(plans: list[ClipPlan], timeline_name: str) -> list[RenderJob]:
    """One render per media file range; clips whose ranges (with handles) overlap share it."""
    by_media: dict[Path, list[ClipPlan]] = {}
    for plan in plans:
        if plan.status == "planned":
            by_media.setdefault(plan.relink.path.resolve(), []).append(plan)
    jobs: list[RenderJob] = []
    names: set[str] = set()
    for media, group in by_media.items():
        group.sort(key=lambda p: p.used[0] - p.handles[0])
        current: list[ClipPlan] = []
        lo = hi = 0
        for plan in group + [None]:  # type: ignore[list-item]
            if plan is not None:
                a, b = plan.used[0] - plan.handles[0], plan.used[1] + plan.handles[1]
                if current and a < hi:
                    current.append(plan)
                    hi = max(hi, b)
                    continue
            if current:
                first = current[0]
                clip_name = Path(first.name).stem if Path(first.name).suffix.lower() in MEDIA_SUFFIXES else first.name
                name = _safe(f"{timeline_name}_{first.track_label}_{first.position:03d}_{clip_name}", 96)
                while name in names:
                    name += "_b"
                names.add(name)
                job = RenderJob(media=current[0].relink.path, start=lo, count=hi - lo, name=name,
                                clips=[p.key for p in current])
                for p in current:
                    p.job = job
                jobs.append(job)
            if plan is not None:
                current, lo, hi = [plan], a, b
    jobs.sort(key=lambda j: j.name)
    return jobs


# --------------------------------------------------------------------------------------------
# Rendering


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
                reference: np.ndarray | None, gpu: str, ocio_config: str,
                progress: Progress | None = None) -> tuple[str | None, dict[str, Any], str | None, float]:
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
        result = finish_clip(media, recipe, out_dir, gpu=gpu, ocio_config=ocio_config, start=start, count=count,
                             name=name, reference=reference, progress=progress)
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
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("fork")
    else:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["postbay.render", "postbay.processors"])
    frames = ctx.SimpleQueue()
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_report_to, initargs=(frames,)), frames


def _render_jobs(jobs: list[RenderJob], recipe: Recipe, out_dir: Path, *, workers: int,
                 reference: np.ndarray | None, gpu: str, ocio_config: str, progress: Progress | None) -> None:
    total = sum(j.count for j in jobs)
    done = 0
    partial: dict[str, int] = {}  # frames finished so far of the shots still rendering

    def report() -> None:
        if progress is not None:
            progress(done + sum(partial.values()), total)

    def finished(job: RenderJob, outcome: tuple[Any, ...]) -> None:
        nonlocal done
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

    report()
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            finished(job, _render_one(str(job.media), recipe, str(out_dir), job.start, job.count, job.name,
                                      reference, gpu, ocio_config, shot_progress(job.name)))
        return
    portable = (json.dumps(recipe_data(recipe)), recipe.source)
    args = lambda job: (str(job.media), portable, str(out_dir), job.start, job.count, job.name, reference, gpu,  # noqa: E731
                        ocio_config)
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
            out = {"slope": [float(v) for v in sop["slope"]], "offset": [float(v) for v in sop["offset"]],
                   "power": [float(v) for v in sop["power"]]}
        except (KeyError, TypeError, ValueError):
            return None
        sat = cdl.get("saturation", cdl.get("sat", cdl.get("asc_sat", 1.0)))
        out["saturation"] = float(sat)
        return out
    return None


def _match_step(recipe: Recipe) -> Any:
    for step in recipe.steps:
        if step.name == "match":
            return step
    return None


def _reference_still(plan: ClipPlan) -> np.ndarray:
    """The hero's middle frame of its cut, as (H, W, 3) float32 display-space RGB."""
    middle = (plan.used[0] + plan.used[1]) // 2
    for _, picture in VideoReader(plan.relink.path, start=middle, count=1):
        return picture.astype(np.float32) / np.float32(65535.0)
    raise PostbayError("cannot decode the hero frame", path=plan.relink.path)


# --------------------------------------------------------------------------------------------
# Write-back


def _file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()


def _conformed_copy(loaded: LoadedTimeline, plans: list[ClipPlan], recipe: Recipe,
                    handles: int) -> tuple[Any, Picture | None]:
    """The timeline with every finished clip pointing at its render, source ranges in the render."""
    root = copy.deepcopy(loaded.root)
    timelines = timelines_of(root)
    picture: Picture | None = None
    by_key = {p.key: p for p in plans}
    job_media: dict[tuple[Path, int, int], RenderJob] = {}
    for plan in plans:
        if plan.job is not None and plan.job.output is not None:
            job_media[(plan.relink.path.resolve(), plan.job.start, plan.job.start + plan.job.count)] = plan.job
    for _ti, _si, kind, _label, _pos, key, item in _clip_slots(timelines):
        plan = by_key.get(key)
        if plan is None:
            continue
        meta: dict[str, Any] = {"status": plan.status, "recipe": recipe.name, "postbay": __version__}
        if plan.relink is not None:
            meta["source"] = str(plan.relink.path) if plan.relink.path else None
            meta["relinked"] = plan.relink.how
            meta["written_reference"] = plan.relink.written
        if plan.effects:
            meta["effects"] = plan.effects
        job = plan.job
        if kind == "Audio" and plan.relink is not None and plan.relink.found:
            _repoint_audio(item, plan, job_media)
        if job is not None and job.output is not None and plan.status == "conformed":
            out = job.report.get("output_probe") or probe(job.output).to_dict()
            vid = out["video"]
            rate = Fraction(vid["rate"])
            first = plan.origin + job.start
            if out.get("timecode"):
                try:
                    first = otio.opentime.from_timecode(out["timecode"], float(rate)).value
                except Exception:  # keep the planned start
                    pass
            ref = otio.schema.ExternalReference(
                target_url=_file_url(job.output),
                available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(first, float(rate)),
                                                        otio.opentime.RationalTime(vid["frames"], float(rate))))
            ref.name = job.output.name
            item.media_reference = ref
            if picture is None:
                sar = Fraction(vid["sample_aspect_ratio"].replace(":", "/"))
                picture = Picture(vid["width"], vid["height"], loaded.rate, sar)
            meta.update({
                "rendered": str(job.output),
                "source_range": {"start_tc": frames_to_timecode(plan.origin + plan.used[0], plan.media_rate),
                                 "start_frame": plan.used[0], "frames": plan.used[1] - plan.used[0]},
                "handles": {"before": plan.handles[0], "after": plan.handles[1], "asked": handles},
                "rendered_range": {"start_frame": job.start, "frames": job.count,
                                   "start_tc": frames_to_timecode(plan.origin + job.start, plan.media_rate)},
            })
            if plan.cdl is not None:
                meta["cdl"] = plan.cdl
                item.metadata["cdl"] = {"asc_sop": {k: plan.cdl[k] for k in ("slope", "offset", "power")},
                                        "asc_sat": plan.cdl["saturation"]}
        item.metadata["postbay"] = meta
        plan.conformed_clip = item
    return root, picture


def _repoint_audio(item: otio.schema.Clip, plan: ClipPlan, job_media: dict[tuple[Path, int, int], RenderJob]) -> None:
    """An audio clip cut from a file whose picture was finished follows it to the render (same sync)."""
    media = plan.relink.path.resolve()
    for (path, lo, hi), job in job_media.items():
        if path != media or not job.report.get("output_probe", {}).get("audio"):
            continue
        out = job.report["output_probe"]
        rate = Fraction(out["video"]["rate"])
        origin = 0
        src_tc = job.report.get("input", {}).get("timecode")
        if src_tc:
            origin = otio.opentime.from_timecode(src_tc, float(rate)).value
        sr = item.source_range
        if sr is None:
            continue
        a = _frames(sr.start_time, rate) - origin
        b = _frames(sr.end_time_exclusive(), rate, ceil=True) - origin
        if lo <= a and b <= hi:
            first = origin + lo
            ref = otio.schema.ExternalReference(
                target_url=_file_url(job.output),
                available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(first, float(rate)),
                                                        otio.opentime.RationalTime(hi - lo, float(rate))))
            ref.name = job.output.name
            item.media_reference = ref
            plan.status = "conformed"
            plan.notes.append(f"audio follows the finished picture in {job.output.name}")
            return
    plan.notes.append("audio kept on its source media (no finished render holds this range with audio)")


def _clip_losses(plan: ClipPlan, written: Written) -> list[str]:
    """What ``written`` (a format's measured losses) takes from this clip, in words."""
    clip = plan.conformed_clip
    if clip is None or not written.lost:
        return []
    label = FORMATS[written.format][0].upper()
    lost = " | ".join(written.lost)
    out = []
    parent = clip.parent()
    if plan.track_label.startswith("A") and "audio tracks" in lost:
        out.append("the clip's audio track")
    if plan.track_label.startswith("V") and plan.track_label != "V1" and "video tracks" in lost:
        out.append("the clip's video track")
    if clip.markers and "markers:" in lost:
        out.append(f"{len(clip.markers)} marker(s)")
    elif clip.markers and "marker names upper-cased" in lost:
        out.append("marker names upper-cased")
    if parent is not None and "transitions:" in lost:
        siblings = list(parent)
        index = siblings.index(clip)
        near = [siblings[i] for i in (index - 1, index + 1) if 0 <= i < len(siblings)]
        if any(isinstance(item, otio.schema.Transition) for item in near):
            out.append("its dissolve (becomes a cut)")
    if plan.effects and "speed/freeze effects" in lost:
        out.append("its speed/freeze effect")
    if plan.cdl is not None and "ASC CDLs" in lost:
        out.append("its CDL")
    if "postbay clip metadata" in lost:
        out.append("postbay metadata")
    return [f"{label}: {item}" for item in out]


# --------------------------------------------------------------------------------------------
# The job


def _media_rates_for(relinker: Relinker) -> Callable[[str], list[Fraction]]:
    """For EDL rate inference: the rates of media named in the list's clip-name comments."""

    def rates(text: str) -> list[Fraction]:
        found: list[Fraction] = []
        for m in re.finditer(r"^\*?\s*(?:FROM CLIP NAME|FROM CLIP|FROM FILE|SOURCE FILE)\s*:\s*(.+?)\s*$", text,
                             re.M | re.I):
            name = re.split(r"[\\/]", m.group(1))[-1]
            hit = relinker.index.find(name)
            info = relinker.probe(hit) if hit else None
            if info is not None and info.video is not None:
                found.append(info.video.rate_fraction)
        return found

    return rates


def _handles(value: Any, recipe: Recipe) -> int:
    if value is None:  # the recipe's value was validated when it was parsed
        return recipe.timeline.handles if recipe.timeline.handles is not None else DEFAULT_HANDLES
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PostbayError(f"handles = {value!r}: give a whole number of frames, 0 or more", path=recipe.source)
    return value


def conform_timeline(path: str | Path, recipe: Recipe, out_dir: str | Path, *, media_roots: tuple[Path, ...] | list[Path] = (),
                     handles: int | None = None, rate: Any = None, workers: int | None = None,
                     progress: Progress | None = None, config: Any = None, missing: str | None = None,
                     gpu: str | None = None, confine: bool = False) -> ConformResult:
    """Conform the timeline at ``path`` with ``recipe`` into ``out_dir``.

    Reads and relinks everything before writing anything: a timeline that cannot be read,
    or (with ``missing = "fail"``) a clip whose media cannot be found, raises
    :class:`PostbayError` and leaves ``out_dir`` untouched (a missing-media failure writes
    only the conform report that lists what is missing). ``confine`` (the daemon's jobs):
    clips open only files under the timeline's folder or a media root, symlinks followed.
    """
    t_total = time.perf_counter()
    timings: dict[str, float] = {}
    path = Path(path)
    out_dir = Path(out_dir)
    roots = [Path(r) for r in media_roots] + [Path(r) for r in getattr(config, "media_roots", []) or []]
    handles = _handles(handles, recipe)
    policy = missing or recipe.timeline.missing or "fail"
    gpu = gpu or getattr(config, "gpu", "auto")
    ocio_config = getattr(config, "ocio_config", None) or DEFAULT_OCIO_CONFIG

    t0 = time.perf_counter()
    relinker = Relinker(path, roots, exclude=[out_dir], confine=confine)
    timings["index media"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = read_timeline(path, rate=rate, recipe_rate=recipe.timeline.rate, media_rates=_media_rates_for(relinker))
    timings["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    plans, items = _plan(loaded, relinker, handles)
    timings["relink and plan"] = time.perf_counter() - t0
    name = loaded.name
    missing_plans = [p for p in plans if p.status in ("missing", "failed")]
    result = ConformResult(source=path, out_dir=out_dir, loaded=loaded, clips=plans, jobs=[], timings=timings)
    if missing_plans and policy == "fail":
        result.status = "failed"
        lines = [f"{p.key} {p.name!r}: {p.relink.written if p.relink else ''} ({'; '.join(p.notes) or p.status})"
                 for p in missing_plans]
        _write_report(result, recipe, handles, policy, error=f"{len(missing_plans)} clip(s) without usable media")
        raise PostbayError(f"{len(missing_plans)} clip(s) without usable media: " + "; ".join(lines[:5])
                           + (" …" if len(lines) > 5 else ""), path=path,
                           hint=f"add --media-root, or set missing = \"skip\" in the recipe (report: "
                                f"{result.report_path})")

    jobs = _group_jobs(plans, _safe(name, 40))
    result.jobs = jobs
    reference: np.ndarray | None = None
    step = _match_step(recipe)
    # A match step without its own reference (or with reference = "hero") matches the cut to its hero.
    if step is not None and getattr(step.params, "reference", None) in (None, "hero"):
        hero = hero_clip([p for p in plans if p.status == "planned"], items)
        if hero is not None:
            reference = _reference_still(hero)
            hero.notes.append("hero shot: the cut is colour-matched to it")
    workers = workers if workers is not None else max(1, min(len(jobs), os.cpu_count() or 1))
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    # The captions step captions the programme (whole sentences across cuts, record timing), not
    # each shot: a shot alone would cut sentences at its edges and burn text into the editor's media.
    captions_step = next((s for s in recipe.steps if s.name == "captions"), None)
    captioning = {s.index for s in recipe.steps if s.name == "captions"}
    shot_recipe = replace(recipe, steps=[s for s in recipe.steps
                                         if s.index not in captioning and s.added_by not in captioning])
    _render_jobs(jobs, shot_recipe, out_dir, workers=workers, reference=reference, gpu=gpu, ocio_config=ocio_config,
                 progress=progress)
    timings["render (wall)"] = time.perf_counter() - t0
    timings["render (sum of shots)"] = sum(j.seconds for j in jobs)
    timings["workers"] = workers
    for plan in plans:
        if plan.job is None:
            continue
        if plan.job.error:
            plan.status = "failed"
            plan.notes.append(plan.job.error)
        else:
            plan.status = "conformed"
            plan.cdl = cdl_from_notes(plan.job.report.get("notes", {}))

    t0 = time.perf_counter()
    conformed, picture = _conformed_copy(loaded, plans, recipe, handles)
    result.conformed = conformed
    picture = picture or Picture(1920, 1080, loaded.rate)
    result.written = write_all(conformed, loaded.format, out_dir, name, rate=loaded.rate, picture=picture)
    for written in result.written:
        for plan in plans:
            plan.lost += _clip_losses(plan, written)
    timings["write timelines"] = time.perf_counter() - t0

    programme_captions = None
    if captions_step is not None or any(d.captions for d in recipe.deliveries):
        from postbay.timeline.programme import caption_programme

        t0 = time.perf_counter()
        programme_captions = caption_programme(conformed, captions_step.params if captions_step else None, out_dir,
                                               name, rate=loaded.rate, relinker=relinker)
        result.captions = programme_captions.report
        if captions_step is None:
            result.captions["settings"] = "a delivery asks for captions: the captions step's defaults"
        timings["captions"] = time.perf_counter() - t0

    if recipe.deliveries:
        from postbay.timeline.programme import render_deliveries

        t0 = time.perf_counter()
        result.deliveries = render_deliveries(conformed, recipe, out_dir, name, rate=loaded.rate,
                                              picture=picture, relinker=relinker, captions=programme_captions)
        timings["deliveries"] = time.perf_counter() - t0

    failed = [p for p in plans if p.status == "failed"]
    if failed or [d for d in result.deliveries if d.get("error")]:
        result.status = "failed" if policy == "fail" else "done with problems"
    timings["total"] = time.perf_counter() - t_total
    _write_report(result, recipe, handles, policy)
    if result.status == "failed":
        raise PostbayError(f"{len(failed)} shot(s) failed to render: " + "; ".join(
            f"{p.key}: {p.notes[-1]}" for p in failed[:3]), path=path, hint=f"see {result.report_path}")
    return result


def _write_report(result: ConformResult, recipe: Recipe, handles: int, policy: str, error: str | None = None) -> None:
    result.out_dir.mkdir(parents=True, exist_ok=True)
    loaded = result.loaded
    name = loaded.name
    rate = loaded.rate
    counts: dict[str, int] = {}
    for plan in result.clips:
        counts[plan.status] = counts.get(plan.status, 0) + 1
    render_wall = result.timings.get("render (wall)", 0.0)
    total = result.timings.get("total", 0.0)
    report = {
        "postbay": __version__, "status": result.status, "error": error, "timeline": str(result.source),
        "format": loaded.format, "format_label": FORMATS[loaded.format][1],
        "rate": f"{rate.numerator}/{rate.denominator}", "rate_from": loaded.rate_source, "read_notes": loaded.notes,
        "recipe": recipe.describe(), "handles": handles, "missing": policy, "counts": counts,
        "clips": [p.to_dict() for p in result.clips], "renders": [j.to_dict() for j in result.jobs],
        "written": [w.to_dict() for w in result.written], "deliveries": result.deliveries,
        "captions": result.captions,
        "timings": {k: round(v, 3) if isinstance(v, float) else v for k, v in result.timings.items()},
        "overhead_share": round(max(0.0, total - result.timings.get("render (sum of shots)", 0.0)) / total, 4)
        if total and result.timings.get("workers") == 1 else None,
        "render_wall_share": round(render_wall / total, 4) if total else None,
    }
    result.report_path = result.out_dir / f"{name}.conform.json"
    write_json_atomic(result.report_path, report)
    result.summary_path = result.out_dir / f"{name}.conform.txt"
    write_text_atomic(result.summary_path, summary_text(report))


def summary_text(report: dict[str, Any]) -> str:
    """The conform report as an editor reads it."""
    lines = [f"postbay conform: {report['timeline']}",
             f"  {report['format_label']}, {float(Fraction(report['rate'])):.3f} fps ({report['rate_from']}), "
             f"recipe {report['recipe']['name']}, handles {report['handles']}, missing media: {report['missing']}",
             f"  status: {report['status']}" + (f" ({report['error']})" if report.get("error") else ""),
             "  clips: " + ", ".join(f"{n} {k}" for k, n in sorted(report["counts"].items())), ""]
    for clip in report["clips"]:
        head = f"  {clip['clip']:<12} {clip['name'][:32]:<32} {clip['status']}"
        if clip.get("range"):
            r = clip["range"]
            head += f"  {r['start_tc']}–{r['end_tc']} ({r['frames']} f, handles {clip['handles']['before']}/" \
                    f"{clip['handles']['after']}) → {Path(clip['output']).name if clip.get('output') else '-'}"
        lines.append(head)
        if clip.get("relink"):
            rl = clip["relink"]
            lines.append(f"      media: {rl['how']}" + (f" {rl['path']}" if rl["path"] else f" (tried: {'; '.join(rl['tried'])})"))
        for note in clip.get("notes", []):
            lines.append(f"      note: {note}")
        if clip.get("lost"):
            lines.append(f"      lost: {'; '.join(clip['lost'])}")
        for eff in clip.get("effects", []):
            lines.append(f"      effect: {eff['kind']} {eff['effect']} kept {eff['kept']}")
        if clip.get("cdl"):
            c = clip["cdl"]
            lines.append(f"      CDL: slope {c['slope']} offset {c['offset']} power {c['power']} sat {c['saturation']}")
    lines.append("")
    for w in report["written"]:
        if w["error"]:
            lines.append(f"  NOT WRITTEN {w['label']}: {w['error']}")
        else:
            lines.append(f"  wrote {w['path']}" + (f"  (lost: {'; '.join(w['lost'])})" if w["lost"] else "  (nothing lost)"))
    if report.get("captions"):
        c = report["captions"]
        where = f" → {', '.join(c['sidecars'])}" if c.get("sidecars") else f" ({c.get('note', 'none')})"
        lines.append(f"  captions: {c.get('cues', 0)} cue(s){where}")
    for d in report["deliveries"]:
        lines.append(f"  delivery {d['name']}: {d.get('output') or d.get('error')}"
                     + (f"  [{'; '.join(d.get('notes', []))}]" if d.get("notes") else ""))
    t = report["timings"]
    lines.append(f"  time: {t.get('total', 0)} s total, renders {t.get('render (wall)', 0)} s wall on "
                 f"{t.get('workers', '-')} worker(s)")
    return "\n".join(lines) + "\n"
