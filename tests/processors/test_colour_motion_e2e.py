"""End to end: grade, match, retime and reframe in one recipe through finish_clip, verified."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from media import pan_clip
from PIL import Image

from postbay.media import VideoReader, probe
from postbay.processors.grade import CDL, apply_cdl
from postbay.recipe import parse_recipe
from postbay.render import finish_clip
from postbay.synth import write_clip


def test_recipe_with_colour_and_motion_steps_renders_and_verifies(tmp_path):
    frames = pan_clip(24, 320, 180, 3.0, name="rocket")
    cast = CDL(slope=(1.12, 1.0, 0.85), offset=(0.02, 0.0, 0.0))
    source = write_clip(tmp_path / "gen.mp4", frames=24, width=320, height=180, rate=24,
                        pattern=lambda i, w, h: np.clip(apply_cdl(frames[i], cast), 0, 1))
    hero = tmp_path / "hero.png"
    Image.fromarray((frames[0] * 255 + 0.5).astype(np.uint8)).save(hero)
    recipe = parse_recipe({
        "name": "social-test",
        "steps": [
            {"processor": "match", "reference": str(hero), "frames": 6},
            {"processor": "retime", "fps": 30},
            {"processor": "grade", "lut": "print-neutral", "saturation": 1.05},
            {"processor": "reframe", "aspect": "9:16", "width": 90, "height": 160, "lookahead": 8},
        ],
        "output": {"codec": "h264", "audio": "aac"},
    }, source="test")
    result = finish_clip(source, recipe, tmp_path / "out", gpu="off")
    assert result.ok, result.report.get("error")
    info = probe(result.output).require_video()
    assert (info.width, info.height) == (90, 160)
    assert info.rate_fraction == Fraction(30)
    assert info.frames == 30 == result.report["frames"]
    assert result.report["verification"]["ok"]
    notes = result.report["notes"]
    assert "cdl" in notes["1:match"] and len(notes["4:reframe"]["crop_path"]) == 30
    # The match took the cast out: the output's mean colour sits near the hero's.
    out = np.stack([p for _, p in VideoReader(result.output)]).astype(np.float32) / 65535
    assert out.shape == (30, 160, 90, 3)
    warm_bias = lambda rgb: float(rgb[..., 0].mean() - rgb[..., 2].mean())  # noqa: E731
    hero_bias = warm_bias(frames[0])
    assert abs(warm_bias(out) - hero_bias) < abs(warm_bias(apply_cdl(np.stack(frames), cast)) - hero_bias)
