"""Grade: colour management and a primary grade through OpenColorIO, with a baked-LUT GPU path.

The order of operations is the one a colourist builds in a node tree, and every stage that is
left at its neutral value is skipped (so an untouched grade is an exact no-op):

1. ``cdl``: an ASC CDL on the clip as it comes in (the encoding the NLE applied it to);
2. ``temperature``/``tint``: white balance as per-channel gains in scene-linear light;
3. ``exposure`` and ``contrast``: stops, and a power around 18 % grey (a straight-line
   contrast in log, as on a log grading panel), in scene-linear light;
4. ``saturation``: around Rec.709 luma in the display encoding;
5. conversion to the ``output`` colour space;
6. ``lut``: a look or show LUT on the picture encoded in ``output``.

All of it becomes one OCIO ``GroupTransform``. On the CPU OCIO's own processor runs it; on a
GPU the processor is baked into a 65³ 3D LUT (behind a root shaper for scene-linear inputs)
and applied with a trilinear gather written against ``xp``, so the same code is tested on NumPy.
The frames the pipeline hands over carry the file's own values: ``input`` says what they mean
(display Rec.709 for AI clips, or e.g. ``ARRI LogC4`` for camera footage).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import PyOpenColorIO as ocio
from pydantic import Field, field_validator, model_validator

from postbay.backend import Backend
from postbay.colour import (
    DEFAULT_OCIO_CONFIG,
    REC709_LUMA,
    REC709_TO_XYZ,
    WORKING_SPACES,
    cpu_apply,
    file_processor,
    load_config,
)
from postbay.errors import ConfigError, PostbayError
from postbay.processors.primaries import resolve_lut
from postbay.registry import ParamModel, processor

__all__ = [
    "CDL",
    "GradeParams",
    "BakedLut",
    "apply_cdl",
    "apply_lut3d",
    "apply_ocio",
    "bake",
    "cdl_transform",
    "grade_processor",
    "grade_transform",
    "read_cdl",
    "white_balance_gains",
    "write_cdl",
]

#: The display encoding AI generators deliver (Rec.709 primaries, 2.4 gamma): the default input.
DISPLAY = WORKING_SPACES["display"]
LINEAR = WORKING_SPACES["linear"]
#: Rec.709 luma weights the ASC CDL uses for its saturation.

_lock = threading.Lock()


Triple = tuple[float, float, float]


def _triple(value: Any) -> Any:
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    return value


class CDL(ParamModel):
    """An ASC Color Decision List: per-channel slope, offset, power, then saturation.

    ``out = (in × slope + offset) ** power`` per channel (negative values skip the power),
    then saturation around Rec.709 luma. A single number applies to all three channels.
    """

    slope: Triple = Field(default=(1.0, 1.0, 1.0), description="gain per channel (R, G, B); 1 is neutral")
    offset: Triple = Field(default=(0.0, 0.0, 0.0), description="lift added after the slope; 0 is neutral")
    power: Triple = Field(default=(1.0, 1.0, 1.0), description="gamma-like power per channel; 1 is neutral")
    sat: float = Field(default=1.0, ge=0.0, le=4.0, description="saturation around Rec.709 luma; 1 is neutral")

    @field_validator("slope", "offset", "power", mode="before")
    @classmethod
    def _one_for_all(cls, value: Any) -> Any:
        return _triple(value)

    @field_validator("slope", "power")
    @classmethod
    def _positive(cls, value: Triple) -> Triple:
        if any(v <= 0 for v in value):
            raise ValueError("slope and power must be greater than 0")
        return value

    @property
    def is_identity(self) -> bool:
        return (self.slope == (1.0, 1.0, 1.0) and self.offset == (0.0, 0.0, 0.0)
                and self.power == (1.0, 1.0, 1.0) and self.sat == 1.0)

    def to_xml(self, cc_id: str = "postbay") -> str:
        """The correction as an ASC ``.cc`` document an NLE imports."""
        def fmt(t: Triple) -> str:
            return " ".join(f"{v:.6f}" for v in t)
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<ColorCorrection id="{escape(cc_id)}">\n'
                f"  <SOPNode>\n    <Slope>{fmt(self.slope)}</Slope>\n    <Offset>{fmt(self.offset)}</Offset>\n"
                f"    <Power>{fmt(self.power)}</Power>\n  </SOPNode>\n"
                f"  <SatNode>\n    <Saturation>{self.sat:.6f}</Saturation>\n  </SatNode>\n"
                "</ColorCorrection>\n")


CDL_SUFFIXES = (".cc", ".cdl", ".ccc")


def read_cdl(path: str | Path, cc_id: str = "") -> CDL:
    """Read an ASC CDL from a ``.cc``/``.cdl``/``.ccc`` file (the first correction, or ``cc_id``)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PostbayError("CDL file not found", path=path, hint="give a .cc, .cdl or .ccc file")
    try:
        t = ocio.CDLTransform.CreateFromFile(str(path), cc_id)
    except Exception as exc:
        raise PostbayError(f"cannot read the CDL: {exc}", path=path) from None
    return CDL(slope=tuple(t.getSlope()), offset=tuple(t.getOffset()), power=tuple(t.getPower()),
               sat=float(t.getSat()))


