"""Programme render: the conformed cut flattened into one file per delivery.

The flatten is an online editor's: the top video track wins, dissolves are cross-dissolves
over the handles the conform rendered, gaps are black, audio tracks are mixed at their
levels (FCP 7 XML "Audio Levels" filters, volume/gain effects or metadata; unity where none
is found). Pictures come from the finished shots, never from the sources, so the programme
is exactly what the conformed timeline shows.

An aspect delivery (9:16, 1:1, 4:5) is reframed with the ``reframe`` processor when one is
registered and accepts ``aspect``; otherwise it is a centre crop, and the report says so.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import opentimelineio as otio

from postbay.errors import PostbayError
from postbay.media import PRESETS, AudioPlan, VideoReader, VideoWriter, frames_to_timecode, read_audio
from postbay.paths import url_to_path
from postbay.publish import publish_verified, temp_path
from postbay.recipe import Delivery, Recipe
from postbay.subtitles import Cue, write_sidecars
from postbay.timeline.reader import timelines_of
from postbay.timeline.relink import Relinker, media_origin
from postbay.timeline.writeback import Picture
from postbay.verify import Expectation

__all__ = ["ProgrammeCaptions", "Segment", "caption_programme", "clip_level", "edit_points", "flatten",
           "programme_frames", "render_deliveries", "delivery_size"]

_ASPECTS = {"16:9": Fraction(16, 9), "9:16": Fraction(9, 16), "1:1": Fraction(1), "4:5": Fraction(4, 5)}


@dataclass(frozen=True)
class Segment:
    """Timeline frames ``[start, end)`` of one track shown from ``file``.

    Timeline frame ``t`` shows file frame ``first + floor((t - start) * speed)``; a
    dissolve reads a clip beyond its cut by the transition's length, which the handles hold.
    """

    start: int
    end: int
    file: Path
    first: int
    speed: float
    key: str


@dataclass(frozen=True)
class Dissolve:
    start: int
    end: int
    outgoing: Segment
    incoming: Segment


def _url_path(url: str) -> Path:
    # the conformed timeline's own URLs: local files, or relative paths kept as written
    return url_to_path(url, Path())[0] or Path(url)


def _frames(rt: otio.opentime.RationalTime, rate: Fraction) -> int:
    return int(round(rt.rescaled_to(float(rate)).value))


def _file_frame(seg: Segment, t: int) -> int:
    return seg.first + int(math.floor((t - seg.start) * seg.speed + 1e-9))


def flatten(timeline: otio.schema.Timeline, rate: Fraction) -> tuple[int, list[tuple[list[Segment], list[Dissolve]]], int]:
    """(frames, per video track bottom→top its segments and dissolves, items not renderable)."""
    tracks = []
    skipped = 0
    total = _frames(timeline.duration(), rate)
    for track in timeline.video_tracks():
        segments: list[Segment] = []
        dissolves: list[Dissolve] = []
        children = list(track)
        for i, item in enumerate(children):
            if isinstance(item, otio.schema.Transition) or not isinstance(item, otio.core.Item):
                continue
            span = track.range_of_child_at_index(i)
            start, end = _frames(span.start_time, rate), _frames(span.end_time_exclusive(), rate)
            if isinstance(item, otio.schema.Gap):
                continue
            ref = getattr(item, "media_reference", None)
            meta = item.metadata.get("postbay", {}) if isinstance(item, otio.schema.Clip) else {}
            if not isinstance(item, otio.schema.Clip) or meta.get("status") != "conformed" or not isinstance(
                    ref, otio.schema.ExternalReference):
                skipped += 1
                continue
            speed = 1.0
            for effect in item.effects:
                if isinstance(effect, otio.schema.FreezeFrame):
                    speed = 0.0
                elif isinstance(effect, otio.schema.LinearTimeWarp):
                    speed *= abs(effect.time_scalar)  # a reverse plays forward here (see docs: limits)
            avail = ref.available_range
            first = _frames(item.trimmed_range().start_time, rate) - _frames(avail.start_time, rate)
            segments.append(Segment(start, end, _url_path(ref.target_url), first, speed, f"{id(item)}"))
        # Transitions: the outgoing clip plays on past its cut and the incoming one starts early.
        for i, item in enumerate(children):
            if not isinstance(item, otio.schema.Transition):
                continue
            before = next((s for s in segments if i > 0 and s.key == f"{id(children[i - 1])}"), None)
            after = next((s for s in segments if i + 1 < len(children) and s.key == f"{id(children[i + 1])}"), None)
            cut = _frames(track.range_of_child_at_index(i + 1).start_time, rate) if i + 1 < len(children) else total
            lo, hi = cut - _frames(item.in_offset, rate), cut + _frames(item.out_offset, rate)
            if before is not None and after is not None and hi > lo:
                dissolves.append(Dissolve(lo, hi, before, after))
        segments.sort(key=lambda s: s.start)
        tracks.append((segments, dissolves))
    return total, tracks, skipped


class _Readers:
    """Sequential decoders of the finished shots, one per segment, restarted on a jump."""

    def __init__(self) -> None:
        # key → [decoder, next index, last index, last picture] (a freeze frame repeats the last)
        self.open: dict[str, list[Any]] = {}

    def frame(self, seg: Segment, index: int) -> np.ndarray:
        state = self.open.get(seg.key)
        if state is not None and state[2] == index:
            return state[3]
        if state is None or state[1] != index:
            if state is not None:
                state[0].close()
            state = [iter(VideoReader(seg.file, start=index)), index, None, None]
            self.open[seg.key] = state
        _, picture = next(state[0])
        state[1:] = [index + 1, index, picture]
        return picture

    def keep_only(self, keys: set[str]) -> None:
        for key in list(self.open):
            if key not in keys:
                self.open.pop(key)[0].close()


def _fit(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a uint16 RGB picture into width×height, letterboxed/pillarboxed on black."""
    h, w = picture.shape[:2]
    if (w, h) == (width, height):
        return picture
    scale = min(width / w, height / h)
    sw, sh = max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb48le")
    scaled = frame.reformat(width=sw, height=sh, interpolation="BICUBIC").to_ndarray()
    out = np.zeros((height, width, 3), np.uint16)
    y, x = (height - sh) // 2, (width - sw) // 2
    out[y:y + sh, x:x + sw] = scaled
    return out


