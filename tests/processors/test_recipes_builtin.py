"""The built-in finishing recipes load and promise the right output format.

They use processors from two areas (colour/motion here, clean-up/upscale in the other);
until both are in, each test skips naming the processor it is waiting for.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from postbay.recipe import builtin_recipe_paths, load_recipe
from postbay.registry import FrameFormat

EXPECTED = {
    # recipe: (output size from a 1280x720 source, codec)
    "finish": ((1920, 1080), "prores_hq"),
    "upscale-4k": ((3840, 2160), "prores_hq"),
    "social-vertical": ((1080, 1920), "h264"),
    "broadcast-master": ((3840, 2160), "prores_hq"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_recipe_loads_and_promises_its_format(name):
    assert name in builtin_recipe_paths()
    recipe = load_recipe(name)
    (width, height), codec = EXPECTED[name]
    assert recipe.output.codec == codec
    fmt = FrameFormat(1280, 720, Fraction(24), 48)
    from postbay.pipeline import Pipeline

    out = Pipeline(recipe.steps).output_format(fmt)
    assert (out.width, out.height) == (width, height)
    assert out.sample_aspect_ratio == 1 and out.frames == 48 and out.rate == 24
    if name != "upscale-4k":
        assert recipe.steps[-1].name == "grade" and recipe.steps[-1].params.lut.endswith("print-neutral.cube")
