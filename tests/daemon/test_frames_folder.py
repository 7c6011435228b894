"""A folder of numbered frames in a hot folder is one source: one job, one output, moved whole."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from daemon_harness import drop as drop_file
from daemon_harness import wait_for
from pydantic import ValidationError
from stills import numbered

from postbay.config import WatchConfig
from postbay.daemon.arrival import file_kind, settle_seconds
from postbay.daemon.frames import folder_fingerprint, holds_frames, sequence_incomplete, signature
from postbay.daemon.watcher import ArrivalTracker, scan_folder
from postbay.media import VideoReader, probe
from postbay.sequences import find_sequence
from postbay.synth import read_frame_number, write_clip


def test_a_frames_folder_is_whole_only_when_every_frame_is(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    assert sequence_incomplete(run) == "no numbered frames yet"
    numbered(run, range(1, 4), name="ComfyUI_", suffix="_.png", padding=5)
    assert sequence_incomplete(run) is None
    last = run / "ComfyUI_00003_.png"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # the writer is half way through the newest frame
    assert "ComfyUI_00003_.png does not decode yet" in str(sequence_incomplete(run))
    last.write_bytes(b"")
    assert "is empty" in str(sequence_incomplete(run))
    last.write_bytes(data)
    numbered(run, [1], name="other_")
    assert sequence_incomplete(run) is None  # two runs: taken, and the job says why it cannot render it
    before = signature(run), folder_fingerprint(run)
    time.sleep(0.01)
    numbered(run, [4], name="ComfyUI_", suffix="_.png", padding=5)
    assert signature(run) != before[0] and folder_fingerprint(run) != before[1]


def test_a_still_beside_a_clip_does_not_make_its_folder_a_sequence(tmp_path: Path) -> None:
    """Recursive watch: a sub-folder holding a clip and its cover still gives the clip, not a
    folder that waits for ever for numbered frames."""
    watch = WatchConfig(path=tmp_path, recipe="passthrough", recursive=True)
    (tmp_path / "top").mkdir()
    (tmp_path / "top" / "clip2.mov").write_bytes(b"\0" * 16)
    (tmp_path / "top" / "cover.png").write_bytes(b"\0" * 16)
    assert not holds_frames(tmp_path / "top")
    assert [p.name for p in scan_folder(watch) if p.suffix == ".mov" or p.is_dir()] == ["clip2.mov"]
    numbered(tmp_path / "shot", range(1, 3))
    assert holds_frames(tmp_path / "shot")


def test_only_folders_holding_frames_are_candidates(tmp_path: Path) -> None:
    watch = WatchConfig(path=tmp_path, recipe="passthrough", settle_seconds=1, sequence_settle_seconds=7)
    numbered(tmp_path / "shot", range(1, 3))
    numbered(tmp_path, [1], name="still_")  # a loose frame: a still or a sidecar, not a source
    (tmp_path / "notes").mkdir()
    numbered(tmp_path / "done" / "old", [1])
    assert sorted(p.name for p in scan_folder(watch)) == ["shot", "still_0001.png"]
    assert file_kind(tmp_path / "shot") == "sequence" and file_kind(tmp_path / "still_0001.png") == "other"
    assert settle_seconds(watch, False, sequence=True) == 7 and settle_seconds(watch, False) == 1
    assert WatchConfig(path=tmp_path, recipe="passthrough", rate=23.976).rate == "23.976"
    with pytest.raises(ValidationError, match="not a frame rate"):
        WatchConfig(path=tmp_path, recipe="passthrough", rate="fast")
    tracker = ArrivalTracker(check_open=False)
    for path in scan_folder(watch):
        tracker.nominate(path, watch)
    assert tracker.poll(now=0.0) == [] and tracker.pending() == 1  # the still is ignored
    assert tracker.poll(now=6.0) == []
    (arrival,) = tracker.poll(now=7.5)
    assert arrival.path == tmp_path / "shot"


def test_a_folder_filled_frame_by_frame_is_one_job(bay, tmp_path: Path) -> None:
    """ComfyUI writing 1001–1010 with 1002–1003 never made, pausing longer than settle_seconds
    between frames: one job once no frame came for sequence_settle_seconds, one movie at the
    watch folder's rate (over the recipe's) with the gap held, the folder moved whole to done/.
    A folder holding two runs is one failed job, moved whole to failed/; a loose still stays
    where it is. Beside it, a folder whose recipe writes frames (``[output] sequence = "png"``)
    turns a clip into frames."""
    recipe = tmp_path / "frames25.toml"
    recipe.write_text('name = "frames30"\nrate = 30\n[output]\ncodec = "prores_hq"\n')
    drop, out = tmp_path / "drop", tmp_path / "out"
    to_frames = tmp_path / "to_frames.toml"
    to_frames.write_text('name = "to_frames"\n[output]\nsequence = "png"\n')
    daemon = bay(folders=[{"path": str(drop), "recipe": str(recipe), "output": str(out), "settle_seconds": 0.5,
                           "sequence_settle_seconds": 2, "rate": "25"},
                          {"path": str(tmp_path / "drop2"), "recipe": str(to_frames), "output": str(tmp_path / "out2"),
                           "settle_seconds": 0.5}])
    drop_file(write_clip(tmp_path / "take.mov", frames=5, width=64, height=36, timecode="00:00:10:00"),
              tmp_path / "drop2")
    numbered(drop, [1], name="still_")
    comfy = drop / "comfy_out"
    comfy.mkdir()
    made = tmp_path / "made"
    numbered(made, [1001, *range(1004, 1011)], name="gen_")
    for frame in sorted(made.iterdir()):
        data = frame.read_bytes()
        with open(comfy / frame.name, "wb") as fh:  # written in place, as ComfyUI does
            fh.write(data[:100])
            fh.flush()
            time.sleep(0.3)
            fh.write(data[100:])
        time.sleep(0.7)  # longer than settle_seconds
    finished = time.time()
    mixed = tmp_path / "mixed"
    numbered(mixed, [1, 2], name="a_")
    numbered(mixed, [1, 2], name="b_")
    os.replace(mixed, drop / "mixed")  # moved in whole
    (failed,) = daemon.wait_jobs(1, "failed", timeout=90)
    frames_job, done = sorted(daemon.wait_jobs(2, timeout=90), key=lambda j: j.created)
    assert Path(frames_job.outputs[0]) == tmp_path / "out2" / "take"
    assert find_sequence(tmp_path / "out2" / "take").numbers == tuple(range(240, 245))  # 00:00:10:00 at 24 fps
    assert done.created >= finished - 0.1 and len(daemon.jobs()) == 3
    assert "holds 2 sequences (a_####.png, b_####.png)" in str(failed.error)
    assert sorted(p.name for p in (drop / "failed" / "mixed").iterdir()) == \
        ["a_0001.png", "a_0002.png", "b_0001.png", "b_0002.png"]
    assert Path(done.source) == drop / "done" / "comfy_out"
    assert sorted(p.name for p in Path(done.source).iterdir()) == sorted(p.name for p in made.iterdir())
    assert not comfy.exists() and (drop / "still_0001.png").exists()
    (output,) = done.outputs
    assert Path(output) == out / "comfy_out.mov"
    info = probe(output)
    assert (info.video.rate, info.video.frames, info.timecode) == ("25/1", 10, "00:00:40:01")  # type: ignore[union-attr]
    shown = [read_frame_number(p) for _, p in VideoReader(output)]
    assert shown == [1001, 1001, 1001, *range(1004, 1011)]  # 1002–1003 held on 1001
    report = json.loads(Path(output).with_name("comfy_out.report.json").read_text())
    assert report["input"]["metadata"]["sequence"].endswith("2 missing: 1002–1003")
    shutil.rmtree(made)
    wait_for(lambda: not daemon.ledger.list("queued"), 5, what="an idle queue")
