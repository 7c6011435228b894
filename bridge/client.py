"""A small client for postbay's HTTP API (standard library only), with the hot-folder fallback.

Used by ``postbay submit``. The Resolve scripts carry their own copy of the same few calls,
because Resolve's Python may not have postbay installed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from postbay.config import Config
from postbay.errors import PostbayError

__all__ = ["ApiClient", "ApiError", "api_url", "drop_into_hot_folder", "TERMINAL"]

TERMINAL = ("done", "skipped", "failed", "cancelled")


class ApiError(PostbayError):
    """The API answered with an error status; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def api_url(config: Config) -> str:
    """Where this machine reaches the configured API (a wildcard bind is reached on loopback)."""
    host = config.api.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.api.port}"


class ApiClient:
    """``GET``/``POST`` JSON against the API with the Bearer token."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
              content_type: str | None = None, timeout: float | None = None) -> Any:
        headers = {"Accept": "application/json", "X-Postbay": "1"}  # see postbay.bridge.guard
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail", exc.reason)
            except ValueError:
                detail = exc.reason
            raise ApiError(f"{self.url}{path}: {detail}", exc.code) from None

    def alive(self) -> bool:
        """True when a postbay API answers at this address."""
        try:
            return self._call("GET", "/health", timeout=3).get("status") == "ok"
        except (OSError, ValueError, ApiError, AttributeError):
            return False

    def submit(self, path: Path, recipe: str, out: str | None = None) -> dict[str, Any]:
        return self._call("POST", "/jobs", {"path": str(path), "recipe": recipe, "out": out})

    def upload(self, path: Path, recipe: str) -> dict[str, Any]:
        """Send the file itself into the daemon's inbox (when it cannot read this path)."""
        boundary = uuid.uuid4().hex
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="recipe"\r\n\r\n{recipe}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        data = head + path.read_bytes() + tail
        return self._call("POST", "/jobs", data=data, content_type=f"multipart/form-data; boundary={boundary}",
                          timeout=max(self.timeout, 600))

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/jobs/{job_id}")

    def wait(self, job_id: str, *, interval: float = 1.0, timeout: float | None = None,
             on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Poll until the job is done, failed or cancelled; returns its last state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress is not None:
                on_progress(job)
            if job["state"] in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise PostbayError(f"job {job_id} still {job['state']} after {timeout:.0f} s")
            time.sleep(interval)


def drop_into_hot_folder(path: Path, config: Config, recipe: str) -> Path:
    """Copy ``path`` into the hot folder of ``recipe`` under a dot-name, then rename it in,
    so the watcher never sees a half-copied file. Returns where it landed."""
    watch = next((w for w in config.watch if w.recipe == recipe), None)
    if watch is None:
        from postbay.daemon.settings import default_config

        watch = next((w for w in default_config(config).watch if w.recipe == recipe), None)
    if watch is None:
        raise PostbayError(f"no hot folder is configured for recipe {recipe!r}", path=config.source,
                           hint="add a [[watch]] with this recipe, or start the daemon so the API answers")
    folder = Path(watch.path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}-{n}{path.suffix}"
        n += 1
    tmp = folder / f".{target.name}.part"
    try:
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PostbayError(f"cannot copy into the hot folder: {exc.strerror}", path=folder) from None
    return target
