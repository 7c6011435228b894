"""Probe 1: a deeply nested .otio, which segfaults the OpenTimelineIO reader of whoever parses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest
from bridge.harness import http as request

from postbay.timeline.isolated import outline_timeline
from postbay.timeline.reader import MAX_NESTING, TimelineError, read_timeline


def deep_otio(path: Path, depth: int) -> Path:
    """A small, valid-looking .otio whose metadata nests ``depth`` lists deep (200 KB at 100,000)."""
    path.write_text('{"OTIO_SCHEMA": "Timeline.1", "name": "deep", "metadata": {"x": ' + "[" * depth + "]" * depth
                    + '}, "tracks": {"OTIO_SCHEMA": "Stack.1", "children": []}}')
    return path


def test_deep_otio_is_refused_before_the_adapter_sees_it(tmp_path: Path):
    deep = deep_otio(tmp_path / "deep.otio", 100_000)
    with pytest.raises(TimelineError, match="nests 100002 levels deep"):
        read_timeline(deep)
    # the same nesting in a bundle and in XML
    bundle = tmp_path / "deep.otioz"
    import zipfile

    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("content.otio", deep.read_text())
    with pytest.raises(TimelineError, match="levels deep"):
        read_timeline(bundle)
    xml = tmp_path / "deep.xml"
    xml.write_text('<?xml version="1.0"?>\n<xmeml version="4">' + "<a>" * 5000 + "</a>" * 5000 + "</xmeml>")
    with pytest.raises(TimelineError, match=f"more than {MAX_NESTING} deep"):
        read_timeline(xml)
    # an ordinary edit still reads: the check refuses nesting, not timelines
    ok = deep_otio(tmp_path / "ok.otio", 50)
    assert read_timeline(ok).timelines[0].name == "deep"


def test_postbay_run_on_a_deep_otio_names_the_file_instead_of_segfaulting(tmp_path: Path):
    deep = deep_otio(tmp_path / "deep.otio", 100_000)
    run = subprocess.run([sys.executable, "-m", "postbay", "run", str(deep), "--recipe", "review",
                          "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode > 0, run.returncode  # an error exit, not a signal
    assert f"{deep}: nests 100002 levels deep" in run.stderr, run.stderr[-500:]


def test_a_reader_that_dies_takes_only_its_child_down(tmp_path: Path):
    clips = [otio.schema.Clip(name=f"c{i}", media_reference=otio.schema.ExternalReference(f"file:///m/{i}.mov"),
                              source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24),
                                                                   otio.opentime.RationalTime(24, 24)))
             for i in range(3)]
    timeline = otio.schema.Timeline(name="cut")
    timeline.tracks.append(otio.schema.Track(children=clips))
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    outline = outline_timeline(cut)
    assert outline.format == "otio_json" and [c.url for c in outline.clips] == [f"file:///m/{i}.mov" for i in range(3)]
    # no room to parse in: the child fails, this process carries on and is told why
    timeline.metadata["notes"] = "x" * 20_000_000
    otio.adapters.write_to_file(timeline, str(cut))
    with pytest.raises(TimelineError, match="needs more than 8 MB|crashed the timeline reader") as refused:
        outline_timeline(cut, memory_mb=8)
    assert refused.value.path == str(cut)
    with pytest.raises(TimelineError, match="took more than 0.01 s"):
        outline_timeline(cut, seconds=0.01)


def test_api_refuses_a_deep_otio_and_keeps_serving(open_bay):
    bay = open_bay()
    deep = deep_otio(bay.media / "deep.otio", 100_000)
    status, answer = request("POST", bay.url + "/jobs", None, {"path": str(deep), "recipe": "review"})
    assert status == 400 and "levels deep" in answer["detail"], answer
    assert request("GET", bay.url + "/health", None)[0] == 200
    assert bay.ledger.list() == []


@pytest.mark.slow  # ~30 s: two daemon starts
def test_deep_otio_in_a_hot_folder_fails_once_and_the_daemon_survives_restarts(tmp_path: Path):
    from bridge.harness import DaemonBay, wait_for

    from postbay.daemon.ledger import Ledger

    daemon = DaemonBay(tmp_path, api=False)
    ledger = Ledger(daemon.data / "ledger.sqlite")
    try:
        deep = deep_otio(tmp_path / "deep.otio", 100_000)
        deep.rename(daemon.hot / "deep.otio")

        def failed():
            assert daemon.proc.poll() is None, daemon.output()  # it segfaulted, and again at every start
            return [j for j in ledger.list("failed")]

        (job,) = wait_for(failed, timeout=60, what="the deep timeline's job to fail")
        assert "levels deep" in job.error, job.error
        daemon.stop()
        daemon = DaemonBay(tmp_path, api=False)  # a restart does not take it up again
        wait_for(lambda: "daemon ready" in daemon.output(), timeout=30)
        assert daemon.proc.poll() is None
        assert [(j.id, j.state) for j in ledger.list()] == [(job.id, "failed")]
    finally:
        daemon.stop()
        ledger.close()


def test_a_file_the_daemon_died_reading_is_remembered_across_restarts(tmp_path: Path):
    """Whatever still reads a queued file in the daemon's own process (the media-settle scan of an
    edit): a crash there counts as an attempt, so it cannot become a restart loop."""
    from bridge.harness import DaemonBay, wait_for

    from postbay.daemon.ledger import Ledger

    (tmp_path / "hot" / "review").mkdir(parents=True)
    cut = deep_otio(tmp_path / "hot" / "review" / "cut.otio", 3)
    with Ledger(tmp_path / "data" / "ledger.sqlite") as ledger:  # as a daemon that died reading it leaves it
        job, _ = ledger.submit(cut, "review", tmp_path / "hot-out", folder=tmp_path / "hot" / "review", after="move")
        ledger.set_daemon_state(reading=job.id)
    daemon = DaemonBay(tmp_path, api=False)  # retries = 0: one crash and the file is given up
    ledger = Ledger(tmp_path / "data" / "ledger.sqlite")
    try:
        failed = wait_for(lambda: ledger.list("failed"), timeout=60, what="the job to be given up")
        assert failed[0].id == job.id and "the daemon stopped while reading" in failed[0].error, failed[0].error
    finally:
        daemon.stop()
        ledger.close()
