"""Parts of the conform: recipes crossing to workers, the hero, CDL notes, speed effects."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from postbay.media import VideoReader
from postbay.recipe import parse_recipe
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline
from postbay.timeline.plan import ClipPlan, hero_clip
from postbay.timeline.renders import cdl_from_notes, recipe_data

from .cuts import RT, TR, Shot, build_cut, recipe_with


def test_recipe_crosses_to_workers_as_data() -> None:
    recipe = parse_recipe({"name": "x", "handles": 6, "missing": "skip",
                           "steps": [{"processor": "exposure", "stops": 0.5}, {"processor": "resize", "height": 72}],
                           "output": {"codec": "h264"}, "deliveries": [{"name": "m", "aspect": "1:1"}]},
                          source="x.toml")
    again = parse_recipe(json.loads(json.dumps(recipe_data(recipe))), source="x.toml")
    assert again.describe() == recipe.describe() and again.timeline == recipe.timeline


def test_hero_is_the_marked_clip_else_the_first(tmp_path: Path) -> None:
    tl = build_cut(tmp_path, [Shot("a.mov", 10, 6), Shot("b.mov", 10, 6), Shot("c.mov", 10, 6)], rate=Fraction(24),
                   make_media=False)
    track = tl.tracks[0]
    clips = list(track)
    items = {f"V1/{i + 1}": c for i, c in enumerate(clips)}
    plans = [ClipPlan(key=k, timeline=0, track=0, track_label="V1", position=i + 1, name=c.name, status="planned")
             for i, (k, c) in enumerate(items.items())]
    assert hero_clip(plans, items).key == "V1/1"
    # A track marker named REF inside the third clip's span makes it the hero.
    track.markers.append(otio.schema.Marker(name="REF", marked_range=TR(RT(14, 24), RT(0, 24))))
    assert hero_clip(plans, items).key == "V1/3"
    clips[1].markers.append(otio.schema.Marker(name="Hero", marked_range=TR(RT(86412, 24), RT(0, 24))))
    assert hero_clip(plans, items).key == "V1/2"


def test_cdl_notes_in_both_spellings() -> None:
    sop = {"slope": [1, 1, 1], "offset": [0, 0, 0], "power": [1, 1, 1]}
    assert cdl_from_notes({"2:match": {"cdl": {**sop, "sat": 0.9}}})["saturation"] == 0.9
    assert cdl_from_notes({"2:match": {"cdl": {"asc_sop": sop, "asc_sat": 1.1}}})["saturation"] == 1.1
    assert cdl_from_notes({"1:exposure": {}}) is None


def test_speed_and_freeze_are_kept_and_played(tmp_path: Path) -> None:
    rate = Fraction(24)
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 20, 6), Shot("b.mov", 30, 4)], rate=rate, media_frames=72)
    fast, frozen = list(tl.find_clips())
    fast.effects.append(otio.schema.LinearTimeWarp(time_scalar=2.0))
    frozen.effects.append(otio.schema.FreezeFrame())
    src = tmp_path / "speed.otio"
    otio.adapters.write_to_file(tl, str(src))
    result = conform_timeline(src, recipe_with(deliveries=[{"name": "m", "codec": "ffv1", "audio": "none"}]),
                              tmp_path / "out", workers=1)
    a, b = result.clips
    assert a.used == (20, 32) and a.effects[0]["kind"] == "speed" and a.effects[0]["time_scalar"] == 2.0
    assert b.used == (30, 31) and b.effects[0]["kind"] == "freeze frame"
    numbers = [read_frame_number(p) for _, p in VideoReader(result.deliveries[0]["output"])]
    assert numbers == [20, 22, 24, 26, 28, 30] + [30] * 4
    back = otio.adapters.read_from_file(str(tmp_path / "out" / "speed.postbay.otio"))
    assert [type(e).__name__ for c in back.find_clips() for e in c.effects] == ["LinearTimeWarp", "FreezeFrame"]
    assert "speed" in result.summary_path.read_text()


def test_parallel_renders_from_a_threaded_host(tmp_path: Path) -> None:
    """The daemon and the API call the conform from a thread: workers then come from a fork server."""
    import threading

    tl = build_cut(tmp_path / "media", [Shot("a.mov", 14, 6), Shot("b.mov", 14, 6)], rate=Fraction(25))
    src = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(src))
    outcome: dict = {}

    def run() -> None:
        outcome["result"] = conform_timeline(src, recipe_with(), tmp_path / "out", workers=2)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(120)
    result = outcome["result"]
    assert result.ok and [p.status for p in result.clips] == ["conformed", "conformed"]


def test_otio_bundles_round_trip(tmp_path: Path) -> None:
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 14, 6), Shot("b.mov", 14, 6)], rate=Fraction(25))
    for fmt in ("otioz", "otiod"):
        src = tmp_path / f"cut.{fmt}"
        otio.adapters.write_to_file(tl, str(src), adapter_name=fmt)
        result = conform_timeline(src, recipe_with(), tmp_path / f"out_{fmt}", workers=1)
        assert result.loaded.format == fmt
        assert [(w.format, w.path.name, w.lost) for w in result.written] == [
            ("otio_json", "cut.postbay.otio", []), (fmt, f"cut.postbay.{fmt}", [])]
        assert [p.status for p in result.clips] == ["conformed", "conformed"]
