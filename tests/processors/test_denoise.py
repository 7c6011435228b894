"""denoise: ≥ 4 dB on σ = 0.04 noise, at least FFmpeg's nlmeans and atadenoise at their best, no ghosts."""

from __future__ import annotations

import numpy as np
import pytest
from media import add_noise, ffmpeg_filter, pan, photo, psnr, run_processor
from parity import assert_backends_agree

from postbay.processors.denoise import BLOCK, block_motion, estimate_noise


@pytest.fixture(scope="module")
def pan_clip():
    clean = pan(photo("astronaut"), 9, 256, 192, velocity=(0.6, 1.7))
    return clean, add_noise(clean, 0.04, seed=5)


def _score(frames, clean) -> float:
    # Middle frames: every one has its full window of neighbours.
    return float(np.mean([psnr(f, c) for f, c in zip(frames[2:-2], clean[2:-2])]))


def test_gain_and_beats_ffmpeg_at_best_strength(pan_clip):
    clean, noisy = pan_clip
    before = _score(noisy, clean)
    ours = _score(run_processor("denoise", noisy), clean)  # default strength
    assert ours - before >= 4.0
    nlmeans = max(_score(ffmpeg_filter(noisy, f"nlmeans=s={s}"), clean) for s in (7, 10, 13))
    ata = max(_score(ffmpeg_filter(noisy, f"atadenoise=0a={t}:0b={2 * t}:1a={t}:1b={2 * t}:2a={t}:2b={2 * t}:s=5"),
                     clean) for t in (0.05, 0.1, 0.2))
    assert ours >= nlmeans + 0.5
    assert ours >= ata + 0.5


def test_noise_estimate():
    clean = pan(photo("coffee"), 1, 256, 192)[0]
    # The photograph has its own fine texture and sensor noise, which the estimate includes.
    assert estimate_noise(clean[..., 1], np) < 0.02
    for sigma in (0.04, 0.08):
        noisy = add_noise([clean], sigma)[0]
        assert estimate_noise(noisy[..., 1], np) == pytest.approx(sigma, rel=0.15)


def test_block_matching_follows_a_pan():
    image = photo("astronaut")[..., 1]
    cur = np.ascontiguousarray(image[100:292, 100:356])  # 192 x 256: multiples of 4 blocks
    ref = np.ascontiguousarray(image[100 + 5:292 + 5, 100 - 11:356 - 11])  # the camera moved
    vy, vx = block_motion(cur, ref, np)
    # Where a block has detail, its motion is unambiguous (flat sky matches anywhere).
    detail = cur.reshape(192 // BLOCK, BLOCK, 256 // BLOCK, BLOCK).std(axis=(1, 3)) > 0.05
    detail[[0, -1]] = False  # border blocks see picture that left the frame
    detail[:, [0, -1]] = False
    assert detail.sum() > 40
    assert ((vy == -5) & (vx == 11))[detail].mean() > 0.95
    assert vy.shape == (192 // BLOCK, 256 // BLOCK)


def test_no_ghosting_on_a_moving_edge():
    # A bright card sweeps fast across a still, textured background: a naive temporal average
    # would smear it into a ghost trail; motion compensation keeps the edge where it is.
    background = pan(photo("coffee"), 1, 256, 192)[0]
    clean = []
    for i in range(7):
        frame = background.copy()
        x0 = 40 + 14 * i
        frame[60:130, x0:x0 + 50] = (0.95, 0.9, 0.85)
        clean.append(frame)
    noisy = add_noise(clean, 0.04, seed=9)
    ours = run_processor("denoise", noisy, strength=1.0)
    t = 3
    # Pixels the card covers in some frame of the window but not in this one (or vice versa).
    window = np.stack(clean[t - 2:t + 3])
    moving = (np.abs(window - clean[t]).max(axis=(0, 3)) > 0.1)
    err = lambda x: float(np.sqrt(np.mean((x[t][moving] - clean[t][moving]) ** 2)))  # noqa: E731
    naive = [np.mean(np.stack(noisy[t - 2:t + 3]), axis=0)] * (t + 1)
    assert err(ours) < 0.8 * err(noisy)  # cleaner than the noisy input even where things move
    assert err(ours) < 0.25 * err(naive)  # and nothing like a ghost


def test_strength_zero_leaves_the_picture():
    frames = add_noise(pan(photo("chelsea"), 3, 128, 96), 0.04)
    out = run_processor("denoise", frames, strength=0.0)
    assert all(np.array_equal(a, b) for a, b in zip(out, frames))


def test_spatial_only_still_denoises():
    clean = pan(photo("chelsea"), 2, 192, 128)
    noisy = add_noise(clean, 0.04)
    out = run_processor("denoise", noisy, temporal=0)
    assert psnr(out[0], clean[0]) > psnr(noisy[0], clean[0]) + 2.0


@pytest.mark.gpu
def test_gpu_matches_cpu(pan_clip):
    _, noisy = pan_clip
    # Block-matching ties can break differently in float32 sums: compare the pictures.
    assert_backends_agree(lambda backend: run_processor("denoise", noisy[:5], backend=backend), min_psnr=50)
