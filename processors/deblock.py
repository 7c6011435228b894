"""Deblock: smooth away the 8×8 grid of heavily compressed generations.

Clips downloaded from generation services are often re-encoded hard: flat areas break into
visible 8×8 (and, in chroma, 16×16) tiles. Each block boundary is examined: a small step
between two flat sides is a coding artefact and is spread into a smooth ramp; a large step,
or a step inside texture, is real picture and stays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from postbay.backend import cpu_pool, in_bands
from postbay.processors import cpu_kernels_spatial
from postbay.registry import ParamModel, StepContext, processor

__all__ = ["DeblockParams", "deblock", "smooth_boundaries", "GRID"]

#: Codec block size; 16×16 chroma blocks of 4:2:0 fall on every other boundary of this grid.
GRID = 8
#: How far each side of a boundary the correction is spread, and its ramp (sums to 1/2 per side).
_REACH = 4
_RAMP = np.array([4.0, 3.0, 2.0, 1.0], np.float32) / 9.0


class DeblockParams(ParamModel):
    strength: float = Field(default=0.5, ge=0, le=1,
                            description="how large a step at a block edge, relative to the codec step measured on "
                                        "the picture, still counts as an artefact: 0 (off) to 1 (sources compressed "
                                        "to mush)")


def _taps(x: Any, axis: int, first: int, count: int) -> Any:
    """A view (8, ...) of the 4 + 4 pixels around ``count`` boundaries along ``axis``.

    The boundaries sit at ``first + 8k + 4`` (between pixels 3 and 4 of each run of 8),
    so runs of 8 pixels tile the axis and a reshape gives them all without copying.
    """
    span = slice(first, first + GRID * count)
    if axis == 0:
        runs = x[span].reshape((count, GRID) + x.shape[1:])
        return runs.transpose(1, 0, 2, 3)  # (8, count, W, C)
    runs = x[:, span].reshape((x.shape[0], count, GRID) + x.shape[2:])
    return runs.transpose(2, 0, 1, 3)  # (8, H, count, C)


def _steps(taps: Any, xp: Any) -> tuple[Any, Any, Any]:
    """The step beyond the local slope at each boundary, its largest magnitude over the
    channels, and the activity either side (all from the 8 ``taps``)."""
    p2, p1, p0, q0, q1, q2 = taps[1], taps[2], taps[3], taps[4], taps[5], taps[6]
    slope = 0.5 * ((p0 - p1) + (q1 - q0))
    step = (q0 - p0) - slope
    # Activity inside the blocks, beyond the common slope: texture, not a flat tile.
    activity = 0.25 * (xp.abs(p1 - p0 - slope) + xp.abs(p2 - p1 - slope)
                       + xp.abs(q1 - q0 - slope) + xp.abs(q2 - q1 - slope))
    # Decide on the three channels together (one luma-like decision, no colour fringes).
    return step, _channel_max(xp.abs(step), xp), _channel_max(activity, xp)


def _channel_max(a: Any, xp: Any) -> Any:
    """Largest value over the (last) channel axis, kept as a length-1 axis.

    Written out pairwise: a reduction over a 3-long innermost axis is many times slower.
    """
    m = a[..., 0]
    for c in range(1, a.shape[-1]):
        m = xp.maximum(m, a[..., c])
    return m[..., None]


def smooth_boundaries(x: Any, strength: float, xp: Any, axis: int = 1) -> Any:
    """Smooth the block steps at every block boundary of ``x`` (H, W, C) along ``axis``, in place.

    At a boundary between pixels p0 | q0 the step left by the codec is the jump q0 − p0 less
    the slope the picture already has on either side. Where that step is small and both
    sides are flat relative to it, it is removed by a ramp over four pixels each side; real
    edges and texture fail one of the two tests. How small is "small" is measured on the
    picture: the codec's quantiser sets how tall its steps are, and the mean step at block
    boundaries less the mean step mid-block is what the codec added (a clean picture measures
    about zero and is left alone); ``strength`` scales the threshold from that measure.
    """
    count = (x.shape[axis] - _REACH) // GRID
    if count < 1:
        return x
    if cpu_kernels_spatial.enabled(xp):
        _smooth_on_cpu(x, strength, axis, count)
        return x
    taps = _taps(x, axis, GRID - _REACH, count)
    step, mag, act = _steps(taps, xp)
    # The statistic needs no full picture: every fourth line across the boundaries will do.
    sample = x[::4] if axis == 1 else x[:, ::4]
    mid = _steps(_taps(sample, axis, 0, count), xp)[1]
    on = _steps(_taps(sample, axis, GRID - _REACH, count), xp)[1]
    excess = max(0.0, float(on.mean()) - float(mid.mean()))
    threshold = np.float32(_threshold(strength, excess))
    # A step is an artefact when it is small and the blocks either side are flatter than it
    # is tall (or flat outright); texture busier than the step is left alone.
    gate = (xp.clip(2.0 - 2.0 * mag / threshold, 0.0, 1.0)
            * xp.clip(2.0 - act / (np.float32(0.25) * threshold + mag), 0.0, 1.0))
    corr = gate * step
    for k in range(_REACH):
        taps[3 - k] += corr * _RAMP[k]
        taps[4 + k] -= corr * _RAMP[k]
    return x


def _smooth_on_cpu(x: np.ndarray, strength: float, axis: int, count: int) -> None:
    """:func:`smooth_boundaries` with the CPU kernels: the two statistics side by side, then
    the boundaries in bands on the worker threads (each boundary is independent of the others)."""
    across = axis == 0  # the boundaries are rows of the picture: the kernels walk each along its row
    lines = x.transpose(1, 0, 2) if across else x  # the kernels work along axis 1
    on, mid = cpu_pool().map(lambda first: cpu_kernels_spatial.block_step_mean(lines, first, count, 4, across),
                             (GRID - _REACH, 0))
    threshold = _threshold(strength, max(0.0, on - mid))
    if across:
        in_bands(count, lambda b0, b1: cpu_kernels_spatial.smooth_block_steps(
            lines, GRID - _REACH + GRID * b0, b1 - b0, threshold, _RAMP, True))
    else:
        in_bands(x.shape[0], lambda y0, y1: cpu_kernels_spatial.smooth_block_steps(
            lines[y0:y1], GRID - _REACH, count, threshold, _RAMP, False))


def _threshold(strength: float, excess: float) -> float:
    """The largest boundary step still taken for the codec's, from the measured excess step."""
    return 0.004 + 0.008 * strength + (1.0 + 8.0 * strength) * excess


@processor("deblock", params=DeblockParams, colourspace="display")
def deblock(frames: list[Any], ctx: StepContext, params: DeblockParams) -> Any:
    """Remove the 8×8/16×16 tiling of heavily compressed generations.

    Small steps at block boundaries between flat areas are smoothed into ramps; large steps
    and texture are real picture and stay sharp. How tall a codec step is gets measured on
    each picture, so a clean source passes through untouched. ``strength`` scales how large
    a boundary step may be, relative to that measure, and still be treated as an artefact:
    0 leaves the picture untouched, 1 suits sources compressed to mush. Ringing around
    edges is not treated.
    Put it first in a recipe, before anything resizes or moves the picture off the codec's grid.
    """
    x = frames[0]
    if params.strength <= 0:
        return x
    xp = ctx.xp
    out = xp.array(x, copy=True)
    smooth_boundaries(out, params.strength, xp, axis=1)
    return smooth_boundaries(out, params.strength, xp, axis=0)
