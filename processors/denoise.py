"""Denoise: motion-compensated temporal averaging, then a light spatial clean-up.

AI generations leave a fizzing, frame-to-frame noise in shadows and flat areas. The best
denoiser a sequence has is its neighbouring frames: the same surface, seen again with
different noise. Each neighbour is aligned to the current frame by block matching; a pixel
is averaged only where the aligned neighbour agrees with it to within the noise, so moving
edges and occlusions keep their own pixels and never ghost. What noise is left is removed by
a local Wiener filter that only smooths where the picture is flatter than the noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from postbay.colour import luma
from postbay.registry import ParamModel, StepContext, processor

__all__ = ["DenoiseParams", "denoise", "estimate_noise", "block_motion", "compensate", "BLOCK"]

#: Block size of the motion field, in pixels.
BLOCK = 16
#: Search radius at the coarsest (quarter-resolution) level: ±4 there is ±16 px per frame.
SEARCH = 4


class DenoiseParams(ParamModel):
    strength: float = Field(default=0.5, ge=0, le=1,
                            description="how hard to denoise, 0 (off) to 1: how much frame-to-frame difference "
                                        "still counts as noise, and how much spatial smoothing follows")
    temporal: int = Field(default=2, ge=0, le=4,
                          description="neighbouring frames on each side to average with (0: spatial only)")


def estimate_noise(plane: Any, xp: Any) -> float:
    """Standard deviation of white noise in a picture plane (after Immerkær's estimator).

    A 3×3 Laplacian-of-Laplacian kernel cancels smooth picture content; what is left is
    noise (with a standard deviation of 6σ) plus edges and texture. The median absolute
    response, unlike the mean, is not pulled up by the edges, which are a minority of pixels.
    """
    p = plane[::2] if plane.shape[0] > 600 else plane  # every other row is plenty at HD
    r = (p[:-2, :-2] + p[:-2, 2:] + p[2:, :-2] + p[2:, 2:]
         - 2.0 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]) + 4.0 * p[1:-1, 1:-1])
    return float(xp.median(xp.abs(r))) / (0.6745 * 6.0)


def _down2(p: Any) -> Any:
    return 0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2])


def _block_sad(diff: Any, rows: int, cols: int) -> Any:
    h, w = diff.shape
    # Rows of a block first, then its columns: reducing the outer axis first keeps the
    # inner loop contiguous (an order of magnitude faster than summing both at once).
    return diff.reshape(h // rows, rows, w // cols, cols).sum(axis=1).sum(axis=2)


def _expand(v: Any, block: int, xp: Any) -> Any:
    return xp.repeat(xp.repeat(v, block, axis=0), block, axis=1)


def _warp(plane: Any, vy: Any, vx: Any, xp: Any) -> Any:
    """``plane`` sampled at (y + vy, x + vx) with per-pixel integer vectors, edges clamped."""
    h, w = plane.shape[:2]
    iy = xp.clip(xp.arange(h, dtype=xp.int32)[:, None] + vy, 0, h - 1)
    ix = xp.clip(xp.arange(w, dtype=xp.int32)[None, :] + vx, 0, w - 1)
    # One flat gather of whole pixels: several times faster than 2-D fancy indexing.
    flat = (iy * w + ix).ravel()
    return xp.take(plane.reshape((h * w,) + plane.shape[2:]), flat, axis=0).reshape(plane.shape)


def _refine(cur: Any, ref: Any, vy: Any, vx: Any, radius: int, block: int, xp: Any,
            every: int = 1) -> tuple[Any, Any]:
    """Improve block vectors by testing every offset within ``radius`` around them.

    The reference is warped once by the current vectors; the offsets are then plain shifts
    of that warped picture, which is exact inside a block and off by a pixel or so only at
    block borders, where neighbouring vectors differ. ``every`` > 1 scores each block on
    every n-th line only (at full resolution half the lines decide as well as all of them).
    """
    warped = _warp(ref, _expand(vy, block, xp), _expand(vx, block, xp), xp) if vy.any() or vx.any() else ref
    padded = xp.pad(warped, radius, mode="edge")
    h, w = cur.shape
    best = None
    best_dy = xp.zeros_like(vy)
    best_dx = xp.zeros_like(vx)
    # Ties go to the smallest change: flat areas keep the vector their neighbours agree on.
    area = float(block * block // every)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            shifted = padded[radius + dy:radius + dy + h:every, radius + dx:radius + dx + w]
            sad = _block_sad(xp.abs(cur[::every] - shifted), block // every, block)
            sad += (abs(dy) + abs(dx)) * 1e-4 * area
            if best is None:
                best = sad
                best_dy += dy
                best_dx += dx
                continue
            better = sad < best
            best = xp.where(better, sad, best)
            best_dy = xp.where(better, dy, best_dy)
            best_dx = xp.where(better, dx, best_dx)
    return vy + best_dy, vx + best_dx


def _median3(v: Any, xp: Any) -> Any:
    """3×3 median of a block-vector component (edges repeated)."""
    p = xp.pad(v, 1, mode="edge")
    h, w = v.shape
    stack = xp.stack([p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)])
    return xp.median(stack, axis=0).astype(v.dtype)


def block_motion(cur: Any, ref: Any, xp: Any, guess: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """Per-block integer motion from ``cur`` to ``ref`` (luma planes, sides multiples of 4·BLOCK).

    Coarse to fine: an exhaustive ±SEARCH search at quarter resolution (±4·SEARCH pixels),
    then refinements (±2 at half, ±1 at full resolution). ``guess`` (block vectors in full-resolution
    pixels) recentres the coarse search, e.g. twice the motion to the next frame when looking
    two frames away. Returns (vy, vx) int32 arrays of shape (H/BLOCK, W/BLOCK).
    """
    levels = [(cur, ref)]
    for _ in range(2):
        c, r = levels[-1]
        levels.append((_down2(c), _down2(r)))
    nby, nbx = cur.shape[0] // BLOCK, cur.shape[1] // BLOCK
    if guess is None:
        vy = xp.zeros((nby, nbx), xp.int32)
        vx = xp.zeros((nby, nbx), xp.int32)
    else:
        vy = xp.round(guess[0] / 4.0).astype(xp.int32)
        vx = xp.round(guess[1] / 4.0).astype(xp.int32)
    c, r = levels[2]
    vy, vx = _refine(c, r, vy, vx, SEARCH if guess is None else 2, BLOCK // 4, xp)
    # Flat areas match anywhere: take the neighbourhood's motion there, then let each block
    # correct it by a step where its own detail says otherwise.
    vy, vx = _median3(vy, xp), _median3(vx, xp)
    vy, vx = _refine(c, r, vy, vx, 1, BLOCK // 4, xp)
    # ±2 at half resolution: a quarter-resolution match can be off by more than half a pixel
    # there (its pixels alias fine texture); ±1 at full resolution then lands on the pixel.
    for level, radius, every in ((1, 2, 1), (0, 1, 2)):
        c, r = levels[level]
        vy, vx = _refine(c, r, _median3(vy, xp) * 2, _median3(vx, xp) * 2, radius, BLOCK >> level, xp, every)
    return vy, vx


def compensate(frame: Any, vy: Any, vx: Any, xp: Any) -> Any:
    """The (H, W, 3) ``frame`` moved onto the current frame by block vectors."""
    h, w = frame.shape[:2]
    py = _expand(vy, BLOCK, xp)[:h, :w]
    px = _expand(vx, BLOCK, xp)[:h, :w]
    return _warp(frame, py, px, xp)


def _pad_to(plane: Any, multiple: int, xp: Any) -> Any:
    h, w = plane.shape
    return xp.pad(plane, ((0, -h % multiple), (0, -w % multiple)), mode="edge")


def _box(x: Any, size: int, ndimage: Any) -> Any:
    return ndimage.uniform_filter(x, size=(size, size) + (1,) * (x.ndim - 2), mode="reflect")


@processor("denoise", params=DenoiseParams, window=lambda p: (p.temporal, p.temporal), colourspace="display")
def denoise(frames: list[Any], ctx: StepContext, params: DenoiseParams) -> Any:
    """Remove the fizzing noise AI models leave in shadows and flat areas, without ghosting.

    Each of the ``temporal`` frames on either side is aligned to this one by block matching;
    a pixel is averaged with its aligned neighbours only where they agree with it to within
    the measured noise, so moving edges, occlusions and cuts keep their own pixels. A local
    Wiener filter then removes what noise is left where the picture is flat. ``strength``
    sets how much disagreement still counts as noise and how much spatial smoothing follows
    (0 leaves the picture untouched).
    """
    xp, ndimage = ctx.xp, ctx.backend.ndimage
    before = ctx.window[0]
    cur = frames[before]
    if params.strength <= 0:
        return cur
    s = float(params.strength)
    h, w = cur.shape[:2]
    sigma = max(estimate_noise(cur[..., 1], xp), 1e-3)
    var = sigma * sigma

    neighbours = [(i - before, f) for i, f in enumerate(frames) if i != before and f is not cur]
    y_cur = _pad_to(luma(cur), 4 * BLOCK, xp) if neighbours else None
    # Mismatch tolerated before a neighbour is rejected, in units of the noise variance of a
    # difference of two noisy frames (2σ²): 1 plus a margin set by the strength.
    tolerance = np.float32(0.25 + 2.0 * s)

    def gather(side: list[tuple[int, Any]]) -> tuple[Any, Any]:
        """Weighted sum and weight of one side's frames, nearest first (each one's motion
        seeds the search for the next: twice as far, twice the motion)."""
        total = xp.zeros_like(cur)
        weights = xp.zeros((h, w, 1), xp.float32)
        guess = None
        for k, (_offset, frame) in enumerate(side):
            vy, vx = block_motion(y_cur, _pad_to(luma(frame), 4 * BLOCK, xp), xp, guess)
            guess = (vy * (k + 2) / (k + 1), vx * (k + 2) / (k + 1))
            aligned = compensate(frame, vy, vx, xp)
            diff = cur - aligned
            mismatch = _box(xp.einsum("ijk,ijk->ij", diff, diff), 5, ndimage) / np.float32(6.0 * var)
            weight = xp.exp(-xp.maximum(mismatch - 1.0, 0.0) / tolerance)[..., None]
            total += weight * aligned
            weights += weight
        return total, weights

    sides = [sorted([n for n in neighbours if n[0] < 0], key=lambda n: -n[0]),
             sorted([n for n in neighbours if n[0] > 0], key=lambda n: n[0])]
    sides = [side for side in sides if side]
    if ctx.backend.name == "cpu" and len(sides) == 2:
        # Past and future frames are independent: one worker thread each.
        parts = list(ctx.backend.pool.map(gather, sides))
    else:
        parts = [gather(side) for side in sides]
    total = cur + sum(p[0] for p in parts) if parts else cur
    weights = 1.0 + sum(p[1] for p in parts) if parts else xp.ones((h, w, 1), xp.float32)
    out = total / weights

    # Wiener clean-up: the averaging left σ²/n of noise where n frames agreed.
    residual = np.float32(var * 1.6 * s) / weights
    mean = _box(out, 5, ndimage)
    spread = _box(out * out, 5, ndimage) - mean * mean
    gain = xp.maximum(spread - residual, 0.0) / xp.maximum(spread, 1e-8)
    return mean + gain * (out - mean)
