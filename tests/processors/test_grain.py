"""grain: the requested strength at mid-grey, less in shadows and highlights, fresh every frame."""

from __future__ import annotations

import numpy as np
import pytest
from media import pan, photo, run_processor
from parity import assert_backends_agree


def _flat(level: float, frames: int = 3, size: tuple[int, int] = (180, 240)) -> list[np.ndarray]:
    return [np.full(size + (3,), level, np.float32) for _ in range(frames)]


def _grain_of(level: float, **params) -> list[np.ndarray]:
    frames = _flat(level)
    return [o - f for o, f in zip(run_processor("grain", frames, **params), frames)]


def test_mid_grey_std_is_the_requested_amount():
    for amount in (0.02, 0.05):
        g = _grain_of(0.5, amount=amount, size=1.5, seed=3)
        assert np.std(g) == pytest.approx(amount, rel=0.10)
        assert abs(np.mean(g)) < 0.1 * amount  # grain adds texture, not brightness


def test_shadows_and_highlights_get_less_grain():
    mid = np.std(_grain_of(0.5, amount=0.04))
    for level in (0.05, 0.95):
        assert np.std(_grain_of(level, amount=0.04)) < 0.6 * mid
    assert np.std(_grain_of(0.0, amount=0.04)) < 0.02 * mid


def test_fresh_every_frame():
    g = _grain_of(0.5, amount=0.04)
    for a, b in zip(g, g[1:]):
        assert abs(np.corrcoef(a[..., 1].ravel(), b[..., 1].ravel())[0, 1]) < 0.1


def test_deterministic_for_a_seed():
    a = _grain_of(0.5, amount=0.03, seed=11)
    b = _grain_of(0.5, amount=0.03, seed=11)
    c = _grain_of(0.5, amount=0.03, seed=12)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert abs(np.corrcoef(a[0].ravel(), c[0].ravel())[0, 1]) < 0.1


def _lag_correlation(g: np.ndarray, lag: int) -> float:
    p = g[..., 1]
    return float(np.corrcoef(p[:, :-lag].ravel(), p[:, lag:].ravel())[0, 1])


def test_grain_size_sets_spatial_correlation_and_scales_with_resolution():
    # Sizes are pixels at 1080p: on a 540-line picture, size 6 is grain 3 pixels across.
    fine = run_processor("grain", _flat(0.5, 1, (540, 480)), amount=0.04, size=0.5)[0] - 0.5
    coarse = run_processor("grain", _flat(0.5, 1, (540, 480)), amount=0.04, size=6.0)[0] - 0.5
    assert _lag_correlation(fine, 2) < 0.1
    assert _lag_correlation(coarse, 2) > 0.5
    assert np.std(coarse) == pytest.approx(0.04, rel=0.1)
    # The same size parameter on a picture twice as tall gives grain twice as wide in pixels.
    small = run_processor("grain", _flat(0.5, 1, (270, 240)), amount=0.04, size=8.0)[0] - 0.5
    large = run_processor("grain", _flat(0.5, 1, (540, 480)), amount=0.04, size=8.0)[0] - 0.5
    assert _lag_correlation(large, 2) == pytest.approx(_lag_correlation(small, 1), abs=0.08)


def test_chroma_zero_is_monochrome_and_chroma_adds_colour():
    mono = _grain_of(0.5, amount=0.04, chroma=0.0)[0]
    assert np.abs(mono[..., 0] - mono[..., 2]).max() < 1e-6
    colour = _grain_of(0.5, amount=0.04, chroma=0.5)[0]
    assert np.std(colour[..., 0] - colour[..., 2]) > 0.02


def test_picture_detail_survives():
    frame = pan(photo("chelsea"), 1, 240, 180)
    out = run_processor("grain", frame, amount=0.02)[0]
    assert np.std(out - frame[0]) < 0.025


@pytest.mark.gpu
def test_gpu_matches_cpu():
    frames = pan(photo("chelsea"), 2, 240, 180)
    assert_backends_agree(lambda backend: run_processor("grain", frames, backend=backend, amount=0.04, chroma=0.3),
                          atol=1e-5)
