"""Harness for the API, dashboard and Resolve tests: folders, a SQLite ledger, uvicorn on loopback.

``make_bay`` (the ``bay`` fixture) starts the HTTP API in this process on a free loopback port over a fresh ledger (for
what needs no rendering: auth, confinement, uploads, the queue); :class:`DaemonBay` runs a
real ``postbay daemon`` in a subprocess, which starts the API itself and renders the jobs.
"""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from polling import wait_for  # noqa: F401  (re-exported for the tests)

from postbay.bridge.api import ApiServer
from postbay.config import ApiConfig, Config, WatchConfig
from postbay.daemon.ledger import Ledger
from postbay.synth import smooth_frame

TOKEN = "s3cret-bay-token"

#: A recipe slow enough (a few seconds on 2 cores) for progress to be seen moving.
GRADE = textwrap.dedent("""
    name = "grade"
    description = "Up-res to 360p with a third of a stop more light"
    [[steps]]
    processor = "resize"
    height = 360
    [[steps]]
    processor = "exposure"
    stops = 0.35
    [output]
    codec = "prores_hq"
    audio = "none"
""")


@dataclass
class Bay:
    root: Path
    media: Path
    hot: Path
    config: Config
    ledger: Ledger
    server: ApiServer
    token: str | None

    @property
    def url(self) -> str:
        return self.server.url

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = "default",
                headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, Any]:
        return http(method, self.url + path, self.token if token == "default" else token, body, data, headers)


def http(method: str, url: str, token: str | None, body: Any = None, data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, decoded JSON or bytes) of one HTTP request to the API."""
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("content-type", "")
    return status, (json.loads(raw) if "json" in ctype else raw)


def make_bay(tmp: Path, *, token: str | None = TOKEN, upload_limit_mb: int = 4096,
             recipe: str = "review") -> Bay:
    media, hot = tmp / "media", tmp / "hot" / "finish"
    for folder in (media, hot):
        folder.mkdir(parents=True)
    config = Config(data_dir=tmp / "data", media_roots=[media],
                    watch=[WatchConfig(path=hot, recipe=recipe, output=tmp / "hot-out")],
                    api=ApiConfig(host="127.0.0.1", port=0, token=token, upload_limit_mb=upload_limit_mb))
    ledger = Ledger(tmp / "data" / "ledger.sqlite", progress_interval=0.05)
    server = ApiServer(config, ledger).start()
    return Bay(tmp, media, hot, config, ledger, server, token)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonBay:
    """A real ``postbay daemon`` in a subprocess with its HTTP API on a free loopback port.

    Roots: ``media/`` (media_roots), the hot folder ``hot/<recipe>`` with its output
    ``hot-out/``, and the data folder's inbox and ``out/``.
    """

    def __init__(self, tmp: Path, *, token: str | None = TOKEN, api: bool = True, recipe: str = "review",
                 extra: str = "", env: dict[str, str] | None = None):
        import subprocess
        import sys

        self.root = tmp
        self.media, self.hot, self.out = tmp / "media", tmp / "hot" / recipe, tmp / "hot-out"
        self.data = tmp / "data"
        self.media.mkdir(parents=True, exist_ok=True)
        self.hot.mkdir(parents=True, exist_ok=True)
        self.token = token
        self.port = free_port()
        self.config_path = tmp / "postbay.toml"
        lines = [f'data_dir = "{self.data}"', f'media_roots = ["{self.media}"]', extra, "",
                 "[[watch]]", f'path = "{self.hot}"', f'recipe = "{recipe}"', f'output = "{self.out}"',
                 "settle_seconds = 0.3", "", "[workers]", "cpu = 1", "retries = 0", "grace_seconds = 2", "",
                 "[api]", f"enabled = {'true' if api else 'false'}", f"port = {self.port}"]
        if token:
            lines.append(f'token = "{token}"')
        self.config_path.write_text("\n".join(lines) + "\n")
        self.log = open(tmp / "daemon.out", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "postbay", "daemon", "--config", str(self.config_path)],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        if api:
            wait_for(self._healthy, timeout=60, interval=0.1)
        else:
            wait_for(lambda: b"daemon ready" in (tmp / "daemon.out").read_bytes() or self._dead(), timeout=60)
        if self.proc.poll() is not None:
            raise AssertionError("the daemon exited:\n" + (tmp / "daemon.out").read_text())

    def _dead(self) -> bool:
        return self.proc.poll() is not None

    def _healthy(self) -> bool:
        if self._dead():
            return True
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                return resp.status == 200
        except OSError:
            return False

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = "default",
                headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, Any]:
        return http(method, self.url + path, self.token if token == "default" else token, body, data, headers)

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def output(self) -> str:
        return (self.root / "daemon.out").read_text(errors="replace")


def graded_daemon(tmp: Path) -> DaemonBay:
    """A daemon whose hot folder and API offer the ``grade`` recipe (and the built-ins)."""
    recipes = tmp / "recipes"
    recipes.mkdir()
    (recipes / "grade.toml").write_text(GRADE)
    return DaemonBay(tmp, recipe="grade", extra=f'recipes = ["{recipes}"]')


def flickering(i: int, width: int, height: int) -> np.ndarray:
    """``smooth_frame`` with its brightness pumping ±8 % from frame to frame (a take with flicker)."""
    return smooth_frame(i, width, height) * np.float32(1.0 + 0.08 * (-1) ** i)
