"""Grain: film-like grain that breaks up the plastic smoothness of AI renders.

Generated footage is often too clean: flat skies and skin band and look synthetic. A fine,
luminance-dependent grain, fresh on every frame, gives the picture texture and hides banding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.ndimage
from pydantic import Field

from postbay.backend import in_bands
from postbay.colour import luma
from postbay.processors import cpu_kernels_spatial
from postbay.processors.cpu_kernels_spatial import LUMA
from postbay.registry import ParamModel, StepContext, processor

__all__ = ["GrainParams", "grain", "grain_plate", "grain_response", "MARGIN"]

#: Extra plate size beyond the picture, in pixels: the range of each frame's random window.
MARGIN = 192

_plates: dict[tuple[Any, ...], Any] = {}


class GrainParams(ParamModel):
    amount: float = Field(default=0.03, ge=0, le=0.25,
                          description="grain strength: its standard deviation at mid-grey in display code values "
                                      "(0.015 a fine 35 mm stock, 0.05 a pushed 16 mm)")
    size: float = Field(default=1.5, ge=0.25, le=8,
                        description="grain size in pixels at 1080p (scaled with the picture height, so a 4K "
                                    "master gets the same look)")
    seed: int = Field(default=0, ge=0, description="grain pattern: the same seed gives the same grain on every render")
    chroma: float = Field(default=0.0, ge=0, le=1,
                          description="colour grain on top of the luminance grain, 0 (monochrome) to 1 (each "
                                      "channel as strong as the luminance grain)")


def grain_plate(height: int, width: int, size_px: float, seed: int) -> np.ndarray:
    """A unit-variance plate of grain, spatially correlated at ``size_px``, (height+MARGIN, width+MARGIN).

    White Gaussian noise is low-passed with a Gaussian of sigma = size / 2 (so ``size`` is the
    grain's diameter), then normalised to unit standard deviation.
    """
    rng = np.random.default_rng([seed, 0x6A41])
    plate = rng.standard_normal((height + MARGIN, width + MARGIN), dtype=np.float32)
    sigma = size_px / 2.0
    if sigma >= 0.25:
        plate = scipy.ndimage.gaussian_filter(plate, sigma, mode="wrap", truncate=3.0)
    plate -= plate.mean()
    plate /= plate.std()
    return plate


def grain_response(y: Any, xp: Any) -> Any:
    """How much grain shows at display luminance ``y``: 1 at mid-grey, falling to 0 at black and white.

    Like a print, grain is most visible in the mid-tones; deep shadows and clipped
    highlights stay clean.
    """
    t = xp.clip(y, 0.0, 1.0)
    return 2.0 * xp.sqrt(t * (1.0 - t))


def _plate(ctx: StepContext, size_px: float, seed: int) -> Any:
    h, w = ctx.fmt_in.height + 1, ctx.fmt_in.width + 1  # room for odd sizes' extra row/column
    key = (ctx.backend.name, h, w, round(size_px, 4), seed)
    if key not in _plates:
        if len(_plates) >= 4:  # one or two clips' plates at a time are enough
            _plates.pop(next(iter(_plates)))
        _plates[key] = ctx.backend.asarray(grain_plate(h, w, size_px, seed))
    return _plates[key]


def _window(plate: Any, rng: np.random.Generator, h: int, w: int) -> Any:
    """A random window and orientation of the plate: a fresh, uncorrelated grain field."""
    oy, ox = rng.integers(0, MARGIN + 1, size=2)
    fy, fx = rng.integers(0, 2, size=2) * 2 - 1
    return plate[oy:oy + h, ox:ox + w][::fy, ::fx]


@processor("grain", params=GrainParams, colourspace="display")
def grain(frames: list[Any], ctx: StepContext, params: GrainParams) -> Any:
    """Add film grain: luminance-dependent, fresh every frame, sized like real stock.

    Fixes the waxy, banded smoothness of AI renders. ``amount`` is the grain's standard
    deviation at mid-grey (shadows and highlights get less, as on a print); ``size`` is the
    grain diameter in pixels at 1080p, scaled with the resolution; ``chroma`` adds colour
    grain on top of the monochrome grain; ``seed`` makes the grain repeat exactly on a
    re-render. The grain is applied to the display signal, where it is seen. Each frame
    takes its own window and orientation of a grain plate developed once per clip, so the
    grain is different on every frame at the cost of a crop.
    """
    x = frames[0]
    if params.amount <= 0:
        return x
    xp = ctx.xp
    h, w = x.shape[:2]
    plate = _plate(ctx, params.size * ctx.fmt_in.height / 1080.0, params.seed)
    rng = np.random.default_rng([params.seed, ctx.frame_index])
    he, we = h + h % 2, w + w % 2
    fields = [_window(plate, rng, he, we) for _ in range(4 if params.chroma > 0 else 1)]
    out = xp.empty_like(x)
    if cpu_kernels_spatial.enabled(xp):
        x = xp.ascontiguousarray(x, np.float32)
        planes = tuple(fields) if len(fields) == 4 else (fields[0],) * 4
        in_bands(h, lambda y0, y1: cpu_kernels_spatial.grain_rows(x, planes, params.amount, params.chroma, LUMA,
                                                                  out, y0, y1))
        return out

    def develop(r0: int, r1: int) -> None:
        """Grain for rows r0:r1 (even bounds): the response follows the picture's tones, not
        single pixels, so it is read once per 2×2 cell (a quarter of the arithmetic)."""
        cells = x[r0:r1:2, 0::2]
        y = luma(cells)
        strength = grain_response(y, xp)
        strength *= np.float32(params.amount)
        # Widened to full width here, so the products below run along whole rows (a
        # broadcast over 2-pixel runs would leave NumPy's inner loops two elements long).
        strength = xp.repeat(strength, 2, axis=1)[:, None, :]
        rows = min(r1, h) - r0

        def shaped(field: Any) -> Any:
            g = field[r0:r1].reshape((r1 - r0) // 2, 2, we) * strength
            return g.reshape(r1 - r0, we)[:rows, :w]

        xp.add(x[r0:r1], shaped(fields[0])[..., None], out=out[r0:r1])
        if len(fields) > 1:
            strength *= np.float32(params.chroma)
            for c in range(3):
                out[r0:r1, :, c] += shaped(fields[1 + c])

    if ctx.backend.name == "cpu" and h >= 256:
        # Two or more bands of rows on the worker threads: NumPy releases the GIL.
        n = ctx.backend.workers
        bounds = [2 * ((he // 2) * i // n) for i in range(n + 1)]
        list(ctx.backend.pool.map(lambda i: develop(bounds[i], bounds[i + 1]), range(n)))
    else:
        develop(0, he)
    return out
