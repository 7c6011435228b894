"""Benchmark cases for grade, retime and reframe against their nearest FFmpeg filters.

``CASES`` feeds ``bench/processors.py`` (the shared table), which runs each on the same 1080p
clip: a list of dicts with the keys of its ``Case``:

``name``         the row's name;
``postbay``      ``callable(frames) -> frames`` over float32 (H, W, 3) display RGB in [0, 1], CPU;
``ffmpeg``       the filter chain FFmpeg runs on the same frames (through ``av.filter.Graph``);
``metric``       ``callable(output, clean, degraded) -> float``, with ``metric_name`` saying what
                 it is; ``prepare(clean) -> degraded`` makes the input (default: the clean clip).

Run this file alone for the colour/motion rows at 1080p: it prints fps for both sides, the
speed ratio and the metric (``python bench/cases_colour_motion.py [--frames N] [--size WxH]``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import av.filter
import numpy as np

from postbay.backend import numpy_backend
from postbay.processors.basic import resolve_lut
from postbay.processors.grade import GradeParams, grade
from postbay.processors.reframe import ReframeParams, reframe, reframe_format
from postbay.processors.retime import RetimeParams, retime, retime_format
from postbay.registry import FrameFormat, StepContext

__all__ = ["CASES", "run_ffmpeg", "psnr"]

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


def run_ffmpeg(frames: list[np.ndarray], chain: str, rate: Fraction = RATE) -> list[np.ndarray]:
    """Run an FFmpeg filter chain over float RGB frames (as 16-bit RGB) through PyAV."""
    h, w = frames[0].shape[:2]
    graph = av.filter.Graph()
    src = graph.add("buffer", f"video_size={w}x{h}:pix_fmt=rgb48le:time_base={rate.denominator}/{rate.numerator}"
                              f":pixel_aspect=1/1:frame_rate={rate.numerator}/{rate.denominator}")
    node = src
    for part in chain.split(","):
        name, _, args = part.partition("=")
        nxt = graph.add(name, args) if args else graph.add(name)
        node.link_to(nxt)
        node = nxt
    fmt = graph.add("format", "rgb48le")
    node.link_to(fmt)
    sink = graph.add("buffersink")
    fmt.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                frame = sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            out.append(frame.to_ndarray().astype(np.float32) / 65535.0)

    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray((np.clip(f, 0, 1) * 65535 + 0.5).astype(np.uint16), format="rgb48le")
        vf.pts = i
        vf.time_base = Fraction(1) / rate
        src.push(vf)
        drain()
    src.push(None)
    drain()
    return out


def _test_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """A photograph panned across the frame at 2.5 px per frame (the 48 fps truth for retime)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "processors"))
    from cm_media import pan_clip

    return pan_clip(n, width, height, 2.5, name="rocket")


def _timed(fn: Callable[[], list[np.ndarray]]) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    clean = _test_frames(args.frames, width, height)
    print(f"{args.frames} frames at {width}x{height}, CPU (NumPy/SciPy, OCIO) vs FFmpeg {av.ffmpeg_version_info}")
    print(f"{'case':28s} {'postbay fps':>11s} {'ffmpeg fps':>10s} {'speed ×':>7s}  metric: postbay vs FFmpeg")
    for case in CASES:
        frames = case.get("prepare", lambda c: c)(clean)
        chain = case["ffmpeg"]
        ours, t_ours = _timed(lambda: case["postbay"](frames))
        theirs, t_theirs = _timed(lambda: run_ffmpeg(frames, chain))
        fps_ours, fps_theirs = len(frames) / t_ours, len(frames) / t_theirs
        m_ours, m_theirs = case["metric"](ours, clean, frames), case["metric"](theirs, clean, frames)
        print(f"{case['name']:28s} {fps_ours:11.2f} {fps_theirs:10.2f} {t_theirs / t_ours:7.2f}  "
              f"{case['metric_name']}: {m_ours:.4g} vs {m_theirs:.4g}")


if __name__ == "__main__":
    main()
