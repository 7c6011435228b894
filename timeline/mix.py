"""Audio levels and the programme mix.

A clip's level is read from an FCP 7 XML "Audio Levels" filter, a volume/gain effect or
metadata (in dB or linear); a track's level adds to its clips'. The audio tracks are summed
at those levels into stereo; a clip or track that carries none plays at unity, and the
delivery's report says so clip by clip.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import opentimelineio as otio

from postbay.errors import PostbayError
from postbay.media import read_audio
from postbay.timeline.flatten import url_path
from postbay.timeline.relink import Relinker, media_origin

__all__ = ["clip_level", "mix_audio"]


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


def mix_audio(timeline: otio.schema.Timeline, rate: Fraction, frames: int, relinker: Relinker | None,
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
            path = url_path(ref.target_url)
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
