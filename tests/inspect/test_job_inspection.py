"""The inspection every job gets (postbay.daemon.inspection), through the worker's own entry point:
written beside the report and linked (a cut's shot by shot), an ``auto`` job's kept instead of
measuring twice, off with ``[inspect] every_job = false``, and a failure left in the
report without failing the job."""

from __future__ import annotations

import json
from pathlib import Path

import opentimelineio as otio

from postbay.daemon.executor import JobSpec, render_job
from postbay.daemon.inspection import attach_inspection
from postbay.synth import ai_look_frame, write_clip

AUTO = """name = "auto-here"
[auto]
height = 72
[output]
codec = "prores_hq"
audio = "none"
"""
PLAIN = """name = "plain"
[output]
codec = "prores_hq"
audio = "none"
"""


def _recipes(tmp_path: Path) -> Path:
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "auto-here.toml").write_text(AUTO)
    (folder / "plain.toml").write_text(PLAIN)
    return folder


def _run(tmp_path: Path, source: Path, recipe: str, **spec) -> dict:
    sent: list = []
    result = render_job(JobSpec(job_id="j", source=str(source), recipe=recipe, output_dir=str(tmp_path / "out"),
                                recipe_dirs=(str(_recipes(tmp_path)),), **spec), sent.append)
    assert result[0] == "done", result
    return json.loads(Path(result[2]).read_text())


def test_a_clip_job_is_inspected_beside_its_report(tmp_path):
    clip = write_clip(tmp_path / "take.mov", frames=24, width=160, height=90, pattern=ai_look_frame, audio="tone")
    report = _run(tmp_path, clip, "plain")
    links = report["inspection"]
    assert Path(links["json"]).name == "take.inspect.json" and Path(links["html"]).name == "take.inspect.html"
    (kept,) = json.loads(Path(links["json"]).read_text())["clips"]
    assert kept["frames"] == 24 and kept["thumbnails"] and kept["speech"]["heard"] is False  # a tone: no voice
    assert "postbay inspect" in Path(links["html"]).read_text(encoding="utf-8")


def test_every_job_off_inspects_nothing(tmp_path):
    clip = write_clip(tmp_path / "take.mov", frames=12, width=160, height=90, audio=None)
    report = _run(tmp_path, clip, "plain", inspect=False)
    assert "inspection" not in report and not (tmp_path / "out" / "take.inspect.json").exists()


def test_an_auto_job_keeps_its_own_inspection(tmp_path):
    clip = write_clip(tmp_path / "take.mov", frames=12, width=160, height=90, audio="tone")
    report = _run(tmp_path, clip, "auto-here")
    (kept,) = json.loads(Path(report["inspection"]["json"]).read_text())["clips"]
    assert kept["analysis"]["seconds"] == report["auto"]["inspect_seconds"]  # measured once, by auto
    assert kept["speech"]["heard"] is False  # and listened to, as every job's


def test_a_cut_job_is_inspected_shot_by_shot(tmp_path):
    span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(24, 24))
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for name, start in (("wide", 4), ("close", 0)):
        media = write_clip(tmp_path / f"{name}.mov", frames=24, width=160, height=90, audio=None)
        ref = otio.schema.ExternalReference(target_url=media.resolve().as_uri(), available_range=span)
        track.append(otio.schema.Clip(name=name, media_reference=ref, source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(start, 24), otio.opentime.RationalTime(12, 24))))
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(name="cut", tracks=[track]), str(cut))
    report = _run(tmp_path, cut, "plain", kind="timeline")
    assert Path(report["inspection"]["json"]).name == "cut.inspect.json"
    inspection = json.loads(Path(report["inspection"]["json"]).read_text())
    assert [c["shot"] for c in inspection["clips"]] == ["V1/1 wide", "V1/2 close"]
    assert [c["start"] for c in inspection["clips"]] == [4, 0] and len(inspection["continuity"]) == 1
    assert "Shot to shot" in Path(report["inspection"]["html"]).read_text(encoding="utf-8")


def test_a_failed_inspection_leaves_the_job_done_and_says_why(tmp_path):
    clip = write_clip(tmp_path / "take.mov", frames=12, width=160, height=90, audio=None)
    report = _run(tmp_path, clip, "plain", inspect=False)
    report_path = tmp_path / "out" / "take.report.json"
    clip.unlink()  # gone before it could be inspected
    links = attach_inspection(report_path, clip, "media")
    assert "take.mov" in links["error"]
    written = json.loads(report_path.read_text())
    assert written["inspection"] == links and written["status"] == report["status"] == "done"
