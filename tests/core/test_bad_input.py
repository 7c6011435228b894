"""Bad input: one clear line naming the file and the cause, non-zero exit, nothing partial."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from postbay.synth import write_clip


def postbay(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "postbay", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def only_reports(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def good(tmp_path):
    return write_clip(tmp_path / "good.mp4", frames=6, audio="tone")


def make_bad(tmp_path: Path, kind: str, good: Path) -> Path:
    if kind == "zero":
        p = tmp_path / "zero.mp4"
        p.write_bytes(b"")
    elif kind == "truncated":
        p = tmp_path / "truncated.mp4"
        p.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    elif kind == "text":
        p = tmp_path / "notes.mp4"
        p.write_text("this is not a video\n" * 50)
    elif kind == "audio-only":
        import av
        import numpy as np

        p = tmp_path / "audio.m4a"
        with av.open(str(p), "w", format="mp4") as out:
            s = out.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 48000
            frame.pts = 0
            out.mux(s.encode(frame))
            out.mux(s.encode(None))
    return p


@pytest.mark.parametrize("kind,cause", [
    ("zero", "empty (0 bytes)"),
    ("truncated", "truncated"),
    ("text", "not a readable media file"),
    ("audio-only", "no video stream"),
])
def test_bad_media_gives_one_clear_line(tmp_path, good, kind, cause):
    bad = make_bad(tmp_path, kind, good)
    before = bad.read_bytes()
    r = postbay("run", str(bad), "--recipe", "passthrough", "--out", "out", "-q", cwd=tmp_path)
    assert r.returncode != 0
    failed = [line for line in r.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and str(bad.name) in failed[0] and cause in failed[0], r.stderr
    assert "Traceback" not in r.stderr
    assert bad.read_bytes() == before  # the source is untouched
    # no output file; the failed report in reports/, away from the deliverables
    assert only_reports(tmp_path / "out") == ["reports"]
    assert only_reports(tmp_path / "out" / "reports") == [f"{bad.stem}.report.json"]


def test_batch_with_one_bad_file_finishes_the_others(tmp_path, good):
    other = write_clip(tmp_path / "other.mov", frames=5, rate=Fraction(25), audio=None)
    bad = make_bad(tmp_path, "text", good)
    r = postbay("run", str(good), str(bad), str(other), "--recipe", "review", "--out", "out", "-q", cwd=tmp_path)
    assert r.returncode == 1
    assert "2 done, 1 failed" in r.stderr
    names = only_reports(tmp_path / "out")
    assert "good.mp4" in names and "other.mp4" in names and "notes.mp4" not in names


def test_glob_inputs(tmp_path):
    for i in range(3):
        write_clip(tmp_path / f"shot{i}.mp4", frames=3, audio=None)
    r = postbay("run", "shot*.mp4", "--recipe", "review", "--out", "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sum(1 for n in only_reports(tmp_path / "out") if n.endswith(".mp4")) == 3


def test_unknown_recipe(tmp_path, good):
    r = postbay("run", str(good), "--recipe", "no-such-recipe", "--out", "out", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("postbay: error: unknown recipe 'no-such-recipe'")
    assert "passthrough" in r.stderr  # the message lists what exists
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("body,expected", [
    ('[[steps]]\nprocessor = "resize"\nheight = -5\n', "step 1 (resize): height: Input should be greater than 0"),
    ('[[steps]]\nprocessor = "resize"\nheigth = 720\n', "step 1 (resize): heigth: unknown parameter"),
    ('[[steps]]\nprocessor = "warp-drive"\n', "step 1: unknown processor 'warp-drive'"),
    ('[[steps]]\nprocessor = "exposure"\nstops = "lots"\n', "step 1 (exposure): stops: Input should be a valid number"),
    ('[output]\ncodec = "mpeg2"\n', "output.codec"),
    ('[output]\ncodec = "prores_hq"\ncontainer = "mp4"\n', "prores_hq cannot be written in mp4"),
    ('name = "x"\nsteps = [\n', "not valid TOML"),
])
def test_recipe_errors_name_file_step_and_field(tmp_path, good, body, expected):
    recipe = tmp_path / "bad.toml"
    recipe.write_text(body)
    r = postbay("run", str(good), "--recipe", str(recipe), "--out", "out", cwd=tmp_path)
    assert r.returncode == 2
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1, line
    assert str(recipe) in line and expected in line, line
    assert not (tmp_path / "out").exists()


@contextlib.contextmanager
def read_only_folder(path: Path):
    """A folder nobody may write to: chmod for a user; a read-only tmpfs mounted on it for root."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {r.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_unwritable_output_folder(tmp_path, good):
    with read_only_folder(tmp_path / "locked") as out:
        r = postbay("run", str(good), "--recipe", "review", "--out", str(out), cwd=tmp_path)
        assert r.returncode == 1, r.stderr
        assert "output folder is not writable" in r.stderr and str(out) in r.stderr
        assert list(out.iterdir()) == []


def test_output_folder_that_is_a_file(tmp_path, good):
    blocker = tmp_path / "out"
    blocker.write_text("I am a file")
    r = postbay("run", str(good), "--recipe", "review", "--out", str(blocker), cwd=tmp_path)
    assert r.returncode == 1
    assert "cannot create the output folder" in r.stderr and str(blocker) in r.stderr


def test_refuses_to_write_over_its_input(tmp_path):
    src = write_clip(tmp_path / "clip.mov", frames=3, codec="prores", pix_fmt="yuv422p10le", audio=None)
    before = src.read_bytes()
    r = postbay("run", str(src), "--recipe", "passthrough", "--out", str(tmp_path), "--overwrite", cwd=tmp_path)
    assert r.returncode == 1
    assert "output would overwrite an input" in r.stderr
    assert src.read_bytes() == before
    # without --overwrite an existing name (the input's own) gets a versioned sibling
    r = postbay("run", str(src), "--recipe", "passthrough", "--out", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "clip_v2.mov").exists() and src.read_bytes() == before


def test_failed_verification_publishes_nothing(tmp_path, good):
    """A render that does not match its promise stays unpublished (checked on a real file)."""
    from postbay.verify import Expectation, verify_output

    v = verify_output(good, Expectation(width=320, height=180, rate=Fraction(24), frames=7, audio=True))
    assert not v.ok and "6 frames written, 7 promised" in v.problems
    v = verify_output(good, Expectation(width=320, height=180, rate=Fraction(24), frames=6, audio=True))
    assert v.ok, v.problems


def test_full_disk_fails_cleanly(tmp_path):
    """A render that fills its disk fails with 'disk full', leaves nothing behind, and works once
    there is space (a real 1 MiB tmpfs)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    src = write_clip(tmp_path / "big.mp4", frames=48, width=640, height=360, audio="tone")
    out = tmp_path / "small"
    out.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(out)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        r = postbay("run", str(src), "--recipe", "passthrough", "--out", str(out), "-q", cwd=tmp_path)
        assert r.returncode == 1
        assert "disk full" in r.stderr and "Traceback" not in r.stderr, r.stderr
        leftovers = [p.name for p in out.iterdir() if p.name != "reports"]
        assert leftovers == [], leftovers
        subprocess.run(["mount", "-o", "remount,size=64m", str(out)], check=True)
        r = postbay("run", str(src), "--recipe", "passthrough", "--out", str(out), "-q", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert (out / "big.mov").exists()
    finally:
        subprocess.run(["umount", str(out)], check=False)
