"""The vignette darkens the corners by exactly the stops asked for and leaves the centre alone."""

from fractions import Fraction

import numpy as np
import pytest
from postbay_vignette import PROCESSORS, VignetteParams, vignette

from postbay.backend import numpy_backend
from postbay.registry import FrameFormat, StepContext


def _ctx(width: int, height: int) -> StepContext:
    fmt = FrameFormat(width, height, Fraction(24), 1)
    return StepContext(backend=numpy_backend(), fmt_in=fmt, fmt_out=fmt)


def test_the_record_is_valid():
    (record,) = PROCESSORS
    record.validate()
    assert record.name == "vignette" and record.colourspace == "linear"


@pytest.mark.parametrize("stops", [0.5, 1.0, 2.0])
def test_corners_lose_the_stops_asked_for(stops):
    flat = np.full((90, 160, 3), 0.5, np.float32)
    out = vignette([flat], _ctx(160, 90), VignetteParams(stops=stops, start=0.3, end=0.98))
    corner_ratio = out[0, 0, 1] / flat[0, 0, 1]
    assert abs(np.log2(corner_ratio) + stops) < 0.02
    centre = out[40:50, 75:85]
    assert np.allclose(centre, 0.5, atol=1e-6)


def test_falloff_is_smooth():
    flat = np.ones((90, 160, 3), np.float32)
    out = vignette([flat], _ctx(160, 90), VignetteParams(stops=1.0))
    row = out[45, :, 0]
    # No visible ring: neighbouring pixels never differ by more than 2 % of the light.
    assert np.abs(np.diff(row)).max() < 0.02


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError):
        VignetteParams(start=0.8, end=0.5)
    with pytest.raises(ValueError):
        VignetteParams(strength=1)
