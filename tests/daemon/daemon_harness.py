"""Test harness: a real daemon in a subprocess (``python -m postbay daemon --config …``), real folders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from polling import wait_for  # noqa: F401  (re-exported for the tests)

from postbay.daemon.ledger import Job, Ledger


def write_config(path: Path, *, folders: list[dict[str, Any]], data_dir: Path, workers: dict[str, Any] | None = None,
                 extra: str = "") -> Path:
    lines = [f'data_dir = "{data_dir}"', extra]
    for f in folders:
        lines.append("[[watch]]")
        for k, v in f.items():
            lines.append(f"{k} = {_toml(v)}")
    lines.append("[workers]")
    for k, v in ({"cpu": 1, "retries": 1, "grace_seconds": 2} | (workers or {})).items():
        lines.append(f"{k} = {_toml(v)}")
    if "[api]" not in extra:  # these tests are about the folders: no server on the shared default port
        lines += ["[api]", "enabled = false"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v) + '"'


class DaemonProcess:
    """``postbay daemon`` as a child process, with its ledger open for reading."""

    def __init__(self, config: Path, data_dir: Path, env: dict[str, str] | None = None):
        self.config = config
        self.data_dir = data_dir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self._ledger: Ledger | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"daemon-{self.runs}.log"

    def start(self, *, wait: bool = True) -> DaemonProcess:
        self.runs += 1
        env = dict(os.environ, PYTHONUNBUFFERED="1", **(self.env or {}))
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "postbay", "daemon", "--config", str(self.config)],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        if wait:
            wait_for(lambda: b"daemon ready" in self.log_path.read_bytes() or self.proc.poll() is not None, 30,
                     what="daemon ready")
            assert self.proc.poll() is None, self.log()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.data_dir / "ledger.sqlite")
        return self._ledger

    def jobs(self, state: str | None = None) -> list[Job]:
        return self.ledger.list(state)

    def wait_jobs(self, n: int, state: str = "done", timeout: float = 60.0) -> list[Job]:
        def enough() -> list[Job] | None:
            assert self.proc is None or self.proc.poll() is None, f"daemon died:\n{self.log()}"
            jobs = self.jobs(state)
            return jobs if len(jobs) >= n else None

        try:
            return wait_for(enough, timeout, 0.1, what=f"{n} {state} job(s)")
        except AssertionError:
            raise AssertionError(f"expected {n} {state} jobs; ledger: "
                                 f"{[(j.source, j.state, j.error) for j in self.jobs()]}\n{self.log()}") from None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self._ledger is not None:
            self._ledger.close()




def drop(src: Path, folder: Path, name: str | None = None) -> Path:
    """Drop a file the way a careful copier does: written beside, renamed in (one event)."""
    target = folder / (name or src.name)
    tmp = folder / f".{target.name}.copying"
    shutil.copy2(src, tmp)
    os.replace(tmp, target)
    return target
