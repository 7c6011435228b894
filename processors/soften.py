"""Soften: take the waxy, over-sharp edge off AI renders, the way a lens and film would.

Generators (and their built-in upscalers) sharpen everything: skin looks lacquered, every
edge carries a bright rim. Real optics are softer and their highlights bloom. This step
removes the overshoot of over-sharpened edges first (where sharpening left a pixel brighter
or darker than its neighbourhood), then blends in a small optical blur, more in the bright
mid-tones and highlights than in the shadows, and lets highlights halate a little.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from postbay.colour import luma
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


@processor("soften", params=SoftenParams, colourspace="display")
def soften(frames: list[Any], ctx: StepContext, params: SoftenParams) -> Any:
    """The "tiny bit of blur" that makes AI footage read as photographed, not rendered.

    Three gentle steps on the display signal (where the generator sharpened): over-sharpened
    edges lose their overshoot (pixels brighter or darker than their smoothed neighbourhood are
    pulled back toward it); a small optical blur is blended in, more in mid-tones and highlights
    (where waxiness shows) than in the shadows; and highlights bloom into a faint warm halation, as on film. ``amount``
    drives all three; real detail keeps its shape, it only stops looking etched.
    """
    x = frames[0]
    a = float(params.amount)
    if a <= 0:
        return x
    xp, ndimage = ctx.xp, ctx.backend.ndimage
    k = _scale(ctx)
    y = luma(x)
    sigma = (0.6 + 0.8 * a) * k
    near = ndimage.gaussian_filter(x, (sigma, sigma, 0), mode="nearest", truncate=3.0)
    # Overshoot: the part of the picture beyond the local range of its soft version.
    lo, hi = _range3(near, xp)
    # Luminance-aware: perceived waxiness lives in mid-tones and highlights, so the shadows
    # (where softening would only muddy) get a third as much.
    lift = (0.3 + 0.7 * xp.clip(y * 2.5, 0.0, 1.0))[..., None]
    overshoot = x - xp.clip(x, lo, hi)
    out = x - (np.float32(min(1.0, 2.0 * a)) * lift) * overshoot
    out += (np.float32(min(1.0, 1.5 * a)) * lift) * (near - out)
    # Halation: light near and above diffuse white spreads wide and warm. The glow is far
    # smoother than a pixel, so it is made at a quarter of the resolution.
    glow = _halation(y, 12.0 * k, xp, ndimage)
    tint = xp.asarray(np.array([1.0, 0.55, 0.35], np.float32) * 0.12 * a)
    out += glow[..., None] * tint
    return out


def _range3(x: Any, xp: Any) -> tuple[Any, Any]:
    """Per-channel minimum and maximum over each pixel's 3×3 neighbourhood (edges repeated)."""
    out = []
    for reduce in (xp.minimum, xp.maximum):
        r = x.copy()
        reduce(r[1:], x[:-1], out=r[1:])
        reduce(r[:-1], x[1:], out=r[:-1])
        c = r.copy()
        reduce(c[:, 1:], r[:, :-1], out=c[:, 1:])
        reduce(c[:, :-1], r[:, 1:], out=c[:, :-1])
        out.append(c)
    return out[0], out[1]


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
