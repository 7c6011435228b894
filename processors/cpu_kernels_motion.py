"""CPU kernels (Numba) for retime's hot loops: the Lucas–Kanade terms, the 3×3 median of a
flow component, the cubic-spline coefficients of a frame and the motion-compensated blend.

The same arithmetic as retime's array code (``xp``: NumPy, or CuPy on the GPU), done in one
pass per pixel instead of a dozen full-picture passes, compiled by Numba with the GIL
released; parity-tested against the array code (tests/processors/test_cpu_kernels_motion.py).
retime uses them on the NumPy backend only, through :func:`postbay.processors.cpu_kernels.enabled`.
"""

from __future__ import annotations

import math

import numpy as np

from postbay.processors.cpu_kernels import _kernel

__all__ = ["SPLINE_PAD", "flow_terms", "median3", "mix_trusted", "motion_blend", "resize_linear", "spline_coefficients"]

#: Edge-repeated margin of a frame's spline coefficients (SciPy's own for ``mode="nearest"``):
#: the prefilter's pole decays below float32 precision within it, so edges match SciPy's.
SPLINE_PAD = 12
#: The cubic B-spline's pole (the recursive prefilter's coefficient).
_POLE = math.sqrt(3.0) - 2.0


@_kernel
def _order(a: float, b: float) -> tuple[float, float]:
    return min(a, b), max(a, b)


@_kernel
def _clamp(v: float, lo: float, hi: float) -> float:
    return min(max(v, lo), hi)


@_kernel
def _bilinear(plane: np.ndarray, y: float, x: float) -> float:
    """``plane`` (h, w) at (y, x), the coordinate clamped to the picture (``mode="nearest"``)."""
    h, w = plane.shape
    y = _clamp(y, 0.0, h - 1.0)
    x = _clamp(x, 0.0, w - 1.0)
    y0 = min(int(y), h - 2) if h > 1 else 0
    x0 = min(int(x), w - 2) if w > 1 else 0
    fy, fx = y - y0, x - x0
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    top = plane[y0, x0] + fx * (plane[y0, x1] - plane[y0, x0])
    bottom = plane[y1, x0] + fx * (plane[y1, x1] - plane[y1, x0])
    return top + fy * (bottom - top)


@_kernel
def resize_linear(plane: np.ndarray, h: int, w: int) -> np.ndarray:
    """``plane`` scaled bilinearly to (h, w), pixel centres aligned and edges held
    (``zoom(order=1, mode="nearest", grid_mode=True)``: retime's ``_resize_flow``)."""
    fh, fw = plane.shape
    ry, rx = fh / h, fw / w
    out = np.empty((h, w), np.float32)
    for y in range(h):
        fy = (y + 0.5) * ry - 0.5
        for x in range(w):
            out[y, x] = _bilinear(plane, fy, (x + 0.5) * rx - 0.5)
    return out


