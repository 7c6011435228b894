"""Programme render and deliveries, and the command line end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from postbay.media import VideoReader, probe, read_audio
from postbay.registry import default_registry
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline

from .cuts import RT, TR, Shot, build_cut, recipe_with, stand_in


def _two_tracks(tmp_path: Path) -> Path:
    """V1: a(20..32) b(10..22); V2 over the middle: c(5..11); A1: tone under the first shot."""
    rate = Fraction(25)
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 20, 12), Shot("b.mov", 10, 12)], rate=rate, media_frames=60)
    v2 = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    v2.append(otio.schema.Gap(source_range=TR(RT(0, 25), RT(8, 25))))
    c = stand_in(tmp_path / "media" / "c.mov", frames=40, rate=rate, timecode="01:00:00:00")
    v2.append(otio.schema.Clip(name="c", source_range=TR(RT(90000 + 5, 25), RT(6, 25)),
                               media_reference=otio.schema.ExternalReference(target_url=c.as_uri())))
    tl.tracks.append(v2)
    tone = stand_in(tmp_path / "media" / "tone.mov", frames=40, rate=rate, timecode="01:00:00:00", audio="tone")
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.append(otio.schema.Clip(name="tone", source_range=TR(RT(90000, 25), RT(12, 25)),
                               media_reference=otio.schema.ExternalReference(target_url=tone.as_uri())))
    tl.tracks.append(a1)
    path = tmp_path / "prog.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path


def test_top_track_wins_and_deliveries(tmp_path: Path) -> None:
    src = _two_tracks(tmp_path)
    recipe = recipe_with(deliveries=[
        {"name": "master", "codec": "prores_hq", "audio": "pcm"},
        {"name": "vertical", "codec": "h264", "aspect": "9:16", "height": 128, "audio": "none"},
    ])
    result = conform_timeline(src, recipe, tmp_path / "out", workers=1)
    assert result.ok
    master, vertical = result.deliveries
    numbers = [read_frame_number(p) for _, p in VideoReader(master["output"])]
    assert numbers == list(range(20, 28)) + list(range(5, 11)) + list(range(12, 22))  # V2 covers t = 8…13
    info = probe(master["output"])
    assert info.timecode == "01:00:00:00" and (info.video.width, info.video.height) == (128, 72)
    samples, sr = read_audio(master["output"], 0.0, 24 / 25)
    first, rest = samples[:, : sr * 12 // 25], samples[:, sr * 12 // 25 + 480:]
    assert np.sqrt((first ** 2).mean()) > 0.1 and np.abs(rest).max() < 1e-3  # the tone under shot one only
    assert any(n.startswith("audio tracks mixed at their levels (0 of 1") for n in master["notes"])
    assert master["levels"][0]["gain_db"] == 0.0 and master["levels"][0]["clip_level"].startswith("none found")

    vinfo = probe(vertical["output"])
    assert (vinfo.video.width, vinfo.video.height) == (72, 128) and vinfo.video.frames == 24
    how = vertical["notes"][0]
    if "reframe" in default_registry():
        assert how == "reframed with the reframe processor"
    else:
        assert how == "centre crop (no reframe processor registered)"
    report = json.loads(result.report_path.read_text())
    assert [d["name"] for d in report["deliveries"]] == ["master", "vertical"]


def test_cli_conforms_a_timeline(tmp_path: Path) -> None:
    src = _two_tracks(tmp_path)
    recipe = tmp_path / "conform.toml"
    recipe.write_text('name = "conform"\nhandles = 4\nmissing = "skip"\n[output]\ncodec = "prores_hq"\n')
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "postbay", "run", str(src), "--recipe", str(recipe), "--out", str(out),
                           "--handles", "2", "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "prog.conform.json").read_text())
    assert report["handles"] == 2  # --handles wins over the recipe's
    assert report["counts"] == {"conformed": 3, "passed through": 1}
    assert (out / "prog.postbay.otio").is_file()
    assert f"done {src}" in proc.stdout
