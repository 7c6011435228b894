"""CPU kernels (Numba) for the spatial filters of the finishing look: soften, upscale's
sharpening and deblock, the same maths as their array code.

As in :mod:`postbay.processors.cpu_kernels` (whose switch :func:`enabled` these share), the
array code is the one definition and the GPU's path; these kernels are the CPU's fast path,
parity-tested against it (tests/processors/test_cpu_kernels.py). They stream the picture
row by row: a separable filter's intermediate row stays in cache, the rest of the step's
arithmetic is done on it before the next row, and the picture is read and written once.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from postbay.backend import Backend
from postbay.processors.cpu_kernels import _kernel, enabled

#: Filters whose sums may use fused multiply-adds: float32 results differ from the array
#: code's (SciPy sums in float64) in the last bits only, and the loops vectorise.
_filter_kernel = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})

__all__ = ["enabled", "gaussian_taps", "highlight_means", "in_bands", "soften_rows"]


def gaussian_taps(sigma: float, truncate: float) -> np.ndarray:
    """The 1-D Gaussian of ``scipy.ndimage.gaussian_filter`` (radius ``int(truncate·sigma + 0.5)``),
    normalised, as float32."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 / (sigma * sigma) * t * t)
    return (w / w.sum()).astype(np.float32)


@_kernel
def highlight_means(x: np.ndarray, factor: int, luma_weights: np.ndarray) -> np.ndarray:
    """Mean over each ``factor``-square of ``clip((luma - 0.8)·5, 0)`` of ``x`` (H, W, 3): the
    light above diffuse white that soften's halation spreads (its ``_glow`` source)."""
    h, w = x.shape[0] // factor, x.shape[1] // factor
    w0, w1, w2 = np.float32(luma_weights[0]), np.float32(luma_weights[1]), np.float32(luma_weights[2])
    out = np.zeros((h, w), np.float32)
    for y in range(h * factor):
        row = out[y // factor]
        for px in range(w * factor):
            v = x[y, px, 0] * w0
            v += x[y, px, 1] * w1
            v += x[y, px, 2] * w2
            row[px // factor] += max((v - np.float32(0.8)) * np.float32(5.0), np.float32(0.0))
    out *= np.float32(1.0 / (factor * factor))
    return out


@_filter_kernel
def soften_rows(x: np.ndarray, taps: np.ndarray, glow: np.ndarray, shift: int, lift_scale: float,
                lift_base: float, tint: np.ndarray, luma_weights: np.ndarray, out: np.ndarray, y0: int,
                y1: int) -> None:
    """soften's rows ``y0:y1`` of ``x`` (H, W, 3) into ``out``: ``x + lift·(blur - x) + glow·tint``.

    ``blur`` is ``x`` filtered by ``taps`` down the columns, then along the rows, edges
    repeated (``gaussian_filter(x, (s, s, 0), mode="nearest")``); ``lift`` is
    ``clip(luma, 0, 0.4)·lift_scale + lift_base``; ``glow`` is given at 1/2**``shift`` of the
    size, each value covering its square, its last row and column repeated to the edges.
    """
    h, w, c = x.shape
    r = taps.shape[0] // 2
    n = w * c
    flat = x.reshape(h, n)
    column = np.empty((w + 2 * r) * c, np.float32)  # one row blurred down the columns, padded by r pixels
    inner = column[r * c:r * c + n]
    blur = np.empty(n, np.float32)
    gh, gw = glow.shape
    w0, w1, w2 = np.float32(luma_weights[0]), np.float32(luma_weights[1]), np.float32(luma_weights[2])
    t0, t1, t2 = tint[0], tint[1], tint[2]
    zero, top = np.float32(0.0), np.float32(0.4)
    scale, base = np.float32(lift_scale), np.float32(lift_base)
    for y in range(y0, y1):
        inner[:] = zero
        for j in range(2 * r + 1):
            src = flat[min(max(y + j - r, 0), h - 1)]
            wt = taps[j]
            for i in range(n):
                inner[i] += wt * src[i]
        for i in range(r):
            for k in range(c):
                column[i * c + k] = inner[k]
                column[(r + w + i) * c + k] = inner[n - c + k]
        blur[:] = zero
        for j in range(2 * r + 1):
            wt = taps[j]
            shifted = column[j * c:j * c + n]
            for i in range(n):
                blur[i] += wt * shifted[i]
        glow_row = glow[min(y >> shift, gh - 1)]
        row, dst = x[y], out[y]
        for px in range(w):
            g = glow_row[min(px >> shift, gw - 1)]
            v0, v1, v2 = row[px, 0], row[px, 1], row[px, 2]
            lum = v0 * w0
            lum += v1 * w1
            lum += v2 * w2
            lift = min(max(lum, zero), top) * scale + base
            b = px * c
            dst[px, 0] = (blur[b] - v0) * lift + v0 + g * t0
            dst[px, 1] = (blur[b + 1] - v1) * lift + v1 + g * t1
            dst[px, 2] = (blur[b + 2] - v2) * lift + v2 + g * t2


def in_bands(rows: int, work: Callable[[int, int], None], backend: Backend) -> None:
    """Run ``work(r0, r1)`` over bands of ``rows`` on the backend's worker threads (the kernels
    release the GIL, so the bands run side by side)."""
    n = backend.workers if rows >= 64 else 1
    bounds = [rows * i // n for i in range(n + 1)]
    list(backend.pool.map(lambda i: work(bounds[i], bounds[i + 1]), range(n)))
