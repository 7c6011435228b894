"""GPU check: every processor's CPU/GPU parity at 1080p and 4K, GPU vs CPU speed, `finish` at 4K.

One prepared script for the first machine with an NVIDIA GPU. It installs nothing: install
postbay with its ``gpu`` extra first (``pip install -e '.[gpu]'``), then

    python bench/gpu.py                     # on the GPU machine: one table, under 8 minutes
    python bench/gpu.py --out docs/benchmarks.md   # and append the table there
    python bench/gpu.py --smoke             # anywhere: the CPU-only parts, small pictures, the
                                            # CuPy-shaped test backend standing in for CuPy

For each processor the same synthetic frames (``postbay.synth.ai_look_frame``) run on NumPy and
on CuPy through ``tests/processors/media.py: run_processor`` (the tests' runner: window, colour
space, stream or frame kind as in the pipeline). Parity is CuPy's output against NumPy's (PSNR
and largest difference); speed is frames per second with the frames already on the device
(so the GPU figure counts the computation and one download per frame, not the upload), and
the memory bandwidth that implies (bytes in and out per frame over the time: a floor on what
the kernels move). Then `finish`, enlarging 1080p H.264 to a 4K ProRes master, runs whole on
each backend and on FFmpeg's CPU chain (bench/finish.py), with the GPU steps' share of the wall time.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "processors"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import finish as finish_bench  # noqa: E402  (bench/finish.py: FFmpeg's chain, decode to encode)
import media  # noqa: E402  (the tests' processor runner and PSNR)

from postbay.backend import Backend, get_backend, numpy_backend  # noqa: E402
from postbay.recipe import builtin_recipe_paths, parse_recipe  # noqa: E402
from postbay.render import finish_clip  # noqa: E402
from postbay.synth import ai_look_frame, write_clip  # noqa: E402

__all__ = ["CASES", "ProcessorCase", "main"]

#: H200 HBM3e, for the bandwidth column (the GPU of the first machine lent).
PEAK_BANDWIDTH_GBS = 4800.0


@dataclass(frozen=True)
class ProcessorCase:
    """One processor with its parameters; ``scale_input`` < 1 feeds it a smaller picture (upscale)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    scale_input: float = 1.0
    frames: int = 5  # enough for the widest window (denoise ±2)


CASES = [
    ProcessorCase("denoise"),
    ProcessorCase("deblock", frames=2),
    ProcessorCase("deflicker", frames=9),
    ProcessorCase("upscale", {"scale": 2, "sharpen": 0.25}, scale_input=0.5, frames=2),
    ProcessorCase("soften", frames=2),
    ProcessorCase("grain", {"amount": 0.02}, frames=2),
    ProcessorCase("grade", {"lut": "print-neutral"}, frames=2),
    ProcessorCase("retime", {"fps": 48}, frames=4),
    ProcessorCase("reframe", {"aspect": "9:16"}, frames=4),
]


def _frames(count: int, width: int, height: int) -> list[np.ndarray]:
    return [ai_look_frame(i, width, height) for i in range(count)]


def _timed(run: Callable[[], Any], sync: Callable[[], None]) -> tuple[Any, float]:
    sync()
    t0 = time.perf_counter()
    out = run()
    sync()
    return out, time.perf_counter() - t0


def _sync(backend: Backend) -> Callable[[], None]:
    """Wait for the device's queued work (CuPy runs asynchronously); nothing on a CPU."""
    if backend.name == "gpu" and hasattr(backend.xp, "cuda"):
        return backend.xp.cuda.Device().synchronize  # type: ignore[no-any-return]
    return lambda: None


def _run(case: ProcessorCase, frames: list[Any], backend: Backend) -> list[np.ndarray]:
    return media.run_processor(case.name, frames, backend=backend, **case.params)


def processor_row(case: ProcessorCase, gpu: Backend, size: tuple[int, int], cpu_frames_cap: int) -> dict[str, Any]:
    """Parity and speed of one processor at one size, NumPy against ``gpu``."""
    width, height = size
    host = _frames(case.frames, int(width * case.scale_input), int(height * case.scale_input))
    print(f"[{case.name} {width}x{height}] …", flush=True)
    _run(case, host[:2], gpu)  # warm-up: CuPy compiles its kernels on first use
    n_cpu = min(case.frames, cpu_frames_cap)
    expected, t_cpu = _timed(functools.partial(_run, case, host[:n_cpu], numpy_backend()), lambda: None)
    on_device = [gpu.asarray(f) for f in host[:n_cpu]]
    actual, t_gpu = _timed(functools.partial(_run, case, on_device, gpu), _sync(gpu))
    out_frames = len(actual)
    moved = (n_cpu * host[0].nbytes + sum(a.nbytes for a in actual)) / out_frames
    return {
        "processor": case.name, "size": f"{width}x{height}", "frames": out_frames,
        "parity_psnr": float(np.mean([media.psnr(a, e) for a, e in zip(actual, expected)])),
        "max_diff": max(float(np.abs(a - e).max()) for a, e in zip(actual, expected)),
        "fps_cpu": out_frames / t_cpu, "fps_gpu": out_frames / t_gpu,
        "gbs": moved / (t_gpu / out_frames) / 1e9,
    }


