"""Planning a conform: which clips the cut uses, where their used range lies in the media, which renders.

A :class:`ClipPlan` says what happens to one clip of the cut (relinked, placed in its media
file with handles clamped to the file, or passed through); clips whose ranges overlap in one
file share one :class:`RenderJob`. The hero shot (marked ``hero``/``REF``) is the one a
``match`` step matches the cut to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from postbay.media import frames_to_timecode
from postbay.sequences import is_sequence_spec
from postbay.timeline.reader import LoadedTimeline
from postbay.timeline.relink import MEDIA_SUFFIXES, MediaInfo, Relink, Relinker, audio_range, media_origin

__all__ = ["DEFAULT_HANDLES", "HERO_MARKERS", "ClipPlan", "RenderJob", "clip_slots", "group_jobs", "hero_clip",
           "plan_clips", "safe_name", "to_frames"]

#: Frames finished each side of a clip's used range (clamped to the media), so the editor can still trim.
DEFAULT_HANDLES = 12
#: Marker names (any case) that make a clip the hero shot.
HERO_MARKERS = {"hero", "ref"}


@dataclass
class RenderJob:
    """One finished file: a range of one media file, used by one or more clips."""

    media: Path
    start: int  # first frame, counted from the file's first frame
    count: int
    name: str
    clips: list[str] = field(default_factory=list)
    rate: Fraction | None = None  # an image sequence's rate (a movie carries its own)
    output: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    node: str | None = None  # the cluster node that rendered it (a shot pool says)

    def to_dict(self) -> dict[str, Any]:
        return {"media": str(self.media), "start": self.start, "frames": self.count, "name": self.name,
                "clips": self.clips, "output": str(self.output) if self.output else None, "error": self.error,
                "seconds": round(self.seconds, 3), "report": self.report.get("report_path"), "node": self.node}


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

    @property
    def media(self) -> Path:
        """The media file the clip was relinked to (asked only of a clip whose media was found)."""
        if self.relink is None or self.relink.path is None:
            raise ValueError(f"{self.key}: the clip has no media")
        return self.relink.path

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



def safe_name(text: str, limit: int = 40) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text or "").strip("._-")
    return text[:limit] or "clip"


def to_frames(rt: otio.opentime.RationalTime, rate: Fraction, *, ceil: bool = False) -> int:
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
        if names & HERO_MARKERS:
            return plan
    return found[0] if found else None


def clip_slots(timelines: list[Any]) -> Iterator[tuple[int, int, str, str, int, str, otio.schema.Clip]]:
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
            prefix = f"{safe_name(tl.name, 24)}/" if multi else ""
            for pos, item in enumerate(track, start=1):
                if isinstance(item, otio.schema.Clip):
                    yield ti, si, kind, label, pos, f"{prefix}{label}/{pos}", item


def plan_clips(loaded: LoadedTimeline, relinker: Relinker,
               handles: int) -> tuple[list[ClipPlan], dict[str, otio.schema.Clip]]:
    """A plan for every clip of the timelines, and the clips by their keys."""
    plans: list[ClipPlan] = []
    items: dict[str, otio.schema.Clip] = {}
    for ti, si, kind, label, pos, key, item in clip_slots(loaded.timelines):
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
        plan.relink = relinker.locate(item, audio=kind == "Audio")
        if not plan.relink.found:
            plan.status = "failed" if plan.relink.how == "unreadable" else "missing"
            if plan.relink.how == "unreadable":
                plan.notes.append(plan.relink.tried[-1])
            continue
        if kind == "Audio":
            plan.status = "passed through"
            _check_audio_range(plan, item, relinker.probe_audio(plan.media), loaded.rate)
            continue
        info = relinker.probe(plan.media)
        assert info is not None  # the relinker finds only media it could probe
        _place(plan, item, info, handles)
    return plans, items


def _check_audio_range(plan: ClipPlan, clip: otio.schema.Clip, info: MediaInfo | None, rate: Fraction) -> None:
    """An audio-only file must hold the samples the clip uses (a file with picture is placed by it)."""
    if info is None or info.video is not None or not info.audio or clip.source_range is None:
        return
    used = audio_range(_media_span(clip, _time_effect(clip)[0]), info, rate)
    plan.notes.append(f"audio-only media: {used.describe()}")
    if not used.inside:
        plan.status = "failed"
        plan.notes.append("the media is shorter than the edit")


def _place(plan: ClipPlan, clip: otio.schema.Clip, info: MediaInfo, handles: int) -> None:
    """Where the clip's used range lies in its media file, with handles clamped to the file."""
    video = info.require_video()
    rate = video.rate_fraction
    plan.media_rate = rate
    speed, plan.effects = _time_effect(clip)
    span = _media_span(clip, speed)
    start_tc = to_frames(span.start_time, rate)
    end_tc = to_frames(span.end_time_exclusive(), rate, ceil=True)
    origin, plan.origin_from = media_origin(info)
    ref = clip.media_reference
    avail = getattr(ref, "available_range", None)
    # A sequence's timecode is its first frame number, which Premiere ignores (its frames count from zero).
    sequence = is_sequence_spec(plan.media)
    if (start_tc < origin or end_tc > origin + video.frames) and (not info.timecode or sequence) and avail is not None:
        alt = to_frames(avail.start_time, rate)
        if alt <= start_tc and end_tc <= alt + video.frames:
            origin, plan.origin_from = alt, (f"the timeline counts the sequence's frames from {alt}" if sequence else
                                             "no timecode in the file: start taken from the timeline's media reference")
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


def group_jobs(plans: list[ClipPlan], timeline_name: str) -> list[RenderJob]:
    """One render per media file range; clips whose ranges (with handles) overlap share it."""
    by_media: dict[Path, list[ClipPlan]] = {}
    for plan in plans:
        if plan.status == "planned":
            by_media.setdefault(plan.media.resolve(), []).append(plan)
    jobs: list[RenderJob] = []
    names: set[str] = set()
    for group in by_media.values():
        group.sort(key=lambda p: p.used[0] - p.handles[0])
        current: list[ClipPlan] = []
        lo = hi = 0
        following: list[ClipPlan | None] = [*group, None]  # None closes the last render
        for candidate in following:
            if candidate is not None:
                a, b = candidate.used[0] - candidate.handles[0], candidate.used[1] + candidate.handles[1]
                if current and a < hi:
                    current.append(candidate)
                    hi = max(hi, b)
                    continue
            if current:
                first = current[0]
                clip_name = Path(first.name).stem if Path(first.name).suffix.lower() in MEDIA_SUFFIXES else first.name
                name = safe_name(f"{timeline_name}_{first.track_label}_{first.position:03d}_{clip_name}", 96)
                while name in names:
                    name += "_b"
                names.add(name)
                job = RenderJob(media=current[0].media, start=lo, count=hi - lo, name=name,
                                clips=[p.key for p in current],
                                rate=first.media_rate if is_sequence_spec(first.media) else None)
                for p in current:
                    p.job = job
                jobs.append(job)
            if candidate is not None:
                current, lo, hi = [candidate], a, b
    jobs.sort(key=lambda j: j.name)
    return jobs
