"""Benchmark: postbay's finishing processors against their nearest FFmpeg filters, same frames, one run.

Each case degrades the same 1080p clip (a mosaic of scikit-image's photographs, panned by a
camera) the way AI footage is degraded, then runs postbay's processor and FFmpeg's filter
(through PyAV's ``av.filter.Graph``) over the same frames and scores both against the clean
clip. Speed is frames per second of the step alone: postbay on float32 frames in the
processor's working space, FFmpeg on 16-bit RGB frames (its own format conversions count).
Decode and encode are left out for both.

    python bench/processors.py [--frames 8] [--width 1920 --height 1080] [--out docs/benchmarks.md]

Other areas add rows with a module ``bench/cases_colour_motion.py`` exposing ``CASES``: a
list of :class:`Case` (or dicts with the same keys).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "processors"))
sys.path.insert(0, str(ROOT / "bench"))

import media  # noqa: E402  (the tests' media helpers: photographs, degradations, FFmpeg graphs)

from postbay.backend import get_backend  # noqa: E402

__all__ = ["Case", "finishing_cases", "mosaic_clip", "postbay_step", "run_cases", "main"]

Frames = list[np.ndarray]


@dataclass
class Case:
    """One row pair of the table: postbay vs FFmpeg on the same input.

    ``prepare(clean) -> degraded input``; ``postbay(frames) -> frames``; ``ffmpeg`` a filter
    chain string; ``metric(output, clean, degraded) -> float`` with ``metric_name`` saying what
    it is and whether higher is better.
    """

    name: str
    postbay: Callable[[Frames], Frames]
    ffmpeg: str
    metric: Callable[[Frames, Frames, Frames], float]
    metric_name: str
    prepare: Callable[[Frames], Frames] = lambda clean: clean
    reference: Callable[[Frames], Frames] = lambda clean: clean  # what the output is scored against
    postbay_label: str = ""
    note: str = ""
    target: str = ""
    max_frames: int | None = None  # for peers too slow to run on the whole clip


def postbay_step(name: str, backend: Any = None, **params: Any) -> Callable[[Frames], Frames]:
    """A postbay processor as a frames → frames callable (display frames in and out)."""

    def run(frames: Frames) -> Frames:
        return media.run_processor(name, frames, backend=backend, **params)

    run.__name__ = f"{name}({', '.join(f'{k}={v}' for k, v in params.items())})"
    return run


def mosaic_clip(frames: int, width: int, height: int, velocity: tuple[float, float] = (0.7, 2.3)) -> Frames:
    """A camera panning over a wall of scikit-image's photographs, at native pixel scale."""
    names = ["astronaut", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
             "camera", "brick", "grass", "gravel", "moon"]
    cell_h, cell_w = 360, 480
    rows = -(-(height + 64 + int(abs(velocity[0]) * frames)) // cell_h)
    cols = -(-(width + 64 + int(abs(velocity[1]) * frames)) // cell_w)
    wall = np.zeros((rows * cell_h, cols * cell_w, 3), np.float32)
    photos = [media.photo(n) for n in names]
    k = 0
    for r in range(rows):
        for c in range(cols):
            p = photos[k % len(photos)]
            oy = (k * 37) % (p.shape[0] - cell_h + 1)
            ox = (k * 53) % (p.shape[1] - cell_w + 1)
            wall[r * cell_h:(r + 1) * cell_h, c * cell_w:(c + 1) * cell_w] = p[oy:oy + cell_h, ox:ox + cell_w]
            k += 1
    return media.pan(wall, frames, width, height, velocity=velocity)


def _timed(fn: Callable[..., Frames], *args: Any) -> tuple[Frames, float]:
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def _comparable(a: Frames, b: Frames) -> bool:
    """Same number of frames of the same size (not so for resizing or retiming steps)."""
    return len(a) == len(b) and a[0].shape == b[0].shape


def _quality(out: Frames, clean: Frames) -> float | None:
    if not _comparable(out, clean):
        return None
    return float(np.mean([media.psnr(o, c) for o, c in zip(out, clean)]))


def _as_case(item: Any) -> Case:
    return item if isinstance(item, Case) else Case(**item)


def run_cases(cases: Sequence[Case], clean: Frames, rounds: int = 2) -> list[dict[str, Any]]:
    """Run every case on the same prepared frames: postbay and FFmpeg alternately, ``rounds``
    times where a round is short (under 30 s), keeping each one's best time (a shared
    machine's load then skews both alike)."""
    rows: list[dict[str, Any]] = []
    prepared: dict[int, Frames] = {}
    for case in cases:
        key = id(case.prepare)
        if key not in prepared:
            prepared[key] = case.prepare(clean)
        frames = prepared[key][: case.max_frames]
        reference = case.reference(clean)[: case.max_frames]  # upscale's input is half size: scored at full size
        n = len(frames)
        label = case.postbay_label or case.postbay.__name__
        t_ours = t_theirs = float("inf")
        for r in range(rounds):
            print(f"[{case.name}] round {r + 1}: postbay {label} …", flush=True)
            ours, t = _timed(case.postbay, frames)
            t_ours = min(t_ours, t)
            print(f"[{case.name}] round {r + 1}: ffmpeg {case.ffmpeg} …", flush=True)
            theirs, t = _timed(media.ffmpeg_filter, frames, case.ffmpeg)
            t_theirs = min(t_theirs, t)
            if t_ours + t_theirs > 30:
                break
        rows.append({
            "case": case.name, "postbay": label, "ffmpeg": case.ffmpeg, "frames": n,
            "fps_postbay": n / t_ours, "fps_ffmpeg": n / t_theirs, "speed_ratio": t_theirs / t_ours,
            "metric": case.metric_name, "metric_input": case.metric(frames, reference, frames)
            if _comparable(frames, reference) else None,
            "metric_postbay": case.metric(ours, reference, frames),
            "metric_ffmpeg": case.metric(theirs, reference, frames),
            "psnr_input": _quality(frames, reference), "psnr_postbay": _quality(ours, reference),
            "psnr_ffmpeg": _quality(theirs, reference), "target": case.target, "note": case.note,
        })
        r = rows[-1]
        print(f"    fps {r['fps_postbay']:.2f} vs {r['fps_ffmpeg']:.2f} (×{r['speed_ratio']:.2f}); "
              f"{r['metric']}: {r['metric_postbay']:.4g} vs {r['metric_ffmpeg']:.4g}", flush=True)
    return rows


# --- the finishing cases --------------------------------------------------------------------

def _psnr_metric(out: Frames, clean: Frames, _inp: Frames) -> float:
    return float(np.mean([media.psnr(o, c) for o, c in zip(out, clean)]))


def _half_resolution(clean: Frames) -> Frames:
    out = []
    for c in clean:
        lin = media.to_linear(c)
        lin = 0.25 * (lin[0::2, 0::2] + lin[1::2, 0::2] + lin[0::2, 1::2] + lin[1::2, 1::2])
        out.append(media.to_display(lin))
    return out


def _noisy(clean: Frames) -> Frames:
    return media.add_noise(clean, 0.04, seed=11)


def _blocky(clean: Frames) -> Frames:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return media.compress(clean, Path(tmp) / "blocky.avi", qscale=20)


def _two_shots(clean: Frames, length: int = 12) -> Frames:
    """Two shots of ``length`` frames with a cut between: the camera panning out and back
    over the clip, then the same move upside down and a stop darker (other content, other level)."""
    cycle = clean + clean[-2:0:-1]
    shot = [cycle[i % len(cycle)] for i in range(length)]
    return shot + [np.ascontiguousarray(f[::-1]) * np.float32(0.5) for f in shot]


def _flickered(clean: Frames) -> Frames:
    return media.flicker(_two_shots(clean), amplitude=0.08, seed=5)[0]


def _over_sharpened(clean: Frames) -> Frames:
    import scipy.ndimage

    return [np.clip(c + 1.2 * (c - scipy.ndimage.gaussian_filter(c, (1.2, 1.2, 0))), 0, 1) for c in clean]


def _blockiness(out: Frames, _clean: Frames, _inp: Frames) -> float:
    return float(np.mean([media.blockiness(o) for o in out]))


def _flicker_left(out: Frames, _clean: Frames, inp: Frames) -> float:
    """Share of the input's flicker index left in the output (lower is better)."""
    import scipy.signal

    def index(frames: Frames) -> float:
        m = np.array([media.luma(f).mean() for f in frames])
        half = len(m) // 2  # the two shots of _two_shots
        return sum(float(np.var(s - scipy.signal.savgol_filter(s, 9, 1, mode="interp"))) for s in (m[:half], m[half:]))

    return index(out) / index(inp)


def _grain_shape(out: Frames, clean: Frames, _inp: Frames) -> float:
    """Grain std in mid-tones over grain std in deep shadows (film: > 1; flat noise: about 1)."""
    g = np.stack([o - c for o, c in zip(out, clean)])[..., 1]
    y = np.stack([media.luma(c) for c in clean])
    mid = g[(y > 0.4) & (y < 0.6)].std()
    dark = g[y < 0.08].std()
    return float(mid / dark) if dark > 0 else float("nan")  # the clean input has no grain at all


def finishing_cases(backend: Any = None) -> list[Case]:
    """postbay's own finishing steps against their nearest FFmpeg filters."""
    step = lambda name, **p: postbay_step(name, backend, **p)  # noqa: E731
    upscale = step("upscale", scale=2)
    denoise = step("denoise")
    return [
        Case("upscale 2×", upscale, "scale=iw*2:ih*2:flags=lanczos", _psnr_metric, "PSNR dB (higher better)",
             prepare=_half_resolution, target="fps ≥ 1.0× FFmpeg"),
        Case("upscale 2× + sharpen", step("upscale", scale=2, sharpen=0.3),
             "scale=iw*2:ih*2:flags=lanczos,cas=strength=0.3", _psnr_metric, "PSNR dB (higher better)",
             prepare=_half_resolution),
        Case("denoise σ=0.04", denoise, "nlmeans=s=10", _psnr_metric, "PSNR dB (higher better)",
             prepare=_noisy, target="PSNR ≥ nlmeans, fps ≥ 5× nlmeans",
             note="nlmeans s=10 is its best strength in a sweep of 6-14 on this noise"),
        Case("denoise σ=0.04", denoise, "atadenoise=0a=0.1:0b=0.2:1a=0.1:1b=0.2:2a=0.1:2b=0.2:s=5", _psnr_metric,
             "PSNR dB (higher better)", prepare=_noisy),
        Case("denoise σ=0.04", denoise, "bm3d=sigma=10", _psnr_metric, "PSNR dB (higher better)", prepare=_noisy,
             max_frames=3, note="bm3d is too slow for the whole clip: first 3 frames for both"),
        Case("deblock", step("deblock"), "deblock", _blockiness, "blockiness (lower better)", prepare=_blocky),
        Case("deflicker", step("deflicker"), "deflicker=size=15", _flicker_left,
             "flicker left (lower better)", prepare=_flickered, reference=_two_shots,
             note="two shots of 12 frames with a cut; flicker measured within each shot"),
        Case("soften (over-sharpened)", step("soften"), "gblur=sigma=0.8", _psnr_metric, "PSNR dB (higher better)",
             prepare=_over_sharpened),
        Case("grain", step("grain", amount=0.03), "noise=alls=12:allf=t", _grain_shape,
             "grain mid-tones/shadows", target="fps ≥ 1.0× FFmpeg",
             note="FFmpeg's noise is the same in every tone; film grain is not"),
    ]


def _markdown(rows: list[dict[str, Any]], args: argparse.Namespace, machine: str) -> str:
    fmt = lambda v, p=2: "–" if v is None or not np.isfinite(v) else f"{v:.{p}f}"  # noqa: E731
    lines = [
        f"Measured {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC on {machine}, "
        f"{args.frames} frames of {args.width}×{args.height} (fewer where noted), best of {args.rounds} runs "
        f"where a run is short, `python bench/processors.py`. Speed × is FFmpeg's time over postbay's "
        "(above 1: postbay is faster).",
        "",
        "| step | postbay | FFmpeg filter | fps postbay | fps FFmpeg | speed × | quality metric | input | postbay "
        "| FFmpeg | PSNR dB in → postbay / FFmpeg |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | `{r['postbay']}` | `{r['ffmpeg']}` | {fmt(r['fps_postbay'])} | {fmt(r['fps_ffmpeg'])} "
            f"| {fmt(r['speed_ratio'])} | {r['metric']} | {fmt(r['metric_input'], 3)} "
            f"| **{fmt(r['metric_postbay'], 3)}** | {fmt(r['metric_ffmpeg'], 3)} "
            f"| {fmt(r['psnr_input'])} → {fmt(r['psnr_postbay'])} / {fmt(r['psnr_ffmpeg'])} |")
    notes = [f"- {r['case']} vs `{r['ffmpeg']}`: {r['note']}" for r in rows if r["note"]]
    targets = [f"- {r['case']}: target {r['target']}" for r in rows if r["target"]]
    return "\n".join(lines + [""] + notes + targets) + "\n"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {platform.machine()} ({cpu}), no GPU"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many runs where a run is short")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--gpu", default="off", choices=["off", "auto", "required"])
    parser.add_argument("--only", default="", help="comma-separated case names (substring match)")
    parser.add_argument("--out", type=Path, default=None, help="write the table (markdown) to this file")
    args = parser.parse_args(argv)
    backend = get_backend(args.gpu)
    cases = finishing_cases(backend)
    try:
        extra = importlib.import_module("cases_colour_motion")
        cases += [_as_case(c) for c in extra.CASES]
    except ModuleNotFoundError as exc:
        if exc.name != "cases_colour_motion":
            raise
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        cases = [c for c in cases if any(w in c.name for w in wanted)]
    print(f"building {args.frames} frames of {args.width}x{args.height} …", flush=True)
    clean = mosaic_clip(args.frames, args.width, args.height)
    rows = run_cases(cases, clean, args.rounds)
    machine = _machine() if backend.name == "cpu" else f"{_machine()} + GPU (CuPy)"
    table = _markdown(rows, args, machine)
    print(table)
    if args.out:
        args.out.write_text("# Benchmarks: finishing processors vs FFmpeg\n\n" + table)
        _update_block(ROOT / "docs" / "processors.md", table)
    return 0


def _update_block(path: Path, table: str) -> None:
    """Replace the benchmark table between the markers of ``path`` (when it has them)."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if not path.is_file():
        return
    text = path.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        path.write_text(head + start + "\n" + table + rest[rest.index(end):])


if __name__ == "__main__":
    raise SystemExit(main())
