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

from postbay.colour import luma
from postbay.processors import cpu_kernels
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
    y = luma(x)
    sigma = _SHARPEN_RADIUS * k
    blur = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="nearest", truncate=3.0)
    gain = 4.0 * a
    # Luminance-aware: perceived waxiness lives in mid-tones and highlights.
    lift_scale, lift_base = 1.25 * gain / (1.0 + gain), 0.5 * gain / (1.0 + gain)
    # Halation: light near and above diffuse white spreads wide and warm. The glow is far
    # smoother than a pixel, so it is made at a quarter of the resolution.
    glow = _halation(y, 12.0 * k, xp, ndimage)
    tint = np.array([1.0, 0.55, 0.35], np.float32) * np.float32(0.12 * a)
    if cpu_kernels.enabled(xp):
        return cpu_kernels.soften_blend(xp.ascontiguousarray(x, np.float32), blur, y, glow, lift_scale, lift_base,
                                        tint)
    lift = xp.clip(y, 0.0, np.float32(0.4))
    lift *= np.float32(lift_scale)
    lift += np.float32(lift_base)
    blur -= x
    blur *= lift[..., None]
    out = blur
    out += x
    out += glow[..., None] * xp.asarray(tint)
    return out


def _halation(y: Any, sigma: float, xp: Any, ndimage: Any) -> Any:
    """Glow of the highlights of luma ``y``: blurred by ``sigma`` pixels, made at quarter size."""
    h, w = y.shape
    hq, wq = h // 4, w // 4
    if hq < 4 or wq < 4:
        return ndimage.gaussian_filter(xp.clip((y - 0.8) * 5.0, 0.0, None), sigma, mode="nearest", truncate=2.5)
    src = xp.clip((y[:hq * 4, :wq * 4] - np.float32(0.8)) * np.float32(5.0), 0.0, None)
    small = src.reshape(hq, 4, wq, 4).mean(axis=(1, 3))
    small = ndimage.gaussian_filter(small, sigma / 4.0, mode="nearest", truncate=2.5)
    glow = xp.repeat(xp.repeat(small, 4, axis=0), 4, axis=1)
    return xp.pad(glow, ((0, h - hq * 4), (0, w - wq * 4)), mode="edge")
