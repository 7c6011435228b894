"""Colour management between the working spaces processors declare, through OpenColorIO.

Decoded frames arrive as display-encoded Rec.709 RGB (the gamma 2.4 signal a Rec.709 video
carries). A processor declares the space it works in: ``display`` (that signal), ``linear``
(scene-linear Rec.709, for resampling and light-like operations) or ``acescct`` (a log
grading space). The pipeline converts between steps only where the declared space changes.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Literal

import numpy as np
import PyOpenColorIO as ocio

from postbay.backend import Backend
from postbay.config import DEFAULT_OCIO_CONFIG
from postbay.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG",
    "WORKING_SPACES",
    "WorkingSpace",
    "convert",
    "load_config",
    "processor",
    "cpu_apply",
]

DEFAULT_CONFIG = DEFAULT_OCIO_CONFIG

WorkingSpace = Literal["display", "linear", "acescct"]

#: Working space → colour space name in the OCIO config (names of the built-in studio config).
WORKING_SPACES: dict[str, str] = {
    "display": "Gamma 2.4 Encoded Rec.709",
    "linear": "Linear Rec.709 (sRGB)",
    "acescct": "ACEScct",
}

_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def load_config(source: str = DEFAULT_CONFIG) -> ocio.Config:
    """Load an OCIO config: a built-in ``ocio://`` URI or a ``config.ocio`` path."""
    try:
        return ocio.Config.CreateFromFile(source)
    except Exception as exc:  # OCIO raises its own Exception type with a useful text
        raise ConfigError(f"cannot load OCIO config: {exc}", path=source,
                          hint=f"use {DEFAULT_CONFIG!r} or a path to a config.ocio") from exc


@functools.lru_cache(maxsize=64)
def processor(src: str, dst: str, config: str = DEFAULT_CONFIG) -> ocio.CPUProcessor:
    """The OCIO CPU processor from colour space ``src`` to ``dst`` (names or working spaces)."""
    cfg = load_config(config)
    src_name = WORKING_SPACES.get(src, src)
    dst_name = WORKING_SPACES.get(dst, dst)
    for name in (src_name, dst_name):
        if cfg.getColorSpace(name) is None:
            raise ConfigError(f"colour space {name!r} is not in the OCIO config", path=config,
                              hint="list them with `postbay colourspaces`")
    with _lock:
        return cfg.getProcessor(src_name, dst_name).getDefaultCPUProcessor()


def cpu_apply(proc: ocio.CPUProcessor, rgb: np.ndarray) -> np.ndarray:
    """Apply an OCIO CPU processor to an (H, W, 3) float32 array; returns a new array."""
    out = np.ascontiguousarray(rgb, dtype=np.float32).copy()
    h, w = out.shape[:2]
    proc.apply(ocio.PackedImageDesc(out, w, h, 3))
    return out


def convert(frame: Any, src: str, dst: str, backend: Backend, config: str = DEFAULT_CONFIG) -> Any:
    """Convert an (H, W, 3) float32 frame from ``src`` to ``dst`` on ``backend``.

    The CPU path runs OCIO's own processor. On a GPU the frame goes through the same
    processor on the host; processors that need colour work on the GPU bake LUTs instead.
    """
    if src == dst:
        return frame
    proc = processor(src, dst, config)
    if backend.name == "cpu":
        return cpu_apply(proc, frame)
    return backend.asarray(cpu_apply(proc, backend.to_host(frame)))
