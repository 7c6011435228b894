"""grade: OCIO's CPU processor is the reference; CDL, LUT and the baked-LUT path are checked against it."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import PyOpenColorIO as ocio
import pytest
from media import photo
from parity import assert_backends_agree

from postbay.backend import numpy_backend
from postbay.colour import cpu_apply, load_config
from postbay.processors.grade import (
    CDL,
    GradeParams,
    apply_cdl,
    apply_lut3d,
    bake,
    grade,
    grade_processor,
    read_cdl,
    write_cdl,
)
from postbay.processors.primaries import resolve_lut
from postbay.registry import FrameFormat, StepContext


def _ctx(backend=None):
    fmt = FrameFormat(64, 64, Fraction(24), 1)
    return StepContext(backend=backend or numpy_backend(), fmt_in=fmt, fmt_out=fmt)


def asc_cdl(rgb: np.ndarray, slope, offset, power, sat) -> np.ndarray:
    """The ASC CDL v1.2 formula written out: SOP per channel, then saturation on Rec.709 luma."""
    v = rgb * np.asarray(slope) + np.asarray(offset)
    v = np.clip(v, 0.0, 1.0) ** np.asarray(power)
    luma = 0.2126 * v[..., 0] + 0.7152 * v[..., 1] + 0.0722 * v[..., 2]
    return np.clip(luma[..., None] + sat * (v - luma[..., None]), 0.0, 1.0)


def read_cube(path) -> np.ndarray:
    """A .cube read by hand into a [r][g][b] table (the file has red varying fastest)."""
    rows, size = [], None
    for line in open(path):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "LUT_3D_SIZE":
            size = int(parts[1])
        elif parts[0][0].isdigit() or parts[0][0] in "-.":
            rows.append([float(p) for p in parts])
    return np.asarray(rows).reshape(size, size, size, 3).transpose(2, 1, 0, 3)


def trilinear(rgb: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Plain NumPy trilinear interpolation, one corner at a time (the reference)."""
    n = table.shape[0]
    x = np.clip(rgb, 0, 1) * (n - 1)
    i = np.minimum(np.floor(x).astype(int), n - 2)
    f = x - i
    out = np.zeros_like(rgb, dtype=np.float64)
    for corner in np.ndindex(2, 2, 2):
        w = np.ones(rgb.shape[:-1])
        for axis, bit in enumerate(corner):
            w = w * (f[..., axis] if bit else 1 - f[..., axis])
        out += w[..., None] * table[i[..., 0] + corner[0], i[..., 1] + corner[1], i[..., 2] + corner[2]]
    return out


def test_grade_matches_ocio_cpu_processor():
    img = photo("coffee")[::4, ::4]
    params = GradeParams(exposure=0.4, contrast=1.15, saturation=0.9, temperature=0.3, tint=-0.1,
                         lut="print-neutral")
    out = grade([img], _ctx(), params)
    # The same chain built by hand from OCIO transforms, in the documented order.
    cfg = load_config()
    group = ocio.GroupTransform()
    group.appendTransform(ocio.ColorSpaceTransform(src="Gamma 2.4 Encoded Rec.709", dst="Linear Rec.709 (sRGB)"))
    from postbay.processors.grade import white_balance_gains
    gains = white_balance_gains(0.3, -0.1)
    m = np.eye(4)
    m[:3, :3] = np.diag(gains)
    group.appendTransform(ocio.MatrixTransform(matrix=list(m.ravel())))
    group.appendTransform(ocio.ExposureContrastTransform(exposure=0.4, contrast=1.15, pivot=0.18))
    group.appendTransform(ocio.ColorSpaceTransform(src="Linear Rec.709 (sRGB)", dst="Gamma 2.4 Encoded Rec.709"))
    sat = 0.9 * np.eye(3) + 0.1 * np.outer(np.ones(3), [0.2126, 0.7152, 0.0722])
    m = np.eye(4)
    m[:3, :3] = sat
    group.appendTransform(ocio.MatrixTransform(matrix=list(m.ravel())))
    group.appendTransform(ocio.FileTransform(src=str(resolve_lut("print-neutral")), interpolation=ocio.INTERP_LINEAR))
    ref = cpu_apply(cfg.getProcessor(group).getDefaultCPUProcessor(), img)
    assert np.abs(out - ref).max() < 1e-5
    assert np.abs(out - img).mean() > 0.02  # the grade did something


def test_neutral_grade_is_a_no_op():
    img = photo("astronaut")[::8, ::8]
    assert np.array_equal(grade([img], _ctx(), GradeParams()), img)


def test_exposure_and_contrast_work_in_stops_around_grey():
    grey = np.full((2, 2, 3), 0.5, np.float32)
    brighter = grade([grey], _ctx(), GradeParams(exposure=1.0))[0, 0, 0]
    assert abs(brighter - (2 * 0.5 ** 2.4) ** (1 / 2.4)) < 1e-5  # +1 stop doubles the light
    mid = np.full((2, 2, 3), 0.18 ** (1 / 2.4), np.float32)
    assert abs(grade([mid], _ctx(), GradeParams(contrast=1.5))[0, 0, 0] - mid[0, 0, 0]) < 1e-5  # pivot holds
    assert grade([grey], _ctx(), GradeParams(contrast=1.5))[0, 0, 0] > 0.5  # above grey gets brighter


