"""CPU kernels (Numba) for the spatial filters of the finishing look: soften, upscale's
sharpening, grain and deblock, the same maths as their array code.

As in :mod:`postbay.processors.cpu_kernels` (whose switch :func:`enabled` these share), the
array code is the one definition and the GPU's path; these kernels are the CPU's fast path,
parity-tested against it (tests/processors/test_cpu_kernels.py). They stream the picture
row by row: a separable filter's intermediate row stays in cache, the rest of the step's
arithmetic is done on it before the next row, and the picture is read and written once.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from postbay.colour import REC709_LUMA
from postbay.processors.cpu_kernels import _kernel, enabled

#: Rec.709 luma weights as the kernels take them (float32).
LUMA = np.asarray(REC709_LUMA, np.float32)
#: Filters whose sums may use fused multiply-adds: float32 results differ from the array
#: code's (SciPy sums in float64) in the last bits only, and the loops vectorise.
_filter_kernel = numba.njit(nogil=True, cache=True, error_model="numpy", fastmath={"contract"})

__all__ = ["LUMA", "block_step_mean", "enabled", "gaussian_taps", "grain_rows", "highlight_means", "sharpen_rows",
           "smooth_block_steps", "soften_rows"]


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

    ``blur`` is ``x`` filtered by the symmetric ``taps`` down the columns, then along the rows, edges
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
        # The taps are symmetric: each pair of rows (and of pixels) either side shares one product.
        centre, wt = flat[y], taps[r]
        for i in range(n):
            inner[i] = wt * centre[i]
        for j in range(1, r + 1):
            above, below = flat[max(y - j, 0)], flat[min(y + j, h - 1)]
            wt = taps[r + j]
            for i in range(n):
                inner[i] += wt * (above[i] + below[i])
        for i in range(r):
            for k in range(c):
                column[i * c + k] = inner[k]
                column[(r + w + i) * c + k] = inner[n - c + k]
        wt = taps[r]
        for i in range(n):
            blur[i] = wt * inner[i]
        for j in range(1, r + 1):
            wt = taps[r + j]
            left, right = column[(r - j) * c:(r - j) * c + n], column[(r + j) * c:(r + j) * c + n]
            for i in range(n):
                blur[i] += wt * (left[i] + right[i])
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


@_kernel
def _step(row: np.ndarray, base: int, k: int) -> np.float32:
    """Channel ``k``'s step beyond the local slope at the boundary after ``row[base + 3]``
    (deblock's ``_steps``)."""
    p1, p0, q0, q1 = row[base + 2, k], row[base + 3, k], row[base + 4, k], row[base + 5, k]
    return (q0 - p0) - np.float32(0.5) * ((p0 - p1) + (q1 - q0))


@_kernel
def _largest_step(row: np.ndarray, base: int) -> np.float32:
    """The largest step over the channels at the boundary after ``row[base + 3]``."""
    mag = np.float32(0.0)
    for k in range(3):
        mag = max(mag, abs(_step(row, base, k)))
    return mag


@_kernel
def _activity(row: np.ndarray, base: int) -> np.float32:
    """The largest activity over the channels inside the blocks either side of the boundary
    after ``row[base + 3]``, beyond their common slope (deblock's ``_steps``)."""
    act = np.float32(0.0)
    for k in range(3):
        p2, p1, p0, q0, q1, q2 = (row[base + 1, k], row[base + 2, k], row[base + 3, k], row[base + 4, k],
                                  row[base + 5, k], row[base + 6, k])
        slope = np.float32(0.5) * ((p0 - p1) + (q1 - q0))
        act = max(act, np.float32(0.25) * (abs(p1 - p0 - slope) + abs(p2 - p1 - slope)
                                           + abs(q1 - q0 - slope) + abs(q2 - q1 - slope)))
    return act


@_kernel
def block_step_mean(x: np.ndarray, first: int, count: int, every: int, boundary_major: bool) -> float:
    """Mean over every ``every``-th line of the largest step at boundaries ``first + 8k + 4``
    along axis 1 of ``x`` (H, W, 3) (deblock's codec-step statistic). ``boundary_major`` walks
    each boundary over all lines before the next: the order that reads memory row by row
    when ``x`` is the picture transposed (its lines are the picture's columns)."""
    lines = range(0, x.shape[0], every)
    total = 0.0
    if boundary_major:
        for b in range(count):
            for line in lines:
                total += float(_largest_step(x[line], first + 8 * b))
    else:
        for line in lines:
            for b in range(count):
                total += float(_largest_step(x[line], first + 8 * b))
    return total / max(len(lines) * count, 1)


@_kernel
def _smooth_boundary(row: np.ndarray, base: int, threshold: np.float32, ramp: np.ndarray) -> None:
    """Spread the step at the boundary after ``row[base + 3]`` into a ramp when it is small
    and the blocks either side are flat (deblock's gate); a step as tall as the threshold
    closes the gate before the activity is measured."""
    mag = _largest_step(row, base)
    if mag >= threshold:
        return
    act = _activity(row, base)
    gate = (min(max(np.float32(2.0) - np.float32(2.0) * mag / threshold, np.float32(0.0)), np.float32(1.0))
            * min(max(np.float32(2.0) - act / (np.float32(0.25) * threshold + mag), np.float32(0.0)),
                  np.float32(1.0)))
    if gate == 0:
        return
    for k in range(3):
        corr = gate * _step(row, base, k)  # channel k is still untouched
        for r in range(ramp.shape[0]):
            row[base + 3 - r, k] += corr * ramp[r]
            row[base + 4 + r, k] -= corr * ramp[r]


@_kernel
def smooth_block_steps(x: np.ndarray, first: int, count: int, threshold: float, ramp: np.ndarray,
                       boundary_major: bool) -> None:
    """Spread the small steps at boundaries ``first + 8k + 4`` along axis 1 of ``x`` (H, W, 3)
    into ramps, in place (deblock's ``smooth_boundaries`` after its threshold); the order as
    in :func:`block_step_mean` (the boundaries are independent, so it changes no result)."""
    thr = np.float32(threshold)
    if boundary_major:
        for b in range(count):
            for line in range(x.shape[0]):
                _smooth_boundary(x[line], first + 8 * b, thr, ramp)
    else:
        for line in range(x.shape[0]):
            for b in range(count):
                _smooth_boundary(x[line], first + 8 * b, thr, ramp)


@_kernel
def _luma_row(rgb: np.ndarray, y: int, w0: np.float32, w1: np.float32, w2: np.float32, out: np.ndarray) -> None:
    for x in range(rgb.shape[1]):
        v = rgb[y, x, 0] * w0
        v += rgb[y, x, 1] * w1
        v += rgb[y, x, 2] * w2
        out[x + 1] = v
    out[0], out[-1] = out[1], out[-2]  # edges repeated


@_kernel
def sharpen_rows(rgb: np.ndarray, weight_scale: float, luma_weights: np.ndarray, out: np.ndarray, y0: int,
                 y1: int) -> None:
    """upscale's contrast-adaptive sharpening of rows ``y0:y1`` into ``out``: the weight
    ``amp·weight_scale`` (``amp`` the headroom of the cross neighbourhood), the sharpened luma
    clamped to that neighbourhood's range, and the change added to R, G and B. Luma is made
    for three rows at a time (the row and its neighbours, edges repeated)."""
    h, w = rgb.shape[0], rgb.shape[1]
    w0, w1, w2 = np.float32(luma_weights[0]), np.float32(luma_weights[1]), np.float32(luma_weights[2])
    rows = np.empty((3, w + 2), np.float32)
    _luma_row(rgb, max(y0 - 1, 0), w0, w1, w2, rows[0])
    _luma_row(rgb, y0, w0, w1, w2, rows[1])
    scale = np.float32(weight_scale)
    one = np.float32(1.0)
    for y in range(y0, y1):
        up, row, down = rows[(y - y0) % 3], rows[(y - y0 + 1) % 3], rows[(y - y0 + 2) % 3]
        _luma_row(rgb, min(y + 1, h - 1), w0, w1, w2, down)
        src, dst = rgb[y], out[y]
        for x in range(w):
            centre = row[x + 1]
            n, s = up[x + 1], down[x + 1]
            west, east = row[x], row[x + 2]
            lo = min(min(min(n, s), min(west, east)), centre)
            hi = max(max(max(n, s), max(west, east)), centre)
            headroom = min(lo, one - hi) / max(hi, np.float32(1e-6))
            amp = np.float32(math.sqrt(min(max(headroom, np.float32(0.0)), one)))
            weight = amp * scale
            sharp = (centre + weight * (n + s + west + east)) / (one + np.float32(4.0) * weight)
            change = min(max(sharp, lo), hi) - centre
            dst[x, 0] = src[x, 0] + change
            dst[x, 1] = src[x, 1] + change
            dst[x, 2] = src[x, 2] + change


@_kernel
def grain_rows(x: np.ndarray, fields: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], amount: float,
               chroma: float, luma_weights: np.ndarray, out: np.ndarray, y0: int, y1: int) -> None:
    """grain's rows ``y0:y1`` of ``x`` (H, W, 3) into ``out``: ``x + fields[0]·s``, plus
    ``fields[1 + c]·s·chroma`` on channel ``c`` when ``chroma`` > 0, where ``s`` is
    ``2·sqrt(t·(1 - t))·amount`` for the luma ``t`` (clipped to [0, 1]) of the top-left
    pixel of the pixel's 2×2 cell (grain's ``develop``)."""
    w0, w1, w2 = np.float32(luma_weights[0]), np.float32(luma_weights[1]), np.float32(luma_weights[2])
    zero, one = np.float32(0.0), np.float32(1.0)
    a, ch = np.float32(amount), np.float32(chroma)
    for y in range(y0, y1):
        cells = x[y - y % 2]
        for px in range(0, x.shape[1], 2):
            t = cells[px, 0] * w0
            t += cells[px, 1] * w1
            t += cells[px, 2] * w2
            t = min(max(t, zero), one)
            s = np.float32(2.0) * np.float32(math.sqrt(t * (one - t)))
            s *= a
            sc = s * ch
            for p in range(px, min(px + 2, x.shape[1])):
                g = fields[0][y, p] * s
                for k in range(3):
                    out[y, p, k] = x[y, p, k] + g
                    if ch > zero:
                        out[y, p, k] += fields[1 + k][y, p] * sc
