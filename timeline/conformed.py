"""The conformed copy of the timeline: every finished clip points at its render.

Video clips point at their finished shots (source ranges in the render's own timecode);
an audio clip cut from a file whose picture was finished follows it into the render, so it
stays in sync. Each clip carries ``postbay`` metadata (status, source, handles, CDL), and
:func:`clip_losses` says what each written format took from it.
"""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from postbay import __version__
from postbay.media import frames_to_timecode, probe
from postbay.recipe import Recipe
from postbay.timeline.plan import ClipPlan, RenderJob, clip_slots, to_frames
from postbay.timeline.reader import FORMATS, LoadedTimeline, timelines_of
from postbay.timeline.writeback import Loss, Picture, Written

__all__ = ["clip_losses", "conformed_copy"]


def _file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()


def conformed_copy(loaded: LoadedTimeline, plans: list[ClipPlan], recipe: Recipe,
                    handles: int) -> tuple[Any, Picture | None]:
    """The timeline with every finished clip pointing at its render, source ranges in the render."""
    root = copy.deepcopy(loaded.root)
    timelines = timelines_of(root)
    picture: Picture | None = None
    by_key = {p.key: p for p in plans}
    job_media: dict[tuple[Path, int, int], RenderJob] = {
        (p.media.resolve(), p.job.start, p.job.start + p.job.count): p.job
        for p in plans if p.job is not None and p.job.output is not None}
    for _ti, _si, kind, _label, _pos, key, item in clip_slots(timelines):
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
        if job is not None and job.output is not None and plan.status == "conformed" and plan.media_rate:
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
    media = plan.media.resolve()
    for (path, lo, hi), job in job_media.items():
        if path != media or job.output is None or not job.report.get("output_probe", {}).get("audio"):
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
        a = to_frames(sr.start_time, rate) - origin
        b = to_frames(sr.end_time_exclusive(), rate, ceil=True) - origin
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


def clip_losses(plan: ClipPlan, written: Written) -> list[str]:
    """What ``written`` (a format's measured losses) takes from this clip, in words."""
    clip = plan.conformed_clip
    if clip is None or not written.losses:
        return []
    label = FORMATS[written.format][0].upper()
    kinds = written.kinds
    out = []
    parent = clip.parent()
    if plan.track_label.startswith("A") and Loss.AUDIO_TRACKS in kinds:
        out.append("the clip's audio track")
    if plan.track_label.startswith("V") and plan.track_label != "V1" and Loss.VIDEO_TRACKS in kinds:
        out.append("the clip's video track")
    if clip.markers and Loss.MARKERS in kinds:
        out.append(f"{len(clip.markers)} marker(s)")
    elif clip.markers and Loss.MARKER_CASE in kinds:
        out.append(Loss.MARKER_CASE.value)
    if parent is not None and Loss.TRANSITIONS in kinds:
        siblings = list(parent)
        index = siblings.index(clip)
        near = [siblings[i] for i in (index - 1, index + 1) if 0 <= i < len(siblings)]
        if any(isinstance(item, otio.schema.Transition) for item in near):
            out.append("its dissolve (becomes a cut)")
    if plan.effects and Loss.TIME_EFFECTS in kinds:
        out.append("its speed/freeze effect")
    if plan.cdl is not None and Loss.CDL in kinds:
        out.append("its CDL")
    if Loss.METADATA in kinds:
        out.append("postbay metadata")
    return [f"{label}: {item}" for item in out]
