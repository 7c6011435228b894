"""Still frames for tests: numbered image sequences as AI tools and renderers write them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

from postbay.synth import frame_number_pattern

__all__ = ["numbered", "write_frame"]


def write_frame(path: Path, rgb: np.ndarray) -> Path:
    """One still: uint16 RGB as 16-bit PNG/TIFF/DPX, or float32 scene-linear RGB as a float EXR."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = rgb.shape[:2]
    codec = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".dpx": "dpx", ".exr": "exr"}[path.suffix]
    with av.open(str(path), "w", format="image2", options={"update": "1"}) as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height = w, h
        if codec == "exr":
            stream.pix_fmt = "gbrpf32le"
            frame = av.VideoFrame(w, h, "gbrpf32le")
            for plane, channel in zip(frame.planes, (1, 2, 0)):  # planar G, B, R
                rows = np.zeros((h, plane.line_size // 4), np.float32)
                rows[:, :w] = rgb[..., channel]
                plane.update(rows.tobytes())
        else:
            stream.pix_fmt = {"png": "rgb48be", "tiff": "rgb48le", "dpx": "rgb48le"}[codec]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb48le").reformat(
                format=stream.pix_fmt)
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def numbered(folder: Path, numbers: Iterable[int], name: str = "shot_", suffix: str = ".png", padding: int = 4) -> None:
    for n in numbers:
        picture = (frame_number_pattern(n, 128, 8) * 65535).astype(np.uint16)
        write_frame(folder / f"{name}{n:0{padding}d}{suffix}", picture)
