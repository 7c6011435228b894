"""Deblock: smooth away the 8×8 grid and the ringing of heavily compressed generations.

Clips downloaded from generation services are often re-encoded hard: flat areas break into
visible 8×8 (and, in chroma, 16×16) tiles, and sharp edges carry a halo of ringing. Each
block boundary is examined: a small step between two flat sides is a coding artefact and is
spread into a smooth ramp; a large step, or a step inside texture, is real picture and stays.
Ringing is then calmed with a sigma filter near strong edges only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from postbay.registry import ParamModel, StepContext, processor

__all__ = ["DeblockParams", "deblock", "smooth_boundaries", "dering", "GRID"]

#: Codec block size; 16×16 chroma blocks of 4:2:0 fall on every other boundary of this grid.
GRID = 8
#: How far each side of a boundary the correction is spread, and its ramp (sums to 1/2 per side).
_REACH = 4
_RAMP = np.array([4.0, 3.0, 2.0, 1.0], np.float32) / 9.0


class DeblockParams(ParamModel):
    strength: float = Field(default=0.5, ge=0, le=1,
                            description="how large a step at a block edge may be and still count as an artefact, "
                                        "0 (off) to 1 (heavily compressed sources)")


def smooth_boundaries(x: Any, strength: float, xp: Any) -> Any:
    """Smooth the block steps at every vertical block boundary of ``x`` (H, W, C); returns a copy.

    At a boundary between pixels p0 | q0 the step left by the codec is the jump q0 − p0 less
    the slope the picture already has on either side. Where that step is small (below a
    threshold set by ``strength``) and both sides are flat relative to it, it is removed by a
    ramp over four pixels each side; real edges and texture fail one of the two tests.
    """
    h, w = x.shape[:2]
    positions = np.arange(GRID, w - _REACH + 1, GRID)
    if positions.size == 0:
        return x.copy()
    cols = xp.asarray(positions[:, None] + np.arange(-_REACH, _REACH)[None, :])  # (nb, 8)
    seg = x[:, cols]  # (H, nb, 8, C)
    p0, p1, p2 = seg[:, :, 3], seg[:, :, 2], seg[:, :, 1]
    q0, q1, q2 = seg[:, :, 4], seg[:, :, 5], seg[:, :, 6]
    slope = 0.5 * ((p0 - p1) + (q1 - q0))
    step = (q0 - p0) - slope
    # Activity inside the blocks, beyond the common slope: texture, not a flat tile.
    activity = 0.25 * (xp.abs(p1 - p0 - slope) + xp.abs(p2 - p1 - slope)
                       + xp.abs(q1 - q0 - slope) + xp.abs(q2 - q1 - slope))
    # Decide on the three channels together (one luma-like decision, no colour fringes).
    mag = xp.abs(step).max(axis=-1, keepdims=True)
    # The codec's quantiser sets how tall its steps are: measure it on this picture (the
    # typical boundary step) rather than guess, so mild and brutal compression both clean up.
    threshold = np.float32(0.01 + 0.03 * strength) + np.float32(1.0 + 5.0 * strength) * float(xp.median(mag))
    act = activity.max(axis=-1, keepdims=True)
    # A step is an artefact when it is small and the blocks either side are flatter than it
    # is tall (or flat outright); texture busier than the step is left alone.
    gate = (xp.clip(2.0 - 2.0 * mag / threshold, 0.0, 1.0)
            * xp.clip(2.0 - act / (np.float32(0.25) * threshold + mag), 0.0, 1.0))
    corr = (gate * step)[:, :, None, :] * xp.asarray(_RAMP)[None, None, :, None]  # (H, nb, 4, C)
    fixed = seg.copy()
    fixed[:, :, 3::-1] += corr
    fixed[:, :, 4:] -= corr
    out = x.copy()
    out[:, cols] = fixed
    return out


def dering(x: Any, strength: float, xp: Any, ndimage: Any) -> Any:
    """Calm ringing next to strong edges with a sigma filter (average of similar neighbours only).

    Applied only in blocks that hold a strong edge, where codecs ring; elsewhere the picture
    is untouched, so texture keeps its detail.
    """
    y = x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722
    grad = xp.maximum(xp.abs(xp.diff(y, axis=0, append=y[-1:])), xp.abs(xp.diff(y, axis=1, append=y[:, -1:])))
    edgy = ndimage.maximum_filter(grad, size=GRID, mode="nearest") > np.float32(0.15)
    limit = np.float32(0.01 + 0.04 * strength)
    pad = xp.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[:2]
    total = x.copy()
    count = xp.ones(x.shape[:2] + (1,), xp.float32)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy == 0 and dx == 0:
                continue
            nb = pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            near = (xp.abs(nb - x).max(axis=-1, keepdims=True) < limit).astype(xp.float32)
            total += nb * near
            count += near
    return xp.where(edgy[..., None], total / count, x)


@processor("deblock", params=DeblockParams, colourspace="display")
def deblock(frames: list[Any], ctx: StepContext, params: DeblockParams) -> Any:
    """Remove the 8×8/16×16 tiling and edge ringing of heavily compressed generations.

    Small steps at block boundaries between flat areas are smoothed into ramps; large steps
    and texture are real picture and stay sharp. Near strong edges a gentle sigma filter
    calms ringing. ``strength`` sets how large a boundary step may be and still be treated
    as an artefact: 0 leaves the picture untouched, 1 suits sources compressed to mush.
    Put it first in a recipe, before anything resizes or moves the picture off the codec's grid.
    """
    x = frames[0]
    if params.strength <= 0:
        return x
    xp = ctx.xp
    x = smooth_boundaries(x, params.strength, xp)
    x = smooth_boundaries(x.transpose(1, 0, 2), params.strength, xp).transpose(1, 0, 2)
    return dering(x, params.strength, xp, ctx.backend.ndimage)
