"""How jobs say what they do and how they end: the step in the ledger and the CLI, an old ledger
opened, and ``existing_output = "skip"`` ending a real daemon's job as ``skipped``."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from daemon_harness import drop, wait_for

from postbay.cli import main
from postbay.daemon.ledger import Job, Ledger
from postbay.pipeline import Pipeline, StageTimer
from postbay.recipe import load_recipe


def test_the_stage_running_now_is_the_innermost_one_pulled():
    timer = StageTimer()
    seen: list[tuple[str, str | None]] = []

    def decoded():
        for n in range(3):
            seen.append(("decode", timer.current()))
            yield n

    def denoise(frames):
        for frame in frames:
            seen.append(("denoise", timer.current()))  # after its pull returned: denoise's own code
            yield frame

    stream = timer.wrap("download", denoise(timer.wrap("upload", decoded())))
    stream = timer.wrap("1:denoise", stream)
    assert list(stream) == [0, 1, 2]
    assert set(seen) == {("decode", "upload"), ("denoise", "download")}
    assert timer.current() is None and timer.active == []


def test_the_current_step_is_named_by_its_place_in_the_recipe():
    pipeline = Pipeline(load_recipe("finish").steps)
    assert pipeline.current_step() is None  # no frame yet
    pipeline.timer.order = ["upload", "1:denoise", "3:deflicker", "download"]
    for active, said in [(["download", "3:deflicker"], "deflicker 3/7"), (["download", "3:deflicker", "upload"],
                         "decoding"), ([], "encoding"), (["download"], "encoding"),
                         (["download", "colour display→linear"], "colour display→linear")]:
        pipeline.timer.active = active
        assert pipeline.current_step() == said


def _old_ledger(path: Path) -> None:
    """A ledger file as the daemon wrote it before the cluster executor and the step columns."""
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE jobs (id TEXT PRIMARY KEY, source TEXT NOT NULL, dropped TEXT NOT NULL, folder TEXT,
            output_dir TEXT NOT NULL, recipe TEXT NOT NULL, fingerprint TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'media', after TEXT NOT NULL DEFAULT 'keep', state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, error TEXT, progress REAL NOT NULL DEFAULT 0,
            outputs TEXT NOT NULL DEFAULT '[]', report TEXT, worker_pid INTEGER, heartbeat REAL,
            created REAL NOT NULL, updated REAL NOT NULL, started REAL, finished REAL);
        CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL, state TEXT NOT NULL,
            progress REAL NOT NULL, message TEXT, at REAL NOT NULL);
        CREATE TABLE daemon (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO jobs (id, source, dropped, output_dir, recipe, fingerprint, state, outputs, created, updated,
                          started, finished)
            VALUES ('old1', '/in/a.mov', '/in/a.mov', '/out', 'finish', '1:2:ab', 'done', '["/out/a.mov"]',
                    100, 160, 100, 160);
        INSERT INTO events (job_id, state, progress, message, at) VALUES ('old1', 'done', 1.0, 'done', 160);
    """)
    db.commit()
    db.close()


def test_an_old_ledger_opens_and_its_running_jobs_gain_a_step(tmp_path: Path):
    path = tmp_path / "ledger.sqlite"
    _old_ledger(path)
    clip = tmp_path / "b.mov"
    clip.write_bytes(b"b" * 100)
    with Ledger(path, progress_interval=0) as ledger:
        old = ledger.get("old1")
        assert old is not None and old.state == "done" and old.step is None and old.node is None
        assert old.outputs == ["/out/a.mov"] and old.timing()["elapsed"] == 60.0
        assert [e.step for e in ledger.events_since(0)] == [None]
        job, _ = ledger.submit(clip, "finish", tmp_path / "out")
        ledger.claim(job.id)
        ledger.progress(job.id, 0.5, step="grain 6/7")
        ledger.progress(job.id, 0.5, step="verifying", force=True)
        assert ledger.get(job.id).step == "verifying"
        assert [e.step for e in ledger.job_events(job.id)][-2:] == ["grain 6/7", "verifying"]
        ledger.finish(job.id, [tmp_path / "out" / "b.mov"])
        assert ledger.get(job.id).step is None  # an ended job does nothing now
    with Ledger(path) as again:  # opened a second time: nothing to migrate, nothing lost
        assert again.get("old1").outputs == ["/out/a.mov"]


def _running_job(tmp_path: Path, fraction: float, step: str, *, ago: float = 0.0) -> tuple[Path, Job]:
    """A config whose ledger (``data/ledger.sqlite``) holds one job, running for ``ago`` seconds,
    at ``fraction`` in ``step``."""
    data = tmp_path / "data"
    config = tmp_path / "bay.toml"
    config.write_text(f'data_dir = "{data}"\n')
    clip = tmp_path / "c.mov"
    clip.write_bytes(b"c" * 100)
    with Ledger(data / "ledger.sqlite") as ledger:
        job, _ = ledger.submit(clip, "finish", tmp_path / "out")
        ledger.claim(job.id)
        ledger._update(job.id, started=ledger.get(job.id).started - ago)
        ledger.progress(job.id, fraction, step=step, force=True)
    return config, job


