"""Arrival on its own: whole containers, files that pause mid-copy, what a hot folder takes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from postbay.config import WatchConfig
from postbay.daemon.arrival import (
    NETWORK_SETTLE_SECONDS,
    file_kind,
    incomplete_reason,
    settle_seconds,
    sidecars_of,
)
from postbay.daemon.watcher import ArrivalTracker
from postbay.synth import write_clip

_CLIPS = {"clip.mp4": {}, "clip.mov": {}, "clip.mkv": {}, "clip.mxf": {"codec": "mpeg2video", "audio": None},
          "faststart.mp4": {"options": {"movflags": "+faststart"}}}


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("whole")
    return {name: write_clip(folder / name, frames=12, width=160, height=96, **kw) for name, kw in _CLIPS.items()}


@pytest.mark.parametrize("name", sorted(_CLIPS))
def test_a_whole_container_is_complete_and_every_cut_copy_is_not(whole: dict[str, Path], name: str, tmp_path: Path):
    src = whole[name]
    assert incomplete_reason(src) is None
    data = src.read_bytes()
    part = tmp_path / name
    # cuts anywhere but in the last bytes an MXF needs no more (its random index pack)
    for fraction in (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97):
        part.write_bytes(data[: int(len(data) * fraction)])
        assert incomplete_reason(part) is not None, f"{name} cut at {fraction:.0%} looks whole"


def test_garbage_empty_and_other_containers(tmp_path: Path):
    (tmp_path / "empty.mov").write_bytes(b"")
    (tmp_path / "noise.mov").write_bytes(os.urandom(50_000))
    (tmp_path / "noise.avi").write_bytes(os.urandom(50_000))
    for name in ("empty.mov", "noise.mov", "noise.avi"):
        assert incomplete_reason(tmp_path / name) is not None, name
    y4m = write_clip(tmp_path / "clip.avi", frames=4, width=64, height=64, codec="mpeg4", audio=None)
    assert incomplete_reason(y4m) is None
    assert incomplete_reason(tmp_path / "edit.otio") is None  # edit lists settle like any file


def test_hot_folders_take_media_and_edit_lists_only():
    for name in ("a.mov", "B.MXF", "c.mp4", "d.wav", "e.otio", "f.edl", "g.fcpxml"):
        assert file_kind(Path(name)) != "other", name
    for name in ("notes.txt", "clip.json", "still.png", "frame.exr", "readme.md", "x.pdf"):
        assert file_kind(Path(name)) == "other", name


def test_sidecars_are_the_text_files_with_the_clips_stem(tmp_path: Path):
    for name in ("clip.mp4", "clip.txt", "clip.json", "clip.png", "other.txt", "clip2.txt"):
        (tmp_path / name).write_text("x")
    assert [p.name for p in sidecars_of(tmp_path / "clip.mp4")] == ["clip.json", "clip.txt"]


def test_network_mounts_settle_longer_unless_configured(tmp_path: Path):
    assert settle_seconds(WatchConfig(path=tmp_path, recipe="passthrough"), network=True) == NETWORK_SETTLE_SECONDS
    assert settle_seconds(WatchConfig(path=tmp_path, recipe="passthrough"), network=False) == 5.0
    assert settle_seconds(WatchConfig(path=tmp_path, recipe="passthrough", settle_seconds=2), network=True) == 2


def test_a_copy_that_pauses_longer_than_settle_is_not_taken_until_whole(whole: dict[str, Path], tmp_path: Path):
    watch = WatchConfig(path=tmp_path, recipe="passthrough", settle_seconds=1)
    data = whole["clip.mp4"].read_bytes()
    target = tmp_path / "clip.mp4"
    tracker = ArrivalTracker(check_open=False)
    third = len(data) // 3
    clock = 0.0
    for chunk in (data[:third], data[third:2 * third]):
        with open(target, "ab") as fh:
            fh.write(chunk)
        tracker.nominate(target, watch)
        for _ in range(8):  # 8 s of quiet, four times the settle time
            clock += 1.0
            assert tracker.poll(now=clock) == [], f"taken at {target.stat().st_size} of {len(data)} bytes"
        assert tracker.pending() == 1
    with open(target, "ab") as fh:
        fh.write(data[2 * third:])
    taken = []
    for _ in range(90):  # the back-off never exceeds a minute
        clock += 1.0
        taken += tracker.poll(now=clock)
    assert [a.size for a in taken] == [len(data)] and tracker.pending() == 0


def test_an_incomplete_file_untouched_for_arrival_timeout_is_taken(tmp_path: Path):
    broken = tmp_path / "broken.mov"
    broken.write_bytes(os.urandom(10_000))
    tracker = ArrivalTracker(check_open=False)
    tracker.nominate(broken, WatchConfig(path=tmp_path, recipe="passthrough", settle_seconds=0, arrival_timeout=60))
    assert tracker.poll(now=1) == [] and tracker.poll(now=2) == []
    old = time.time() - 120
    os.utime(broken, (old, old))  # ctime stays recent: still waits
    assert tracker.poll(now=100) == []
    tracker = ArrivalTracker(check_open=False)
    tracker.nominate(broken, WatchConfig(path=tmp_path, recipe="passthrough", settle_seconds=0, arrival_timeout=0))
    assert tracker.poll(now=1) == []  # first look: size and mtime noted
    assert [a.path for a in tracker.poll(now=2)] == [broken]


def test_notes_and_stills_are_not_nominated(tmp_path: Path):
    watch = WatchConfig(path=tmp_path, recipe="passthrough", settle_seconds=0)
    tracker = ArrivalTracker(check_open=False)
    for name in ("notes.txt", "still.png"):
        (tmp_path / name).write_text("x")
        tracker.nominate(tmp_path / name, watch)
    assert tracker.poll(now=1) == [] and tracker.pending() == 0
