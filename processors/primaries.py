"""Primary operations on the whole picture: sizing (resize), exposure and a LUT.

The first steps of most finishing chains, and the three that prove the pipeline end to end:
resize and exposure work in scene-linear light, the LUT on the display-encoded picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from postbay.colour import LUT_SUFFIXES, cpu_apply, file_processor
from postbay.processors.resample import checked_size
from postbay.processors.resample import resize as _resize
from postbay.registry import FrameFormat, ParamModel, processor

__all__ = ["ExposureParams", "LutParams", "ResizeParams", "resolve_lut"]


class ResizeParams(ParamModel):
    width: int | None = Field(default=None, gt=0, le=16384, description="output width in pixels (omit to keep aspect)")
    height: int | None = Field(default=None, gt=0, le=16384,
                               description="output height in pixels (omit to keep aspect)")
    method: Literal["lanczos", "bicubic"] = Field(default="lanczos", description="resampling kernel")

    @model_validator(mode="after")
    def _one_size(self) -> ResizeParams:
        if self.width is None and self.height is None:
            raise ValueError("give width, height or both")
        return self



def resize_format(params: ResizeParams, fmt: FrameFormat) -> FrameFormat:
    return checked_size("resize", fmt.fit(params.width, params.height))


@processor("resize", params=ResizeParams, colourspace="linear", output_format=resize_format, changes_size=True)
def resize(frames: list[Any], ctx: Any, params: ResizeParams) -> Any:
    """Resize the picture with a separable Lanczos-3 (or bicubic) filter in linear light.

    ``width``/``height`` set the output size; give one and the display aspect is kept.
    Resampling in linear light keeps highlights from darkening at edges.
    """
    return _resize(frames[0], ctx.fmt_out.width, ctx.fmt_out.height, params.method, ctx.xp)


class ExposureParams(ParamModel):
    stops: float = Field(default=0.0, ge=-10, le=10, description="exposure change in stops (+1 doubles the light)")


@processor("exposure", params=ExposureParams, colourspace="linear")
def exposure(frames: list[Any], ctx: Any, params: ExposureParams) -> Any:
    """Raise or lower exposure in stops, in scene-linear light like a camera's iris."""
    return frames[0] * np.float32(2.0 ** params.stops)


def resolve_lut(value: str) -> Path:
    """A LUT path, or the name of a look shipped in ``postbay.luts`` (with or without suffix)."""
    path = Path(value).expanduser()
    if path.is_file():
        return path.resolve()
    shipped = Path(__file__).resolve().parent.parent / "luts"
    try:
        import postbay.luts

        shipped = Path(postbay.luts.__file__).parent
    except ImportError:
        pass
    for candidate in [shipped / value, *(shipped / f"{value}{s}" for s in LUT_SUFFIXES)]:
        if candidate.is_file():
            return candidate
    names = sorted(p.stem for p in shipped.glob("*") if p.suffix in LUT_SUFFIXES)
    raise ValueError(f"LUT {value!r} is neither a file nor a shipped look ({', '.join(names) or 'none shipped'})")


class LutParams(ParamModel):
    path: str = Field(description="a .cube/.spi3d/.clf file, or the name of a look shipped in luts/")
    interpolation: Literal["linear", "tetrahedral", "best"] = Field(default="tetrahedral",
                                                                    description="3D LUT interpolation")

    @field_validator("path")
    @classmethod
    def _exists(cls, value: str) -> str:
        return str(resolve_lut(value))


@processor("lut", params=LutParams, colourspace="display")
def lut(frames: list[Any], ctx: Any, params: LutParams) -> Any:
    """Apply a LUT file through OpenColorIO to the display-encoded picture (a look or a show LUT)."""
    proc = file_processor(params.path, params.interpolation)
    host = ctx.backend.to_host(frames[0])
    return ctx.backend.asarray(cpu_apply(proc, host))
