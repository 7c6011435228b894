"""The built-in steps: resize keeps the display aspect, exposure works in linear light, LUTs interpolate."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from postbay.backend import numpy_backend
from postbay.errors import RecipeError
from postbay.media import probe
from postbay.recipe import parse_recipe
from postbay.registry import FrameFormat
from postbay.render import finish_clip


def test_resize_keeps_display_aspect_when_one_side_given():
    recipe = parse_recipe({"steps": [{"processor": "resize", "height": 720}]})
    step = recipe.steps[0]
    fmt = FrameFormat(480, 360, Fraction(24), 10, Fraction(4, 3))  # anamorphic 16:9
    out = step.processor.output_format(step.params, fmt)
    assert (out.width, out.height, out.sample_aspect_ratio) == (1280, 720, 1)


def test_resize_end_to_end_in_linear_light(tmp_path, shared_clip):
    recipe = parse_recipe({"name": "up", "steps": [{"processor": "resize", "width": 640}],
                           "output": {"codec": "h264"}})
    result = finish_clip(shared_clip, recipe, tmp_path)
    v = probe(result.output).video
    assert (v.width, v.height, v.frames) == (640, 360, 24)
    timings = result.report["timings"]
    assert "1:resize" in timings and "colour display→linear" in timings and "colour linear→display" in timings


def test_exposure_doubles_linear_light(tmp_path):
    recipe = parse_recipe({"steps": [{"processor": "exposure", "stops": 1.0}]})
    from postbay.pipeline import Pipeline

    pipe = Pipeline(recipe.steps)
    grey = np.full((4, 4, 3), 0.18 ** (1 / 2.4), np.float32)  # 18% grey, display-encoded (gamma 2.4)
    picture = (grey * 65535).astype(np.uint16)
    out = list(pipe.process([picture], FrameFormat(4, 4, Fraction(24), 1)))[0].astype(np.float64) / 65535
    assert out[0, 0, 0] ** 2.4 == pytest.approx(0.36, rel=0.01)


def test_lut_processor_matches_numpy_trilinear(tmp_path):
    size = 5
    grid = np.linspace(0, 1, size)
    lines = [f"LUT_3D_SIZE {size}"]
    for b in grid:
        for g in grid:
            for r in grid:
                lines.append(f"{r ** 2:.6f} {g:.6f} {1 - b:.6f}")
    cube = tmp_path / "look.cube"
    cube.write_text("\n".join(lines) + "\n")
    recipe = parse_recipe({"steps": [{"processor": "lut", "path": str(cube), "interpolation": "linear"}]})
    step = recipe.steps[0]
    rng = np.random.default_rng(1)
    rgb = rng.random((8, 8, 3), dtype=np.float32)
    from postbay.registry import StepContext

    fmt = FrameFormat(8, 8, Fraction(24), 1)
    out = step.processor.function([rgb], StepContext(numpy_backend(), fmt, fmt), step.params)
    # separable LUT: r→r², g→g, b→1-b; trilinear interpolation between 5 nodes
    expect = np.stack([np.interp(rgb[..., 0], grid, grid ** 2), rgb[..., 1], 1 - rgb[..., 2]], -1)
    assert np.abs(out - expect).max() < 1e-5


def test_lut_missing_file_is_a_recipe_error():
    with pytest.raises(RecipeError, match="step 1 \\(lut\\): path: .*neither a file nor a shipped look"):
        parse_recipe({"steps": [{"processor": "lut", "path": "/no/such.cube"}]}, source="r.toml")
