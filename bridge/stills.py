"""Stills for the dashboard's before/after view: frame N of a clip as an 8-bit sRGB PNG."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from postbay.errors import MediaError
from postbay.media import VideoReader, probe

__all__ = ["render_still"]


def render_still(path: str | Path, frame: int = 0, width: int = 640) -> bytes:
    """PNG of frame ``frame`` (from 0) of ``path``, ``width`` pixels wide at its display aspect.

    Anamorphic sources are shown squeezed back to their display shape, so a before/after
    split of a 2x anamorphic source and a desqueezed output lines up.
    """
    info = probe(path)
    video = info.require_video()
    if frame >= max(1, video.frames):
        raise MediaError(f"has {video.frames} frames; frame {frame} does not exist", path=path)
    _, picture = next(iter(VideoReader(path, start=frame, count=1, info=info)))
    image = Image.fromarray((picture >> 8).astype(np.uint8), "RGB")
    dar = video.sar * Fraction(video.width, video.height)
    width = min(int(width), 3840)
    height = max(2, int(round(width / float(dar))))
    image = image.resize((width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=3)
    return out.getvalue()