def write_cdl(path: str | Path, cdl: CDL, cc_id: str | None = None) -> Path:
    """Write ``cdl`` as an ASC ``.cc`` file (named after the file unless ``cc_id`` is given)."""
    path = Path(path)
    path.write_text(cdl.to_xml(cc_id or path.stem))
    return path


def cdl_transform(cdl: CDL) -> ocio.CDLTransform:
    """The OCIO transform of a CDL (no clamping, so log and linear values survive)."""
    t = ocio.CDLTransform()
    t.setSlope(list(cdl.slope))
    t.setOffset(list(cdl.offset))
    t.setPower(list(cdl.power))
    t.setSat(cdl.sat)
    t.setStyle(ocio.CDL_NO_CLAMP)
    return t


def apply_cdl(frame: Any, cdl: CDL, xp: Any = np) -> Any:
    """Apply a CDL to an (..., 3) float array on any backend, exactly as OCIO does.

    The timeline conform and ``match`` use this to carry a correction without OCIO on a GPU.
    """
    slope = xp.asarray(cdl.slope, dtype=xp.float32)
    offset = xp.asarray(cdl.offset, dtype=xp.float32)
    power = xp.asarray(cdl.power, dtype=xp.float32)
    v = frame * slope + offset
    v = xp.where(v > 0, xp.power(xp.maximum(v, 0), power), v)
    if cdl.sat != 1.0:
        luma = v @ xp.asarray(REC709_LUMA, dtype=xp.float32)
        v = luma[..., None] + xp.float32(cdl.sat) * (v - luma[..., None])
    return v.astype(xp.float32)


def apply_ocio(proc: ocio.CPUProcessor, frame: Any, backend: Backend) -> Any:
    """Run an OCIO CPU processor on a frame of any backend (through the host for a GPU frame)."""
    if backend.name == "cpu":
        return cpu_apply(proc, frame)
    return backend.asarray(cpu_apply(proc, backend.to_host(frame)))


