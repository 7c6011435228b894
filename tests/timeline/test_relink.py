"""Relinking: moved media, Windows paths, renamed extensions, reels, missing media (skip and fail)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import opentimelineio as otio
import pytest

from postbay.errors import PostbayError
from postbay.paths import url_to_path
from postbay.timeline.conform import conform_timeline
from postbay.timeline.relink import Relinker

from .cuts import Shot, build_cut, recipe_with, stand_in

RATE = Fraction(24)


def _cut_with_urls(tmp_path: Path, urls: list[str], names: list[str] | None = None) -> Path:
    tl = build_cut(tmp_path / "elsewhere", [Shot(f"s{i}.mov", 14, 6) for i in range(len(urls))], rate=RATE,
                   make_media=False)
    for clip, url, name in zip(tl.find_clips(), urls, names or [None] * len(urls)):
        clip.media_reference.target_url = url
        if name:
            clip.name = name
    folder = tmp_path / "edit"
    folder.mkdir(exist_ok=True)
    path = folder / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path


def _media(folder: Path, name: str, **kwargs) -> Path:
    return stand_in(folder / name, frames=48, rate=RATE, timecode="01:00:00:00", **kwargs)


def test_url_forms() -> None:
    base = Path("/edit")
    assert url_to_path("file://localhost/Volumes/m/a%20b.mov", base) == (Path("/Volumes/m/a b.mov"), "a b.mov")
    assert url_to_path("file:///D%3A/Avid%20MediaFiles/x.mxf", base) == (None, "x.mxf")
    assert url_to_path("S:\\path\\to\\ZZ100_501.take_1.0001.exr", base) == (None, "ZZ100_501.take_1.0001.exr")
    assert url_to_path("file://VSD/Tools/shot.mxf", base) == (None, "shot.mxf")
    assert url_to_path("media/a.mov", base) == (Path("/edit/media/a.mov"), "a.mov")


def test_relinks_every_way(tmp_path: Path) -> None:
    roots = tmp_path / "roots"
    _media(tmp_path / "edit" / "media", "s0.mov")  # relative to the timeline
    _media(roots, "s1.mov")  # moved: the absolute path in the timeline is gone
    _media(roots / "deep", "SHOT_B.mov")  # a Windows path from another machine, other case
    _media(roots, "s3.mp4")  # the timeline says .mxf: re-exported with another extension
    # Found only by reel and timecode: a file named after its tape whose timecode holds the clip
    # (the other take of that tape starts at 02:00:00:00 and does not).
    stand_in(roots / "TAPE07_a.mov", frames=48, rate=RATE, timecode="02:00:00:00")
    _media(roots, "TAPE07_b.mov")
    path = _cut_with_urls(tmp_path, [
        "media/s0.mov",
        (tmp_path / "old_drive" / "s1.mov").as_uri(),
        "S:\\Projects\\show\\shot_b.mov",
        "file:///D%3A/Avid%20MediaFiles/MXF/1/s3.mxf",
        "",
    ], names=[None, None, None, None, "TAPE07"])
    tl = otio.adapters.read_from_file(str(path))
    last = list(tl.find_clips())[-1]
    last.media_reference = otio.schema.MissingReference()
    last.metadata["cmx_3600"] = {"reel": "TAPE07"}
    last.name = "unnamed"
    otio.adapters.write_to_file(tl, str(path))
    config = SimpleNamespace(media_roots=[roots], gpu="off")
    result = conform_timeline(path, recipe_with(), tmp_path / "out", config=config, workers=1)
    how = [(p.relink.how, p.relink.path.name) for p in result.clips]
    assert how == [("relative to the timeline", "s0.mov"), ("by name", "s1.mov"), ("by name", "SHOT_B.mov"),
                   ("by name", "s3.mp4"), ("by reel and timecode", "TAPE07_b.mov")]
    assert all(p.status == "conformed" for p in result.clips)
    report = json.loads(result.report_path.read_text())
    assert report["clips"][2]["relink"]["tried"][0].startswith("as given: S:\\Projects")


def test_absolute_path_as_given(tmp_path: Path) -> None:
    media = _media(tmp_path / "m", "s0.mov")
    path = _cut_with_urls(tmp_path, [media.as_uri().replace("file://", "file://localhost")])
    result = conform_timeline(path, recipe_with(), tmp_path / "out", workers=1)
    assert result.clips[0].relink.how == "as given"


def test_missing_media_skip_finishes_the_rest(tmp_path: Path) -> None:
    _media(tmp_path / "edit", "s0.mov")
    path = _cut_with_urls(tmp_path, ["s0.mov", "S:\\gone\\s1.mov"])
    result = conform_timeline(path, recipe_with(missing="skip"), tmp_path / "out", workers=1)
    assert [p.status for p in result.clips] == ["conformed", "missing"]
    report = json.loads(result.report_path.read_text())
    missing = report["clips"][1]
    assert missing["status"] == "missing" and missing["relink"]["written"] == "S:\\gone\\s1.mov"
    assert "by name: 's1.mov'" in missing["relink"]["tried"]
    # The missing clip keeps its reference in the written timeline; the found one points at its render.
    back = otio.adapters.read_from_file(str(tmp_path / "out" / "cut.postbay.otio"))
    refs = [c.media_reference.target_url for c in back.find_clips()]
    assert refs[0].endswith("/out/cut_V1_001_s0.mov") and refs[1] == "S:\\gone\\s1.mov"
    assert "1 missing" in result.summary_path.read_text()


def test_missing_media_fail_renders_nothing(tmp_path: Path) -> None:
    _media(tmp_path / "edit", "s0.mov")
    path = _cut_with_urls(tmp_path, ["s0.mov", "S:\\gone\\s1.mov"])
    out = tmp_path / "out"
    with pytest.raises(PostbayError, match=r"1 clip\(s\) without usable media: V1/2 's1'") as err:
        conform_timeline(path, recipe_with(missing="fail"), out, workers=1)
    assert "cut.otio" in str(err.value)
    assert sorted(p.name for p in out.iterdir()) == ["cut.conform.json", "cut.conform.txt"]
    assert json.loads((out / "cut.conform.json").read_text())["status"] == "failed"


def test_media_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(PostbayError, match="media root is not a folder"):
        Relinker(tmp_path / "cut.otio", [tmp_path / "nope"])


def test_a_broken_file_where_the_timeline_points_is_not_swapped_for_a_namesake(tmp_path: Path) -> None:
    """The editor's file exists but is corrupt: fail on it, do not link another file of that name."""
    broken = tmp_path / "edit" / "s0.mov"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a movie")
    _media(tmp_path / "roots", "s0.mov")
    path = _cut_with_urls(tmp_path, [broken.as_uri()])
    config = SimpleNamespace(media_roots=[tmp_path / "roots"], gpu="off")
    with pytest.raises(PostbayError, match="s0.mov exists but is not usable video: not a readable media file"):
        conform_timeline(path, recipe_with(), tmp_path / "out", config=config, workers=1)
    result_skip = conform_timeline(path, recipe_with(missing="skip"), tmp_path / "out2", config=config, workers=1)
    assert result_skip.clips[0].status == "failed" and result_skip.clips[0].relink.how == "unreadable"
    assert result_skip.status == "done with problems"
