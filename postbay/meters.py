"""Loudness and peak meters: ITU-R BS.1770-4 integrated loudness, EBU Tech 3342 loudness range, true peak.

Measured with SciPy: K-weighting (the standard's high-shelf pre-filter and RLB high-pass,
designed for any sample rate), 400 ms blocks with 75 % overlap, the −70 LUFS absolute gate and
the −10 LU relative gate, surround channels weighted 1.41 and the LFE left out. Loudness range
uses 3 s short-term loudness, a −20 LU relative gate, 10th to 95th percentile; true peak is read
on a 4× oversampled signal. The loudness step and ``postbay inspect`` read the same meters.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.signal import resample_poly, sosfilt, tf2sos

__all__ = ["ABSOLUTE_GATE", "OVERSAMPLE", "SILENT", "gated_loudness", "integrated_loudness", "loudness_range",
           "momentary_powers", "oversampled_peaks", "short_term_loudness", "true_peak"]

ABSOLUTE_GATE = -70.0
OVERSAMPLE = 4
SILENT = -math.inf


@lru_cache(maxsize=8)
def _k_weighting(rate: int) -> np.ndarray:
    """BS.1770 K-weighting as second-order sections, from the analogue prototypes at any rate."""
    def shelf_and_pass(f0: float, q: float, gain_db: float | None) -> tuple[np.ndarray, np.ndarray]:
        k = math.tan(math.pi * f0 / rate)
        if gain_db is not None:  # high shelf (the head's acoustic effect)
            vh = 10 ** (gain_db / 20)
            vb = vh ** 0.4996667741545416
            a0 = 1 + k / q + k * k
            b = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
        else:  # RLB high-pass
            a0 = 1 + k / q + k * k
            b = [1.0, -2.0, 1.0]
        a = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
        return np.array(b), np.array(a)

    b1, a1 = shelf_and_pass(1681.974450955533, 0.7071752369554196, 3.999843853973347)
    b2, a2 = shelf_and_pass(38.13547087602444, 0.5003270373238773, None)
    return np.vstack([tf2sos(b1, a1), tf2sos(b2, a2)])


def _weights(channels: int) -> np.ndarray:
    if channels == 6:  # L R C LFE Ls Rs
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    if channels == 5:
        return np.array([1.0, 1.0, 1.0, 1.41, 1.41])
    return np.ones(channels)


def _block_powers(samples: np.ndarray, rate: int, block_s: float, hop_s: float) -> np.ndarray:
    """Weighted mean-square power of each (block, hop) window of K-weighted audio."""
    x = np.atleast_2d(np.asarray(samples, np.float64))
    z = sosfilt(_k_weighting(int(rate)), x, axis=-1)
    hop = round(hop_s * rate)
    per_block = round(block_s / hop_s)  # blocks are whole hops (400 ms = 4 × 100 ms, 3 s = 30 × 100 ms)
    n_hops = z.shape[-1] // hop
    if n_hops < per_block:
        return np.zeros(0)
    hop_energy = np.square(z[:, : n_hops * hop]).reshape(z.shape[0], n_hops, hop).sum(axis=-1)
    csum = np.concatenate([np.zeros((z.shape[0], 1)), np.cumsum(hop_energy, axis=-1)], axis=-1)
    ms = (csum[:, per_block:] - csum[:, :-per_block]) / (per_block * hop)
    return (_weights(z.shape[0])[:, None] * ms).sum(axis=0)


def _lufs(power: np.ndarray | float) -> Any:
    with np.errstate(divide="ignore"):
        return -0.691 + 10 * np.log10(power)


def momentary_powers(samples: np.ndarray, rate: int) -> np.ndarray:
    """K-weighted mean-square power of each 400 ms block, every 100 ms (what gating works on).

    Blocks of consecutive stretches of one programme can be concatenated and handed to
    :func:`gated_loudness`, so a long programme is metered a stretch at a time.
    """
    return _block_powers(samples, rate, 0.4, 0.1)


def gated_loudness(powers: np.ndarray) -> float:
    """Integrated loudness in LUFS of 400 ms block powers, with BS.1770's absolute and relative gates."""
    z = powers[_lufs(powers) > ABSOLUTE_GATE]
    if z.size == 0:
        return SILENT
    relative = _lufs(z.mean()) - 10.0
    z = z[_lufs(z) > relative]
    return float(_lufs(z.mean()))


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Programme loudness in LUFS (BS.1770-4 gated); −inf for silence or under 0.4 s."""
    return gated_loudness(momentary_powers(samples, rate))


def short_term_loudness(samples: np.ndarray, rate: int) -> np.ndarray:
    """Short-term loudness in LUFS: 3 s windows every 100 ms (EBU Tech 3342)."""
    return np.asarray(_lufs(_block_powers(samples, rate, 3.0, 0.1)), np.float64)


def loudness_range(samples: np.ndarray, rate: int) -> float:
    """Loudness range in LU (EBU Tech 3342): spread of the 3 s short-term loudness."""
    st = short_term_loudness(samples, rate)
    st = st[st > ABSOLUTE_GATE]
    if st.size < 2:
        return 0.0
    power = 10 ** ((st + 0.691) / 10)
    st = st[st > _lufs(power.mean()) - 20.0]
    lo, hi = np.percentile(st, [10, 95])
    return float(hi - lo)


def oversampled_peaks(samples: np.ndarray, factor: int = OVERSAMPLE, floor: float = 0.0) -> np.ndarray:
    """Per-sample true-peak envelope: the largest of the oversampled values around each sample.

    Blocks whose sample peak is under ``floor`` keep their sample values: the inter-sample
    peaks of real audio stay within a few dB of its sample peaks, and a limiter only needs
    the envelope near its ceiling (``floor`` is set well below it).
    """
    x = np.atleast_2d(np.asarray(samples, np.float64))
    n = x.shape[-1]
    env = np.abs(x).max(axis=0)
    block, pad = 16384, 32  # pad covers resample_poly's filter (10 input samples each side)
    for start in range(0, n, block):
        end = min(n, start + block)
        if env[start:end].max() < floor:
            continue
        lo, hi = max(0, start - pad), min(n, end + pad)
        up = np.abs(resample_poly(x[:, lo:hi], factor, 1, axis=-1))[:, : (hi - lo) * factor]
        peaks = up.reshape(x.shape[0], hi - lo, factor).max(axis=-1).max(axis=0)
        env[start:end] = np.maximum(env[start:end], peaks[start - lo:end - lo])
    return env


def true_peak(samples: np.ndarray) -> float:
    """True peak in dBTP (4× oversampling, BS.1770-4 Annex 2)."""
    if samples.size == 0:
        return SILENT
    peak = float(oversampled_peaks(samples).max())
    return 20 * math.log10(peak) if peak > 0 else SILENT
