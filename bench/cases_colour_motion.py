"""Benchmark cases for grade, retime and reframe against their nearest FFmpeg filters.

``CASES`` feeds ``bench/processors.py`` (the shared table): each case is a dict

``name``      the row's name;
``postbay``   ``callable(frames) -> frames`` over float32 (H, W, 3) display RGB in [0, 1], CPU;
``ffmpeg``    the filter chain FFmpeg runs on the same frames (through ``av.filter.Graph``);
``metric``    ``callable(postbay_frames, ffmpeg_frames, source_frames) -> dict`` or None.

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
from postbay.processors.reframe import ReframeParams, crop_geometry, reframe, reframe_format
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


def agreement(postbay_frames: list[np.ndarray], ffmpeg_frames: list[np.ndarray], _source: Any) -> dict[str, float]:
    """How closely the two apply the same LUT: PSNR and the largest difference."""
    n = min(len(postbay_frames), len(ffmpeg_frames))
    diffs = [np.abs(postbay_frames[i] - ffmpeg_frames[i]).max() for i in range(n)]
    return {"psnr_vs_ffmpeg_db": round(float(np.mean([psnr(postbay_frames[i], ffmpeg_frames[i])
                                                       for i in range(n)])), 2),
            "max_abs_diff": round(float(max(diffs)), 5)}


def frame_counts(postbay_frames: list[np.ndarray], ffmpeg_frames: list[np.ndarray], _source: Any) -> dict[str, int]:
    return {"postbay_frames": len(postbay_frames), "ffmpeg_frames": len(ffmpeg_frames)}


CASES: list[dict[str, Any]] = [
    {"name": "grade (print-neutral LUT) vs lut3d", "postbay": postbay_grade,
     "ffmpeg": f"lut3d=file={LOOK}:interp=trilinear", "metric": agreement},
    {"name": "retime 24→48 motion vs minterpolate", "postbay": postbay_retime,
     "ffmpeg": "minterpolate=fps=48:mi_mode=mci:mc_mode=aobmc:me_mode=bidir", "metric": frame_counts},
    {"name": "reframe 9:16 vs crop+scale", "postbay": postbay_reframe,
     "ffmpeg": "crop=608:1080:656:0,scale=1080:1920:flags=lanczos", "metric": frame_counts},
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
    """A natural photograph panned across the frame with a moving subject: 1080p test material."""
    from postbay.synth import ai_look_frame

    return [ai_look_frame(i, width, height) for i in range(n)]


def _timed(fn: Callable[[], list[np.ndarray]]) -> tuple[list[np.ndarray], float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    frames = _test_frames(args.frames, width, height)
    print(f"{args.frames} frames at {width}x{height}, CPU (NumPy/SciPy, OCIO) vs FFmpeg {av.ffmpeg_version_info}")
    print(f"{'case':40s} {'postbay fps':>11s} {'ffmpeg fps':>10s} {'ratio':>6s}  metric")
    for case in CASES:
        chain = case["ffmpeg"]
        if case["name"].startswith("reframe"):
            cw, ch, _ = crop_geometry(_reframe_params(), _fmt(frames))
            chain = f"crop={cw}:{ch}:{(width - cw) // 2}:0,scale=1080:1920:flags=lanczos"
        ours, t_ours = _timed(lambda: case["postbay"](frames))
        theirs, t_theirs = _timed(lambda: run_ffmpeg(frames, chain))
        fps_ours, fps_theirs = len(frames) / t_ours, len(frames) / t_theirs
        metric = case["metric"](ours, theirs, frames) if case["metric"] else {}
        print(f"{case['name']:40s} {fps_ours:11.2f} {fps_theirs:10.2f} {fps_ours / fps_theirs:6.2f}  {metric}")


if __name__ == "__main__":
    main()
