"""Separable resampling kernels on the array backend (Lanczos, bicubic)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

__all__ = ["lanczos", "bicubic", "resample_axis", "resize"]


def lanczos(x: np.ndarray, a: int = 3) -> np.ndarray:
    x = np.abs(x)
    out = np.sinc(x) * np.sinc(x / a)
    out[x >= a] = 0.0
    return out


def bicubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    out = np.where(x <= 1, (a + 2) * x**3 - (a + 3) * x**2 + 1,
                   np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0))
    return out


_KERNELS = {"lanczos": (lanczos, 3.0), "bicubic": (bicubic, 2.0)}


@functools.lru_cache(maxsize=32)
def _weights(n_in: int, n_out: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices and normalised weights, (n_out, taps), for one axis (pixel-centre aligned)."""
    kernel, support = _KERNELS[method]
    scale = n_out / n_in
    stretch = max(1.0, 1.0 / scale)  # widen the kernel when shrinking (anti-aliasing)
    centres = (np.arange(n_out) + 0.5) / scale - 0.5
    taps = int(np.ceil(support * stretch)) * 2 + 1
    first = np.floor(centres - support * stretch).astype(np.int64) + 1
    idx = first[:, None] + np.arange(taps)[None, :]
    w = kernel((idx - centres[:, None]) / stretch)
    w /= w.sum(axis=1, keepdims=True)
    return np.clip(idx, 0, n_in - 1), w.astype(np.float32)


def resample_axis(img: Any, n_out: int, axis: int, method: str, xp: Any) -> Any:
    n_in = img.shape[axis]
    if n_in == n_out:
        return img
    idx, w = _weights(n_in, n_out, method)
    idx = xp.asarray(idx)
    w = xp.asarray(w)
    out = None
    for t in range(idx.shape[1]):
        taken = xp.take(img, idx[:, t], axis=axis)
        shape = [1] * img.ndim
        shape[axis] = n_out
        term = taken * w[:, t].reshape(shape)
        out = term if out is None else out + term
    return out


def resize(img: Any, width: int, height: int, method: str, xp: Any) -> Any:
    """Resize an (H, W, C) float image with a separable kernel."""
    return resample_axis(resample_axis(img, height, 0, method, xp), width, 1, method, xp)
