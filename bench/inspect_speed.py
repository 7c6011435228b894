"""Benchmark: ``postbay inspect`` throughput at 1080p against real time and against the decode alone.

A camera pans (whole pixels per frame, so making the clip is quick) over a wall of scikit-image's
photographs with noise and flicker added; the same pan is encoded twice, to H.264 4:2:0 (AAC
stereo tone) and to ProRes 422 HQ 10-bit (PCM). For each, in one run: frames per second of the
decode alone (the floor any inspection pays: PyAV with FFmpeg's threads, nothing else) and of
``inspect_clip`` (decode and every measure, sound included), each as a multiple of real time,
and the CPU seconds of each (steadier than wall time on a shared machine: the measures' own cost
is inspect's CPU less the decode's). Then the built-in ``auto`` and ``finish`` recipes on a
clean, a noisy and a flickering clip of the same pan (smaller, ``--compare-width``): seconds each
and the steps ``auto`` chose.

    python bench/inspect_speed.py [--seconds 10] [--width 1920 --height 1080] [--compare-width 640]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

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

#: The clips each speed run encodes: label, file name, write_clip's codec settings.
FORMATS = [("H.264 4:2:0", "pan.mp4", {"codec": "libx264", "pix_fmt": "yuv420p", "options": {"crf": "18"}}),
           ("ProRes 422 HQ", "pan.mov", {"codec": "prores", "pix_fmt": "yuv422p10le"})]


def wall_pan(width: int, height: int, frames: int, noise: float = 0.02, flicker: float = 0.04,
             seed: int = 0) -> Callable[[int, int, int], np.ndarray]:
    """A pan (2 px right and 1 px down per frame) over a wall of photographs, with grey noise of
    σ ``noise`` and a random brightness gain of ± ``flicker`` per frame, as ``write_clip``'s
    pattern: frame ``i`` is made when it is asked for (the same for the same ``seed``), so a
    long 1080p clip never sits in memory."""
    names = ["astronaut", "coffee", "rocket", "camera", "brick", "grass", "gravel", "moon", "chelsea"]
    cell_h, cell_w = 300, 400
    rows, cols = -(-(height + frames) // cell_h), -(-(width + 2 * frames) // cell_w)
    wall = np.zeros((rows * cell_h, cols * cell_w, 3), np.float32)
    photos = [media.photo(n) for n in names]
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        wall[r * cell_h:(r + 1) * cell_h, c * cell_w:(c + 1) * cell_w] = photos[k % len(photos)][:cell_h, :cell_w]

    def frame(i: int, _w: int = width, _h: int = height) -> np.ndarray:
        rng = np.random.default_rng((seed, i))
        crop = wall[i:i + height, 2 * i:2 * i + width] * (1 + rng.uniform(-flicker, flicker))
        return crop + rng.normal(0, noise, (height, width, 1)).astype(np.float32)

    return frame


def _decode(path: Path) -> tuple[float, float]:
    """Wall and CPU seconds of decoding every video frame (FFmpeg's threads, as inspect decodes)."""
    began, cpu = time.perf_counter(), time.process_time()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - began, time.process_time() - cpu


def _inspect(path: Path) -> tuple[float, float, dict[str, Any]]:
    began, cpu = time.perf_counter(), time.process_time()
    report = inspect_clip(path)
    return time.perf_counter() - began, time.process_time() - cpu, report


def speed(folder: Path, seconds: float, width: int, height: int) -> None:
    """Decode alone and inspect, for each of :data:`FORMATS`, in frames per second and × real time."""
    rate = Fraction(24)
    frames = int(seconds * rate)
    pattern = wall_pan(width, height, frames)
    duration = frames / float(rate)
    print(f"inspect, {width}x{height}, {frames} frames ({duration:.0f} s at {rate} fps), {os.cpu_count()} CPU(s)")
    print(f"{'clip':16}{'decode fps':>11}{'× real':>8}{'inspect fps':>13}{'× real':>8}{'inspect/decode':>16}"
          f"{'CPU s: decode':>15}{'measures':>10}")
    for label, name, settings in FORMATS:
        path = write_clip(folder / name, frames=frames, width=width, height=height, rate=rate, pattern=pattern,
                          **settings)  # type: ignore[arg-type]
        _decode(path)  # the file in the page cache, FFmpeg's code loaded
        decode, decode_cpu = _decode(path)
        inspect, inspect_cpu, report = _inspect(path)
        print(f"{label:16}{frames / decode:11.0f}{duration / decode:8.1f}{frames / inspect:13.0f}"
              f"{duration / inspect:8.1f}{decode / inspect:15.0%} {decode_cpu:14.2f}{inspect_cpu - decode_cpu:10.2f}")
        print(f"{'':16}measured: noise σ {report['noise']['sigma']:.4f} (0.02 added), flicker swing "
              f"{report['flicker']['swing']:.3f} (uniform ±0.04 added), shake {report['shake']['jitter']} px")
        path.unlink()


def compare_auto_finish(folder: Path, width: int, frames: int = 24) -> None:
    """Seconds of the ``auto`` and ``finish`` recipes on a clean, a noisy and a flickering clip."""
    height = width * 9 // 16 // 2 * 2
    cases = {"clean": wall_pan(width, height, frames, noise=0.0, flicker=0.0),
             "noisy": wall_pan(width, height, frames, noise=0.04, flicker=0.0),
             "flickering": wall_pan(width, height, frames, noise=0.0, flicker=0.06)}
    print(f"\nauto vs finish, {width}x{height}, {frames} frames")
    print(f"{'clip':12}{'auto s':>9}{'finish s':>10}  auto ran")
    for name, pattern in cases.items():
        clip = write_clip(folder / f"{name}.mov", frames=frames, width=width, height=height, audio=None,
                          pattern=pattern, options={"crf": "12"})
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
    with tempfile.TemporaryDirectory() as folder:
        speed(Path(folder), args.seconds, args.width, args.height)
    if args.compare_width:
        with tempfile.TemporaryDirectory() as folder:
            compare_auto_finish(Path(folder), args.compare_width)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
