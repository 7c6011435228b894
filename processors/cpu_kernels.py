"""CPU kernels (Numba) for the hot loops of denoise, the same maths as its array code
(the spatial filters' are in :mod:`postbay.processors.cpu_kernels_spatial`).

A processor's array code (``xp``) is its one definition and what runs on the GPU (CuPy).
Where that code needs many full-picture passes of a few operations each, the CPU spends its
time moving memory; the kernels here do the same arithmetic in one pass per pixel, compiled
by Numba, release the GIL (the pipeline's worker threads run them side by side), and are
parity-tested against the array code (tests/processors/test_cpu_kernels.py).
A processor uses them only on the NumPy backend, through :func:`enabled`.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np

__all__ = ["block_search", "enabled",
           "temporal_weights", "warp_blocks", "wiener"]

#: Every kernel: compiled once and cached on disk, the GIL released while it runs.
_kernel = numba.njit(nogil=True, cache=True, error_model="numpy")
#: Sums may be reordered (vectorised): a block's score differs from the array code's in the
#: last bits only, far below the tie-breaking cost that separates real candidates.
_reassociating_kernel = numba.njit(nogil=True, cache=True, error_model="numpy",
                                   fastmath={"reassoc", "nsz", "arcp", "contract"})

def enabled(xp: object) -> bool:
    """True when the array module is NumPy and the kernels are not switched off
    (``POSTBAY_CPU_KERNELS=0``: the parity tests and a debugging user run the array code)."""
    return xp is np and os.environ.get("POSTBAY_CPU_KERNELS", "1") != "0"


@_kernel
def _clamp(v: int, hi: int) -> int:
    return 0 if v < 0 else min(v, hi)


@_reassociating_kernel
def block_search(cur: np.ndarray, padded: np.ndarray, radius: int, block: int,
                 every: int) -> tuple[np.ndarray, np.ndarray]:
    """The best offset within ``radius`` for each block of ``cur`` in ``padded`` (the reference,
    warped by the current vectors and edge-padded by ``radius``; denoise's ``_refine``).

    Scores are sums of absolute differences over every ``every``-th line of the block plus
    the same tie-breaking cost per pixel of change; the first best offset wins.
    """
    h, w = cur.shape
    nby, nbx = h // block, w // block
    best_dy = np.zeros((nby, nbx), np.int32)
    best_dx = np.zeros((nby, nbx), np.int32)
    area = float(block * block // every)
    for by in range(nby):
        for bx in range(nbx):
            best = np.float32(np.inf)
            x0 = bx * block
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    sad = np.float32(0.0)
                    for y in range(by * block, (by + 1) * block, every):
                        row = cur[y, x0:x0 + block]
                        shifted = padded[y + dy + radius, x0 + dx + radius:x0 + dx + radius + block]
                        for i in range(block):
                            sad += abs(row[i] - shifted[i])
                    score = sad + np.float32((abs(dy) + abs(dx)) * 1e-4 * area)
                    if score < best:
                        best = score
                        best_dy[by, bx] = dy
                        best_dx[by, bx] = dx
    return best_dy, best_dx


@_kernel
def _reflect(i: int, n: int) -> int:
    """scipy.ndimage's ``reflect`` edge (d c b a | a b c d) for offsets smaller than ``n``."""
    if i < 0:
        return -i - 1
    if i >= n:
        return 2 * n - i - 1
    return i


@_kernel
def _box5(plane: np.ndarray) -> np.ndarray:
    """5×5 mean of an (H, W, C) float32 plane, reflected edges (``uniform_filter``, size (5, 5, 1))."""
    h, w, c = plane.shape
    flat = plane.reshape(h, w * c)
    rows = np.empty_like(flat)
    for y in range(h):
        a, b = flat[_reflect(y - 2, h)], flat[_reflect(y - 1, h)]
        d, e = flat[_reflect(y + 1, h)], flat[_reflect(y + 2, h)]
        mid = flat[y]
        line = rows[y]
        for i in range(w * c):
            line[i] = a[i] + b[i] + mid[i] + d[i] + e[i]
    out = np.empty_like(flat)
    scale = np.float32(1.0 / 25.0)
    for y in range(h):
        line = rows[y]
        dst = out[y]
        for i in range(2 * c, (w - 2) * c):
            dst[i] = (line[i - 2 * c] + line[i - c] + line[i] + line[i + c] + line[i + 2 * c]) * scale
        for x in (0, 1, w - 2, w - 1):
            for k in range(c):
                acc = np.float32(0.0)
                for j in range(-2, 3):
                    acc += line[_reflect(x + j, w) * c + k]
                dst[x * c + k] = acc * scale
    return out.reshape(h, w, c)


@_kernel
def warp_blocks(plane: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int) -> np.ndarray:
    """``plane`` (H, W) sampled at (y + vy, x + vx) with one integer vector per ``block``-square,
    edges clamped (denoise's ``_warp`` of expanded vectors)."""
    h, w = plane.shape
    out = np.empty_like(plane)
    for y in range(h):
        for bx in range((w + block - 1) // block):
            sy = _clamp(y + vy[y // block, bx], h - 1)
            dx = vx[y // block, bx]
            for x in range(bx * block, min(w, (bx + 1) * block)):
                out[y, x] = plane[sy, _clamp(x + dx, w - 1)]
    return out


@_kernel
def temporal_weights(cur: np.ndarray, frame: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int,
                     inv_noise: float, inv_tolerance: float, total: np.ndarray, weights: np.ndarray) -> None:
    """Add one neighbour, moved by its block vectors, to ``total``/``weights`` (denoise's ``gather``).

    The weight of each pixel falls off as the 5×5 mean of the squared RGB difference to the
    current frame exceeds the noise: ``exp(-max(mismatch·inv_noise - 1, 0)·inv_tolerance)``.
    """
    h, w, c = cur.shape
    aligned = np.empty_like(cur)
    mismatch = np.empty((h, w, 1), np.float32)
    for y in range(h):
        for bx in range((w + block - 1) // block):
            sy = _clamp(y + vy[y // block, bx], h - 1)
            dx = vx[y // block, bx]
            for x in range(bx * block, min(w, (bx + 1) * block)):
                sx = _clamp(x + dx, w - 1)
                d2 = np.float32(0.0)
                for k in range(c):
                    v = frame[sy, sx, k]
                    aligned[y, x, k] = v
                    d = cur[y, x, k] - v
                    d2 += d * d
                mismatch[y, x, 0] = d2
    mismatch = _box5(mismatch)
    for y in range(h):
        for x in range(w):
            m = mismatch[y, x, 0] * np.float32(inv_noise) - np.float32(1.0)
            wt = np.float32(math.exp(-max(m, np.float32(0.0)) * np.float32(inv_tolerance)))
            for k in range(c):
                total[y, x, k] += wt * aligned[y, x, k]
            weights[y, x, 0] += wt


@_kernel
def wiener(total: np.ndarray, weights: np.ndarray, residual: float) -> np.ndarray:
    """The weighted average ``total / weights``, then a 5×5 local Wiener filter whose noise
    variance is ``residual / weights`` (denoise's spatial clean-up)."""
    h, w, c = total.shape
    avg = np.empty_like(total)
    for y in range(h):
        for x in range(w):
            for k in range(c):
                avg[y, x, k] = total[y, x, k] / weights[y, x, 0]
    mean = _box5(avg)
    square = _box5(avg * avg)
    out = np.empty_like(total)
    for y in range(h):
        for x in range(w):
            noise = np.float32(residual) / weights[y, x, 0]
            for k in range(c):
                mu = mean[y, x, k]
                spread = square[y, x, k] - mu * mu
                gain = max(spread - noise, np.float32(0.0)) / max(spread, np.float32(1e-8))
                out[y, x, k] = mu + gain * (avg[y, x, k] - mu)
    return out
