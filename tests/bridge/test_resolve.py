"""The Resolve scripts, run as Resolve's Scripts menu would run them, against a faithful fake
of the scripting API (tests/bridge/fake_resolve) and a real daemon on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest

from postbay.synth import write_clip

from .harness import DaemonBay, wait_for

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "bridge" / "resolve"
SEND = "Send timeline to postbay.py"
IMPORT = "Import finished postbay timelines.py"
FAKE = Path(__file__).resolve().parent / "fake_resolve"


class Session:
    """One fake Resolve session: its state file, call log and the scripts' own settings."""

    def __init__(self, tmp: Path, media: Path, name: str = "Cut 3", **state):
        self.tmp = tmp
        media = media / tmp.name  # each test its own clips, on a daemon the module shares
        media.mkdir(parents=True, exist_ok=True)
        self.state_path = tmp / "resolve-state.json"
        self.log_path = tmp / "resolve-calls.jsonl"
        self.state_dir = tmp / "resolve-pending"
        clips = []
        for i, shot in enumerate(["wide", "close"]):
            # Unique file names: the conform relinks a missing clip by name across the media roots.
            path = write_clip(media / f"{shot}-{tmp.name}.mov", frames=24, width=160, height=90, audio=None)
            clips.append({"name": shot, "path": str(path), "start": 4 + i, "duration": 8, "available": 24})
        data = {"running": True, "project": "Promo", "otio_export": True,
                "timeline": {"name": name, "rate": 24, "start_frame": 0, "clips": clips}}
        data.update(state)
        self.state_path.write_text(json.dumps(data))

    def run(self, script: str, *args: str, url: str = "http://127.0.0.1:9", token: str | None = None,
            fake: bool = True, settings: Path | None = None, folder: Path = SCRIPTS) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "POSTBAY_TOKEN")}
        if fake:
            env["PYTHONPATH"] = str(FAKE)
        env.update(FAKE_RESOLVE_STATE=str(self.state_path), FAKE_RESOLVE_LOG=str(self.log_path),
                   POSTBAY_URL=url, POSTBAY_STATE_DIR=str(self.state_dir),
                   POSTBAY_SETTINGS=str(settings or self.tmp / "no-settings.json"))
        if token:
            env["POSTBAY_TOKEN"] = token
        return subprocess.run([sys.executable, str(folder / script), *args], env=env, capture_output=True,
                              text=True, timeout=240, cwd=self.tmp)

    def calls(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def state(self) -> dict:
        return json.loads(self.state_path.read_text())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = DaemonBay(tmp_path_factory.mktemp("resolve-bay"))
    yield d
    d.stop()


def test_send_exports_otio_conforms_and_imports_into_the_postbay_bin(daemon, tmp_path):
    session = Session(tmp_path, daemon.media)
    proc = session.run(SEND, "--recipe", "review", "--timeout", "120", url=daemon.url, token=daemon.token)
    assert proc.returncode == 0, proc.stdout + proc.stderr + daemon.output()
    assert "exported 'Cut 3' as Cut 3.otio" in proc.stdout
    assert "imported 'Cut 3 (review)' into the 'postbay' bin" in proc.stdout

    calls = [c["call"] for c in session.calls()]
    export = next(c for c in session.calls() if c["call"] == "Timeline.Export")
    assert export["args"][1] == 5  # resolve.EXPORT_OTIO
    assert calls.index("Timeline.Export") < calls.index("MediaPool.AddSubFolder") < \
        calls.index("MediaPool.SetCurrentFolder") < calls.index("MediaPool.ImportTimelineFromFile")
    imported = next(c for c in session.calls() if c["call"] == "MediaPool.ImportTimelineFromFile")
    assert imported["args"][1] == {"timelineName": "Cut 3 (review)", "importSourceClips": True}

    # What Resolve now holds: the conformed edit, in the postbay bin, on the finished clips.
    state = session.state()
    (timeline,) = state["timelines"]
    assert timeline["bin"] == "postbay" and state["bins"]["postbay"] == ["Cut 3 (review)"]
    assert [c["duration"] for c in timeline["clips"]] == [8, 8]
    for clip in timeline["clips"]:
        assert Path(clip["path"]).is_file() and Path(clip["path"]).parent == daemon.out
    conformed = otio.adapters.read_from_file(imported["args"][0])
    assert [c.name for c in conformed.find_clips()] == ["wide", "close"]
    # The job is in the ledger (via the API) and nothing is left pending.
    job_id = proc.stdout.split("postbay: job ")[1].split()[0]
    status, job = daemon.request("GET", f"/jobs/{job_id}")
    assert (job["kind"], job["state"], job["recipe"]) == ("timeline", "done", "review")
    assert json.loads((session.state_dir / "pending.json").read_text()) == []


def test_without_otio_export_it_sends_fcp7_xml(daemon, tmp_path):
    session = Session(tmp_path, daemon.media, name="Cut 4", otio_export=False)
    proc = session.run(SEND, "--recipe", "review", "--no-wait", url=daemon.url, token=daemon.token)
    assert proc.returncode == 0, proc.stderr
    exports = [c["args"][1] for c in session.calls() if c["call"] == "Timeline.Export"]
    assert exports == [3]  # EXPORT_FCP_7_XML, and no attempt at the missing EXPORT_OTIO
    assert "exported 'Cut 4' as Cut 4.xml" in proc.stdout
    pending = json.loads((session.state_dir / "pending.json").read_text())
    assert pending[0]["suffix"] == ".xml"
    # Later, "Import finished postbay timelines" brings it in once the daemon is done.
    job_id = pending[0]["job_id"]
    wait_for(lambda: daemon.request("GET", f"/jobs/{job_id}")[1]["state"] in ("done", "failed"), timeout=120)
    assert daemon.request("GET", f"/jobs/{job_id}")[1]["state"] == "done", daemon.output()
    proc = session.run(IMPORT, url=daemon.url, token=daemon.token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "imported 'Cut 4 (review)'" in proc.stdout
    assert session.state()["bins"]["postbay"] == ["Cut 4 (review)"]
    proc = session.run(IMPORT, url=daemon.url, token=daemon.token)
    assert "nothing is waiting to be imported" in proc.stdout


def test_without_an_api_it_drops_into_the_hot_folder(tmp_path):
    daemon = DaemonBay(tmp_path / "bay", api=False)
    try:
        session = Session(tmp_path, daemon.media)
        settings = tmp_path / "settings.json"
        settings.write_text(json.dumps({"hot_folders": {"review": {"path": str(daemon.hot),
                                                                   "output": str(daemon.out)}}}))
        proc = session.run(SEND, "--recipe", "review", "--timeout", "120", url=f"http://127.0.0.1:{daemon.port}",
                           settings=settings)
        assert proc.returncode == 0, proc.stdout + proc.stderr + daemon.output()
        assert "no daemon answered" in proc.stdout and str(daemon.hot) in proc.stdout
        assert "imported 'Cut 3 (review)'" in proc.stdout
        assert session.state()["timelines"][0]["bin"] == "postbay"
    finally:
        daemon.stop()


def test_without_recipe_it_asks_in_a_resolve_dialog(daemon, tmp_path):
    session = Session(tmp_path, daemon.media, name="Cut 6", ui_choice="review")
    proc = session.run(SEND, "--timeout", "120", url=daemon.url, token=daemon.token)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    offered = [c["args"][0] for c in session.calls() if c["call"] == "ComboBox.AddItem"]
    assert {"passthrough", "review"} <= set(offered)  # the daemon's recipes, from the API
    assert "job" in proc.stdout and "with recipe 'review'" in proc.stdout
    assert "imported 'Cut 6 (review)'" in proc.stdout
    # Cancelling the dialog sends nothing.
    (tmp_path / "again").mkdir()
    session = Session(tmp_path / "again", daemon.media, name="Cut 7", ui_choice=None)
    proc = session.run(SEND, url=daemon.url, token=daemon.token)
    assert proc.returncode == 1 and "cancelled: nothing was sent" in proc.stderr
    assert not any(c["call"] == "Timeline.Export" for c in session.calls())


@pytest.mark.parametrize("state, fake, message", [
    ({}, False, "scripting module was not found"),
    ({"running": False}, True, "DaVinci Resolve is not running"),
    ({"project": None}, True, "no project is open in Resolve"),
    ({"timeline": None}, True, "project 'Promo' has no timeline open"),
    ({}, True, "postbay does not answer at http://127.0.0.1:9, and no hot folder is known for recipe 'review'"),
])
def test_clear_messages_when_something_is_missing(tmp_path, state, fake, message):
    session = Session(tmp_path, tmp_path, **state)
    proc = session.run(SEND, "--recipe", "review", fake=fake)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(c["call"] == "MediaPool.ImportTimelineFromFile" for c in session.calls())


def test_a_failed_job_is_reported_and_nothing_imported(daemon, tmp_path):
    session = Session(tmp_path, daemon.media, name="Cut 5")
    state = session.state()
    Path(state["timeline"]["clips"][1]["path"]).write_bytes(b"not a movie")  # the daemon will fail on it
    proc = session.run(SEND, "--recipe", "review", "--timeout", "120", url=daemon.url, token=daemon.token)
    assert proc.returncode == 1
    assert "failed:" in proc.stderr and "close-" in proc.stderr
    assert session.state().get("timelines", []) == []


def test_resolve_install_copies_scripts_and_settings(tmp_path):
    dest = tmp_path / "Scripts" / "Utility"
    config = tmp_path / "postbay.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[[watch]]\npath = "{tmp_path / "hot"}"\nrecipe = "review"\n'
                      '[api]\nport = 8799\ntoken = "abc"\n')
    proc = subprocess.run([sys.executable, "-m", "postbay", "--config", str(config), "resolve", "install",
                           "--dest", str(dest)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert str(dest / SEND) in proc.stdout
    assert (dest / SEND).read_bytes() == (SCRIPTS / SEND).read_bytes()
    assert (dest / IMPORT).is_file() and (dest / ".postbay" / "postbay_resolve.py").is_file()
    settings = json.loads((dest / ".postbay" / "settings.json").read_text())
    assert settings["api_url"] == "http://127.0.0.1:8799" and settings["token"] == "abc"
    assert settings["hot_folders"]["review"]["path"] == str(tmp_path / "hot")
    assert oct((dest / ".postbay" / "settings.json").stat().st_mode & 0o777) == "0o600"
    # The installed copy finds its library and settings on its own.
    session = Session(tmp_path, tmp_path, running=False)
    env_settings = dest / ".postbay" / "settings.json"
    proc = session.run(SEND, "--recipe", "review", folder=dest, settings=env_settings)
    assert "DaVinci Resolve is not running" in proc.stderr


def test_default_scripts_folders_per_system(monkeypatch, tmp_path):
    from postbay.bridge.cli import resolve_scripts_folder

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("APPDATA", str(tmp_path / "AppData"))
    assert resolve_scripts_folder("Linux") == tmp_path / ".local/share/DaVinciResolve/Fusion/Scripts/Utility"
    assert resolve_scripts_folder("Darwin") == (tmp_path / "Library/Application Support/Blackmagic Design/"
                                                "DaVinci Resolve/Fusion/Scripts/Utility")
    assert resolve_scripts_folder("Windows") == (tmp_path / "AppData/Blackmagic Design/DaVinci Resolve/Support/"
                                                 "Fusion/Scripts/Utility")
