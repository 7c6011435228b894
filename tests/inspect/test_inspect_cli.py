"""postbay inspect on the command line: JSON, the self-contained HTML report, variations ranked."""

from __future__ import annotations

import json
import re

import numpy as np
from inspect_media import boil, encode, flicker, pan, photo
from PIL import Image

from postbay.cli import main


def test_json_and_html_report(tmp_path, capsys):
    frames, _ = flicker(pan(photo("astronaut"), 24, 256, 192), amplitude=0.06, colour=0.0)
    clip = encode(tmp_path / "flicker.mp4", frames)
    report = tmp_path / "report.html"
    assert main(["inspect", str(clip), "--json", "--html", str(report)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flicker"]["flagged"] and "thumbnails" not in data
    assert data["recommend"][0]["processor"] == "deflicker"
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") >= 3 and "data:image/jpeg;base64," in page
    assert "brightness swing" in page and "deflicker" in page
    # self-contained: nothing is fetched from anywhere
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_variations_ranked_with_a_reference_still(tmp_path, capsys):
    scene = pan(photo("astronaut"), 16, 256, 192)
    clean = encode(tmp_path / "a_clean.mp4", scene)
    boiling = encode(tmp_path / "b_boiling.mp4", boil([scene[0]] * 16, 0.03))
    cast = encode(tmp_path / "c_cast.mp4", [np.clip(f * np.array([1.25, 1.0, 0.7], np.float32), 0, 1) for f in scene])
    still = tmp_path / "look.png"
    Image.fromarray((scene[8] * 255 + 0.5).astype(np.uint8)).save(still)
    sheet = tmp_path / "sheet.html"
    assert main(["inspect", str(cast), str(boiling), str(clean), "--reference", str(still), "--json",
                 "--html", str(sheet)]) == 0
    ranking = json.loads(capsys.readouterr().out)["ranking"]
    order = [r["file"].rsplit("/", 1)[-1] for r in ranking]
    assert order[0] == "a_clean.mp4"
    cast_entry = next(r for r in ranking if r["file"].endswith("c_cast.mp4"))
    assert cast_entry["delta_e"] > 5 > ranking[0]["delta_e"]
    assert "Variations, best first" in sheet.read_text(encoding="utf-8")


def test_unreadable_reference_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "look.png"
    bad.write_text("not a picture")
    clip = encode(tmp_path / "c.mp4", pan(photo("astronaut"), 4, 128, 96))
    assert main(["inspect", str(clip), "--reference", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "look.png" in err and "reference still" in err


def test_timeline_shots_and_colour_continuity(tmp_path, capsys):
    import opentimelineio as otio

    rate = 24.0
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(24, rate))
    warm = encode(tmp_path / "warm.mov", [np.clip(f * np.array([1.2, 1.0, 0.75], np.float32), 0, 1)
                                          for f in pan(photo("astronaut"), 24, 128, 96)])
    neutral = encode(tmp_path / "neutral.mov", pan(photo("astronaut"), 24, 128, 96, start=(60.0, 60.0)))
    timeline = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for media, name in ((neutral, "wide"), (neutral, "wide again"), (warm, "close-up")):
        ref = otio.schema.ExternalReference(target_url=media.resolve().as_uri(), available_range=span)
        track.append(otio.schema.Clip(name=name, media_reference=ref, source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(4, rate), otio.opentime.RationalTime(12, rate))))
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    page = tmp_path / "cut.html"
    assert main(["inspect", str(cut), "--json", "--html", str(page)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["frames"] for c in data["clips"]] == [12, 12, 12]
    assert [c["start"] for c in data["clips"]] == [4, 4, 4]
    first, second = data["continuity"]
    assert not first["flagged"] and second["flagged"]
    assert "close-up" in second["to"] and "wide again" in second["from"]
    assert any(p["kind"] == "continuity" and "close-up" in p["message"] for p in data["problems"])
    assert "Shot to shot" in page.read_text(encoding="utf-8")


def _sepia_look(path, size=17, pull=0.5):
    """A .cube look that pulls every colour half-way to a warm sepia of its own luma (as looks
    do, it draws colours towards its palette: graded footage has least left to move)."""
    grid = np.linspace(0.0, 1.0, size)
    lines = [f"LUT_3D_SIZE {size}"]
    for b in grid:
        for g in grid:
            for r in grid:
                y = 0.2126 * r + 0.7152 * g + 0.0722 * b
                target = np.clip(y * np.array([1.15, 0.98, 0.72]), 0, 1)
                out = (1 - pull) * np.array([r, g, b]) + pull * target
                lines.append(" ".join(f"{v:.6f}" for v in out))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_variations_ranked_against_a_look(tmp_path, capsys):
    from postbay.colour import cpu_apply, file_processor

    look = _sepia_look(tmp_path / "sepia.cube")
    scene = pan(photo("coffee"), 12, 192, 144)
    graded = [np.clip(cpu_apply(file_processor(str(look)), f), 0, 1) for f in scene]
    blue = [np.clip(f * np.array([0.8, 0.95, 1.2], np.float32), 0, 1) for f in scene]
    clips = [encode(tmp_path / "a_ungraded.mp4", scene, audio=None),
             encode(tmp_path / "b_blue.mp4", blue, audio=None),
             encode(tmp_path / "c_graded.mp4", graded, audio=None)]
    sheet = tmp_path / "sheet.html"
    assert main(["inspect", *map(str, clips), "--reference", str(look), "--json", "--html", str(sheet)]) == 0
    ranking = json.loads(capsys.readouterr().out)["ranking"]
    assert ranking[0]["file"].endswith("c_graded.mp4"), ranking
    # the graded clip has least left to travel (measured 4.7 against 6.8 ungraded and 5.6 blue)
    assert ranking[0]["delta_e"] + 0.5 < min(r["delta_e"] for r in ranking[1:]), ranking
    assert "the look would move its colour" in ranking[0]["why"]
    assert "Reference look: sepia.cube" in sheet.read_text(encoding="utf-8")


def test_unreadable_look_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "broken.cube"
    bad.write_text("LUT_3D_SIZE 2\n0 0 0\n")
    clip = encode(tmp_path / "c.mp4", pan(photo("astronaut"), 4, 128, 96), audio=None)
    assert main(["inspect", str(clip), "--reference", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.cube" in err and "LUT" in err
