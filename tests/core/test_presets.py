"""Every encode preset in every container it allows: renders, verifies, keeps tags and timecode."""

from __future__ import annotations

from fractions import Fraction

import pytest

from postbay.media import PRESETS, VideoReader, probe
from postbay.recipe import parse_recipe
from postbay.render import finish_clip

CASES = [(name, container) for name, p in PRESETS.items() for container in p.containers]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from postbay.synth import write_clip

    folder = tmp_path_factory.mktemp("presets")
    return write_clip(folder / "src.mov", frames=8, width=256, height=144, rate=Fraction(25),
                      timecode="01:02:03:04", audio="tone")


@pytest.mark.parametrize("preset,container", CASES)
def test_preset_renders_and_verifies(tmp_path, source, preset, container):
    recipe = parse_recipe({"name": "p", "steps": [{"processor": "exposure", "stops": 0.0}],
                           "output": {"codec": preset, "container": container, "audio": "copy"}})
    result = finish_clip(source, recipe, tmp_path)
    info = probe(result.output)
    assert result.output.suffix == f".{container}"
    # FFmpeg's ProRes decoder hands 4444 out as 12-bit; the stream itself is 10-bit 4:4:4.
    expected = "yuv444p12le" if preset == "prores_4444" else PRESETS[preset].pix_fmt
    assert info.video.pix_fmt == expected
    assert info.video.frames == 8 and info.video.rate_fraction == Fraction(25)
    assert info.audio, "audio dropped"
    if container != "mkv":  # Matroska keeps timecode as a tag only on some muxer versions
        assert info.timecode == "01:02:03:04"
    assert len(list(VideoReader(result.output))) == 8
