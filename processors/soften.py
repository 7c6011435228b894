"""Soften: take the waxy, over-sharp edge off AI renders, the way a lens and film would.

Generators (and their built-in upscalers) sharpen everything: skin looks lacquered, every
edge carries a bright rim. Real optics are softer and their highlights bloom. This step
undoes that sharpening (the first-order inverse of an unsharp mask is a blend with an optical
blur), more in the bright mid-tones and highlights than in the shadows, and lets highlights
halate a little.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from postbay.backend import in_bands
from postbay.colour import luma
from postbay.processors import cpu_kernels_spatial
from postbay.processors.cpu_kernels_spatial import LUMA
from postbay.registry import ParamModel, StepContext, processor

__all__ = ["SoftenParams", "soften"]


class SoftenParams(ParamModel):
    amount: float = Field(default=0.3, ge=0, le=1,
                          description="how much to soften, 0 (off) to 1: a touch of lens softness at 0.2-0.4, "
                                      "a diffusion filter at 1")


def _scale(ctx: StepContext) -> float:
    """Blur radii are given at 1080p and grow with larger pictures (never shrink: an
    over-sharpened edge is a pixel or two wide whatever the resolution it was rendered at)."""
    return max(1.0, ctx.fmt_in.height / 1080.0)


#: Radius (Gaussian sigma, pixels at 1080p) of the unsharp mask AI upscalers leave.
_SHARPEN_RADIUS = 1.4
#: The blur's extent in sigmas.
_TRUNCATE = 3.0


@processor("soften", params=SoftenParams, colourspace="display")
def soften(frames: list[Any], ctx: StepContext, params: SoftenParams) -> Any:
    """The "tiny bit of blur" that makes AI footage read as photographed, not rendered.

    Two gentle steps on the display signal (where the generator sharpened). The sharpening
    is undone: generators' upscalers apply an unsharp mask, ``x = c + g·(c - blur(c))``, whose
    first-order inverse is a blend with an optical blur of weight ``g / (1 + g)``; ``amount``
    sets the gain it undoes (``g = 4·amount``: 0.3 undoes a 1.2× mask). The blend is weaker in
    the shadows (half as much), where softening would only muddy. Then highlights bloom into
    a faint warm halation, as on film. Real detail keeps its shape, it only stops looking etched.
    """
    x = frames[0]
    a = float(params.amount)
    if a <= 0:
        return x
    xp, ndimage = ctx.xp, ctx.backend.ndimage
    k = _scale(ctx)
    sigma = _SHARPEN_RADIUS * k
    gain = 4.0 * a
    # Luminance-aware: perceived waxiness lives in mid-tones and highlights.
    lift_scale, lift_base = 1.25 * gain / (1.0 + gain), 0.5 * gain / (1.0 + gain)
    tint = np.array([1.0, 0.55, 0.35], np.float32) * np.float32(0.12 * a)
    # Halation: light near and above diffuse white spreads wide and warm. The glow is far
    # smoother than a pixel, so it is made at a quarter of the resolution.
    factor = 4 if min(x.shape[:2]) >= 16 else 1
    if cpu_kernels_spatial.enabled(xp):
        x = xp.ascontiguousarray(x, np.float32)
        glow = _blurred_glow(cpu_kernels_spatial.highlight_means(x, factor, LUMA), 12.0 * k / factor, ndimage)
        taps = cpu_kernels_spatial.gaussian_taps(sigma, _TRUNCATE)
        out = xp.empty_like(x)
        in_bands(x.shape[0], lambda y0, y1: cpu_kernels_spatial.soften_rows(
            x, taps, glow, factor.bit_length() - 1, lift_scale, lift_base, tint, LUMA, out, y0, y1))
        return out
    y = luma(x)
    glow = _full_size(_blurred_glow(_highlight_means(y, factor, xp), 12.0 * k / factor, ndimage), factor,
                      y.shape, xp)
    blur = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="nearest", truncate=_TRUNCATE)
    lift = xp.clip(y, 0.0, np.float32(0.4))
    lift *= np.float32(lift_scale)
    lift += np.float32(lift_base)
    blur -= x
    blur *= lift[..., None]
    out = blur
    out += x
    out += glow[..., None] * xp.asarray(tint)
    return out


def _highlight_means(y: Any, factor: int, xp: Any) -> Any:
    """Mean over each ``factor``-square of the light above diffuse white in luma ``y``."""
    hq, wq = y.shape[0] // factor, y.shape[1] // factor
    src = xp.clip((y[:hq * factor, :wq * factor] - np.float32(0.8)) * np.float32(5.0), 0.0, None)
    return src.reshape(hq, factor, wq, factor).mean(axis=(1, 3))


def _blurred_glow(highlights: Any, sigma: float, ndimage: Any) -> Any:
    """The glow: the highlights spread by ``sigma`` pixels (of their own, reduced, size)."""
    return ndimage.gaussian_filter(highlights, sigma, mode="nearest", truncate=2.5)


def _full_size(glow: Any, factor: int, shape: tuple[int, ...], xp: Any) -> Any:
    """``glow`` made at 1/``factor`` of the size back at ``shape``: each value over its square,
    the last row and column repeated to the edges."""
    h, w = shape
    full = xp.repeat(xp.repeat(glow, factor, axis=0), factor, axis=1)
    return xp.pad(full, ((0, h - full.shape[0]), (0, w - full.shape[1])), mode="edge")
