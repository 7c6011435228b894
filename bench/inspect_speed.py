"""Benchmark: ``postbay inspect`` throughput at 1080p against real time and against the decode alone.

A camera pans (whole pixels per frame, so making the clip is quick) over a wall of scikit-image's
photographs with noise and flicker added; the clip is encoded to H.264 4:2:0 with a stereo tone.
Timed in one run: FFmpeg decoding the clip (the floor any inspection pays, through PyAV with
FFmpeg's threads), and ``inspect_clip`` (decode and every measure, sound included). Then the
built-in ``auto`` and ``finish`` recipes on a clean, a noisy and a flickering clip of the same
pan (smaller, ``--compare-width``): seconds each and the steps ``auto`` chose.

    python bench/inspect_speed.py [--seconds 10] [--width 1920 --height 1080] [--compare-width 640]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "processors"))

import media  # noqa: E402  (the tests' media helpers: photographs)

from postbay.inspect import inspect_clip  # noqa: E402
from postbay.recipe import load_recipe  # noqa: E402
from postbay.render import finish_clip  # noqa: E402
from postbay.synth import write_clip  # noqa: E402

__all__ = ["main", "wall_pan"]


def wall_pan(frames: int, width: int, height: int, noise: float = 0.02, flicker: float = 0.04,
             seed: int = 0) -> list[np.ndarray]:
    """Frames of a pan (2 px right and 1 px down per frame) over a wall of photographs, with grey
    noise of σ ``noise`` and a random brightness gain of ± ``flicker`` per frame."""
    names = ["astronaut", "coffee", "rocket", "camera", "brick", "grass", "gravel", "moon", "chelsea"]
    cell_h, cell_w = 300, 400
    rows, cols = -(-(height + frames) // cell_h), -(-(width + 2 * frames) // cell_w)
    wall = np.zeros((rows * cell_h, cols * cell_w, 3), np.float32)
    photos = [media.photo(n) for n in names]
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        wall[r * cell_h:(r + 1) * cell_h, c * cell_w:(c + 1) * cell_w] = photos[k % len(photos)][:cell_h, :cell_w]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(frames):
        crop = wall[i:i + height, 2 * i:2 * i + width] * (1 + rng.uniform(-flicker, flicker))
        out.append(crop + rng.normal(0, noise, (height, width, 1)).astype(np.float32))
    return out


def _decode_seconds(path: Path) -> float:
    began = time.perf_counter()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - began


def compare_auto_finish(folder: Path, width: int, frames: int = 24) -> None:
    """Seconds of the ``auto`` and ``finish`` recipes on a clean, a noisy and a flickering clip."""
    height = width * 9 // 16 // 2 * 2
    cases = {"clean": wall_pan(frames, width, height, noise=0.0, flicker=0.0),
             "noisy": wall_pan(frames, width, height, noise=0.04, flicker=0.0),
             "flickering": wall_pan(frames, width, height, noise=0.0, flicker=0.06)}
    print(f"\nauto vs finish, {width}x{height}, {frames} frames")
    print(f"{'clip':12}{'auto s':>9}{'finish s':>10}  auto ran")
    for name, pictures in cases.items():
        clip = write_clip(folder / f"{name}.mov", frames=frames, width=width, height=height, audio=None,
                          pattern=lambda i, _w, _h, p=pictures: p[i], options={"crf": "12"})
        seconds = {}
        for recipe in ("auto", "finish"):
            began = time.perf_counter()
            result = finish_clip(clip, load_recipe(recipe), folder / recipe)
            seconds[recipe] = time.perf_counter() - began
            if recipe == "auto":
                ran = ", ".join(s["processor"] for s in result.report["auto"]["ran"]) or "nothing"
        print(f"{name:12}{seconds['auto']:9.1f}{seconds['finish']:10.1f}  {ran}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--compare-width", type=int, default=640, help="0 leaves the auto/finish comparison out")
    args = parser.parse_args(argv)
    rate = Fraction(24)
    frames = int(args.seconds * rate)
    with tempfile.TemporaryDirectory() as folder:
        pictures = wall_pan(frames, args.width, args.height)
        path = write_clip(Path(folder) / "pan.mp4", frames=frames, width=args.width, height=args.height, rate=rate,
                          pattern=lambda i, _w, _h: pictures[i], options={"crf": "18"})
        decode = _decode_seconds(path)
        began = time.perf_counter()
        report = inspect_clip(path)
        inspect = time.perf_counter() - began
    duration = frames / float(rate)
    print(f"inspect, {args.width}x{args.height} H.264, {frames} frames ({duration:.0f} s), "
          f"{os.cpu_count()} CPU(s)")
    print(f"{'':24}{'seconds':>9}{'× real time':>13}")
    print(f"{'FFmpeg decode alone':24}{decode:9.2f}{duration / decode:13.1f}")
    print(f"{'postbay inspect':24}{inspect:9.2f}{duration / inspect:13.1f}")
    print(f"measured: noise σ {report['noise']['sigma']:.4f} (0.02 added), flicker swing "
          f"{report['flicker']['swing']:.3f} (uniform ±0.04 added), shake {report['shake']['jitter']} px")
    if args.compare_width:
        with tempfile.TemporaryDirectory() as folder:
            compare_auto_finish(Path(folder), args.compare_width)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
