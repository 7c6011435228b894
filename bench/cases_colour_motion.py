"""Benchmark cases for grade, retime and reframe against their nearest FFmpeg filters.

``CASES`` feeds ``bench/processors.py`` (the shared table), which runs each on the same 1080p
clip: a list of dicts with the keys of its ``Case``:

``name``         the row's name;
``postbay``      ``callable(frames) -> frames`` over float32 (H, W, 3) display RGB in [0, 1], CPU;
``ffmpeg``       the filter chain FFmpeg runs on the same frames (through ``av.filter.Graph``);
``metric``       ``callable(output, clean, degraded) -> float``, with ``metric_name`` saying what
                 it is; ``prepare(clean) -> degraded`` makes the input (default: the clean clip).

For these rows alone: ``python bench/processors.py --only grade,retime,reframe``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from postbay.backend import numpy_backend
from postbay.processors.grade import GradeParams, grade
from postbay.processors.primaries import resolve_lut
from postbay.processors.reframe import ReframeParams, reframe, reframe_format
from postbay.processors.retime import RetimeParams, retime, retime_format
from postbay.registry import FrameFormat, StepContext

__all__ = ["CASES", "psnr"]

RATE = Fraction(24)
LOOK = str(resolve_lut("print-neutral"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _fmt(frames: list[np.ndarray]) -> FrameFormat:
    h, w = frames[0].shape[:2]
    return FrameFormat(w, h, RATE, len(frames))


def postbay_grade(frames: list[np.ndarray]) -> list[np.ndarray]:
    params = GradeParams(lut="print-neutral")
    fmt = _fmt(frames)
    ctx = StepContext(numpy_backend(), fmt, fmt)
    return [grade([f], ctx, params) for f in frames]


def postbay_retime(frames: list[np.ndarray]) -> list[np.ndarray]:
    params = RetimeParams(fps=48, method="motion", repair=False)
    fmt = _fmt(frames)
    return list(retime(iter(frames), StepContext(numpy_backend(), fmt, retime_format(params, fmt)), params))


def _reframe_params() -> ReframeParams:
    return ReframeParams(aspect="9:16", width=1080, height=1920, lookahead=12)


def postbay_reframe(frames: list[np.ndarray]) -> list[np.ndarray]:
    params = _reframe_params()
    fmt = _fmt(frames)
    return list(reframe(iter(frames), StepContext(numpy_backend(), fmt, reframe_format(params, fmt)), params))


def ocio_error(output: list[np.ndarray], _clean: Any, degraded: list[np.ndarray]) -> float:
    """Largest difference from OCIO's CPU processor running the same look (the reference)."""
    from postbay.colour import cpu_apply
    from postbay.processors.grade import grade_processor

    proc = grade_processor(GradeParams(lut="print-neutral"))
    return float(max(np.abs(o - cpu_apply(proc, d)).max() for o, d in zip(output, degraded)))


def every_other_frame(clean: list[np.ndarray]) -> list[np.ndarray]:
    """The clean clip is the 48 fps truth; the input keeps every other frame (24 fps)."""
    return clean[0::2]


def in_between_psnr(output: list[np.ndarray], clean: list[np.ndarray], degraded: list[np.ndarray]) -> float:
    """Mean PSNR of the built in-between frames against the true ones (inside the clip)."""
    last = min(len(output), len(clean), 2 * (len(degraded) - 1))
    return float(np.mean([psnr(output[k], clean[k]) for k in range(1, last, 2)]))


def frames_out(output: list[np.ndarray], _clean: Any, _degraded: Any) -> float:
    return float(len(output))


CASES: list[dict[str, Any]] = [
    {"name": "grade (print-neutral look)", "postbay": postbay_grade, "postbay_label": "grade(lut=print-neutral)",
     "ffmpeg": f"lut3d=file={LOOK}:interp=trilinear", "metric": ocio_error,
     "metric_name": "max abs difference vs OCIO CPU (lower better)", "target": "≥ 1.0× FFmpeg fps"},
    {"name": "retime 24→48", "postbay": postbay_retime, "postbay_label": "retime(fps=48, method=motion)",
     "ffmpeg": "minterpolate=fps=48:mi_mode=mci:mc_mode=aobmc:me_mode=bidir", "prepare": every_other_frame,
     "metric": in_between_psnr, "metric_name": "in-between PSNR dB vs true frames (higher better)"},
    {"name": "reframe 9:16 1080x1920", "postbay": postbay_reframe, "postbay_label": "reframe(aspect=9:16)",
     "ffmpeg": "crop=trunc(ih*9/32)*2:ih,scale=1080:1920:flags=lanczos", "metric": frames_out,
     "metric_name": "frames out (FFmpeg: a fixed centre crop; tracking is scored in the tests)"},
]