@_kernel
def flow_terms(la: np.ndarray, lb: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The five Lucas–Kanade products (ix², iy², ix·iy, ix·it, iy·it), stacked (5, h, w).

    ``lb`` is sampled bilinearly at (x + u, y + v) (edges held); the gradients (``xp.gradient``:
    central differences, one-sided at the edges) are of the mean of ``la`` and the moved
    ``lb``, and ``it`` is the moved ``lb`` less ``la`` (retime's ``optical_flow``).
    """
    h, w = la.shape
    mean = np.empty((h, w), np.float32)
    diff = np.empty((h, w), np.float32)
    for y in range(h):
        for x in range(w):
            moved = _bilinear(lb, y + v[y, x], x + u[y, x])
            mean[y, x] = np.float32(0.5) * (la[y, x] + moved)
            diff[y, x] = moved - la[y, x]
    out = np.empty((5, h, w), np.float32)
    for y in range(h):
        up, down = max(y - 1, 0), min(y + 1, h - 1)
        ky = np.float32(0.5) if 0 < y < h - 1 else np.float32(1.0)
        for x in range(w):
            left, right = max(x - 1, 0), min(x + 1, w - 1)
            kx = np.float32(0.5) if 0 < x < w - 1 else np.float32(1.0)
            iy = (mean[down, x] - mean[up, x]) * ky
            ix = (mean[y, right] - mean[y, left]) * kx
            it = diff[y, x]
            out[0, y, x] = ix * ix
            out[1, y, x] = iy * iy
            out[2, y, x] = ix * iy
            out[3, y, x] = ix * it
            out[4, y, x] = iy * it
    return out


@_kernel
def median3(plane: np.ndarray) -> np.ndarray:
    """3×3 median of a (h, w) plane, edges repeated (``median_filter(size=3)``, ``mode="reflect"``).

    The median of nine by a fixed network of 19 compare-exchanges (Paeth's, as in Devillard's
    "fast median search"): branch-free, on values held in registers.
    """
    h, w = plane.shape
    out = np.empty_like(plane)
    for y in range(h):
        up, row, down = plane[max(y - 1, 0)], plane[y], plane[min(y + 1, h - 1)]
        for x in range(w):
            left, right = max(x - 1, 0), min(x + 1, w - 1)
            p0, p1, p2 = up[left], up[x], up[right]
            p3, p4, p5 = row[left], row[x], row[right]
            p6, p7, p8 = down[left], down[x], down[right]
            p1, p2 = _order(p1, p2)
            p4, p5 = _order(p4, p5)
            p7, p8 = _order(p7, p8)
            p0, p1 = _order(p0, p1)
            p3, p4 = _order(p3, p4)
            p6, p7 = _order(p6, p7)
            p1, p2 = _order(p1, p2)
            p4, p5 = _order(p4, p5)
            p7, p8 = _order(p7, p8)
            p0, p3 = _order(p0, p3)
            p5, p8 = _order(p5, p8)
            p4, p7 = _order(p4, p7)
            p3, p6 = _order(p3, p6)
            p1, p4 = _order(p1, p4)
            p2, p5 = _order(p2, p5)
            p4, p7 = _order(p4, p7)
            p2, p4 = _order(p2, p4)
            p4, p6 = _order(p4, p6)
            p2, p4 = _order(p2, p4)
            out[y, x] = p4
    return out


@_kernel
def spline_coefficients(frame: np.ndarray) -> np.ndarray:
    """Cubic B-spline coefficients of an (H, W, C) frame, edge-padded by :data:`SPLINE_PAD`
    (SciPy's ``spline_filter1d`` along both picture axes of the padded frame, in float32)."""
    h, w, c = frame.shape
    p = SPLINE_PAD
    hp, wp = h + 2 * p, w + 2 * p
    out = np.empty((hp, wp, c), np.float32)
    for y in range(hp):
        sy = min(max(y - p, 0), h - 1)
        for x in range(wp):
            sx = min(max(x - p, 0), w - 1)
            for k in range(c):
                out[y, x, k] = frame[sy, sx, k] * np.float32(36.0)  # the gain of 6 per axis
    z = np.float32(_POLE)
    causal0 = np.float32(1.0 / (1.0 - _POLE))  # the sum of z**k: the edge value repeated forever
    anti0 = np.float32(-_POLE / (1.0 - _POLE))
    # Along each line (x), then down the columns (y) a whole line at a time.
    for y in range(hp):
        line = out[y]
        for k in range(c):
            line[0, k] *= causal0
        for x in range(1, wp):
            for k in range(c):
                line[x, k] += z * line[x - 1, k]
        for k in range(c):
            line[wp - 1, k] *= anti0
        for x in range(wp - 2, -1, -1):
            for k in range(c):
                line[x, k] = z * (line[x + 1, k] - line[x, k])
    flat = out.reshape(hp, wp * c)
    flat[0] *= causal0
    for y in range(1, hp):
        prev, row = flat[y - 1], flat[y]
        for i in range(wp * c):
            row[i] += z * prev[i]
    flat[hp - 1] *= anti0
    for y in range(hp - 2, -1, -1):
        nxt, row = flat[y + 1], flat[y]
        for i in range(wp * c):
            row[i] = z * (nxt[i] - row[i])
    return out


@_kernel
def _spline_weights(f: float) -> tuple[float, float, float, float]:
    g = 1.0 - f
    f2 = f * f
    f3 = f2 * f
    return g * g * g / 6.0, (4.0 - 6.0 * f2 + 3.0 * f3) / 6.0, (1.0 + 3.0 * (f + f2 - f3)) / 6.0, f3 / 6.0


@_kernel
def _spline_sample(coeffs: np.ndarray, y: float, x: float, out: np.ndarray) -> None:
    """The cubic spline of ``coeffs`` (from :func:`spline_coefficients`, 3 channels) at picture
    point (y, x), into ``out``."""
    hp, wp = coeffs.shape[0], coeffs.shape[1]
    y = _clamp(y + SPLINE_PAD, 1.0, hp - 3.0)
    x = _clamp(x + SPLINE_PAD, 1.0, wp - 3.0)
    iy, ix = int(y), int(x)
    wy0, wy1, wy2, wy3 = _spline_weights(y - iy)
    wx0, wx1, wx2, wx3 = _spline_weights(x - ix)
    r = g = b = 0.0
    for j in range(4):
        wy = wy0 if j == 0 else wy1 if j == 1 else wy2 if j == 2 else wy3
        line = iy - 1 + j
        x0 = ix - 1
        r += wy * (wx0 * coeffs[line, x0, 0] + wx1 * coeffs[line, x0 + 1, 0]
                   + wx2 * coeffs[line, x0 + 2, 0] + wx3 * coeffs[line, x0 + 3, 0])
        g += wy * (wx0 * coeffs[line, x0, 1] + wx1 * coeffs[line, x0 + 1, 1]
                   + wx2 * coeffs[line, x0 + 2, 1] + wx3 * coeffs[line, x0 + 3, 1])
        b += wy * (wx0 * coeffs[line, x0, 2] + wx1 * coeffs[line, x0 + 1, 2]
                   + wx2 * coeffs[line, x0 + 2, 2] + wx3 * coeffs[line, x0 + 3, 2])
    out[0], out[1], out[2] = r, g, b


@_kernel
def _inside(y: float, x: float, h: int, w: int) -> bool:
    return 0.0 <= x <= w - 1.0 and 0.0 <= y <= h - 1.0


@_kernel
def motion_blend(a: np.ndarray, b: np.ndarray, coeffs_a: np.ndarray, coeffs_b: np.ndarray, su: np.ndarray,
                 sv: np.ndarray, trust: np.ndarray, scale: float, t: float, moved: np.ndarray,
                 trusted: np.ndarray, first: int, stop: int) -> None:
    """The two frames moved to time ``t`` and mixed (retime's ``interpolate`` up to its last step).

    The flow (``su``, ``sv``, ``trust`` at 1/``scale`` of the picture) is scaled up bilinearly
    on the fly (``zoom`` with ``grid_mode``). Lines ``first`` to ``stop`` of the moved picture
    and of the per-pixel trust (flow trust times agreement of the two moved pictures, before it
    is smoothed) are written to ``moved`` and ``trusted``: bands run on worker threads.
    """
    h, w, c = a.shape
    fh, fw = su.shape
    from_a, from_b = np.empty(c, np.float32), np.empty(c, np.float32)
    ry, rx = fh / h, fw / w
    for y in range(first, stop):
        fy = (y + 0.5) * ry - 0.5
        for x in range(w):
            fx = (x + 0.5) * rx - 0.5
            du = _bilinear(su, fy, fx) * scale
            dv = _bilinear(sv, fy, fx) * scale
            ya, xa = y - t * dv, x - t * du
            yb, xb = y + (1.0 - t) * dv, x + (1.0 - t) * du
            _spline_sample(coeffs_a, ya, xa, from_a)
            _spline_sample(coeffs_b, yb, xb, from_b)
            in_a, in_b = _inside(ya, xa, h, w), _inside(yb, xb, h, w)
            # A pixel that comes from outside one frame (the edge a pan uncovers) is taken from the other.
            weight_a = (1.0 - t) if in_a else 0.0
            weight_b = t if in_b else 0.0
            total = weight_a + weight_b
            share = np.float32(weight_a / max(total, 1e-6) if total > 0 else 1.0 - t)
            mismatch = np.float32(0.0)
            for k in range(c):
                moved[y, x, k] = share * from_a[k] + (np.float32(1.0) - share) * from_b[k]
                mismatch += abs(from_a[k] - from_b[k])
            mismatch = mismatch / c if in_a and in_b else np.float32(0.0)
            ratio = mismatch / np.float32(0.08)
            trusted[y, x] = _bilinear(trust, fy, fx) * np.float32(math.exp(-ratio * ratio))


@_kernel
def mix_trusted(a: np.ndarray, b: np.ndarray, t: float, moved: np.ndarray, trust: np.ndarray) -> None:
    """``moved`` becomes ``blend + trust·(moved - blend)``, ``blend`` the cross-fade of ``a`` and
    ``b`` at ``t`` (the last step of retime's ``interpolate``), in place."""
    h, w, c = a.shape
    ta, tb = np.float32(1.0 - t), np.float32(t)
    for y in range(h):
        for x in range(w):
            weight = trust[y, x]
            for k in range(c):
                blend = ta * a[y, x, k] + tb * b[y, x, k]
                moved[y, x, k] = blend + weight * (moved[y, x, k] - blend)