class GradeParams(ParamModel):
    input: str = Field(default=DISPLAY, description="colour space of the incoming picture (any space of the "
                                                    "OCIO config); AI clips are display Rec.709")
    output: str | None = Field(default=None, description="colour space to deliver in; the input space if omitted")
    lut: str | None = Field(default=None, description="a .cube/.spi3d/.clf file or the name of a look in luts/ "
                                                      "(print-neutral, print-warm, print-cool), applied last")
    cdl: CDL | str | None = Field(default=None, description="an ASC CDL {slope, offset, power, sat} or a "
                                                            ".cc/.cdl file, on the incoming encoding")
    exposure: float = Field(default=0.0, ge=-8, le=8, description="exposure in stops, in scene-linear light")
    contrast: float = Field(default=1.0, ge=0.25, le=4,
                            description="contrast: a power around 18 % grey in linear light (a slope in log); "
                                        "1 is neutral")
    saturation: float = Field(default=1.0, ge=0, le=4,
                              description="saturation around Rec.709 luma; 0 is monochrome, 1 neutral")
    temperature: float = Field(default=0.0, ge=-1, le=1, description="white balance: + warms, - cools "
                                                                     "(±1 is ±100 mired, about a half CTO/CTB)")
    tint: float = Field(default=0.0, ge=-1, le=1, description="white balance: + toward magenta, - toward green")

    @field_validator("lut")
    @classmethod
    def _lut_exists(cls, value: str | None) -> str | None:
        return None if value is None else str(resolve_lut(value))

    @field_validator("cdl")
    @classmethod
    def _cdl_file(cls, value: Any) -> Any:
        if isinstance(value, str):
            path = Path(value).expanduser()
            if path.suffix.lower() not in CDL_SUFFIXES:
                raise ValueError(f"CDL file {value!r} must be a .cc, .cdl or .ccc")
            if not path.is_file():
                raise ValueError(f"CDL file {value!r} not found")
            return str(path.resolve())
        return value

    @model_validator(mode="after")
    def _spaces_exist(self) -> GradeParams:
        cfg = load_config(DEFAULT_OCIO_CONFIG)
        for name in (self.input, self.output):
            if name is not None and cfg.getColorSpace(name) is None:
                raise ValueError(f"colour space {name!r} is not in the OCIO config "
                                 "(list them with `postbay colourspaces`)")
        return self

    def resolved_cdl(self) -> CDL | None:
        cdl = read_cdl(self.cdl) if isinstance(self.cdl, str) else self.cdl
        return None if cdl is None or cdl.is_identity else cdl


# White balance ---------------------------------------------------------------------------

_D65_CCT = 6504.0


def _daylight_xy(cct: float) -> tuple[float, float]:
    """CIE daylight locus chromaticity (valid 4000–25000 K)."""
    t = min(max(cct, 4000.0), 25000.0)
    if t <= 7000:
        x = -4.6070e9 / t**3 + 2.9678e6 / t**2 + 0.09911e3 / t + 0.244063
    else:
        x = -2.0064e9 / t**3 + 1.9018e6 / t**2 + 0.24748e3 / t + 0.237040
    return x, -3.000 * x * x + 2.870 * x - 0.275


def white_balance_gains(temperature: float, tint: float) -> np.ndarray:
    """Linear Rec.709 R, G, B gains that turn D65 grey into a warmer/cooler, greener/pinker grey.

    ``temperature`` moves the white 100 mired per unit along the daylight locus; ``tint``
    moves it off the locus (CIE 1960 v) by 0.02 per unit. The gains are per channel, as on a
    camera or a grading panel's temperature control, and keep grey's luminance.
    """
    x, y = _daylight_xy(1e6 / (1e6 / _D65_CCT + 100.0 * temperature))
    if tint:
        d = -2 * x + 12 * y + 3
        u, v = 4 * x / d, 6 * y / d - 0.02 * tint
        d = 2 * u - 8 * v + 4
        x, y = 3 * u / d, 2 * v / d
    to_rgb = np.linalg.inv(REC709_TO_XYZ)
    sx, sy = _daylight_xy(_D65_CCT)
    dst = to_rgb @ np.array([x / y, 1.0, (1 - x - y) / y])
    src = to_rgb @ np.array([sx / sy, 1.0, (1 - sx - sy) / sy])
    gains = dst / src
    return gains / (gains @ np.asarray(REC709_LUMA))


