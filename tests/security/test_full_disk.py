"""Probe 6: the disk under the ledger fills up while the daemon runs (a real tmpfs, filled)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from bridge.harness import DaemonBay, wait_for

from postbay.synth import write_clip

_MOUNT_NOTE = "needs root to mount a small tmpfs as the data folder"


@pytest.fixture
def small_disk(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(data)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip(_MOUNT_NOTE)
    yield data
    subprocess.run(["umount", "-l", str(data)], check=False)


def _fill(folder: Path) -> Path:
    filler = folder / "filler.bin"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        except OSError:
            pass
    return filler


@pytest.mark.slow  # ~30 s: a daemon, a disk filled and emptied, a render
def test_daemon_stays_up_on_a_full_disk_and_resumes_when_space_returns(tmp_path: Path, small_disk: Path):
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.2)
    daemon = DaemonBay(tmp_path, token=None, extra="[limits]\nmin_free_mb = 8",
                       env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock")))
    try:
        clip = write_clip(tmp_path / "shot.mov", frames=6, width=96, height=54, audio=None)
        filler = _fill(small_disk)
        shutil.copy2(clip, daemon.hot / ".shot.mov.copying")
        os.rename(daemon.hot / ".shot.mov.copying", daemon.hot / "shot.mov")
        status = {}

        def paused() -> bool:
            assert daemon.proc.poll() is None, daemon.output()  # it did exit with the OperationalError
            status.update(daemon.request("GET", "/health")[1])
            return status.get("status") == "paused"

        wait_for(paused, timeout=30, what="the daemon to pause")
        assert "disk full" in status["paused"] and str(small_disk) in status["paused"]
        code, answer = daemon.request("POST", "/jobs", {"path": str(daemon.hot / "shot.mov"), "recipe": "review"})
        assert code == 507 and "disk full" in answer["detail"]
        said: list[str] = []
        wait_for(lambda: any("PAUSED, disk full" in line for line in said + _status_lines(notify, said)), timeout=15,
                 what="systemd to be told")
        cli = subprocess.run([sys.executable, "-m", "postbay", "status", "--config", str(daemon.config_path)],
                             capture_output=True, text=True, timeout=60, check=False)
        assert "disk full" in cli.stdout, cli.stdout + cli.stderr
        filler.unlink()  # space is back: the daemon carries on by itself
        wait_for(lambda: daemon.request("GET", "/health")[1].get("status") == "ok", timeout=30, what="resume")
        try:
            wait_for(lambda: [j["state"] for j in daemon.request("GET", "/jobs")[1]["jobs"]] == ["done"], timeout=90,
                     what="the dropped file finished")
        except AssertionError:
            raise AssertionError(daemon.output()) from None
    finally:
        daemon.stop()
        notify.close()


def _status_lines(sock: socket.socket, lines: list[str]) -> list[str]:
    """The ``STATUS=`` lines received since the last call, added to ``lines`` too."""
    new = []
    while True:
        try:
            new += [f for f in sock.recv(4096).decode().splitlines() if f.startswith("STATUS=")]
        except OSError:
            lines += new
            return new
