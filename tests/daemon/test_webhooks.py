"""``[[notify]]`` webhooks against a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from daemon_harness import drop, wait_for

from postbay.config import NotifyConfig
from postbay.daemon.ledger import Ledger
from postbay.daemon.webhooks import Webhooks


class _Receiver(ThreadingHTTPServer):
    """Records JSON bodies; answers the first ``failures`` POSTs with 503, or hangs when ``hang``."""

    def __init__(self, failures: int = 0, hang: bool = False):
        self.bodies: list[dict] = []
        self.tries = 0
        self.failures = failures
        self.hang = hang
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.tries += 1
        if self.server.hang:
            self.server.release.wait(30)
        if self.server.tries <= self.server.failures:
            self.send_response(503)
        else:
            self.server.bodies.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver():
    made: list[_Receiver] = []

    def make(**kw) -> _Receiver:
        made.append(_Receiver(**kw))
        return made[-1]

    yield make
    for r in made:
        r.release.set()
        r.shutdown()
        r.server_close()


def _done_job(tmp_path: Path):
    clip = tmp_path / "a.mov"
    clip.write_bytes(b"x" * 100)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        job, _ = ledger.submit(clip, "passthrough", tmp_path / "out")
        ledger.claim(job.id)
        return ledger.finish(job.id, [tmp_path / "out" / "a.mov"], report=tmp_path / "out" / "a.report.json")


def test_a_receiver_that_fails_twice_gets_the_message_on_the_third_try(receiver, tmp_path: Path):
    r = receiver(failures=2)
    hooks = Webhooks([NotifyConfig(url=r.url, retries=3)], first_backoff=0.05)
    job = _done_job(tmp_path)
    hooks.job_ended(job)
    hooks.close(10)
    assert r.tries == 3 and len(r.bodies) == 1
    body = r.bodies[0]
    assert body["event"] == "done" and body["job"] == job.id and body["outputs"] == job.outputs
    assert body["recipe"] == "passthrough" and body["report"].endswith("a.report.json")


def test_a_hung_or_dead_receiver_never_blocks_and_retries_are_bounded(receiver, tmp_path: Path):
    r = receiver(hang=True)
    hooks = Webhooks([NotifyConfig(url=r.url, timeout=0.3, retries=1)], first_backoff=0.05)
    job = _done_job(tmp_path)
    t0 = time.monotonic()
    for _ in range(20):
        hooks.job_ended(job)
    assert time.monotonic() - t0 < 0.1  # the daemon's loop only queues
    hooks.close(1.0)
    assert time.monotonic() - t0 < 5
    with socket.socket() as s:  # nothing listens here
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    hooks = Webhooks([NotifyConfig(url=dead, retries=2)], first_backoff=0.05)
    t0 = time.monotonic()
    hooks.job_ended(job)
    hooks.close(5)
    assert time.monotonic() - t0 < 2  # three refused tries, 0.05 + 0.1 s apart, then given up
    # events = ["failed"] only: a done job sends nothing
    quiet = receiver()
    hooks = Webhooks([NotifyConfig(url=quiet.url, events=["failed"])])
    hooks.job_ended(job)
    hooks.close(2)
    assert quiet.tries == 0


def test_the_daemon_posts_done_and_failed_jobs(bay, receiver, small_clip: Path, tmp_path: Path):
    r = receiver()
    bay(extra=f'[[notify]]\nurl = "{r.url}"\nevents = ["done", "failed"]\n',
        folders=[{"path": str(tmp_path / "drop"), "recipe": "passthrough", "output": str(tmp_path / "out"),
                  "settle_seconds": 0.5, "arrival_timeout": 1}])
    drop(small_clip, tmp_path / "drop", "good.mp4")
    (tmp_path / "bad.mov").write_bytes(b"not a movie" * 1000)
    drop(tmp_path / "bad.mov", tmp_path / "drop")
    wait_for(lambda: len(r.bodies) >= 2, 60, what="two webhook messages")
    by_state = {b["state"]: b for b in r.bodies}
    assert Path(by_state["done"]["dropped"]).name == "good.mp4" and by_state["done"]["outputs"]
    assert Path(by_state["failed"]["dropped"]).name == "bad.mov" and "bad.mov" in by_state["failed"]["error"]
    assert by_state["failed"]["report"].endswith("bad.mov.report.json")
