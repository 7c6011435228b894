"""Stills for the dashboard's before/after view: frame N of a clip as an 8-bit sRGB PNG.

The still is scaled by the decoder's scaler straight from the decoded frame, so a request
costs the decoded frame and a small picture, never a full-size RGB copy; pictures over the
pixel limit are refused before a frame is decoded.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

from PIL import Image

from postbay.errors import MediaError
from postbay.media import VideoReader, probe, to_rgb8_scaled

__all__ = ["MAX_STILL_SIDE", "render_still"]

#: The longest side of a still, whatever the width asked for and the display aspect.
MAX_STILL_SIDE = 3840


def render_still(path: str | Path, frame: int = 0, width: int = 640) -> bytes:
    """PNG of frame ``frame`` (from 0) of ``path``, ``width`` pixels wide at its display aspect.

    Anamorphic sources are shown squeezed back to their display shape, so a before/after
    split of a 2x anamorphic source and a desqueezed output lines up.
    """
    info = probe(path)
    video = info.require_video()
    if frame >= max(1, video.frames):
        raise MediaError(f"has {video.frames} frames; frame {frame} does not exist", path=path)
    dar = video.sar * Fraction(video.width, video.height)
    width = max(2, min(int(width), MAX_STILL_SIDE))
    height = max(2, round(width / float(dar)))
    if height > MAX_STILL_SIDE:  # a tall display aspect: fit the height instead
        width, height = max(2, round(MAX_STILL_SIDE * float(dar))), MAX_STILL_SIDE
    _, decoded = next(iter(VideoReader(path, start=frame, count=1, info=info).av_frames()))
    image = Image.fromarray(to_rgb8_scaled(decoded, width, height), "RGB")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()
