"""Programme render: the conformed cut flattened into one file per delivery.

The flatten is an online editor's: the top video track wins, dissolves are cross-dissolves
over the handles the conform rendered, gaps are black (:mod:`~postbay.timeline.flatten`);
audio tracks are mixed at their levels (:mod:`~postbay.timeline.mix`). This module holds
the programme's captions and its deliveries.

An aspect delivery (9:16, 1:1, 4:5) is reframed with the ``reframe`` processor when one is
registered and accepts ``aspect``; otherwise it is a centre crop, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio

from postbay.errors import PostbayError
from postbay.media import PRESETS, AudioPlan, VideoWriter, frames_to_timecode
from postbay.publish import publish_verified, temp_path
from postbay.recipe import Delivery, Recipe
from postbay.subtitles import Cue, write_sidecars
from postbay.timeline.flatten import centre_crop, edit_points, fit, flatten, programme_frames, record_frame
from postbay.timeline.mix import mix_audio
from postbay.timeline.reader import timelines_of
from postbay.timeline.relink import Relinker
from postbay.timeline.writeback import Picture
from postbay.verify import Expectation

__all__ = ["ProgrammeCaptions", "caption_programme", "delivery_size", "render_deliveries"]

_ASPECTS = {"16:9": Fraction(16, 9), "9:16": Fraction(9, 16), "1:1": Fraction(1), "4:5": Fraction(4, 5)}

@dataclass
class ProgrammeCaptions:
    """The programme's cues (seconds from its first frame), the step settings, and what the report says."""

    cues: list[Cue]
    params: Any
    report: dict[str, Any]


def caption_programme(conformed: Any, params: Any, out_dir: Path, name: str, *, rate: Fraction,
                      relinker: Relinker | None = None) -> ProgrammeCaptions:
    """Caption the flattened programme: Whisper on the mix of its audio tracks, cues kept off its cuts.

    Cue times are seconds from the programme's first frame, i.e. record timecode less the
    timeline's start (01:00:00:00 is 00:00:00,000 in the files), which is how SRT/VTT sidecars
    of a programme are read by players, platforms and NLE caption imports. The cuts are the
    timeline's edit points. Writes ``<name>.postbay.srt`` and ``.vtt`` beside the conformed
    timeline; no audio, silence or no speech gives no cues and a note, never an error.
    """
    from postbay.processors.captions import CaptionsParams, caption_audio

    timeline = timelines_of(conformed)[0]
    params = params if params is not None else CaptionsParams()
    total, _, _ = flatten(timeline, rate)
    samples, mix_notes, _ = mix_audio(timeline, rate, total, relinker)
    cuts = [f / float(rate) for f in edit_points(timeline, rate)]
    sample_rate = 48000
    cues, language, notes = caption_audio(samples if samples is not None else np.zeros((2, 0), np.float32),
                                          sample_rate, rate, params, lambda: cuts)
    if samples is None:
        notes["note"] = "the timeline has no audio tracks: no captions"
    start = timeline.global_start_time
    record = frames_to_timecode(record_frame(start, rate), rate) if start is not None else frames_to_timecode(0, rate)
    report: dict[str, Any] = {**notes, "language": language, "edit_points": len(cuts), "record_start": record,
                              "times": f"seconds from the programme's first frame (record {record} = 0)",
                              "mix": mix_notes, "sidecars": []}
    base = Path(out_dir) / f"{name}.postbay.srt"
    if cues:
        report["sidecars"] = [str(p) for p in write_sidecars(cues, base)]
    else:  # no cues this time: no stale captions from an earlier conform
        for stale in (base, base.with_suffix(".vtt")):
            stale.unlink(missing_ok=True)
    return ProgrammeCaptions(cues, params, report)


