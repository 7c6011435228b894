"""The read commands as a user runs them: from any folder, piped, without a daemon."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from daemon_harness import drop, wait_for


def _postbay(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "postbay", *args], check=False, cwd=cwd, capture_output=True,
                          text=True, env=dict(os.environ, **env), timeout=60)


def test_status_and_jobs_find_the_running_daemon_from_another_folder(bay, small_clip: Path, tmp_path: Path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
    (tmp_path / "run").mkdir()
    daemon = bay(env=env)
    drop(small_clip, tmp_path / "drop")
    (job,) = daemon.wait_jobs(1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    status = _postbay("status", "--json", cwd=elsewhere, env=env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["daemon"]["running"] and report["daemon"]["pid"] == daemon.proc.pid
    assert report["queue"]["done"] == 1 and report["ledger"] == str(tmp_path / "data" / "ledger.sqlite")
    jobs = _postbay("jobs", cwd=elsewhere, env=env)
    assert job.id in jobs.stdout and "attempts 1" in jobs.stdout, jobs.stdout + jobs.stderr
    assert " done      in 0:0" in jobs.stdout  # how long it took
    listed = json.loads(_postbay("jobs", "--json", cwd=elsewhere, env=env).stdout)
    assert listed[0]["elapsed"] > 0 and listed[0]["eta"] is None
    assert list(elsewhere.iterdir()) == []  # no stray postbay-data/ledger.sqlite
    daemon.stop()
    assert list((tmp_path / "run" / "postbay").iterdir()) == []  # the state file goes with the daemon


def test_without_a_daemon_read_commands_say_where_they_looked_and_create_nothing(tmp_path: Path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path / "run"), "CUDA_VISIBLE_DEVICES": ""}
    (tmp_path / "run").mkdir()
    status = _postbay("status", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    assert "not running" in status.stdout and str(tmp_path / "run" / "postbay") in status.stdout
    assert "GPU" not in status.stdout  # no CUDA device: no GPU slot to report
    jobs = _postbay("jobs", cwd=tmp_path, env=env)
    assert jobs.returncode == 2 and "no job ledger" in jobs.stderr and "Traceback" not in jobs.stderr
    assert str(tmp_path / "run" / "postbay") in jobs.stderr
    assert not (tmp_path / "postbay-data").exists()


def test_status_json_into_head_exits_quietly(tmp_path: Path):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has already read what it wanted
    try:
        piped = subprocess.run([sys.executable, "-m", "postbay", "status", "--json"], check=False,
                               cwd=tmp_path, stdout=write_end,
                               stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    finally:
        os.close(write_end)
    assert piped.stderr == "" and piped.returncode == 141, piped.stderr


def test_sidecars_travel_with_their_clip_and_other_files_are_left_alone(bay, small_clip: Path, tmp_path: Path):
    daemon = bay()
    folder = tmp_path / "drop"
    prompt = "a heron at dawn, 35mm, seed 1234"
    (folder / "heron.txt").write_text(prompt)
    (folder / "heron.json").write_text(json.dumps({"seed": 1234}))
    (folder / "notes.txt").write_text("call the client")
    (folder / "still.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    drop(small_clip, folder, "heron.mp4")
    (job,) = daemon.wait_jobs(1)
    assert len(daemon.jobs()) == 1  # no job for the notes, the still or the sidecars
    out = tmp_path / "out"
    assert (out / "heron.txt").read_text() == prompt and json.loads((out / "heron.json").read_text())["seed"] == 1234
    report = json.loads(Path(job.report).read_text())
    assert {s["name"]: s["text"] for s in report["sidecars"]}["heron.txt"] == prompt
    assert sorted(p.name for p in (folder / "done").iterdir()) == ["heron.json", "heron.mp4", "heron.txt"]
    assert (folder / "notes.txt").exists() and (folder / "still.png").exists()
    assert not (folder / "failed").exists()
    assert daemon.log().count("notes.txt: not media") == 1


def test_a_running_job_has_an_elapsed_time_and_an_eta_at_its_pace(tmp_path: Path):
    from postbay.daemon.ledger import Ledger, clock

    clip = tmp_path / "a.mov"
    clip.write_bytes(b"x" * 100)
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        job, _ = ledger.submit(clip, "passthrough", tmp_path / "out")
        assert job.timing() == {"elapsed": None, "eta": None}  # queued
        started = ledger.claim(job.id).started
        ledger.progress(job.id, 0.25, force=True)
        timing = ledger.get(job.id).timing(now=started + 30)
    assert timing == {"elapsed": 30.0, "eta": 90.0}  # a quarter in 30 s: 90 s to go
    assert clock(90) == "1:30" and clock(3725) == "1:02:05" and clock(None) == "-"


def test_a_missing_watch_folder_or_a_taken_port_stops_the_start(bay, tmp_path: Path):
    nas = tmp_path / "nas" / "drop"  # a share that is not mounted
    daemon = bay(folders=[{"path": str(nas), "recipe": "passthrough", "output": str(tmp_path / "out")}],
                 start=False)
    nas.rmdir()
    daemon.start(wait=False)
    assert daemon.proc.wait(60) != 0
    assert f"watch[0].path: {nas} does not exist" in daemon.log() and "create = true" in daemon.log()
    assert not nas.exists()  # not replaced by an empty local folder
    daemon = bay(folders=[{"path": str(nas), "recipe": "passthrough", "output": str(tmp_path / "out"),
                           "create": True, "settle_seconds": 0.5}])
    assert nas.is_dir()
    daemon.stop()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = bay(extra=f"[api]\nport = {port}\n", start=False)
        daemon.start(wait=False)
        code = daemon.proc.wait(60)
    assert code != 0 and f"cannot listen on 127.0.0.1:{port}" in daemon.log(), daemon.log()


def test_the_dashboard_address_is_the_last_line_of_the_start(bay, tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daemon = bay(extra=f"[api]\nport = {port}\n")
    wait_for(lambda: "dashboard:" in daemon.log(), 30, what="the dashboard line")
    assert daemon.log().strip().splitlines()[-1] == f"dashboard: http://127.0.0.1:{port}/"