def centre_crop(picture: np.ndarray, aspect: Fraction) -> np.ndarray:
    """The centre of the picture at ``aspect`` (width/height)."""
    h, w = picture.shape[:2]
    if Fraction(w, h) > aspect:
        cw = max(2, int(round(h * aspect / 2)) * 2)
        x = (w - cw) // 2
        return picture[:, x:x + cw]
    ch = max(2, int(round(w / aspect / 2)) * 2)
    y = (h - ch) // 2
    return picture[y:y + ch]


def programme_frames(timeline: otio.schema.Timeline, rate: Fraction, width: int, height: int
                     ) -> tuple[int, Iterator[np.ndarray], int]:
    """(frame count, uint16 RGB pictures of the flattened cut at width×height, skipped items)."""
    total, tracks, skipped = flatten(timeline, rate)

    def pictures() -> Iterator[np.ndarray]:
        readers = _Readers()
        black = np.zeros((height, width, 3), np.uint16)
        starts = [[s.start for s in segs] for segs, _ in tracks]
        for t in range(total):
            shown: np.ndarray | None = None
            used: set[str] = set()
            for ti in range(len(tracks) - 1, -1, -1):
                segs, dissolves = tracks[ti]
                dis = next((d for d in dissolves if d.start <= t < d.end), None)
                if dis is not None:
                    a = readers.frame(dis.outgoing, _file_frame(dis.outgoing, t))
                    b = readers.frame(dis.incoming, _file_frame(dis.incoming, t))
                    used |= {dis.outgoing.key, dis.incoming.key}
                    alpha = (t - dis.start + 0.5) / (dis.end - dis.start)
                    a, b = _fit(a, width, height), _fit(b, width, height)
                    shown = (a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha + 0.5).astype(np.uint16)
                    break
                k = bisect_right(starts[ti], t) - 1
                if k >= 0 and segs[k].start <= t < segs[k].end:
                    seg = segs[k]
                    used.add(seg.key)
                    shown = _fit(readers.frame(seg, _file_frame(seg, t)), width, height)
                    break
            readers.keep_only(used)
            yield black if shown is None else shown
        readers.keep_only(set())

    return total, pictures(), skipped


#: Effect names that carry a clip's audio level (FCP 7 XML "Audio Levels"; generic OTIO effects).
_LEVEL_EFFECTS = {"audio levels", "audiolevels", "volume", "audiovolume", "audio volume", "gain", "audiogain",
                  "audio gain", "level"}
#: Metadata keys read as a level: in dB, or as a linear factor (1.0 = unity).
_DB_KEYS = ("level_db", "gain_db", "volume_db")
_LINEAR_KEYS = ("level", "gain", "volume")


def _db(factor: float) -> float:
    return 20.0 * math.log10(factor) if factor > 0 else -math.inf


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """OTIO's AnyDictionary/AnyVector metadata as plain dicts and lists."""
    if isinstance(value, (str, bytes)):
        return value
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "__iter__"):
        return [_plain(v) for v in value]
    return value