def _burned(frames: Iterator[np.ndarray], cues: list[Cue], rate: Fraction, params: Any) -> Iterator[np.ndarray]:
    """Draw the cue on screen onto each uint16 RGB delivery picture (title-safe for its aspect)."""
    from postbay.backend import numpy_backend
    from postbay.processors.captions import BurnParams, burn_cues

    burn = BurnParams(style=params.style, size=params.size)
    backend = numpy_backend()
    cache: dict[Any, Any] = {}  # the burn's rendered text, kept across frames
    fps = float(rate)
    spans = [(round(c.start * fps), round(c.end * fps)) for c in cues]
    for n, picture in enumerate(frames):
        if any(a <= n < b for a, b in spans):
            lit = burn_cues(picture.astype(np.float32) / 65535.0, cues, n, rate, burn, backend, cache)
            picture = (np.clip(lit, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
        yield picture


def delivery_size(delivery: Delivery, picture: Picture) -> tuple[int, int, Fraction | None]:
    """(width, height, crop aspect or None) for a delivery of a programme of ``picture``."""
    aspect = _ASPECTS.get(delivery.aspect) if delivery.aspect else None
    display = aspect or Fraction(picture.width, picture.height) * picture.pixel_aspect
    height = delivery.height or (delivery.width and int(round(delivery.width / display))) or picture.height
    width = delivery.width or int(round(height * display))
    even = lambda v: max(2, int(round(v / 2)) * 2)  # noqa: E731
    crop = aspect if aspect and aspect != Fraction(picture.width, picture.height) else None
    return even(width), even(height), crop


def _reframer(aspect: str | None) -> tuple[Any, str]:
    """A ``reframe`` step for this aspect when the processor exists and takes ``aspect``."""
    from postbay.registry import default_registry

    registry = default_registry()
    if "reframe" not in registry:
        return None, "centre crop (no reframe processor registered)"
    proc = registry.get("reframe")
    try:
        params = proc.params.model_validate({"aspect": aspect})
    except Exception as exc:  # its parameters are not the ones we know
        return None, f"centre crop (reframe processor did not take aspect={aspect!r}: {type(exc).__name__})"
    from postbay.recipe import Step

    return Step(1, proc, params), "reframed with the reframe processor"


def render_deliveries(conformed: Any, recipe: Recipe, out_dir: Path, name: str, *, rate: Fraction,
                      picture: Picture, relinker: Relinker | None = None,
                      captions: ProgrammeCaptions | None = None) -> list[dict[str, Any]]:
    """One programme file per recipe delivery; each entry says what was done and any error.

    ``captions`` (from :func:`caption_programme`) are burned into each delivery with
    ``captions = true`` (every delivery when the captions step says ``burn = true``).
    """
    timeline = timelines_of(conformed)[0]
    results = []
    for delivery in recipe.deliveries:
        try:
            results.append(_render_delivery(timeline, delivery, out_dir, name, rate, picture, relinker, captions))
        except PostbayError as exc:
            results.append({"name": delivery.name, "output": None, "error": str(exc)})
    return results


def _render_delivery(timeline: otio.schema.Timeline, delivery: Delivery, out_dir: Path, name: str, rate: Fraction,
                     picture: Picture, relinker: Relinker | None, captions: ProgrammeCaptions | None) -> dict[str, Any]:
    width, height, crop = delivery_size(delivery, picture)
    notes: list[str] = []
    step = None
    if crop is not None:
        step, how = _reframer(delivery.aspect)
        notes.append(how)
    # The flatten works at the shots' size; crop/reframe and scale come after it.
    total, frames, skipped = programme_frames(timeline, rate, picture.width, picture.height)
    if skipped:
        notes.append(f"{skipped} item(s) not rendered (generators, nested stacks or missing media): shown as "
                     "what lies beneath, else black")
    if crop is not None and step is not None:
        from postbay.backend import numpy_backend
        from postbay.pipeline import Pipeline
        from postbay.registry import FrameFormat

        pipeline = Pipeline([step], backend=numpy_backend())
        fmt = FrameFormat(picture.width, picture.height, rate, total)
        frames = pipeline.process(frames, fmt)
        total = pipeline.output_format(fmt).frames
    elif crop is not None:
        frames = (centre_crop(p, crop) for p in frames)
    frames = (fit(p, width, height) for p in frames)
    preset = delivery.codec
    container = delivery.container
    suffix = container or PRESETS[preset].container
    subtitles = None
    if captions is not None and (delivery.captions or captions.params.burn):
        if captions.cues:
            frames = _burned(frames, captions.cues, rate, captions.params)
            notes.append(f"captions burned in: {len(captions.cues)} cue(s), in the title-safe area of "
                         f"{width}×{height}")
        else:
            notes.append(f"captions asked for, none burned: {captions.report.get('note', 'no cues')}")
    if captions is not None and captions.params.soft_track and captions.cues:
        if suffix in ("mp4", "mov", "mkv"):
            subtitles = captions.cues
            notes.append("captions carried as a soft subtitle track")
        else:
            notes.append(f"no soft subtitle track: a .{suffix} file cannot carry one")
    out = out_dir / f"{name}.{delivery.name}.{suffix}"
    tmp = temp_path(out)
    audio = None
    levels: list[dict[str, Any]] = []
    if delivery.audio != "none":
        samples, audio_notes, levels = mix_audio(timeline, rate, total, relinker)
        notes += audio_notes
        if samples is not None:
            audio = AudioPlan(source=out, mode=delivery.audio, start_seconds=0.0, duration=total / float(rate),
                              samples=samples, sample_rate=48000)
    start = timeline.global_start_time
    timecode = frames_to_timecode(record_frame(start, rate), rate) if start is not None else None
    writer = VideoWriter(tmp, preset=preset, container=suffix, width=width, height=height, rate=rate,
                         timecode=timecode, audio=audio, metadata={"title": timeline.name or name},
                         subtitles=subtitles,
                         subtitle_language=captions.report.get("language") if subtitles and captions else None)
    written = 0
    try:
        for pic in frames:
            writer.write(pic)
            written += 1
        writer.close()
    except BaseException:
        writer.abort()
        tmp.unlink(missing_ok=True)
        raise
    publish_verified(tmp, out, Expectation(width=width, height=height, rate=rate, frames=written,
                                           audio=audio is not None))
    return {"name": delivery.name, "output": str(out), "frames": written, "width": width, "height": height,
            "codec": preset, "aspect": delivery.aspect, "notes": notes, "levels": levels,
            "error": None}
