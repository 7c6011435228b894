"""What the pipeline and the render hand processors, and the limits they hold them to."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from postbay.errors import PostbayError
from postbay.pipeline import Pipeline
from postbay.recipe import Step, parse_recipe
from postbay.registry import FrameFormat, Processor, StepContext, default_registry


def _hoarder(frames: Iterator[Any], ctx: StepContext, params: Any) -> Iterator[Any]:
    """Declares one frame of lookahead, then reads the whole shot before giving any back."""
    held = list(frames)
    yield from held


def _steady(frames: Iterator[Any], ctx: StepContext, params: Any) -> Iterator[Any]:
    """Declares one frame of lookahead and keeps to it."""
    previous = None
    for frame in frames:
        if previous is not None:
            yield previous
        previous = frame
    if previous is not None:
        yield previous


def _run(function: Any, frames: int = 12) -> list[np.ndarray]:
    proc = Processor(name="hoard", function=function, kind="stream", window=(0, 1), origin="plugin:test")
    pictures = [np.full((8, 8, 3), 1000 * i, np.uint16) for i in range(frames)]
    return list(Pipeline([Step(3, proc, proc.params())]).process(pictures, FrameFormat(8, 8, Fraction(24), frames)))


def test_a_stream_step_holding_more_than_its_window_is_stopped() -> None:
    with pytest.raises(PostbayError, match=r"step 3 \(hoard\) holds 3 frames, more than its declared window"):
        _run(_hoarder)
    out = _run(_steady)  # the same lookahead, kept: every frame comes through in order
    assert [int(o[0, 0, 0]) for o in out] == [1000 * i for i in range(12)]


def test_captions_burn_in_is_a_step_of_the_parsed_recipe() -> None:
    recipe = parse_recipe({"steps": [{"processor": "captions", "burn": True, "style": "outline"},
                                     {"processor": "grade", "exposure": 0.5}]}, source="burn.toml")
    assert [(s.index, s.name, s.added_by) for s in recipe.steps] == [
        (1, "captions", None), (2, "grade", None), (3, "burn_captions", 1)]  # last: drawn on the finished picture
    assert recipe.steps[2].params.style == "outline"
    plain = parse_recipe({"steps": [{"processor": "captions"}]}, source="plain.toml")
    assert [s.name for s in plain.steps] == ["captions"]


def test_bed_is_given_its_music_and_never_opens_the_file(tmp_path: Path) -> None:
    from postbay.render import finish_clip
    from postbay.synth import write_clip

    music = write_clip(tmp_path / "music.mp4", frames=48, width=16, height=16)  # its sound is the music
    clip = write_clip(tmp_path / "shot.mov", frames=24, width=64, height=36, codec="prores", pix_fmt="yuv422p10le")
    recipe = parse_recipe({"steps": [{"processor": "bed", "path": str(music), "duck": False}],
                           "output": {"codec": "prores_hq", "audio": "pcm"}}, source="bed.toml")
    result = finish_clip(clip, recipe, tmp_path / "out")
    assert result.report["notes"]["1:bed"]["bed"] == "music.mp4"
    bed = default_registry(plugins=False).get("bed")
    with pytest.raises(PostbayError, match="bed was given no music"):
        bed.function(np.zeros((2, 480), np.float32), 48000, StepContext(None, None, None),  # type: ignore[arg-type]
                     bed.params(path=str(music)))


@pytest.mark.parametrize(("field", "value", "said"), [
    ("handles", -2, "handles: Input should be greater than or equal to 0"),
    ("handles", True, "handles: Input should be a valid integer"),
    ("missing", "ignore", "missing: Input should be 'fail' or 'skip'"),
    ("rate", "fast", "rate: 'fast' is not a frame rate"),
    ("rate", 0, "rate: 0 is not a frame rate"),
])
def test_timeline_options_are_checked_when_the_recipe_is_read(field: str, value: Any, said: str) -> None:
    with pytest.raises(PostbayError) as caught:
        parse_recipe({field: value}, source="cut.toml")
    assert "cut.toml" in str(caught.value) and said in str(caught.value)


def test_timeline_options_are_typed_on_the_recipe() -> None:
    recipe = parse_recipe({"handles": 6, "missing": "skip", "rate": "24000/1001"}, source="cut.toml")
    assert (recipe.timeline.handles, recipe.timeline.missing, recipe.timeline.rate) == (6, "skip", "24000/1001")
    assert parse_recipe({}, source="plain.toml").timeline.handles is None  # the conform's default decides