def _enlarged_recipe(name: str, height: int) -> Any:
    """The built-in recipe enlarging to ``height`` lines instead of 1080 (2160: a 4K master)."""
    data = tomllib.loads(builtin_recipe_paths()[name].read_text())
    for step in data["steps"]:
        if step["processor"] == "upscale":
            step["height"] = height
    return parse_recipe(data, source=f"{name} (to {height} lines)")


def finish_rows(gpu: Backend, size: tuple[int, int], frames: int, cpu_frames: int) -> list[dict[str, Any]]:
    """`finish` to a 4K master on each backend, and FFmpeg's CPU chain, decode to encode."""
    width, height = size
    out_w, out_h = width * 2, height * 2
    recipe = _enlarged_recipe("finish", out_h)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        source = write_clip(tmp / "generation.mp4", frames=frames, width=width, height=height,
                            pattern=ai_look_frame, audio=None, options={"crf": "18", "preset": "veryfast"})
        short = write_clip(tmp / "short.mp4", frames=cpu_frames, width=width, height=height,
                           pattern=ai_look_frame, audio=None, options={"crf": "18", "preset": "veryfast"})
        spec = finish_bench.FFMPEG_CHAINS["FFmpeg: atadenoise chain"].replace(
            f"scale={finish_bench.OUT_W}:{finish_bench.OUT_H}", f"scale={out_w}:{out_h}")
        print(f"[finish {out_w}x{out_h}] FFmpeg chain …", flush=True)
        t0 = time.perf_counter()
        n = finish_bench.ffmpeg_chain(source, spec, tmp / "ffmpeg.mov", out_w, out_h)
        rows.append({"chain": "FFmpeg atadenoise chain (CPU)", "fps": n / (time.perf_counter() - t0),
                     "compute": None})
        runs = (("postbay finish, CPU", numpy_backend(), short), ("postbay finish, GPU", gpu, source))
        for label, backend, clip in runs:
            print(f"[finish {out_w}x{out_h}] {label} …", flush=True)
            result = finish_clip(clip, recipe, tmp / label.replace(" ", "_").replace(",", ""), backend=backend)
            steps = sum(v for k, v in result.report["timings"].items() if ":" in k)
            rows.append({"chain": label, "fps": result.report["frames"] / result.report["seconds"],
                         "compute": steps / result.report["seconds"]})
    return rows


def _table(proc: list[dict[str, Any]], fin: list[dict[str, Any]], device: str) -> str:
    lines = [f"GPU check on {device}, `python bench/gpu.py`.", "",
             "| processor | size | frames | parity PSNR dB | max diff | fps CPU | fps GPU | GPU × | GB/s (% of peak) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in proc:
        lines.append(f"| {r['processor']} | {r['size']} | {r['frames']} | {r['parity_psnr']:.1f} | {r['max_diff']:.2g} "
                     f"| {r['fps_cpu']:.2f} | {r['fps_gpu']:.2f} | {r['fps_gpu'] / r['fps_cpu']:.1f} "
                     f"| {r['gbs']:.0f} ({100 * r['gbs'] / PEAK_BANDWIDTH_GBS:.1f} %) |")
    lines += ["", "| finish to 4K | fps | × FFmpeg chain | steps' share of wall time |", "|---|---:|---:|---:|"]
    base = fin[0]["fps"]
    for r in fin:
        share = "–" if r["compute"] is None else f"{100 * r['compute']:.0f} %"
        lines.append(f"| {r['chain']} | {r['fps']:.2f} | {r['fps'] / base:.1f} | {share} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="no GPU: the CuPy-shaped test backend stands in, small pictures, a few frames")
    parser.add_argument("--frames", type=int, default=24, help="frames of the finish run on the GPU")
    parser.add_argument("--out", type=Path, default=None, help="append the table to this markdown file")
    args = parser.parse_args(argv)
    if args.smoke:
        from strict_backend import strict_backend

        gpu, device = strict_backend(), "the CPU (smoke test: CuPy-shaped test backend, no GPU)"
        sizes, finish_size, frames, cpu_cap, cpu_finish = [(320, 180)], (160, 90), 4, 5, 4
    else:
        gpu = get_backend("required")  # a clear error where CuPy has no CUDA device
        import cupy

        device = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        sizes, finish_size, frames, cpu_cap, cpu_finish = [(1920, 1080), (3840, 2160)], (1920, 1080), args.frames, 3, 6
    t0 = time.perf_counter()
    proc = [processor_row(case, gpu, size, cpu_cap) for size in sizes for case in CASES]
    fin = finish_rows(gpu, finish_size, frames, cpu_finish)
    table = _table(proc, fin, device)
    print(f"\n{table}\n({time.perf_counter() - t0:.0f} s in all)")
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n## GPU check\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
