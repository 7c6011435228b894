"""Make the before/after stills of docs/processors.md from the test media.

    python docs/make_stills.py            # writes docs/stills/<processor>.png

Each still is the degraded test picture (left) and the processor's result (right), from the
same photographs, camera moves and degradations the tests measure, so what the pictures show
is what the tests prove. Crops are enlarged with nearest-neighbour where pixels matter.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.ndimage
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "processors"))

import media  # noqa: E402

OUT = ROOT / "docs" / "stills"


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def _zoom(x: np.ndarray, k: int) -> np.ndarray:
    return np.repeat(np.repeat(x, k, axis=0), k, axis=1)


def _pair(name: str, before: np.ndarray, after: np.ndarray, labels: tuple[str, str]) -> Path:
    h, w = before.shape[:2]
    canvas = Image.new("RGB", (2 * w + 6, h + 18), (24, 24, 24))
    canvas.paste(Image.fromarray(_u8(before)), (0, 18))
    canvas.paste(Image.fromarray(_u8(after)), (w + 6, 18))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 3), labels[0], fill=(230, 230, 230))
    draw.text((w + 10, 3), labels[1], fill=(230, 230, 230))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.png"
    canvas.save(path, optimize=True)
    return path


def upscale() -> Path:
    clean = media.pan(media.photo("astronaut"), 1, 256, 192, start=(40.0, 150.0))
    lin = media.to_linear(clean[0])
    low = media.to_display(0.25 * (lin[0::2, 0::2] + lin[1::2, 0::2] + lin[0::2, 1::2] + lin[1::2, 1::2]))
    out = media.run_processor("upscale", [low], scale=2, sharpen=0.4)[0]
    crop = (slice(20, 140), slice(40, 200))
    return _pair("upscale", _zoom(_zoom(low, 2)[crop], 2), _zoom(out[crop], 2),
                 ("half resolution (pixels doubled)", "upscale scale=2 sharpen=0.4"))


def denoise() -> Path:
    clean = media.pan(media.photo("astronaut"), 5, 256, 192)
    noisy = media.add_noise(clean, 0.04, seed=5)
    out = media.run_processor("denoise", noisy)
    return _pair("denoise", noisy[2], out[2], (f"noise sigma 0.04 ({media.psnr(noisy[2], clean[2]):.1f} dB)",
                                              f"denoise ({media.psnr(out[2], clean[2]):.1f} dB)"))


def deblock() -> Path:
    clean = media.pan(media.photo("coffee"), 2, 256, 192)
    with tempfile.TemporaryDirectory() as tmp:
        blocky = media.compress(clean, Path(tmp) / "blocky.avi", qscale=20)
    out = media.run_processor("deblock", blocky)
    crop = (slice(40, 136), slice(60, 188))
    return _pair("deblock", _zoom(blocky[0][crop], 2), _zoom(out[0][crop], 2),
                 (f"MPEG-4 q20, blockiness {media.blockiness(blocky[0]):.2f}",
                  f"deblock, blockiness {media.blockiness(out[0]):.2f}"))


def deflicker() -> Path:
    clean = media.pan(media.photo("chelsea"), 12, 160, 120)
    flickered, _ = media.flicker(clean, amplitude=0.1, seed=3)
    out = media.run_processor("deflicker", flickered, window=9)
    strip = lambda frames: np.concatenate([f[::2, ::2] for f in frames[2:8]], axis=1)  # noqa: E731
    before, after = strip(flickered), strip(out)
    w = before.shape[1]
    canvas = Image.new("RGB", (w, 2 * before.shape[0] + 40), (24, 24, 24))
    canvas.paste(Image.fromarray(_u8(before)), (0, 18))
    canvas.paste(Image.fromarray(_u8(after)), (0, before.shape[0] + 38))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, 3), "six frames with exposure pumping (±10 %)", fill=(230, 230, 230))
    draw.text((4, before.shape[0] + 23), "deflicker window=9", fill=(230, 230, 230))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "deflicker.png"
    canvas.save(path, optimize=True)
    return path


def soften() -> Path:
    clean = media.pan(media.photo("chelsea"), 1, 256, 192)[0]
    waxy = np.clip(clean + 1.2 * (clean - scipy.ndimage.gaussian_filter(clean, (1.2, 1.2, 0))), 0, 1)
    out = media.run_processor("soften", [waxy])[0]
    crop = (slice(30, 126), slice(70, 198))
    return _pair("soften", _zoom(waxy[crop], 2), _zoom(out[crop], 2),
                 (f"over-sharpened ({media.psnr(waxy, clean):.1f} dB)",
                  f"soften amount=0.3 ({media.psnr(out, clean):.1f} dB)"))


def grain() -> Path:
    clean = media.pan(media.photo("coffee"), 1, 256, 192)[0]
    out = media.run_processor("grain", [clean], amount=0.04, size=6.0, chroma=0.2)[0]
    crop = (slice(40, 136), slice(60, 188))
    return _pair("grain", _zoom(clean[crop], 2), _zoom(out[crop], 2),
                 ("clean render", "grain amount=0.04 size=6 chroma=0.2"))


def main() -> int:
    for make in (upscale, denoise, deblock, deflicker, soften, grain):
        path = make()
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
