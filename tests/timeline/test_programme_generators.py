"""Generators in the programme: solid colours rendered as their colour, titles and the rest listed."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from postbay.media import VideoReader
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline
from postbay.timeline.generators import solid_colour

from .cuts import NLE_SAMPLES, RT, TR, Shot, build_cut, recipe_with


def _generator(name: str, kind: str, frames: int, **parameters) -> otio.schema.Clip:
    return otio.schema.Clip(name=name, source_range=TR(RT(0, 24), RT(frames, 24)),
                            media_reference=otio.schema.GeneratorReference(generator_kind=kind, parameters=parameters))


def test_solid_colours_render_and_titles_are_listed(tmp_path: Path) -> None:
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 10, 6)], rate=Fraction(24), media_frames=48)
    track = tl.tracks[0]
    track.append(_generator("Red Matte", "SolidColor", 4, color={"r": 1.0, "g": 0.0, "b": 0.0, "a": 1.0}))
    track.append(_generator("Lower third", "GraphicAndType", 3))
    track.append(_generator("Black Video", "Slug", 2))
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    recipe = recipe_with(deliveries=[{"name": "master", "codec": "ffv1", "audio": "none"}])
    result = conform_timeline(path, recipe, tmp_path / "out", workers=1)
    assert result.ok
    (master,) = result.deliveries
    assert "1 item(s) not rendered, shown as what lies beneath, else black: title 'Lower third' (GraphicAndType) " \
           "on V1 at 01:00:00:10" in master["notes"]
    pictures = [p.astype(np.float64) / 65535 for _, p in VideoReader(Path(master["output"]))]
    assert len(pictures) == 6 + 4 + 3 + 2
    assert [read_frame_number((p * 65535).astype(np.uint16)) for p in pictures[:6]] == list(range(10, 16))
    for p in pictures[6:10]:  # the red matte, through YUV: red high, green and blue low, everywhere
        means = p.reshape(-1, 3).mean(0)
        assert means[0] > 0.95 and means[1] < 0.05 and means[2] < 0.05 and p[..., 0].min() > 0.9
    for p in pictures[10:]:  # the title is not drawn (black beneath) and the black slug is black
        assert p.max() < 0.03


def test_premiere_colour_matte_reads_as_its_colour() -> None:
    tl = otio.adapters.read_from_file(str(NLE_SAMPLES / "premiere" / "premiere_generators.xml"))
    colours = {c.name: solid_colour(c) for c in tl.find_clips() if c.parent().kind == otio.schema.TrackKind.Video}
    assert colours["Blue Matte"] == (0.0, 0.0, 1.0)
    assert colours["Black Video"] == (0.0, 0.0, 0.0)
    assert colours["Graphic"] is None and colours["HD Bars and Tone"] is None


@pytest.mark.parametrize("colour", [{"r": 2.0, "g": -1, "b": 0.5}, [0.2, 0.4, 0.6, 1.0]])
def test_solid_colour_parameters_are_clamped(colour) -> None:
    rgb = solid_colour(_generator("m", "SolidColor", 1, color=colour))
    assert rgb is not None and all(0.0 <= c <= 1.0 for c in rgb)