def _matrix_transform(m3: np.ndarray) -> ocio.MatrixTransform:
    m44 = np.eye(4)
    m44[:3, :3] = m3
    return ocio.MatrixTransform(matrix=[float(v) for v in m44.ravel()], offset=[0.0, 0.0, 0.0, 0.0])


# The grade as one OCIO transform -----------------------------------------------------------

def grade_transform(params: GradeParams) -> ocio.GroupTransform:
    """The whole grade as one OCIO ``GroupTransform`` (neutral stages left out).

    Every stage before the LUT is per channel except saturation, which mixes channels in the
    display encoding where the result stays smooth: no stage pushes in-gamut colours negative
    through a matrix in linear light, so a baked LUT of the grade stays accurate.
    """
    group = ocio.GroupTransform()
    current = params.input

    def move_to(space: str) -> None:
        nonlocal current
        if space != current:
            group.appendTransform(ocio.ColorSpaceTransform(src=current, dst=space))
            current = space

    cdl = params.resolved_cdl()
    if cdl is not None:
        group.appendTransform(cdl_transform(cdl))
    if params.temperature or params.tint:
        move_to(LINEAR)
        group.appendTransform(_matrix_transform(np.diag(white_balance_gains(params.temperature, params.tint))))
    if params.exposure or params.contrast != 1.0:
        # Exposure in stops and contrast as a power around 18 % grey: straight lines in log.
        move_to(LINEAR)
        group.appendTransform(ocio.ExposureContrastTransform(
            style=ocio.EXPOSURE_CONTRAST_LINEAR, exposure=params.exposure, contrast=params.contrast,
            pivot=0.18))
    if params.saturation != 1.0:
        move_to(DISPLAY)
        luma = np.asarray(REC709_LUMA)
        s = params.saturation
        group.appendTransform(_matrix_transform(s * np.eye(3) + (1 - s) * np.outer(np.ones(3), luma)))
    move_to(params.output or params.input)
    if params.lut:
        group.appendTransform(ocio.FileTransform(src=params.lut, interpolation=ocio.INTERP_LINEAR))
    return group


@functools.lru_cache(maxsize=32)
def grade_processor(params: GradeParams, config: str = DEFAULT_OCIO_CONFIG) -> ocio.CPUProcessor:
    """OCIO's CPU processor for the grade (cached per parameters)."""
    cfg = load_config(config)
    try:
        with _lock:
            return cfg.getProcessor(grade_transform(params)).getDefaultCPUProcessor()
    except Exception as exc:  # OCIO explains itself: a bad LUT file, an unknown space…
        raise ConfigError(f"grade cannot be built: {exc}", path=params.lut or config) from None


# Baked 3D LUT (the GPU path) -----------------------------------------------------------------

#: Top of the scene-linear range a baked LUT covers (8 stops over diffuse white).
LINEAR_TOP = 256.0


def _shape_linear(x: Any, xp: Any) -> Any:
    """Scene-linear → [0, 1] lattice coordinate: a fourth root, dense in the shadows.

    A log shaper would put a kink where its toe crosses zero; the root keeps the composite
    with a display encoding (itself a root) smooth down to black, so the lattice stays accurate.
    """
    return xp.sqrt(xp.sqrt(xp.clip(x / LINEAR_TOP, 0.0, 1.0)))


def _unshape_linear(y: Any) -> Any:
    return LINEAR_TOP * y ** 4


@dataclass(frozen=True)
class BakedLut:
    """A 3D LUT (size³ × 3, indexed [r][g][b]) of a whole grade, with its input shaper.

    The LUT file of the grade (``look``) is baked as a second lattice over [0, 1] and applied
    after the first: folded into one lattice, its own cell edges would cross the new cells at
    an angle after a saturation or CDL and cost up to 3e-3; kept apart, a 17³/33³/65³ look
    lands exactly on the 65³ lattice.

    ``shaper`` is ``"root"`` for scene-linear inputs (the lattice covers 0 … 256 linear through
    a fourth root) and ``"none"`` for display and log inputs, whose values span [0, 1].
    """

    table: np.ndarray
    shaper: str
    look: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.table.shape[0])