def _fcp_parameters(effect_md: dict[str, Any]) -> list[dict[str, Any]]:
    params = effect_md.get("parameter", [])
    return [p for p in (params if isinstance(params, list) else [params]) if isinstance(p, dict)]


def _fcp_level(effect_md: dict[str, Any]) -> tuple[float, str] | None:
    """(dB, how) of an FCP 7 XML Audio Levels effect as the adapter keeps it (``metadata["fcp_xml"]``).

    FCP 7 and Premiere write the level as a linear factor (``<value>1</value>`` is 0 dB,
    ``0.501187`` is −6 dB, at most 3.98109 = +12 dB). A keyframed level is held at its
    first keyframe: the mix has one gain per clip.
    """
    ident = " ".join(str(effect_md.get(k, "")) for k in ("effectid", "effectcategory", "effecttype")).lower()
    if "audiolevels" not in ident.replace(" ", ""):
        return None
    for param in _fcp_parameters(effect_md):
        if str(param.get("parameterid", param.get("name", ""))).lower() not in ("level", "audiolevels", "volume"):
            continue
        value = _number(param.get("value"))
        how = "FCP XML Audio Levels"
        keyframes = param.get("keyframe")
        if keyframes:
            frames = keyframes if isinstance(keyframes, list) else [keyframes]
            if value is None:
                value = _number(frames[0].get("value")) if isinstance(frames[0], dict) else None
            how += " (keyframed: held at one level)"
        if value is not None:
            return _db(value), how
    return None


def _metadata_level(metadata: Any) -> tuple[float, str] | None:
    """A level under one of the generic keys, at the top of ``metadata`` or one namespace down."""
    places = [("", metadata)] + [(f"{k}.", v) for k, v in metadata.items() if isinstance(v, dict)]
    for prefix, md in places:
        for key in _DB_KEYS:
            value = _number(md.get(key))
            if value is not None:
                return value, f"metadata {prefix}{key}"
        for key in _LINEAR_KEYS:
            value = _number(md.get(key))
            if value is not None and not isinstance(md.get(key), bool):
                return _db(value), f"metadata {prefix}{key} (linear)"
    return None


def clip_level(item: otio.core.Item) -> tuple[float, str | None]:
    """(gain in dB, where it was read) of a clip or track; (0.0, None) when it carries none.

    Read, first found: an FCP 7 XML "Audio Levels" filter (kept by the adapter as an effect
    with ``metadata["fcp_xml"]``); an effect named like a volume or gain with ``level_db``/
    ``gain_db``/``volume_db`` (dB) or ``level``/``gain``/``volume`` (linear) in its metadata;
    the same keys in the item's own metadata; for an FCP 7 XML track, a filter on the track.
    """
    db_total, hows = 0.0, []
    for effect in getattr(item, "effects", []):
        md = _plain(effect.metadata)
        found = _fcp_level(md["fcp_xml"]) if isinstance(md.get("fcp_xml"), dict) else None
        if found is None and {(effect.effect_name or "").lower(), (effect.name or "").lower()} & _LEVEL_EFFECTS:
            found = _metadata_level(md)
        if found is not None:
            db_total += found[0]
            hows.append(found[1])
    if not hows:
        md = _plain(item.metadata)
        fcp = md.get("fcp_xml")
        filters = fcp.get("filter", []) if isinstance(fcp, dict) else []
        for flt in filters if isinstance(filters, list) else [filters]:
            effect_md = flt.get("effect") if isinstance(flt, dict) else None
            found = _fcp_level(effect_md) if isinstance(effect_md, dict) else None
            if found is not None:
                db_total += found[0]
                hows.append(found[1])
        if not hows:
            found = _metadata_level({k: v for k, v in md.items() if k != "fcp_xml"})
            if found is not None:
                db_total, hows = found[0], [found[1]]
    return (db_total, "; ".join(hows)) if hows else (0.0, None)


