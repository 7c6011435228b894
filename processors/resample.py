"""Separable resampling kernels on the array backend (Lanczos, bicubic)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from postbay.backend import cpu_pool

__all__ = ["lanczos", "bicubic", "resample_axis", "resize", "resize_banded", "resize_taps"]


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


def resize_taps(img: Any, width: int, height: int, method: str, xp: Any) -> Any:
    """Resize an (H, W, C) float image tap by tap: the reference :func:`resize` is checked against."""
    return resample_axis(resample_axis(img, height, 0, method, xp), width, 1, method, xp)


def resize(img: Any, width: int, height: int, method: str, xp: Any) -> Any:
    """Resize an (H, W, C) float32 image with a separable kernel (banded matrix products)."""
    return resize_banded(xp.asarray(img, dtype=xp.float32), width, height, method, xp)


#: Output samples per block of the banded product: large enough that BLAS runs at speed,
#: small enough that the block's slice of the kernel matrix stays mostly non-zero.
_BAND = 32


@functools.lru_cache(maxsize=32)
def _bands(n_in: int, n_out: int, method: str, channels: int = 1) -> tuple[tuple[int, int, int, int, np.ndarray], ...]:
    """The resampling matrix of one axis cut into dense diagonal blocks.

    Each block is ``(out0, out1, in0, in1, matrix)`` with ``matrix`` of shape
    (out1 - out0, in1 - in0): output samples ``out0:out1`` are ``matrix @ input[in0:in1]``.
    Edge taps are folded onto the first/last sample (edges repeated, as in :func:`resample_axis`).
    With ``channels`` > 1 the block acts on interleaved samples (pixel by pixel, C values
    each): indices are in values and the matrix is the block's Kronecker product with I_C.
    """
    idx, w = _weights(n_in, n_out, method)
    blocks = []
    for o0 in range(0, n_out, _BAND):
        o1 = min(n_out, o0 + _BAND)
        i0, i1 = int(idx[o0:o1].min()), int(idx[o0:o1].max()) + 1
        m = np.zeros((o1 - o0, i1 - i0), np.float32)
        rows = np.repeat(np.arange(o1 - o0), idx.shape[1])
        np.add.at(m, (rows, (idx[o0:o1] - i0).ravel()), w[o0:o1].ravel())
        if channels > 1:
            m = np.kron(m, np.eye(channels, dtype=np.float32))
        blocks.append((o0 * channels, o1 * channels, i0 * channels, i1 * channels, m))
    return tuple(blocks)


#: Largest m·n·k of one product: OpenBLAS runs products up to this size on the calling thread.
#: Its own threads spin-wait for each other, which collapses throughput (10× and worse) when
#: the decode and encode threads, or other jobs, hold the cores; postbay splits the work itself.
_GEMM_SINGLE_THREAD = 262144


def _banded_rows(plane: Any, n_out: int, method: str, xp: Any) -> Any:
    """Resample axis 0 of a 2-D array: ``matrix @ plane`` block by block down the diagonal."""
    out = xp.empty((n_out, plane.shape[1]), xp.float32)
    bands = _bands(plane.shape[0], n_out, method)
    if xp is not np:  # cuBLAS: one product per block, no splitting needed
        for o0, o1, i0, i1, m in bands:
            out[o0:o1] = xp.asarray(m) @ plane[i0:i1]
        return out
    cols = plane.shape[1]

    def run(part: tuple[int, int, int, int, np.ndarray]) -> None:
        o0, o1, i0, i1, m = part
        step = max(64, _GEMM_SINGLE_THREAD // (m.shape[0] * m.shape[1]))
        for c0 in range(0, cols, step):
            np.matmul(m, plane[i0:i1, c0:c0 + step], out=out[o0:o1, c0:c0 + step])

    list(cpu_pool().map(run, bands))
    return out


def _banded_cols(plane: Any, n_out: int, channels: int, method: str, xp: Any) -> Any:
    """Resample axis 1 of an interleaved (H, W·C) array: ``plane @ matrixᵀ`` block by block.

    The blocks act on whole pixels (C values), so the picture is never transposed: memory
    stays in the order it was decoded in, which matters more than the extra multiplications.
    """
    h = plane.shape[0]
    out = xp.empty((h, n_out * channels), xp.float32)
    bands = [(o0, o1, i0, i1, m.T) for o0, o1, i0, i1, m in
             _bands(plane.shape[1] // channels, n_out, method, channels)]
    if xp is not np:
        for o0, o1, i0, i1, mt in bands:
            out[:, o0:o1] = plane[:, i0:i1] @ xp.asarray(mt)
        return out

    def run(part: tuple[int, int, int, int, np.ndarray]) -> None:
        o0, o1, i0, i1, mt = part
        step = max(16, _GEMM_SINGLE_THREAD // (mt.shape[0] * mt.shape[1]))
        for r0 in range(0, h, step):
            np.matmul(plane[r0:r0 + step, i0:i1], mt, out=out[r0:r0 + step, o0:o1])

    list(cpu_pool().map(run, bands))
    return out


def resize_banded(img: Any, width: int, height: int, method: str, xp: Any) -> Any:
    """Same result as :func:`resize` (within float32 rounding), computed as banded matrix products.

    Resampling is linear, so each axis is a matrix with a narrow band of non-zeros; cut into
    blocks along the diagonal, it becomes many small dense products that BLAS (or cuBLAS)
    runs many times faster than tap-by-tap arithmetic. Both passes work on the interleaved
    (H, W·C) picture, so nothing is transposed; the pass that shrinks the picture (or grows
    it least) goes first.
    """
    h_in, w_in, channels = img.shape
    x = xp.ascontiguousarray(img).reshape(h_in, w_in * channels)
    # Cost of each order in multiply-adds (the column pass multiplies C-fold, see _banded_cols).
    rows_first = height * w_in + 3 * height * width
    cols_first = 3 * h_in * width + height * width
    if rows_first <= cols_first:
        if height != h_in:
            x = _banded_rows(x, height, method, xp)
        if width != w_in:
            x = _banded_cols(x, width, channels, method, xp)
    else:
        if width != w_in:
            x = _banded_cols(x, width, channels, method, xp)
        if height != h_in:
            x = _banded_rows(x, height, method, xp)
    return x.reshape(height, width, channels)
