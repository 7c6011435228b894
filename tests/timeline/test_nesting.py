"""Nested sequences opened into their track: their clips are conformed and the programme shows them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from postbay.media import VideoReader
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline

from .cuts import RT, TR, Shot, build_cut, recipe_with


def _clip(media: Path, name: str, src_in: int, length: int) -> otio.schema.Clip:
    origin = 86400
    ref = otio.schema.ExternalReference(target_url=(media / f"{name}.mov").resolve().as_uri(),
                                        available_range=TR(RT(origin, 24), RT(72, 24)))
    return otio.schema.Clip(name=name, media_reference=ref, source_range=TR(RT(origin + src_in, 24), RT(length, 24)))


def test_nested_sequence_is_opened_conformed_and_shown(tmp_path: Path) -> None:
    """V1: a (6), then a nest trimmed to its frames 2–10: b under, c over b's frames 4–7."""
    media = tmp_path / "media"
    tl = build_cut(media, [Shot("a.mov", 10, 6), Shot("b.mov", 0, 1), Shot("c.mov", 0, 1)], rate=Fraction(24),
                   media_frames=72)
    track = tl.tracks[0]
    del track[2]
    del track[1]  # b and c were only there to make their stand-in media
    nest = otio.schema.Stack(name="compound", source_range=TR(RT(2, 24), RT(8, 24)))
    lower, upper = otio.schema.Track(name="V1"), otio.schema.Track(name="V2")
    lower.append(_clip(media, "b", 20, 12))
    upper.append(otio.schema.Gap(source_range=TR(RT(0, 24), RT(4, 24))))
    upper.append(_clip(media, "c", 30, 4))
    nest.extend([lower, upper])
    track.append(nest)
    path = tmp_path / "nested.otio"
    otio.adapters.write_to_file(tl, str(path))
    recipe = recipe_with(deliveries=[{"name": "master", "codec": "ffv1", "audio": "none"}])
    result = conform_timeline(path, recipe, tmp_path / "out", workers=1)
    assert result.ok
    assert result.loaded.notes == ["nested sequence 'compound' on V1 opened: 2 video track(s) flattened top-down, "
                                   "3 item(s) inline"]
    assert sorted(p.name for p in result.clips if p.status == "conformed") == ["a", "b", "b", "c"]
    shown = [read_frame_number(p) for _, p in VideoReader(Path(result.deliveries[0]["output"]))]
    # a 10–15; then the nest from its frame 2: b 22, 23, c 30–33, b 28, 29
    assert shown == list(range(10, 16)) + [22, 23, 30, 31, 32, 33, 28, 29]
