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

from postbay.backend import Backend, in_bands
from postbay.config import DEFAULT_OCIO_CONFIG
from postbay.errors import ConfigError

__all__ = [
    "D65_XYZ",
    "DEFAULT_OCIO_CONFIG",
    "LUT_SUFFIXES",
    "REC709_LUMA",
    "REC709_TO_XYZ",
    "REC709_TO_YCBCR",
    "WORKING_SPACES",
    "WorkingSpace",
    "convert",
    "file_processor",
    "load_config",
    "processor",
    "cpu_apply",
    "luma",
]

#: Rec.709 luma weights of R, G and B (ITU-R BT.709, Y' from R'G'B' and Y from linear RGB alike).
REC709_LUMA = (0.2126, 0.7152, 0.0722)
#: Linear Rec.709 RGB → CIE XYZ (D65 white).
REC709_TO_XYZ = np.array([[0.4123908, 0.3575843, 0.1804808],
                          [0.2126390, 0.7151687, 0.0721923],
                          [0.0193308, 0.1191948, 0.9505322]])
#: The D65 white point in XYZ (Y = 1).
D65_XYZ = np.array([0.95047, 1.0, 1.08883])
#: R'G'B' → Y'CbCr of BT.709 (Cb and Cr in [-0.5, 0.5]).
REC709_TO_YCBCR = np.array([[0.2126, 0.7152, 0.0722],
                            [-0.1146, -0.3854, 0.5],
                            [0.5, -0.4542, -0.0458]])

#: Suffixes of the LUT files OpenColorIO's FileTransform reads.
LUT_SUFFIXES = (".cube", ".spi3d", ".spi1d", ".clf", ".ctf", ".3dl", ".csp")

WorkingSpace = Literal["display", "linear", "acescct"]

#: Working space → colour space name in the OCIO config (names of the built-in studio config).
WORKING_SPACES: dict[str, str] = {
    "display": "Gamma 2.4 Encoded Rec.709",
    "linear": "Linear Rec.709 (sRGB)",
    "acescct": "ACEScct",
}

_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def load_config(source: str = DEFAULT_OCIO_CONFIG) -> ocio.Config:
    """Load an OCIO config: a built-in ``ocio://`` URI or a ``config.ocio`` path."""
    try:
        return ocio.Config.CreateFromFile(source)
    except Exception as exc:  # OCIO raises its own Exception type with a useful text
        raise ConfigError(f"cannot load OCIO config: {exc}", path=source,
                          hint=f"use {DEFAULT_OCIO_CONFIG!r} or a path to a config.ocio") from exc


@functools.lru_cache(maxsize=64)
def processor(src: str, dst: str, config: str = DEFAULT_OCIO_CONFIG) -> ocio.CPUProcessor:
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


@functools.lru_cache(maxsize=16)
def file_processor(path: str, interpolation: str = "tetrahedral") -> ocio.CPUProcessor:
    """OCIO's CPU processor of a LUT file (``.cube``, ``.spi3d``, ``.clf``…) through its
    ``FileTransform``, with ``linear``, ``tetrahedral`` or ``best`` interpolation."""
    interp = {"linear": ocio.INTERP_LINEAR, "tetrahedral": ocio.INTERP_TETRAHEDRAL, "best": ocio.INTERP_BEST}
    transform = ocio.FileTransform(src=str(path), interpolation=interp[interpolation])
    try:
        with _lock:
            return ocio.Config.CreateRaw().getProcessor(transform).getDefaultCPUProcessor()
    except Exception as exc:  # OCIO says what is wrong with the file
        raise ConfigError(f"cannot read the LUT: {exc}", path=path,
                          hint="give a .cube, .spi3d, .clf or another LUT file OpenColorIO reads") from exc


def cpu_apply(proc: ocio.CPUProcessor, rgb: np.ndarray) -> np.ndarray:
    """Apply an OCIO CPU processor to an (H, W, 3) float32 array; returns a new array.

    The rows are processed in bands on the CPU worker threads (OCIO releases the GIL while
    it works), so a grade or a conversion uses every core.
    """
    src = np.ascontiguousarray(rgb, dtype=np.float32)
    out = np.empty_like(src)

    def band(r0: int, r1: int) -> None:
        h, w = r1 - r0, src.shape[1]
        proc.apply(ocio.PackedImageDesc(src[r0:r1], w, h, 3), ocio.PackedImageDesc(out[r0:r1], w, h, 3))

    in_bands(out.shape[0], band, min_rows=128)
    return out


def convert(frame: Any, src: str, dst: str, backend: Backend, config: str = DEFAULT_OCIO_CONFIG) -> Any:
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


def luma(rgb: Any) -> Any:
    """Rec.709 luma of an (..., 3) float32 array on any backend (in place on one new plane)."""
    y = rgb[..., 0] * np.float32(REC709_LUMA[0])
    y += rgb[..., 1] * np.float32(REC709_LUMA[1])
    y += rgb[..., 2] * np.float32(REC709_LUMA[2])
    return y
