"""`postbay submit`: through the API of a real daemon, or into the hot folder when none answers."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import pytest

from postbay.cli import main
from postbay.synth import write_clip

from .harness import DaemonBay, free_port, wait_for


def postbay(*args: str, cwd: Path) -> SimpleNamespace:
    """`postbay ARGS` in this process (the CLI's own main), with what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = DaemonBay(tmp_path_factory.mktemp("submit"))
    yield d
    d.stop()


def test_submit_and_wait_through_the_api(daemon):
    clip = write_clip(daemon.media / "take 1.mov", frames=12, width=160, height=90)
    proc = postbay("--config", str(daemon.config_path), "submit", str(clip), "--recipe", "review", "--wait",
                   cwd=daemon.root)
    assert proc.returncode == 0, proc.stderr + daemon.output()
    assert "queued: take 1.mov with review" in proc.stdout
    out = daemon.out / "take 1.mp4"
    assert "done " in proc.stdout and str(out) in proc.stdout
    assert re.search(r"done \w+ in \d+:\d\d: ", proc.stdout), proc.stdout  # how long it took
    assert out.is_file() and clip.is_file()  # the source stays where it was


def test_a_file_outside_the_roots_needs_upload(daemon, tmp_path):
    clip = write_clip(tmp_path / "laptop.mov", frames=8, width=160, height=90, audio=None)
    proc = postbay("--config", str(daemon.config_path), "submit", str(clip), "--recipe", "review", cwd=tmp_path)
    assert proc.returncode == 2
    assert "outside the folders postbay serves" in proc.stderr and "--upload" in proc.stderr
    proc = postbay("--config", str(daemon.config_path), "submit", str(clip), "--recipe", "review", "--upload",
                   "--wait", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (daemon.out / "laptop.mp4").is_file()
    wait_for(lambda: not (daemon.data / "inbox" / "laptop.mov").exists(), timeout=10)  # the upload's way in


def test_a_failed_job_exits_non_zero_with_the_reason(daemon):
    bad = daemon.media / "garbage.mov"
    bad.write_bytes(b"\x01" * 2048)
    proc = postbay("--config", str(daemon.config_path), "submit", str(bad), "--recipe", "review", "--wait",
                   cwd=daemon.root)
    assert proc.returncode == 1
    assert "FAILED" in proc.stderr and "garbage.mov" in proc.stderr


def test_without_a_daemon_it_drops_into_the_hot_folder(tmp_path):
    hot = tmp_path / "hot"
    config = tmp_path / "postbay.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[[watch]]\npath = "{hot}"\nrecipe = "review"\n'
                      f"[api]\nport = {free_port()}\n")
    clip = write_clip(tmp_path / "shot.mov", frames=6, width=160, height=90, audio=None)
    for _ in range(2):
        proc = postbay("--config", str(config), "submit", str(clip), "--recipe", "review", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "no postbay API answered" in proc.stdout
    assert sorted(p.name for p in hot.iterdir()) == ["shot-1.mov", "shot.mov"]  # never over another drop
    assert (hot / "shot.mov").read_bytes() == clip.read_bytes()
    proc = postbay("--config", str(config), "submit", str(clip), "--recipe", "review", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"api": None, "dropped": str(hot / "shot-2.mov"), "source": str(clip),
                                       "recipe": "review"}  # one document: where it went
    proc = postbay("--config", str(config), "submit", str(clip), "--recipe", "passthrough", cwd=tmp_path)
    assert proc.returncode == 2 and "no hot folder is configured for recipe 'passthrough'" in proc.stderr
    proc = postbay("--config", str(config), "submit", str(tmp_path / "missing.mov"), "--recipe", "review",
                   cwd=tmp_path)
    assert proc.returncode == 2 and "missing.mov: no such file" in proc.stderr


def test_postbay_api_serves_the_ledger_without_a_daemon(tmp_path):
    import signal
    import subprocess
    import sys

    from .harness import http

    port = free_port()
    config = tmp_path / "postbay.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\nmedia_roots = ["{tmp_path}"]\n')
    proc = subprocess.Popen([sys.executable, "-m", "postbay", "--config", str(config), "api", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return http("GET", url + "/health", None)[0] == 200
            except OSError:
                return proc.poll() is not None

        wait_for(up, timeout=60)
        clip = write_clip(tmp_path / "queued.mov", frames=4, width=64, height=36, audio=None)
        status, job = http("POST", url + "/jobs", None, {"path": str(clip), "recipe": "review"})
        assert status == 201 and job["state"] == "queued"
        assert job["output_dir"] == str(tmp_path / "data" / "out" / "review")  # the daemon's default folders
        assert http("GET", url + "/", None)[1].startswith(b"<!doctype html>")
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0].decode()
    assert "jobs wait in the queue until a daemon runs" in out


def test_submit_json_is_the_job_as_it_ended_and_errors_are_json_too(daemon, tmp_path):
    clip = write_clip(daemon.media / "take 2.mov", frames=8, width=160, height=90, audio=None)
    proc = postbay("--config", str(daemon.config_path), "submit", str(clip), "--recipe", "review", "--wait",
                   "--json", cwd=daemon.root)
    assert proc.returncode == 0, proc.stderr + daemon.output()
    job = json.loads(proc.stdout)  # one document, nothing else on stdout
    assert job["state"] == "done" and job["outputs"] == [str(daemon.out / "take 2.mp4")]
    assert job["step"] is None and job["elapsed"] > 0 and job["started"] and job["finished"]
    proc = postbay("--config", str(daemon.config_path), "submit", str(tmp_path / "gone.mov"), "--recipe", "review",
                   "--json", cwd=tmp_path)
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"].endswith("gone.mov: no such file")