def test_jobs_shows_a_running_jobs_step_elapsed_and_eta(tmp_path: Path, capsys):
    config, job = _running_job(tmp_path, 0.25, "denoise 1/7", ago=30)
    assert main(["jobs", "--config", str(config)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert re.match(rf"{job.id}  running   25% denoise 1/7, 0:3\d elapsed, ETA 1:3\d  finish", line), line
    assert re.search(r"\(attempts 0, started \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)$", line), line
    assert main(["jobs", "--config", str(config), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["step"] == "denoise 1/7" and 90 <= listed["eta"] < 100 and listed["started"] > 0


class _Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        self.server.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_an_existing_output_under_skip_ends_the_job_skipped_and_keeps_the_file(bay, tiny_clips, tmp_path: Path,
                                                                                capsys):
    receiver = _Receiver()
    try:
        hook = f'[[notify]]\nurl = "http://127.0.0.1:{receiver.server_address[1]}/hook"\nevents = ["skipped"]\n'
        daemon = bay(extra=f'existing_output = "skip"\n{hook}')
        first, second = tiny_clips(2)  # the same pictures, another mtime: a re-export of take.mp4
        drop(first, tmp_path / "drop", "take.mp4")
        (made,) = daemon.wait_jobs(1)
        output = tmp_path / "out" / "take.mov"
        assert made.outputs == [str(output)]
        before = (output.stat().st_mtime_ns, output.read_bytes())
        drop(second, tmp_path / "drop", "take.mp4")
        (skipped,) = daemon.wait_jobs(1, "skipped")
        assert skipped.outputs == [str(output)] and skipped.error is None and skipped.step is None
        assert (output.stat().st_mtime_ns, output.read_bytes()) == before  # kept, not rendered again
        assert not list((tmp_path / "out").glob("take_v*"))
        report = json.loads(Path(skipped.report).read_text())
        assert Path(skipped.report) == tmp_path / "out" / "reports" / "take.skipped.json"
        assert report["status"] == "skipped" and report["kept"] == str(output) and report["job"] == skipped.id
        # the source is handled as a finished one's: moved to done/, nothing left in the drop folder
        assert Path(skipped.source).parent == tmp_path / "drop" / "done" and Path(skipped.source).is_file()
        assert not (tmp_path / "drop" / "take.mp4").exists()
        assert daemon.ledger.output_owner(output).id == made.id  # still credited to the job that made it
        wait_for(lambda: receiver.bodies, 20, what="the skipped webhook")
        assert [(b["event"], b["job"], b["outputs"]) for b in receiver.bodies] == \
            [("skipped", skipped.id, [str(output)])]
        assert f"skipped job {skipped.id}" in daemon.log()
        assert main(["jobs", "--config", str(daemon.config), "--state", "skipped"]) == 0
        listing = capsys.readouterr().out
        assert f"{skipped.id}  skipped   in 0:" in listing and f"kept (it existed) {output}" in listing, listing
        assert re.search(r"\(attempts 1, started [-\d]+ [:\d]+, finished [-\d]+ [:\d]+\)", listing), listing
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_a_forked_child_does_not_speak_for_its_parents_render(tmp_path: Path):
    import multiprocessing

    from postbay.activity import ACTIVITY

    said = tmp_path / "said.txt"  # what the listener writes, from whichever process calls it

    def listener() -> None:
        with open(said, "a") as fh:
            fh.write(f"{ACTIVITY.now()}\n")

    context = multiprocessing.get_context("fork")
    with ACTIVITY.watch(listener):
        ACTIVITY.begin("rendering")
        child = context.Process(target=ACTIVITY.begin, args=("probing",))  # a shot worker's own render
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert ACTIVITY.now() == "rendering"
    assert said.read_text().splitlines() == ["rendering"]  # the child's phase went nowhere


def test_status_shows_what_each_busy_workers_job_does(tmp_path: Path, capsys):
    import os
    import time

    config, job = _running_job(tmp_path, 0.5, "upscale 4/7")
    # a daemon alive now (this process stands in for it), one worker busy with the job
    with Ledger(tmp_path / "data" / "ledger.sqlite") as ledger:
        ledger.set_daemon_state(running=True, pid=os.getpid(), beat=time.time(), slots={"cpu": 1, "gpu": 0},
                                workers=[{"job": job.id, "pid": 4242, "gpu": False, "node": None}])
    assert main(["status", "--config", str(config), "--json"]) == 0
    (worker,) = json.loads(capsys.readouterr().out)["workers"]
    assert worker["step"] == "upscale 4/7" and worker["progress"] == 0.5 and worker["started"] > 0
    assert "elapsed" in worker and "eta" in worker
    assert main(["status", "--config", str(config)]) == 0
    assert re.search(rf"job {job.id} in pid 4242: 50% upscale 4/7, 0:0\d elapsed", capsys.readouterr().out)