def _mix_audio(timeline: otio.schema.Timeline, rate: Fraction, frames: int, relinker: Relinker | None,
               sample_rate: int = 48000) -> tuple[np.ndarray | None, list[str], list[dict[str, Any]]]:
    """The audio tracks summed at their levels into stereo (channels, n) float32; notes; levels per clip.

    Each clip's gain is its own level (see :func:`clip_level`) plus its track's; a clip or
    track that carries none plays at unity and its entry says so.
    """
    tracks = timeline.audio_tracks()
    if not tracks:
        return None, ["no audio tracks: the programme is silent"], []
    n = int(round(frames / float(rate) * sample_rate))
    mix = np.zeros((2, n), np.float32)
    notes: list[str] = []
    levels: list[dict[str, Any]] = []
    for track in tracks:
        track_db, track_how = clip_level(track)
        for i, item in enumerate(track):
            if not isinstance(item, otio.schema.Clip) or not item.enabled:
                continue
            ref = item.media_reference
            if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
                continue
            meta = item.metadata.get("postbay", {})
            path = _url_path(ref.target_url)
            if meta.get("status") != "conformed":
                source = meta.get("source")
                if not source:
                    notes.append(f"audio clip {item.name!r}: media not found, silent")
                    continue
                path = Path(source)
            span = track.range_of_child_at_index(i)
            at = span.start_time.to_seconds()
            duration = span.duration.to_seconds()
            if ref.available_range is not None and meta.get("status") == "conformed":
                offset = (item.trimmed_range().start_time - ref.available_range.start_time).to_seconds()
            else:
                origin = 0.0
                info = relinker.probe(path) if relinker else None
                if info is not None:
                    frames_origin, _ = media_origin(info)
                    origin = frames_origin / float(info.require_video().rate_fraction)
                offset = item.trimmed_range().start_time.to_seconds() - origin
            try:
                samples, sr = read_audio(path, max(0.0, offset), duration, rate=sample_rate)
            except PostbayError as exc:
                notes.append(f"audio clip {item.name!r}: {exc}; silent")
                continue
            clip_db, clip_how = clip_level(item)
            gain_db = clip_db + track_db
            levels.append({"track": track.name, "clip": item.name, "at": round(at, 3), "gain_db": round(gain_db, 2),
                           "clip_level": clip_how or "none found: unity (0 dB)",
                           "track_level": track_how or "none found: unity (0 dB)"})
            if samples.shape[0] == 1:
                samples = np.repeat(samples, 2, axis=0)
            a = int(round(at * sample_rate))
            m = min(samples.shape[1], n - a)
            if m > 0:
                mix[:, a:a + m] += samples[:2, :m] * np.float32(10.0 ** (gain_db / 20.0))
    found = sum(1 for lv in levels if lv["clip_level"][:4] != "none" or lv["track_level"][:4] != "none")
    notes.append(f"audio tracks mixed at their levels ({found} of {len(levels)} clip(s) carry one; "
                 "the rest at unity)")
    return np.clip(mix, -1.0, 1.0), notes, levels


def edit_points(timeline: otio.schema.Timeline, rate: Fraction) -> list[int]:
    """Timeline frames where the programme's picture changes shot (or goes to or from black).

    What a subtitler calls the cuts: the top visible track decides, as in the flatten; a
    dissolve counts once, at its edit point (where the incoming clip's cut is).
    """
    total, tracks, _ = flatten(timeline, rate)
    starts = [[s.start for s in segs] for segs, _ in tracks]
    points: list[int] = []
    previous: str | None = None
    for t in range(total):
        shown = None
        for ti in range(len(tracks) - 1, -1, -1):
            segs, dissolves = tracks[ti]
            dis = next((d for d in dissolves if d.start <= t < d.end), None)
            if dis is not None:
                shown = dis.outgoing.key if t < dis.outgoing.end else dis.incoming.key
                break
            k = bisect_right(starts[ti], t) - 1
            if k >= 0 and segs[k].start <= t < segs[k].end:
                shown = segs[k].key
                break
        if t > 0 and shown != previous:
            points.append(t)
        previous = shown
    return points


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
    samples, mix_notes, _ = _mix_audio(timeline, rate, total, relinker)
    cuts = [f / float(rate) for f in edit_points(timeline, rate)]
    sample_rate = 48000
    cues, language, notes = caption_audio(samples if samples is not None else np.zeros((2, 0), np.float32),
                                          sample_rate, rate, params, lambda: cuts)
    if samples is None:
        notes["note"] = "the timeline has no audio tracks: no captions"
    start = timeline.global_start_time
    record = frames_to_timecode(_frames(start, rate), rate) if start is not None else frames_to_timecode(0, rate)
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
    backend, cache = numpy_backend(), {}
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
        params = proc.params(aspect=aspect)
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
    frames = (_fit(p, width, height) for p in frames)
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
        samples, audio_notes, levels = _mix_audio(timeline, rate, total, relinker)
        notes += audio_notes
        if samples is not None:
            audio = AudioPlan(source=out, mode=delivery.audio, start_seconds=0.0, duration=total / float(rate),
                              samples=samples, sample_rate=48000)
    start = timeline.global_start_time
    timecode = frames_to_timecode(_frames(start, rate), rate) if start is not None else None
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