def bake(params: GradeParams, config: str = DEFAULT_OCIO_CONFIG, size: int = 65) -> BakedLut:
    """Bake the grade into a ``size``³ 3D LUT by running OCIO's CPU processor on the lattice."""
    space = load_config(config).getColorSpace(params.input)
    shaper = "root" if space is not None and space.getEncoding() == "scene-linear" else "none"
    grid = np.linspace(0.0, 1.0, size, dtype=np.float32)
    r, g, b = np.meshgrid(grid, grid, grid, indexing="ij")
    lattice = np.stack([r, g, b], axis=-1).reshape(-1, 1, 3)
    if shaper == "root":
        lattice = _unshape_linear(lattice).astype(np.float32)
    table = cpu_apply(grade_processor(params.model_copy(update={"lut": None}), config), lattice)
    look = None
    if params.lut:
        unit = np.stack([r, g, b], axis=-1).reshape(-1, 1, 3)
        look = cpu_apply(file_processor(params.lut, "linear"), unit).reshape(size, size, size, 3)
    return BakedLut(np.ascontiguousarray(table.reshape(size, size, size, 3)), shaper, look)


def apply_lut3d(rgb: Any, lut: BakedLut | np.ndarray, xp: Any = np) -> Any:
    """Trilinear 3D LUT lookup of an (..., 3) float image on any backend.

    ``lut`` is a :class:`BakedLut` (shaper, lattice, then its look) or a bare (n, n, n, 3) table over [0, 1]
    indexed [r][g][b]
    (the order of a ``.cube`` read with red slowest). Inputs are clamped to the lattice.
    """
    if isinstance(lut, BakedLut):
        out = apply_lut3d(_shape_linear(rgb, xp) if lut.shaper == "root" else rgb, lut.table, xp)
        return out if lut.look is None else apply_lut3d(out, lut.look, xp)
    table = lut
    table = xp.asarray(table, dtype=xp.float32)
    n = table.shape[0]
    flat = table.reshape(-1, 3)
    x = xp.clip(rgb.astype(xp.float32, copy=False), 0.0, 1.0) * xp.float32(n - 1)
    i0 = xp.minimum(xp.floor(x), n - 2).astype(xp.int32)
    f = x - i0
    base = (i0[..., 0] * n + i0[..., 1]) * n + i0[..., 2]
    fr, fg, fb = f[..., 0:1], f[..., 1:2], f[..., 2:3]
    out = None
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dg, wg in ((0, 1 - fg), (1, fg)):
            wrg = wr * wg
            for db, wb in ((0, 1 - fb), (1, fb)):
                term = (wrg * wb) * xp.take(flat, base + (dr * n * n + dg * n + db), axis=0)
                out = term if out is None else out + term
    return out


@functools.lru_cache(maxsize=16)
def _baked(params: GradeParams, config: str) -> BakedLut:
    return bake(params, config)


@processor("grade", params=GradeParams, colourspace="display")
def grade(frames: list[Any], ctx: Any, params: GradeParams) -> Any:
    """Colour-manage and grade the picture: CDL, white balance, exposure, contrast, saturation, LUT.

    Fixes the things a colourist reaches for first on AI footage: a cast from the generator
    (``temperature``/``tint`` or a ``cdl``), a flat or crushed tonal range (``exposure``,
    ``contrast``), over-cooked colour (``saturation``), then puts a look on it (``lut``, e.g.
    the shipped ``print-neutral`` film print emulation). ``input``/``output`` name colour spaces
    of the OCIO config, so log camera footage or an ACES delivery work the same way.
    """
    config = ctx.ocio_config
    frame = frames[ctx.window[0]]
    if ctx.backend.name == "gpu":
        return apply_lut3d(frame, _baked(params, config), ctx.xp)
    return cpu_apply(grade_processor(params, config), frame)
