"""Conform overhead: a synthetic cut of many 5 s shots, `passthrough`, against the bare transcodes.

Same media, same machine, one run:

* **peer**: the same used ranges (plus handles) transcoded directly in PyAV, one after the
  other (decode H.264 → ProRes 422 HQ, seek to the range first): the decode/encode floor;
* **conform, 1 worker**: `conform_timeline` on the cut: read, relink, plan, the renders (each
  a verified `finish_clip`), the timeline written back twice, the report. Its *overhead* is
  everything but the renders' own time, as a share of the total;
* **conform, N workers**: the same, shots in parallel processes.

Prints the overhead share (target < 5 %), conform/peer ratio and the 1 → N speed-up.

    python bench/conform.py [--clips 200] [--height 1080] [--seconds 5] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio

from postbay.media import PRESETS, frames_to_timecode
from postbay.recipe import load_recipe
from postbay.synth import write_clip
from postbay.timeline.conform import conform_timeline
from postbay.timeline.plan import DEFAULT_HANDLES

RATE = Fraction(24)


def _pattern(height: int):
    """A cheap moving picture (a gradient with a sliding bar) so media generation stays fast."""
    cache: dict[tuple[int, int], np.ndarray] = {}

    def frame(i: int, width: int, h: int) -> np.ndarray:
        base = cache.get((width, h))
        if base is None:
            y, x = np.mgrid[0:h, 0:width].astype(np.float32)
            base = np.stack([x / width, y / h, 0.5 + 0 * x], axis=-1).astype(np.float32)
            cache[(width, h)] = base
        out = base.copy()
        x0 = (i * 7) % max(1, width - 16)
        out[:, x0:x0 + 16] = 0.9
        return out

    return frame


def _make_media(job: tuple[Path, int, int, int, int]) -> None:
    path, frames, width, height, origin = job
    write_clip(path, frames=frames, width=width, height=height, rate=RATE, pattern=_pattern(height),
               timecode=frames_to_timecode(origin, RATE), audio=None)


def make_cut(folder: Path, clips: int, height: int, seconds: float,
             files: int) -> tuple[Path, list[tuple[Path, int, int]]]:
    """Media files holding the shots back to back (with room for handles), and the cut of them."""
    width = int(round(height * 16 / 9 / 2)) * 2
    length = int(round(seconds * RATE))
    stride = length + 3 * DEFAULT_HANDLES  # ranges plus handles never overlap: one render per clip
    per_file = -(-clips // files)
    origin = 3600 * 24
    paths = []
    for f in range(files):
        n = min(per_file, clips - f * per_file)
        if n > 0:
            paths.append((folder / f"gen_{f:03d}.mp4", n))
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(_make_media, [(p, n * stride + DEFAULT_HANDLES * 2, width, height, origin) for p, n in paths]))
    tl = otio.schema.Timeline(name="bench")
    tl.global_start_time = otio.opentime.RationalTime(origin, 24)
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    ranges = []
    k = 0
    for path, n in paths:
        for j in range(n):
            start = DEFAULT_HANDLES * 2 + j * stride
            ranges.append((path, start - DEFAULT_HANDLES, length + 2 * DEFAULT_HANDLES))
            track.append(otio.schema.Clip(
                name=f"shot_{k:03d}", media_reference=otio.schema.ExternalReference(target_url=path.as_uri()),
                source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(origin + start, 24),
                                                     otio.opentime.RationalTime(length, 24))))
            k += 1
    cut = folder / "bench.otio"
    otio.adapters.write_to_file(tl, str(cut))
    return cut, ranges


def peer_transcode(src: Path, dst: Path, start: int, count: int) -> int:
    """The decode/encode floor: seek, decode the range, encode ProRes 422 HQ, nothing else."""
    preset = PRESETS["prores_hq"]
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream(preset.codec, rate=RATE)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, preset.pix_fmt
        vout.time_base = 1 / RATE
        vout.options = dict(preset.options)
        inp.seek(int(start / RATE / vin.time_base), stream=vin, backward=True)
        n = 0
        for frame in inp.decode(vin):
            index = int(round(frame.pts * vin.time_base * RATE))
            if index < start:
                continue
            if n >= count:
                break
            yuv = frame.reformat(format=preset.pix_fmt, dst_colorspace="ITU709")
            yuv.pts = n
            out.mux(vout.encode(yuv))
            n += 1
        out.mux(vout.encode(None))
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--files", type=int, default=None, help="media files the shots come from (default clips/10)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    files = args.files or max(1, args.clips // 10)
    recipe = load_recipe("passthrough")
    with tempfile.TemporaryDirectory(prefix="postbay-bench-conform-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        cut, ranges = make_cut(folder, args.clips, args.height, args.seconds, files)
        print(f"made {len(ranges)} shots in {len(list(folder.glob('*.mp4')))} files at "
              f"{args.height}p in {time.perf_counter() - t0:.1f} s")
        frames = sum(c for _, _, c in ranges)

        (folder / "peer").mkdir()
        t0 = time.perf_counter()
        for i, (src, start, count) in enumerate(ranges):
            peer_transcode(src, folder / "peer" / f"{i:03d}.mov", start, count)
        peer = time.perf_counter() - t0
        shutil.rmtree(folder / "peer")

        t0 = time.perf_counter()
        one = conform_timeline(cut, recipe, folder / "out1", workers=1)
        wall1 = time.perf_counter() - t0
        renders = one.timings["render (sum of shots)"]
        overhead = (wall1 - renders) / wall1
        shutil.rmtree(folder / "out1")

        t0 = time.perf_counter()
        many = conform_timeline(cut, recipe, folder / "outN", workers=args.workers)
        wall_n = time.perf_counter() - t0
        assert one.ok and many.ok

    figures = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "clips": len(ranges), "height": args.height, "seconds_per_shot": args.seconds, "frames_rendered": frames,
        "peer_direct_pyav_s": round(peer, 2), "conform_1_worker_s": round(wall1, 2),
        "renders_s": round(renders, 2), "overhead_share": round(overhead, 4),
        "conform_vs_peer": round(wall1 / peer, 3), "workers": args.workers, "conform_n_workers_s": round(wall_n, 2),
        "speedup_1_to_n": round(wall1 / wall_n, 2),
        "conform_steps_1_worker": {k: round(v, 3) if isinstance(v, float) else v for k, v in one.timings.items()},
    }
    print(f"peer (direct PyAV, same ranges): {peer:.2f} s for {frames} frames ({frames / peer:.0f} fps)")
    print(f"conform, 1 worker: {wall1:.2f} s; renders {renders:.2f} s; overhead {overhead:.1%} of the total "
          f"(target < 5 %); conform/peer {wall1 / peer:.3f}x")
    print(f"conform, {args.workers} workers: {wall_n:.2f} s; speed-up {wall1 / wall_n:.2f}x")
    print("steps:", json.dumps(figures["conform_steps_1_worker"]))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
