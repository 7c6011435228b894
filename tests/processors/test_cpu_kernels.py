"""The Numba kernels give what the array code (the GPU's path) gives: same pixels, same quality."""

from __future__ import annotations

import numpy as np
import pytest
from media import add_noise, compress, pan, photo, psnr, run_processor

from postbay.processors import denoise as denoise_module


def test_block_search_finds_the_array_codes_vectors(monkeypatch):
    image = photo("astronaut")[..., 1]
    cur = np.ascontiguousarray(image[100:292, 100:356])
    ref = np.ascontiguousarray(image[103:295, 94:350])
    fast = denoise_module.block_motion(cur, ref, np)
    monkeypatch.setenv("POSTBAY_CPU_KERNELS", "0")
    slow = denoise_module.block_motion(cur, ref, np)
    agree = (fast[0] == slow[0]) & (fast[1] == slow[1])
    assert agree.mean() > 0.98


def test_denoise_matches_the_array_code(monkeypatch):
    clean = pan(photo("astronaut"), 7, 256, 192)
    noisy = add_noise(clean, 0.04, seed=5)
    fast = run_processor("denoise", noisy)
    monkeypatch.setenv("POSTBAY_CPU_KERNELS", "0")
    slow = run_processor("denoise", noisy)
    assert np.mean([np.abs(f - s).mean() for f, s in zip(fast, slow)]) < 1e-5
    assert np.mean([psnr(f, c) for f, c in zip(fast, clean)]) == pytest.approx(
        np.mean([psnr(s, c) for s, c in zip(slow, clean)]), abs=0.02)


def test_deblock_matches_the_array_code(monkeypatch, tmp_path):
    clean = pan(photo("coffee"), 1, 256, 192)
    blocky = compress(clean, tmp_path / "blocky.avi", qscale=20)
    fast = run_processor("deblock", blocky)[0]
    monkeypatch.setenv("POSTBAY_CPU_KERNELS", "0")
    slow = run_processor("deblock", blocky)[0]
    assert np.abs(fast - slow).max() < 1e-5


def test_sharpen_matches_the_array_code(monkeypatch):
    low = pan(photo("coffee"), 1, 128, 96)
    fast = run_processor("upscale", low, scale=2, sharpen=0.5)[0]
    monkeypatch.setenv("POSTBAY_CPU_KERNELS", "0")
    slow = run_processor("upscale", low, scale=2, sharpen=0.5)[0]
    assert np.abs(fast - slow).max() < 1e-5


def test_soften_matches_the_array_code(monkeypatch):
    frames = pan(photo("astronaut"), 1, 256, 192)
    frames[0][40:60, 40:60] = 1.0  # a highlight, so the halation is in play
    fast = run_processor("soften", frames, amount=0.6)[0]
    monkeypatch.setenv("POSTBAY_CPU_KERNELS", "0")
    slow = run_processor("soften", frames, amount=0.6)[0]
    assert np.abs(fast - slow).max() < 1e-5


@pytest.mark.parametrize("chroma", [0.0, 0.3])
def test_grain_matches_the_array_code(monkeypatch, chroma):
    frames = [f[:301, :399].copy() for f in pan(photo("astronaut"), 2, 400, 302)]  # odd sizes: cells cut at the edge
    fast = run_processor("grain", frames, amount=0.03, chroma=chroma)
    monkeypatch.setenv("POSTBAY_CPU_KERNELS", "0")
    slow = run_processor("grain", frames, amount=0.03, chroma=chroma)
    assert max(np.abs(f - s).max() for f, s in zip(fast, slow)) < 1e-6
