"""Probe 2: timeline clips that point outside the allowed folders (scheme case, localhost, ``~``, symlinks)."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
import pytest
from bridge.harness import http as request

from postbay.synth import write_clip


def _cut(path: Path, url: str) -> Path:
    clip = otio.schema.Clip(name="secret", media_reference=otio.schema.ExternalReference(url),
                            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24),
                                                                 otio.opentime.RationalTime(4, 24)))
    timeline = otio.schema.Timeline(name="cut")
    timeline.tracks.append(otio.schema.Track(children=[clip]))
    otio.adapters.write_to_file(timeline, str(path))
    return path


@pytest.fixture
def secret(tmp_path: Path, monkeypatch) -> Path:
    """A clip outside every root, in a home folder of its own."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return write_clip(home / "secret.mov", frames=4, width=64, height=36, audio=None)


@pytest.mark.parametrize("spelling", ["FILE://{p}", "File://localhost{p}", "file://LOCALHOST{p}", "~/secret.mov",
                                      "file://{p}", "{p}"])
def test_api_refuses_a_timeline_whose_clip_escapes_the_roots(open_bay, secret: Path, spelling: str):
    bay = open_bay()
    cut = _cut(bay.media / "cut.otio", spelling.format(p=secret))
    status, answer = request("POST", bay.url + "/jobs", None, {"path": str(cut), "recipe": "review"})
    assert status == 403 and "secret" in answer["detail"], (spelling, status, answer)
    assert bay.ledger.list() == []


def test_api_refuses_a_clip_reaching_out_through_a_symlink(open_bay, secret: Path):
    bay = open_bay()
    (bay.media / "alias.mov").symlink_to(secret)
    cut = _cut(bay.media / "cut.otio", "alias.mov")  # relative, inside the roots by name only
    status, answer = request("POST", bay.url + "/jobs", None, {"path": str(cut), "recipe": "review"})
    assert status == 403, answer
    inside = write_clip(bay.media / "inside.mov", frames=4, width=64, height=36, audio=None)
    status, answer = request("POST", bay.url + "/jobs", None,
                             {"path": str(_cut(bay.media / "ok.otio", f"FILE://{inside}")), "recipe": "review"})
    assert status == 201, answer


@pytest.mark.parametrize("spelling", ["FILE://{p}", "File://localhost{p}", "~/secret.mov", "{p}", "alias.mov"])
def test_the_worker_never_opens_a_clip_outside_its_folders(tmp_path: Path, secret: Path, spelling: str):
    from postbay.timeline.relink import Relinker

    edit = tmp_path / "edit"
    edit.mkdir()
    (edit / "alias.mov").symlink_to(secret)  # inside by name, outside once followed
    cut = _cut(edit / "cut.otio", spelling.format(p=secret))
    (clip,) = otio.adapters.read_from_file(str(cut)).find_clips()
    confined = Relinker(cut, [], confine=True).locate(clip)
    assert confined.path is None and any("refused" in t or "by name" in t for t in confined.tried), confined.tried
    assert Relinker(cut, []).locate(clip).path is not None  # `postbay run` by the user: as written


def test_a_hot_folder_timeline_cannot_render_a_clip_outside_its_folders(tmp_path: Path, secret: Path):
    from bridge.harness import DaemonBay, wait_for

    from postbay.daemon.ledger import Ledger

    daemon = DaemonBay(tmp_path, api=False)
    ledger = Ledger(daemon.data / "ledger.sqlite")
    try:
        cut = _cut(tmp_path / "cut.otio", f"FILE://{secret}")
        cut.rename(daemon.hot / "cut.otio")
        (job,) = wait_for(lambda: [j for j in ledger.list() if j.state in ("done", "failed")], timeout=120,
                          what="the escaping timeline's job")
        assert job.state == "failed", (job.outputs, job.error)
        assert not [p for p in daemon.out.glob("*") if p.suffix in (".mov", ".mp4")], list(daemon.out.glob("*"))
    finally:
        daemon.stop()
        ledger.close()
