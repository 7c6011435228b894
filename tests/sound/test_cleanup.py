"""Cleanup measured against a known clean speech track: SNR gain on hiss, clicks mended, rumble gone."""

from __future__ import annotations

import numpy as np
import pytest
from captions_media import SENTENCES, speech
from scipy.signal import welch

from postbay.backend import numpy_backend
from postbay.processors.cleanup import CleanupParams, cleanup, declick
from postbay.registry import StepContext

RATE = 48000


def snr(clean: np.ndarray, x: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean ** 2) / np.sum((x - clean) ** 2)))


@pytest.fixture(scope="module")
def voice(tmp_path_factory) -> np.ndarray:
    return speech(SENTENCES[0], tmp_path_factory.mktemp("voice"), wpm=160) * 0.5


def run(samples: np.ndarray, **params) -> tuple[np.ndarray, dict]:
    ctx = StepContext(numpy_backend(), None, None)  # type: ignore[arg-type]
    return cleanup(samples, RATE, ctx, CleanupParams(**params)), ctx.notes


@pytest.mark.parametrize("snr_in,gain_needed", [(5, 7.0), (10, 6.0), (20, 2.0)])
def test_noise_reduction_raises_snr(voice: np.ndarray, snr_in: float, gain_needed: float) -> None:
    rng = np.random.default_rng(int(snr_in))
    noise = rng.standard_normal(voice.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(voice ** 2) / np.mean(noise ** 2)) * 10 ** (-snr_in / 20)
    noisy = voice + noise
    out, _ = run(noisy)
    assert out.shape == noisy.shape
    gain = snr(voice, out) - snr(voice, noisy)
    print(f"SNR {snr_in} dB in: +{gain:.1f} dB")
    assert gain >= gain_needed


def test_clicks_are_mended_without_touching_clean_speech(voice: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    clicked = voice.copy()
    where = rng.integers(2000, voice.shape[-1] - 2000, 25)
    clicked[0, where] += 0.4 * rng.choice([-1.0, 1.0], where.size)
    mended, count = declick(clicked, RATE, 0.6)
    assert count >= 24
    assert snr(voice, mended) - snr(voice, clicked) >= 15.0
    untouched, false_alarms = declick(voice, RATE, 0.6)
    assert false_alarms == 0 and np.array_equal(untouched, voice)


def test_rumble_is_removed_and_speech_band_kept(voice: np.ndarray) -> None:
    t = np.arange(voice.shape[-1]) / RATE
    rumble = (0.2 * np.sin(2 * np.pi * 25 * t)).astype(np.float32)[None, :]
    out, _ = run(voice + rumble, strength=0.0, declick=False)
    f, p_out = welch(out[0], RATE, nperseg=8192)
    _, p_in = welch((voice + rumble)[0], RATE, nperseg=8192)
    low, band = np.argmin(np.abs(f - 25)), (f > 300) & (f < 3000)
    assert 10 * np.log10(p_in[low] / p_out[low]) >= 30  # 25 Hz rumble down by 30 dB or more
    assert abs(10 * np.log10(p_out[band].sum() / p_in[band].sum())) <= 0.5  # voice band untouched


def test_quiet_and_empty_audio() -> None:
    empty = np.zeros((2, 0), np.float32)
    assert run(empty)[0] is empty
    silence = np.zeros((2, RATE), np.float32)
    assert np.abs(run(silence)[0]).max() == 0.0
