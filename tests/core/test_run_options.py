"""`postbay run`: never replaces a deliverable silently, plans without rendering, says its recipe."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from pathlib import Path

import pytest

from postbay.cli import main
from postbay.media import count_frames
from postbay.synth import write_clip


def postbay(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command in this process (fast), its output captured as a subprocess's would be."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # --help
            code = int(exc.code or 0)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "shot.mp4", frames=4, width=64, height=64, audio=None)


def test_an_existing_output_gets_a_versioned_sibling_or_is_skipped_or_replaced_on_request(tmp_path: Path, shot: Path):
    out = tmp_path / "out"
    first = postbay("run", str(shot), "-r", "passthrough", "-o", str(out), "-q", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    original = (out / "shot.mov").read_bytes()
    again = postbay("run", str(shot), "-r", "passthrough", "-o", str(out), "-q", cwd=tmp_path)
    assert again.returncode == 0 and "shot_v2.mov" in again.stderr
    assert (out / "shot.mov").read_bytes() == original and count_frames(out / "shot_v2.mov") == 4
    assert (out / "shot_v2.report.json").exists()
    skipped = postbay("run", str(shot), "-r", "passthrough", "-o", str(out), "-q", "--skip-existing", cwd=tmp_path)
    assert skipped.returncode == 0 and "skipped" in skipped.stderr and not (out / "shot_v3.mov").exists()
    (out / "shot.mov").write_bytes(b"stale")
    replaced = postbay("run", str(shot), "-r", "passthrough", "-o", str(out), "-q", "--overwrite", "--json",
                       cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    (result,) = json.loads(replaced.stdout)
    assert result["status"] == "done" and result["output"] == str(out / "shot.mov")
    assert count_frames(out / "shot.mov") == 4 and not (out / "shot_v3.mov").exists()


def test_dry_run_prints_the_plan_and_renders_nothing(tmp_path: Path, shot: Path):
    out = tmp_path / "out"
    plan = postbay("run", str(shot), "-r", "finish", "-o", str(out), "--dry-run", "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    data = json.loads(plan.stdout)
    assert data["recipe"] == "finish" and data["steps"] and data["inputs"][0]["output"].startswith(str(out))
    assert not out.exists()
    text = postbay("run", str(shot), "-o", str(out), "--dry-run", cwd=tmp_path)
    assert "recipe: finish (the default" in text.stderr and "dry run: nothing rendered" in text.stdout
    assert not out.exists()
    assert "(default: finish)" in " ".join(postbay("run", "--help", cwd=tmp_path).stdout.split())


def test_dry_run_of_an_edit_list_shows_the_conform_plan(tmp_path: Path):
    from fractions import Fraction

    import opentimelineio as otio

    from tests.timeline.cuts import Shot, build_cut

    cut = build_cut(tmp_path / "media", [Shot("a.mov", 10, 12), Shot("b.mov", 0, 8), Shot("a.mov", 30, 6)],
                    rate=Fraction(24))
    (tmp_path / "media" / "b.mov").unlink()  # one shot's media is missing
    edit = tmp_path / "cut.otio"
    otio.adapters.write_to_file(cut, str(edit))
    out = tmp_path / "out"
    plan = postbay("run", str(edit), "-r", "passthrough", "-o", str(out), "--dry-run", "--json", "--handles", "2",
                   cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    (item,) = json.loads(plan.stdout)["inputs"]
    assert [c["status"] for c in item["clips"]] == ["planned", "missing", "planned"]
    assert item["clips"][0]["used"] == [10, 22] and item["clips"][0]["handles"] == [2, 2]
    assert len(item["renders"]) == 2 and all(r["media"].endswith("a.mov") for r in item["renders"])
    assert not out.exists()
    text = postbay("run", str(edit), "-r", "passthrough", "-o", str(out), "--dry-run", "--handles", "2",
                   cwd=tmp_path).stdout
    assert "3 clip(s), 2 render(s)" in text and "missing" in text


def test_listing_commands_speak_json(tmp_path: Path):
    recipes = json.loads(postbay("recipes", "--json", cwd=tmp_path).stdout)
    assert {"finish", "review", "passthrough"} <= {r["name"] for r in recipes}
    assert next(r for r in recipes if r["name"] == "finish")["steps"][0] == "denoise"
    presets = json.loads(postbay("presets", "--json", cwd=tmp_path).stdout)
    assert "prores_hq" in {p["name"] for p in presets}
