"""Loudness to BS.1770-4: targets met within ±0.5 LU and under the true-peak ceiling, by independent meters."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from captions_media import ffmpeg_ebur128

from postbay.backend import numpy_backend
from postbay.processors.loudness import LoudnessParams, integrated_loudness, loudness, loudness_range, true_peak
from postbay.registry import StepContext

RATE = 48000


def programme(level_lufs: float, seconds: float = 8.0, seed: int = 0) -> np.ndarray:
    """Speech-like bursts of filtered noise with sharp transient peaks, set to ``level_lufs``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    noise = rng.standard_normal((2, n))
    # syllable-rate envelope (4 Hz) with pauses, plus snare-like hits: crest factor like dialogue and effects
    env = np.clip(np.sin(2 * np.pi * 4 * t) + 0.3, 0, None) * (np.sin(2 * np.pi * 0.3 * t) > -0.6)
    x = noise * env * 0.1
    for hit in rng.integers(0, n - 2000, 12):
        x[:, hit:hit + 400] += rng.standard_normal((2, 400)) * np.exp(-np.arange(400) / 60) * 1.5
    x *= 10 ** ((level_lufs - integrated_loudness(x, RATE)) / 20)
    return x.astype(np.float32)


def run(samples: np.ndarray, **params) -> tuple[np.ndarray, dict]:
    ctx = StepContext(numpy_backend(), None, None)  # type: ignore[arg-type]
    return loudness(samples, RATE, ctx, LoudnessParams(**params)), ctx.notes


def test_meter_reads_the_ebu_3341_reference_tone() -> None:
    """EBU Tech 3341 case 1: a stereo 1 kHz sine at −23 dBFS reads −23.0 LUFS."""
    t = np.arange(20 * RATE) / RATE
    tone = np.stack([10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)] * 2)
    assert abs(integrated_loudness(tone, RATE) - -23.0) <= 0.1
    assert abs(true_peak(tone) - -23.0) <= 0.1


@pytest.mark.parametrize("rate", [48000, 44100])
def test_meter_agrees_with_pyloudnorm_and_ffmpeg(rate: int) -> None:
    x = programme(-20.0, seed=3)
    ours = integrated_loudness(x, rate)
    assert abs(ours - pyloudnorm.Meter(rate).integrated_loudness(x.T.astype(np.float64))) <= 0.2
    assert abs(ours - ffmpeg_ebur128(x, rate)["integrated"]) <= 0.2


@pytest.mark.parametrize("target", [-14.0, -23.0])
@pytest.mark.parametrize("level", [-30.0, -14.0, -6.0])
def test_programme_lands_on_target_under_the_ceiling(level: float, target: float) -> None:
    x = programme(level, seed=int(-level))
    assert true_peak(x) > -1.0 or level < -20  # the loud clips do have peaks over the ceiling
    y, notes = run(x, target=target)
    assert y.shape == x.shape and y.dtype == np.float32
    measured = pyloudnorm.Meter(RATE).integrated_loudness(y.T.astype(np.float64))
    assert abs(measured - target) <= 0.5, (level, target, measured, notes)
    ffmpeg = ffmpeg_ebur128(y, RATE)
    assert abs(ffmpeg["integrated"] - target) <= 0.5
    assert ffmpeg["true_peak"] <= -1.0, ffmpeg
    assert notes["output_true_peak"] <= -1.0


def test_loudness_range_is_narrowed() -> None:
    """Quiet dialogue then a loud scene: a programme wider than ``lra`` is ridden into it."""
    x = np.concatenate([programme(-32.0, 10, seed=1), programme(-14.0, 10, seed=2)], axis=-1)
    before = ffmpeg_ebur128(x, RATE)["lra"]
    y, notes = run(x, target=-23, lra=7)
    after = ffmpeg_ebur128(y, RATE)
    assert before > 12
    assert after["lra"] <= 8.0, (before, after, notes)
    assert abs(pyloudnorm.Meter(RATE).integrated_loudness(y.T.astype(np.float64)) - -23) <= 0.5
    assert after["true_peak"] <= -1.0
    assert abs(loudness_range(y, RATE) - after["lra"]) <= 1.0


def test_silence_and_empty_audio_pass_through() -> None:
    silent = np.zeros((2, RATE), np.float32)
    y, notes = run(silent)
    assert np.array_equal(y, silent) and "left as is" in notes["note"]
    empty = np.zeros((1, 0), np.float32)
    assert run(empty)[0] is empty
