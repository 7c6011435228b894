"""retime's Numba kernels give what its array code (the GPU's path) gives: same pixels, same quality."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import scipy.ndimage
from media import pan_clip, psnr

from postbay.backend import numpy_backend
from postbay.processors import cpu_kernels_motion as kernels
from postbay.processors import retime as retime_module
from postbay.registry import FrameFormat, StepContext


def test_median3_is_median_filter():
    plane = np.random.default_rng(3).random((23, 31), np.float32)
    assert np.array_equal(kernels.median3(plane), scipy.ndimage.median_filter(plane, size=3))


def test_resize_linear_is_zoom():
    plane = np.random.default_rng(4).random((67, 120), np.float32)
    expected = scipy.ndimage.zoom(plane, (135 / 67, 240 / 120), order=1, mode="nearest", grid_mode=True)
    assert np.abs(kernels.resize_linear(plane, 135, 240) - expected[:135, :240]).max() < 1e-5


def test_spline_coefficients_are_scipys_prefilter():
    frame = np.random.default_rng(5).random((29, 41, 3), np.float32)
    pad = kernels.SPLINE_PAD
    padded = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    expected = scipy.ndimage.spline_filter1d(scipy.ndimage.spline_filter1d(padded, 3, axis=0, mode="nearest"),
                                             3, axis=1, mode="nearest")
    assert np.abs(kernels.spline_coefficients(frame) - expected).max() < 1e-5


def _retime(frames, monkeypatch, kernels_on):
    monkeypatch.setenv("POSTBAY_CPU_KERNELS", "1" if kernels_on else "0")
    params = retime_module.RetimeParams(fps=48)
    fmt = FrameFormat(frames[0].shape[1], frames[0].shape[0], Fraction(24), len(frames))
    ctx = StepContext(numpy_backend(), fmt, retime_module.retime_format(params, fmt))
    return list(retime_module.retime(iter(frames), ctx, params))


@pytest.mark.parametrize("width", [256, 1040])  # flow at full size, and at half size scaled up
def test_retime_matches_the_array_code(monkeypatch, width):
    truth = pan_clip(12, width, 128, 3.0)
    fast = _retime(truth[0::2], monkeypatch, True)
    slow = _retime(truth[0::2], monkeypatch, False)
    assert max(np.abs(f - s).max() for f, s in zip(fast, slow)) < 1e-4
    assert np.mean([psnr(f, c) for f, c in zip(fast[1:11:2], truth[1:11:2])]) == pytest.approx(
        np.mean([psnr(s, c) for s, c in zip(slow[1:11:2], truth[1:11:2])]), abs=0.01)