def test_white_balance_moves_grey_the_right_way(backend):
    grey = backend.asarray(np.full((4, 4, 3), 0.5, np.float32))
    moves = (GradeParams(temperature=0.5), GradeParams(temperature=-0.5), GradeParams(tint=0.5))
    warm, cool, pink = (backend.to_host(grade([grey], _ctx(backend), params))[0, 0] for params in moves)
    assert warm[0] > warm[1] > warm[2] and cool[0] < cool[1] < cool[2]
    assert pink[1] < min(pink[0], pink[2])


def test_cdl_matches_the_asc_formula(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.uniform(0.05, 0.9, (64, 64, 3)).astype(np.float32)
    cdl = CDL(slope=(1.08, 0.97, 0.9), offset=(0.01, 0.0, 0.02), power=(0.95, 1.0, 1.1), sat=1.2)
    ref = asc_cdl(rgb, cdl.slope, cdl.offset, cdl.power, cdl.sat)
    # postbay's CDL does not clamp (log and linear values survive); encoding clips to [0, 1].
    via_ocio = np.clip(grade([rgb], _ctx(), GradeParams(cdl=cdl)), 0, 1)
    assert np.abs(via_ocio - ref).max() < 2e-5
    # The xp helper the conform and match use agrees, on any backend.
    assert np.abs(np.clip(apply_cdl(rgb, cdl), 0, 1) - ref).max() < 1e-5
    # And a .cc written and read back gives the same grade.
    cc = write_cdl(tmp_path / "shot010.cc", cdl)
    assert read_cdl(cc) == CDL(slope=cdl.slope, offset=cdl.offset, power=cdl.power, sat=cdl.sat)
    via_file = np.clip(grade([rgb], _ctx(), GradeParams(cdl=str(cc))), 0, 1)
    assert np.abs(via_file - ref).max() < 2e-5


@pytest.mark.parametrize("look", ["print-neutral", "print-warm", "print-cool"])
def test_shipped_lut_matches_numpy_trilinear(look):
    rng = np.random.default_rng(2)
    rgb = rng.random((80, 80, 3), dtype=np.float32)
    table = read_cube(resolve_lut(look))
    out = grade([rgb], _ctx(), GradeParams(lut=look))
    assert np.abs(out - trilinear(rgb, table)).max() < 1e-5
    grey = grade([np.full((1, 1, 3), 0.18 ** (1 / 2.4), np.float32)], _ctx(), GradeParams(lut=look))
    assert abs(float(grey.mean()) - 0.18 ** (1 / 2.4)) < 0.02  # looks sit on a balanced grade


@pytest.mark.parametrize("params", [
    GradeParams(lut="print-warm", cdl=CDL(slope=(1.02, 1, 0.95), offset=-0.01, power=1.05), saturation=0.9),
    GradeParams(exposure=0.5, contrast=1.2, saturation=1.3, temperature=-0.6),
    GradeParams(input="Linear Rec.709 (sRGB)", output="Gamma 2.4 Encoded Rec.709", exposure=-1.0),
    GradeParams(input="ACEScct", output="ACEScct", exposure=0.3),
], ids=["display-look", "display-primary", "linear-to-display", "log"])
def test_baked_lut_matches_ocio_within_2e3(params):
    # Grades that keep a LUT's input inside its [0, 1] domain: where a grade drives values past
    # the domain, the clamp's kink inside a lattice cell costs up to ~4e-3 (see docs).
    rng = np.random.default_rng(3)
    if params.input.startswith("Linear"):
        rgb = (2.0 ** rng.uniform(-12, 6, (160, 160, 3))).astype(np.float32)
    else:
        rgb = rng.random((160, 160, 3), dtype=np.float32)
    baked = bake(params)
    assert baked.size == 65 and baked.shaper == ("root" if params.input.startswith("Linear") else "none")
    out = apply_lut3d(rgb, baked)
    ref = cpu_apply(grade_processor(params), rgb)
    assert not np.isnan(out).any()
    assert np.abs(out - ref).max() <= 2e-3


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="not in the OCIO config"):
        GradeParams(input="Rec.2020 Nonsense")
    with pytest.raises(ValueError, match="neither a file nor a shipped look"):
        GradeParams(lut="no-such-look")
    with pytest.raises(ValueError, match="must be a .cc"):
        GradeParams(cdl="grade.txt")


@pytest.mark.gpu
def test_gpu_grade_matches_cpu():
    img = photo("coffee")[::2, ::2]
    params = GradeParams(lut="print-neutral", temperature=0.2, saturation=1.1)
    assert_backends_agree(lambda backend: grade([backend.asarray(img)], _ctx(backend), params), atol=2e-3)
