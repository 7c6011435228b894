"""Generators in an editor's timeline: solid colours the programme can render, and the rest named.

A colour matte or black slug is a solid picture: the programme renders it as that colour.
Titles, bars, countdown leaders and nested sequences are not rendered; the programme report
lists each by name, track and record timecode so nothing goes missing silently.
"""

from __future__ import annotations

from typing import Any

import opentimelineio as otio

from postbay.timeline.levels import fcp_parameters, plain_metadata

__all__ = ["solid_colour", "unrendered"]

#: Generator names that mean black (Premiere's "Black Video", FCP's slug, Resolve's "Solid Color" unset).
_BLACK = {"black video", "black", "slug", "solid black"}


def _channel(value: Any) -> float | None:
    try:
        return min(max(float(value) / 255.0, 0.0), 1.0)
    except (TypeError, ValueError):
        return None


def _fcp_fill(md: dict[str, Any]) -> tuple[float, float, float] | None:
    for param in fcp_parameters(md):
        if str(param.get("parameterid", "")).lower() not in ("fillcolor", "color"):
            continue
        value = param.get("value")
        if isinstance(value, dict):
            rgb = tuple(_channel(value.get(c)) for c in ("red", "green", "blue"))
            if all(c is not None for c in rgb):
                return rgb  # type: ignore[return-value]
    return None


def solid_colour(clip: otio.schema.Clip) -> tuple[float, float, float] | None:
    """The RGB (0–1) a generator clip fills the frame with, or None when it is not a solid.

    Read from OTIO's ``SolidColor`` parameters (``color``: r, g, b in 0–1), from an FCP 7 XML
    colour matte (``fillcolor`` red/green/blue in 0–255, kept by the adapter in the reference's
    ``metadata["fcp_xml"]``), or a black slug by name.
    """
    ref = clip.media_reference
    if not isinstance(ref, otio.schema.GeneratorReference):
        return None
    params = plain_metadata(ref.parameters)
    colour = params.get("color") or params.get("colour")
    if isinstance(colour, dict):
        colour = [colour.get(c) for c in ("r", "g", "b")]
    if isinstance(colour, (list, tuple)) and len(colour) >= 3 and all(isinstance(c, (int, float)) for c in colour[:3]):
        r, g, b = (min(max(float(c), 0.0), 1.0) for c in colour[:3])
        return r, g, b
    fcp = plain_metadata(ref.metadata).get("fcp_xml")
    if isinstance(fcp, dict):
        fill = _fcp_fill(fcp)
        if fill is not None:
            return fill
    if (ref.generator_kind or "").lower() in ("slug", "black") and (clip.name or "").strip().lower() in _BLACK:
        return (0.0, 0.0, 0.0)
    return None


def unrendered(item: Any) -> str:
    """What an item the programme does not render is, in an editor's words."""
    if isinstance(item, otio.schema.Stack):
        return f"nested sequence {item.name!r}"
    ref = getattr(item, "media_reference", None)
    if isinstance(ref, otio.schema.GeneratorReference):
        kind = ref.generator_kind or "generator"
        what = "title" if "type" in kind.lower() or "title" in (item.name or "").lower() else "generator"
        return f"{what} {item.name!r} ({kind})"
    return f"clip {item.name!r} (no finished media)"
