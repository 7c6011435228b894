"""Benchmark: the `finish` recipe against FFmpeg's nearest whole chains, decode to encode, one run.

A synthetic AI generation (``postbay.synth.ai_look_frame``: texture, a disc, a warm cast, plus
noise and flicker) is encoded as 720p H.264; its clean original (``ai_look_clean``) is rendered
at 1080p and given the same print look, as the reference. Each chain decodes the 720p file,
cleans it, enlarges it to 1080p, softens, adds grain, grades with the same LUT and encodes
ProRes 422 HQ with the same encoder (postbay's :class:`~postbay.media.VideoWriter`). Speed is
frames per second of the whole process; quality is PSNR of the decoded output against the
reference (grain lowers every chain's figure alike).

    python bench/finish.py [--frames 24] [--rounds 1] [--profile finish.prof]

FFmpeg runs through PyAV's filter graph with the runner of ``bench/processors.py``
(``tests/processors/media.py: ffmpeg_graph``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "processors"))

import media  # noqa: E402  (the FFmpeg graph runner and PSNR of bench/processors.py)

from postbay.media import VideoReader, VideoWriter, to_rgb16  # noqa: E402
from postbay.recipe import load_recipe  # noqa: E402
from postbay.render import finish_clip  # noqa: E402
from postbay.synth import ai_look_clean, ai_look_frame, write_clip  # noqa: E402

__all__ = ["FFMPEG_CHAINS", "ffmpeg_chain", "main", "reference_frames"]

LUT = ROOT / "luts" / "print-neutral.cube"
OUT_W, OUT_H = 1920, 1080
_CLEANUP = "deblock,deflicker=size=15,scale=1920:1080:flags=lanczos,gblur=sigma=0.8,noise=alls=14:allf=t"
_LOOK = f"lut3d=file={LUT}:interp=trilinear"

#: FFmpeg's chains, the nearest it has to `finish`: a fast temporal denoiser, or its best spatial
#: one (nlmeans s=10 is its best strength on this noise in bench/processors.py). Grain bounds
#: every chain's PSNR, so FFmpeg's is matched to the recipe's: in this chain ``noise=alls=14``
#: costs the same PSNR (grain std about 0.021 after the look) as ``grain amount=0.02 size=1.5``.
FFMPEG_CHAINS = {
    "FFmpeg: atadenoise chain": f"atadenoise=0a=0.1:0b=0.2:1a=0.1:1b=0.2:2a=0.1:2b=0.2:s=5,{_CLEANUP},{_LOOK}",
    "FFmpeg: nlmeans chain": f"nlmeans=s=10,{_CLEANUP},{_LOOK}",
}


def ffmpeg_chain(source: Path, spec: str, out: Path, width: int = OUT_W, height: int = OUT_H) -> int:
    """Decode ``source``, run the filter chain (ending at ``width`` × ``height``), encode ProRes HQ
    to ``out``; returns frames written."""
    reader = VideoReader(source)
    video = reader.video
    writer = VideoWriter(out, preset="prores_hq", width=width, height=height, rate=reader.rate)
    frames = (frame for _, frame in reader.av_frames())
    for frame in media.ffmpeg_graph(frames, spec, video.width, video.height, pix_fmt="yuv420p",
                                    out_format="yuv422p10le"):
        writer.write(frame)
    writer.close()
    return writer.frames_written


def reference_frames(count: int) -> list[np.ndarray]:
    """The clean original at 1080p with the print look, as uint16 RGB (what a perfect chain gives)."""
    pushed = (av.VideoFrame.from_ndarray((ai_look_clean(i, OUT_W, OUT_H) * 65535 + 0.5).astype(np.uint16),
                                               format="rgb48le") for i in range(count))
    return [f.to_ndarray() for f in media.ffmpeg_graph(pushed, _LOOK, OUT_W, OUT_H)]


def _psnr(output: Path, reference: list[np.ndarray]) -> float:
    scores = [media.psnr(to_rgb16(frame).astype(np.float32) / 65535, ref.astype(np.float32) / 65535)
              for (_, frame), ref in zip(VideoReader(output).av_frames(), reference)]
    return float(np.mean(scores))


def _best_of(rounds: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=1, help="best of this many runs of each chain")
    parser.add_argument("--recipe", default="finish")
    parser.add_argument("--skip", default="", help="comma-separated chains to leave out (substring match)")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the finish run into this file")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"encoding {args.frames} frames of 1280x720 H.264 …", flush=True)
        source = write_clip(tmp / "generation.mp4", frames=args.frames, width=1280, height=720,
                            pattern=ai_look_frame, audio=None, options={"crf": "18", "preset": "veryfast"})
        reference = reference_frames(args.frames)
        rows: list[tuple[str, float, float]] = []
        for label, spec in FFMPEG_CHAINS.items():
            if args.skip and any(s and s in label for s in args.skip.split(",")):
                continue
            print(f"{label} …", flush=True)
            out = tmp / f"ffmpeg-{len(rows)}.mov"
            seconds, n = _best_of(args.rounds, lambda spec=spec, out=out: ffmpeg_chain(source, spec, out))
            rows.append((label, n / seconds, _psnr(out, reference)))
        print(f"postbay: finish_clip(recipe={args.recipe}) …", flush=True)
        profiler = cProfile.Profile() if args.profile else None

        def finish() -> Any:
            if profiler:
                profiler.enable()
            try:
                return finish_clip(source, recipe, tmp / "postbay", gpu="off")
            finally:
                if profiler:
                    profiler.disable()

        seconds, result = _best_of(args.rounds, finish)
        rows.append((f"postbay: {args.recipe} recipe", args.frames / seconds, _psnr(result.output, reference)))
        timings = result.report["timings"]
    if profiler:
        profiler.dump_stats(str(args.profile))
        pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(20)
    ours = rows[-1][1]
    print(f"\n{args.frames} frames, 1280x720 H.264 → 1920x1080 ProRes 422 HQ, whole process, best of {args.rounds}\n")
    print("| chain | fps | PSNR dB vs clean | finish speed × |\n|---|---:|---:|---:|")
    for label, fps, quality in rows:
        print(f"| {label} | {fps:.2f} | {quality:.2f} | {ours / fps:.2f} |")
    print("\npostbay step self-times (s): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
