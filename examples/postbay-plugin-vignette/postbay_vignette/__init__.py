"""A soft optical vignette for postbay: darkens the corners by a set number of stops.

Generated shots are often evenly lit to the edges, which reads as flat and synthetic; a
gentle lens-like falloff pulls the eye to the centre. The falloff is applied in scene-linear
light, as a real lens does, so a corner set to ``-1`` stop receives exactly half the light.

This package is the example in postbay's docs/plugins.md: one processor record, exposed
through the entry-point group ``postbay.processors`` in pyproject.toml.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from postbay.registry import ParamModel, Processor

__all__ = ["PROCESSORS", "VignetteParams", "falloff", "vignette"]


class VignetteParams(ParamModel):
    stops: float = Field(default=0.5, ge=0, le=4, description="light lost in the far corners, in stops")
    start: float = Field(default=0.4, ge=0, lt=1,
                         description="where the falloff begins, as a fraction of the way from centre to corner")
    end: float = Field(default=1.0, gt=0, le=1.5,
                       description="where it reaches full strength (1 = the corners)")

    @model_validator(mode="after")
    def _ordered(self) -> VignetteParams:
        if self.end <= self.start:
            raise ValueError("end must be beyond start")
        return self


@functools.lru_cache(maxsize=8)
def falloff(width: int, height: int, stops: float, start: float, end: float) -> np.ndarray:
    """Per-pixel gain (H, W, 1): 1 inside ``start``, ``2**-stops`` from ``end`` outwards.

    Distance is measured from the picture's centre and normalised so the corners are at 1,
    with a smoothstep between ``start`` and ``end`` so no ring shows.
    """
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    dx = (x + 0.5 - width / 2) / (width / 2)
    dy = (y + 0.5 - height / 2) / (height / 2)
    r = np.sqrt(dx * dx + dy * dy) / np.sqrt(2.0)
    t = np.clip((r - start) / (end - start), 0.0, 1.0)
    t = t * t * (3.0 - 2.0 * t)
    return (2.0 ** (-stops * t)).astype(np.float32)[..., None]


def vignette(frames: list[Any], ctx: Any, params: VignetteParams) -> Any:
    """Darken the corners by ``stops`` in linear light, like the natural falloff of a lens."""
    frame = frames[ctx.window[0]]
    height, width = frame.shape[:2]
    gain = ctx.backend.asarray(falloff(width, height, params.stops, params.start, params.end))
    return frame * gain


#: The records postbay loads from the entry point (the same record the built-ins use).
PROCESSORS = [
    Processor(
        name="vignette",
        function=vignette,
        params=VignetteParams,
        kind="frame",
        window=(0, 0),
        colourspace="linear",
        version="1.0.0",
        backends=("cpu", "gpu"),
        summary="Darken the corners by a set number of stops, like a lens's natural falloff.",
    ),
]
