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

__all__ = ["block_search", "enabled", "temporal_weights", "warp_blocks", "wiener"]

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
def _five_rows(plane: np.ndarray, y: int, sums: np.ndarray, squares: np.ndarray | None) -> None:
    """``sums`` becomes the sum of rows ``y - 2 … y + 2`` of ``plane`` (reflected edges: the
    vertical half of a 5×5 ``uniform_filter``); ``squares``, when given, the sum of their squares.
    Numba compiles the ``None`` case apart, so the branch costs nothing."""
    h = plane.shape[0]
    a, b = plane[_reflect(y - 2, h)], plane[_reflect(y - 1, h)]
    d, e = plane[_reflect(y + 1, h)], plane[_reflect(y + 2, h)]
    mid = plane[y]
    for i in range(sums.shape[0]):
        sums[i] = a[i] + b[i] + mid[i] + d[i] + e[i]
        if squares is not None:
            squares[i] = a[i] * a[i] + b[i] * b[i] + mid[i] * mid[i] + d[i] * d[i] + e[i] * e[i]


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
    The 5×5 mean (``uniform_filter``'s, reflected edges) is made a line at a time and the moved
    neighbour fetched again where it is added: nothing picture-sized but the differences is stored.
    """
    h, w, c = cur.shape
    nbx = (w + block - 1) // block
    squared = np.empty((h, w), np.float32)
    for y in range(h):
        for bx in range(nbx):
            sy = _clamp(y + vy[y // block, bx], h - 1)
            dx = vx[y // block, bx]
            for x in range(bx * block, min(w, (bx + 1) * block)):
                sx = _clamp(x + dx, w - 1)
                d2 = np.float32(0.0)
                for k in range(c):
                    d = cur[y, x, k] - frame[sy, sx, k]
                    d2 += d * d
                squared[y, x] = d2
    rows = np.empty(w, np.float32)
    scale = np.float32(1.0 / 25.0)
    for y in range(h):
        _five_rows(squared, y, rows, None)
        for bx in range(nbx):
            sy = _clamp(y + vy[y // block, bx], h - 1)
            dx = vx[y // block, bx]
            for x in range(bx * block, min(w, (bx + 1) * block)):
                if 2 <= x < w - 2:
                    mismatch = (rows[x - 2] + rows[x - 1] + rows[x] + rows[x + 1] + rows[x + 2]) * scale
                else:
                    mismatch = np.float32(0.0)
                    for j in range(-2, 3):
                        mismatch += rows[_reflect(x + j, w)]
                    mismatch *= scale
                m = mismatch * np.float32(inv_noise) - np.float32(1.0)
                # Agreement within the noise (most pixels) weighs 1 exactly: no exponential needed.
                wt = np.float32(1.0) if m <= 0 else np.float32(math.exp(-m * np.float32(inv_tolerance)))
                sx = _clamp(x + dx, w - 1)
                for k in range(c):
                    total[y, x, k] += wt * frame[sy, sx, k]
                weights[y, x, 0] += wt


@_kernel
def wiener(total: np.ndarray, weights: np.ndarray, residual: float) -> np.ndarray:
    """The weighted average ``total / weights``, then a 5×5 local Wiener filter whose noise
    variance is ``residual / weights`` (denoise's spatial clean-up).

    The 5×5 means of the average and of its square (``uniform_filter``'s, reflected edges) are made a
    line at a time and used at once: no full-picture squares or sums are stored.
    """
    h, w, c = total.shape
    n = w * c
    avg = np.empty((h, n), np.float32)
    flat = total.reshape(h, n)
    for y in range(h):
        for x in range(w):
            inv = np.float32(1.0) / weights[y, x, 0]
            for k in range(c):
                avg[y, x * c + k] = flat[y, x * c + k] * inv
    out = np.empty_like(total)
    rows = np.empty(n, np.float32)
    squares = np.empty(n, np.float32)
    mean = np.empty(n, np.float32)
    spread = np.empty(n, np.float32)
    scale = np.float32(1.0 / 25.0)
    for y in range(h):
        _five_rows(avg, y, rows, squares)
        mid = avg[y]
        for i in range(2 * c, (w - 2) * c):
            mean[i] = (rows[i - 2 * c] + rows[i - c] + rows[i] + rows[i + c] + rows[i + 2 * c]) * scale
            spread[i] = (squares[i - 2 * c] + squares[i - c] + squares[i] + squares[i + c]
                         + squares[i + 2 * c]) * scale
        for x in (0, 1, w - 2, w - 1):
            for k in range(c):
                m = np.float32(0.0)
                q = np.float32(0.0)
                for j in range(-2, 3):
                    m += rows[_reflect(x + j, w) * c + k]
                    q += squares[_reflect(x + j, w) * c + k]
                mean[x * c + k] = m * scale
                spread[x * c + k] = q * scale
        for x in range(w):
            noise = np.float32(residual) / weights[y, x, 0]
            for k in range(c):
                i = x * c + k
                mu = mean[i]
                var = spread[i] - mu * mu
                gain = max(var - noise, np.float32(0.0)) / max(var, np.float32(1e-8))
                out[y, x, k] = mu + gain * (mid[i] - mu)
    return out
