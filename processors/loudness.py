"""Loudness: normalise to a delivery target (−14 LUFS streaming, −23 LUFS EBU R128) under a true-peak ceiling.

Measured with the BS.1770-4 / EBU Tech 3342 meters of :mod:`postbay.meters` (the same ones
``postbay inspect`` reads).

Two passes: measure, apply the gain, then a look-ahead true-peak limiter (on an 8×
oversampled envelope) catches what the gain pushed over the ceiling; the result is measured
again and trimmed until it is within 0.1 LU of the target. The report's true peaks are the
8× readings (at or above a 4× BS.1770 meter's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field
from scipy.ndimage import minimum_filter1d, uniform_filter1d

from postbay.meters import (
    ABSOLUTE_GATE,
    OVERSAMPLE,
    integrated_loudness,
    loudness_range,
    oversampled_peaks,
    short_term_loudness,
    true_peak,
)
from postbay.registry import ParamModel, processor

__all__ = ["LoudnessParams", "integrated_loudness", "loudness_range", "normalise", "true_peak"]


def _limiter_gain(env: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """Look-ahead true-peak limiter gain for a peak envelope: smooth, never above what a sample needs."""
    ceiling = 10 ** (ceiling_db / 20)
    need = np.minimum(1.0, ceiling / np.maximum(env, 1e-12))
    if need.min() >= 1.0:
        return need
    window = max(3, int(0.005 * rate) | 1)  # 5 ms look-ahead either side
    # min over 2w then mean over w: every averaged value is a minimum that covered this sample,
    # so the smoothed gain is never above what any sample needs
    return uniform_filter1d(minimum_filter1d(need, 2 * window + 1, mode="nearest"), window, mode="nearest")


def _lra_compress(samples: np.ndarray, rate: int, target_lra: float, measured_lra: float) -> np.ndarray:
    """Narrow the loudness range: ride the 3 s loudness towards the programme loudness."""
    hop = int(0.1 * rate)
    st = short_term_loudness(samples, rate)
    if st.size < 2:
        return samples
    integrated = integrated_loudness(samples, rate)
    ratio = target_lra / measured_lra
    active = st > ABSOLUTE_GATE
    gain_db = np.where(active, (st - integrated) * (ratio - 1.0), 0.0)
    gain_db = uniform_filter1d(gain_db, 10, mode="nearest")  # 1 s smoothing: a slow rider, no pumping
    centres = np.arange(st.size) * hop + int(1.5 * rate)
    curve = np.interp(np.arange(samples.shape[-1]), centres, gain_db)
    return (samples * (10 ** (curve / 20))[None, :]).astype(np.float32)


class LoudnessParams(ParamModel):
    target: float = Field(default=-14.0, ge=-40, le=-5,
                          description="integrated loudness in LUFS: -14 streaming and social, -23 EBU R128 broadcast")
    true_peak: float = Field(default=-1.0, ge=-9, le=0, description="true-peak ceiling in dBTP")
    lra: float | None = Field(default=None, gt=1, le=30,
                              description="largest loudness range in LU; a wider programme is gently ridden")


def normalise(samples: np.ndarray, rate: int, params: LoudnessParams) -> tuple[np.ndarray, dict[str, float]]:
    """Two-pass loudness normalisation; returns the samples and the before/after measurements."""
    x = np.atleast_2d(np.asarray(samples, np.float32))
    before = integrated_loudness(x, rate)
    report: dict[str, float] = {"input_lufs": round(before, 2)}
    if not math.isfinite(before):
        report["note"] = "silent or shorter than 0.4 s: left as is"  # type: ignore[assignment]
        return x, report
    if params.lra is not None:
        lra = loudness_range(x, rate)
        report["input_lra"] = round(lra, 2)
        if lra > params.lra:
            x = _lra_compress(x, rate, params.lra, lra)
    ceiling = params.true_peak - 0.2  # margin for other meters' interpolators and the encoder
    # 8×, finer than the 4× meter: peaks between the meter's points stay under the ceiling too.
    # The envelope is measured once: a scalar gain scales it, and the limiter's gain moves
    # slowly against it.
    headroom = 10 ** ((ceiling - (params.target - before) - 8.0) / 20)  # 8 dB under where limiting starts
    env = oversampled_peaks(x, 2 * OVERSAMPLE, floor=headroom)
    gain_db = params.target - (integrated_loudness(x, rate) if params.lra is not None else before)
    for _ in range(4):
        gain = 10 ** (gain_db / 20)
        limiter = _limiter_gain(env * gain, rate, ceiling)
        y = (x * (gain * limiter)[None, :]).astype(np.float32)
        if limiter.min() >= 1.0:
            break  # gain alone: the loudness moved by exactly the gain
        after = integrated_loudness(y, rate)
        if abs(after - params.target) < 0.1:
            break
        gain_db += params.target - after  # the limiter took some loudness: a little more gain
    near = 10 ** ((ceiling - 8.0) / 20)
    if limiter.min() >= 1.0:
        out_env = env * gain  # gain alone scales the envelope exactly
    else:
        out_env = oversampled_peaks(y, 2 * OVERSAMPLE, floor=near)
    if out_env.max() > 10 ** ((ceiling + 0.05) / 20):  # the slow gain let a peak through: one exact pass
        y = (y * _limiter_gain(out_env, rate, ceiling)[None, :]).astype(np.float32)
        out_env = oversampled_peaks(y, 2 * OVERSAMPLE, floor=near)
    report.update(input_true_peak=round(20 * math.log10(max(float(env.max()), 1e-12)), 2),
                  output_lufs=round(integrated_loudness(y, rate), 2),
                  output_true_peak=round(20 * math.log10(max(float(out_env.max()), 1e-12)), 2),
                  gain_db=round(gain_db, 2))
    if params.lra is not None:
        report["output_lra"] = round(loudness_range(y, rate), 2)
    return y, report


@processor("loudness", params=LoudnessParams, kind="audio", backends=("cpu",))
def loudness(samples: np.ndarray, rate: int, ctx: Any, params: LoudnessParams) -> np.ndarray:
    """Bring the mix to the delivery loudness (BS.1770-4, two-pass) under a true-peak ceiling.

    ``target`` is −14 LUFS for streaming and social, −23 for EBU R128 broadcast; ``true_peak``
    is the ceiling a look-ahead limiter holds; ``lra`` narrows a programme whose loudness
    range is wider. Gain only: the picture and the audio stay in sync to the sample.
    """
    if samples.shape[-1] == 0:
        return samples
    out, report = normalise(samples, rate, params)
    ctx.notes.update(report)
    return out.astype(np.float32)

