"""Engine overhead: `postbay run --recipe passthrough` vs the same transcode written directly in PyAV.

Same clip, same machine, one run. The peer decodes H.264, converts to 10-bit 4:2:2, encodes
ProRes 422 HQ with the same encoder and options, and writes the audio as 24-bit PCM: exactly
what the passthrough recipe promises, minus postbay's probe, verification, atomic publish and
report. Prints fps of each and the overhead ratio (target ≤ 1.15×).

    python bench/engine.py [--frames 240] [--height 1080] [--recipe passthrough]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

from postbay.media import PRESETS
from postbay.recipe import load_recipe
from postbay.render import finish_clip
from postbay.synth import ai_look_frame, write_clip


def direct_pyav(src: Path, dst: Path, preset_name: str) -> int:
    preset = PRESETS[preset_name]
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        ain = inp.streams.audio[0] if inp.streams.audio else None
        rate = vin.average_rate
        vout = out.add_stream(preset.codec, rate=rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, preset.pix_fmt
        vout.time_base = 1 / Fraction(rate)
        vout.options = dict(preset.options)
        aout = None
        if ain is not None:
            aout = out.add_stream("pcm_s24le", rate=ain.codec_context.sample_rate)
            aout.layout = ain.codec_context.layout.name
        streams = [vin] + ([ain] if ain is not None else [])
        n = 0
        for packet in inp.demux(*streams):
            for frame in packet.decode():
                if packet.stream.type == "video":
                    yuv = frame.reformat(format=preset.pix_fmt)
                    yuv.pts = n
                    yuv.time_base = 1 / Fraction(rate)
                    out.mux(vout.encode(yuv))
                    n += 1
                else:
                    frame.pts = None
                    out.mux(aout.encode(frame))
        out.mux(vout.encode(None))
        if aout is not None:
            out.mux(aout.encode(None))
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--recipe", default="passthrough")
    ap.add_argument("--repeat", type=int, default=2, help="best of N for each side")
    args = ap.parse_args()
    width = args.height * 16 // 9 // 2 * 2
    recipe = load_recipe(args.recipe)
    with tempfile.TemporaryDirectory(prefix="postbay-bench-") as tmp:
        tmp = Path(tmp)
        src = tmp / "source.mp4"
        print(f"making a {args.frames}-frame {width}x{args.height} H.264 clip with audio…", file=sys.stderr)
        write_clip(src, frames=args.frames, width=width, height=args.height, rate=Fraction(24),
                   pattern=ai_look_frame, audio="tone", options={"crf": "18", "preset": "veryfast"})
        times: dict[str, float] = {"pyav": float("inf"), "postbay": float("inf"), "cli": float("inf")}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            n = direct_pyav(src, tmp / "direct.mov", recipe.output.codec)
            times["pyav"] = min(times["pyav"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            r = finish_clip(src, recipe, tmp / "out")
            times["postbay"] = min(times["postbay"], time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "postbay", "run", str(src), "--recipe", args.recipe, "--out",
                            str(tmp / "cli"), "-q"], check=True)
            times["cli"] = min(times["cli"], time.perf_counter() - t0)
        assert n == r.report["frames"] == args.frames
    print(f"clip: {args.frames} frames {width}x{args.height} H.264 → {recipe.output.codec} (recipe {args.recipe})")
    print(f"{'':28}{'seconds':>9}{'fps':>9}{'ratio':>8}")
    for label, key in (("PyAV direct transcode", "pyav"), ("postbay finish_clip", "postbay"),
                       ("postbay run (CLI process)", "cli")):
        print(f"{label:28}{times[key]:9.2f}{args.frames / times[key]:9.1f}{times[key] / times['pyav']:8.3f}")
    print(f"overhead ratio (postbay / PyAV): {times['postbay'] / times['pyav']:.3f}x (target ≤ 1.15x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
