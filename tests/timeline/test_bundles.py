"""``.otioz`` and ``.otiod`` bundles: the media inside are the cut's media; the conformed cut goes
back out as a bundle holding the finished shots."""

from __future__ import annotations

import shutil
import zipfile
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from postbay.errors import PostbayError
from postbay.media import VideoReader
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline

from .cuts import Shot, build_cut, recipe_with

SHOTS = [Shot("a.mov", 20, 8), Shot("b.mov", 30, 6)]


def _bundle(tmp_path: Path, suffix: str) -> Path:
    """A cut bundled with its media; the loose media are then deleted (only the bundle has them)."""
    tl = build_cut(tmp_path / "loose", SHOTS, rate=Fraction(24), media_frames=72)
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "inbox" / f"cut{suffix}"
    otio.adapters.write_to_file(tl, str(path))
    shutil.rmtree(tmp_path / "loose")
    return path


class _Config:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir


@pytest.mark.parametrize("suffix", [".otioz", ".otiod"])
def test_bundle_media_relink_and_the_result_is_a_bundle(tmp_path: Path, suffix: str) -> None:
    path = _bundle(tmp_path, suffix)
    data = tmp_path / "data"
    result = conform_timeline(path, recipe_with(missing="fail"), tmp_path / "out", workers=1, config=_Config(data))
    assert result.ok
    assert [(p.status, p.relink.how) for p in result.clips] == [("conformed", "relative to the timeline")] * 2
    if suffix == ".otioz":
        extracted = next((data / "bundles").iterdir())
        assert {p.relink.path.parent for p in result.clips} == {extracted / "media"}
        assert result.loaded.notes == [f"media extracted from the bundle to {extracted}"]
    else:
        assert {p.relink.path.parent for p in result.clips} == {path / "media"}
        assert not data.exists()  # a folder bundle is read in place
    native = next(w for w in result.written if w.format == suffix[1:])
    assert (native.error, native.lost) == (None, [])
    # The bundle written holds the finished shots, frame for frame, and its cut points at them.
    unpacked = tmp_path / "unpacked"
    if suffix == ".otioz":
        with zipfile.ZipFile(native.path) as z:
            z.extractall(unpacked)
    else:
        shutil.copytree(native.path, unpacked)
    back = otio.adapters.read_from_file(str(unpacked / "content.otio"))
    urls = [c.media_reference.target_url for c in back.find_clips()]
    assert urls == [f"media/{job.output.name}" for job in result.jobs]
    for job in result.jobs:
        numbers = [read_frame_number(p) for _, p in VideoReader(unpacked / "media" / job.output.name)]
        assert numbers == list(range(job.start, job.start + job.count))


def test_otioz_is_extracted_once(tmp_path: Path) -> None:
    path = _bundle(tmp_path, ".otioz")
    config = _Config(tmp_path / "data")
    for out in ("out1", "out2"):
        result = conform_timeline(path, recipe_with(missing="fail"), tmp_path / out, workers=1, config=config)
        assert result.ok
    assert len(list((tmp_path / "data" / "bundles").iterdir())) == 1
    assert result.loaded.notes[0].startswith("media from the bundle, extracted earlier to ")


def test_otioz_member_outside_the_bundle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.otioz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("content.otio", otio.adapters.write_to_string(otio.schema.Timeline(name="x")))
        z.writestr("../../escape.mov", b"x")
    with pytest.raises(PostbayError, match=r"bundle member '../../escape.mov' points outside the bundle; refused"):
        conform_timeline(path, recipe_with(), tmp_path / "out", config=_Config(tmp_path / "data"))
    assert not (tmp_path / "escape.mov").exists()


def test_any_timeline_can_go_out_as_a_bundle(tmp_path: Path) -> None:
    """`bundle = "otioz"` in the recipe: an .otio conform also writes cut.postbay.otioz with the finished shots."""
    tl = build_cut(tmp_path / "media", SHOTS, rate=Fraction(24), media_frames=72)
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    result = conform_timeline(path, recipe_with(bundle="otioz"), tmp_path / "out", workers=1)
    assert [(w.format, w.error, w.lost) for w in result.written] == [("otio_json", None, []), ("otioz", None, [])]
    with zipfile.ZipFile(tmp_path / "out" / "cut.postbay.otioz") as z:
        assert sorted(n for n in z.namelist() if n.startswith("media/")) == \
            sorted(f"media/{job.output.name}" for job in result.jobs)
