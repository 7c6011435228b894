"""Audio levels that move: keyframed clip levels (fades, rides) followed through a clip.

An editor's fade is a level with keyframes; the programme mix follows them with linear
interpolation between keyframes (in the unit the document stores: FCP 7 XML's linear factor,
FCPXML's dB) and holds the first and last values outside them.

Where the keyframes come from:

- FCP 7 XML (Premiere, FCP 7): the "Audio Levels" filter's ``<keyframe><when>`` (frames) and
  ``<value>`` (linear), kept by OTIO's adapter in the effect's ``metadata["fcp_xml"]``. A
  ``when`` counts frames on the clip's media clock, like ``<in>``/``<out>``; a document whose
  keyframes start before the clip's in point counts them from the in point instead.
- FCPXML (Final Cut Pro): ``<adjust-volume amount="-6dB">`` with an optional
  ``<param name="amount"><keyframeAnimation><keyframe time value/>``, which OTIO's adapter
  drops and :mod:`postbay.timeline.fcpxml` keeps in ``metadata["fcpx_xml"]["adjust-volume"]``;
  keyframe times are on the clip's source clock (like its ``start``).
- AAF (Avid): clip gain and volume automation are an OperationGroup ("Mono Audio Gain",
  "Stereo Audio Gain", "Audio Gain") around the clip, its "Amplitude multiplier" (linear) a
  constant or keyframes, kept by OTIO's AAF adapter in the effect's ``metadata["AAF"]``
  (``Parameters``; keyframes as ``keyframe_values`` ``[time, value]`` with the time a fraction
  of the group's ``Length``, AAF's ControlPoint convention).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import opentimelineio as otio

__all__ = ["Envelope", "aaf_gain", "as_number", "clip_envelope", "fcp_parameters", "fcpx_volume", "plain_metadata"]


@dataclass(frozen=True)
class Envelope:
    """A level over a clip: keyframe times (seconds from the clip's first frame) and values."""

    times: tuple[float, ...]
    values: tuple[float, ...]
    db: bool  # values in dB (FCPXML) rather than linear factors (FCP 7 XML)
    how: str

    def gain(self, seconds: np.ndarray) -> np.ndarray:
        """Linear gain at ``seconds`` from the clip's first frame."""
        level = np.interp(seconds, self.times, self.values)
        return (10.0 ** (level / 20.0) if self.db else level).astype(np.float32)


def plain_metadata(value: Any) -> Any:
    """OTIO's AnyDictionary/AnyVector metadata as plain dicts and lists."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return value
    if hasattr(value, "items"):
        return {k: plain_metadata(v) for k, v in value.items()}
    return [plain_metadata(v) for v in value]


def as_number(value: Any) -> float | None:
    """A number from metadata text (``"0.501187"``, ``" 1 "``, the AAF adapter's rationals
    ``"100000000/100000000"``), else None."""
    try:
        return float(Fraction(str(value).strip()))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def fcp_parameters(effect_md: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``<parameter>`` entries of an FCP 7 XML effect as the adapter keeps them."""
    params = effect_md.get("parameter", [])
    return [p for p in (params if isinstance(params, list) else [params]) if isinstance(p, dict)]


def _fcp_envelope(effect_md: dict[str, Any], clip: otio.schema.Clip) -> Envelope | None:
    ident = " ".join(str(effect_md.get(k, "")) for k in ("effectid", "effectcategory", "effecttype")).lower()
    if "audiolevels" not in ident.replace(" ", "") or clip.source_range is None:
        return None
    for param in fcp_parameters(effect_md):
        if not param.get("keyframe"):
            continue
        if str(param.get("parameterid", param.get("name", ""))).lower() not in ("level", "audiolevels", "volume"):
            continue
        keys = param["keyframe"] if isinstance(param["keyframe"], list) else [param["keyframe"]]
        points = sorted((w, v) for w, v in ((as_number(k.get("when")), as_number(k.get("value"))) for k in keys
                                            if isinstance(k, dict)) if w is not None and v is not None)
        if not points:
            return None
        rate = clip.source_range.duration.rate
        avail = getattr(clip.media_reference, "available_range", None)
        in_point = (clip.source_range.start_time - avail.start_time).value if avail is not None else 0.0
        origin = in_point if points[0][0] >= in_point else 0.0
        return Envelope(tuple((w - origin) / rate for w, _ in points), tuple(v for _, v in points), db=False,
                        how=f"FCP XML Audio Levels, {len(points)} keyframes followed")
    return None


def _seconds(text: str | None) -> Fraction | None:
    if not text:
        return None
    try:
        return Fraction(text.strip().rstrip("s") or "0")
    except (ValueError, ZeroDivisionError):
        return None


def _db_value(text: Any) -> float | None:
    m = re.fullmatch(r"\s*([-+]?\d+(?:\.\d+)?)\s*dB\s*", str(text))
    return float(m.group(1)) if m else None


def fcpx_volume(element: Any) -> dict[str, Any] | None:
    """An FCPXML clip element's ``<adjust-volume>`` as plain metadata (amount and keyframes), or None."""
    adjust = element.find("./adjust-volume")
    if adjust is None:
        return None
    keyframes = [{"time": k.get("time"), "value": k.get("value")}
                 for k in adjust.findall("./param[@name='amount']/keyframeAnimation/keyframe")]
    return {"amount": adjust.get("amount", "0dB"), "keyframes": keyframes, "start": element.get("start", "0s")}


def _fcpx_envelope(volume: dict[str, Any]) -> Envelope | None:
    start = _seconds(volume.get("start")) or Fraction(0)
    points = sorted((float(t - start), v) for t, v in ((_seconds(k.get("time")), _db_value(k.get("value")))
                                                      for k in volume.get("keyframes", [])) if t is not None
                    and v is not None)
    if points:
        return Envelope(tuple(t for t, _ in points), tuple(v for _, v in points), db=True,
                        how=f"FCPXML adjust-volume, {len(points)} keyframes followed")
    amount = _db_value(volume.get("amount"))
    if amount is None:
        return None
    return Envelope((0.0,), (amount,), db=True, how=f"FCPXML adjust-volume {volume.get('amount')}")


def aaf_gain(effect_md: dict[str, Any], clip: otio.schema.Clip) -> Envelope | None:
    """An AAF clip gain or volume automation (the adapter's ``metadata["AAF"]`` of an effect), or None."""
    operation = effect_md.get("Operation", {})
    name = str(operation.get("Name", "") if isinstance(operation, dict) else "")
    params = effect_md.get("Parameters", {})
    if "gain" not in name.lower() or not isinstance(params, dict):
        return None
    for key, value in params.items():
        if not any(word in key.lower() for word in ("amplitude", "level", "gain")):
            continue
        if isinstance(value, dict) and value.get("_aaf_keyframed_property"):
            rate = clip.trimmed_range().duration.rate
            length = as_number(effect_md.get("Length")) or clip.trimmed_range().duration.value
            points = sorted((float(t) * length / rate, v) for t, v in (
                (as_number(p[0]), as_number(p[1])) for p in value.get("keyframe_values", []) if len(p) == 2)
                if t is not None and v is not None)
            if points:
                return Envelope(tuple(t for t, _ in points), tuple(v for _, v in points), db=False,
                                how=f"AAF {name} {key}, {len(points)} keyframes followed")
            continue
        factor = as_number(value)
        if factor is not None:
            return Envelope((0.0,), (factor,), db=False, how=f"AAF {name} {key} ×{factor:.4g}")
    return None


def clip_envelope(clip: otio.schema.Clip) -> Envelope | None:
    """The level over ``clip`` where its document has a moving (or FCPXML) one, else None."""
    volume = plain_metadata(clip.metadata.get("fcpx_xml", {})).get("adjust-volume")
    if isinstance(volume, dict):
        return _fcpx_envelope(volume)
    for effect in clip.effects:
        md = plain_metadata(effect.metadata)
        found = _fcp_envelope(md["fcp_xml"], clip) if isinstance(md.get("fcp_xml"), dict) else \
            aaf_gain(md["AAF"], clip) if isinstance(md.get("AAF"), dict) else None
        if found is not None:
            return found
    return None
