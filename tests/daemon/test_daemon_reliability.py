"""The daemon under the failures users of other watch-folder tools report: a real daemon
process, real folders, real files, real watchdog events."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from daemon_harness import drop, wait_for

from postbay.daemon.ledger import pid_alive
from postbay.media import count_frames


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if not p.name.startswith("."))


def _write_in_chunks(src: Path, target: Path, chunks: int, pause: float, hold_open: bool, log: dict) -> None:
    data = src.read_bytes()
    step = -(-len(data) // chunks)
    if hold_open:
        with open(target, "wb") as fh:
            for i in range(0, len(data), step):
                fh.write(data[i:i + step])
                fh.flush()
                time.sleep(pause)
    else:
        for i in range(0, len(data), step):
            with open(target, "ab") as fh:
                fh.write(data[i:i + step])
            time.sleep(pause)
    log[target.name] = time.time()


def test_a_file_written_in_chunks_is_not_taken_before_the_last_byte(bay, small_clip: Path, tmp_path: Path):
    daemon = bay()
    folder = tmp_path / "drop"
    finished: dict[str, float] = {}
    # one copier keeps the file open and pauses longer than settle_seconds (the open-file check
    # holds it back); the other closes between chunks but writes faster than it settles
    writers = [threading.Thread(target=_write_in_chunks, args=(small_clip, folder / "held.mp4", 4, 0.9, True,
                                                               finished)),
               threading.Thread(target=_write_in_chunks, args=(small_clip, folder / "growing.mp4", 10, 0.3, False,
                                                               finished))]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    jobs = daemon.wait_jobs(2)
    for job in jobs:
        name = Path(job.dropped).name
        assert job.created >= finished[name], f"{name} taken {finished[name] - job.created:.2f} s before its last byte"
        assert job.attempts == 1 and count_frames(job.outputs[0]) == 24  # as the log says: attempt 1
        assert _sha(Path(job.source)) == _sha(small_clip)  # moved to done/, intact


@pytest.mark.slow
def test_a_copy_closed_between_chunks_with_long_gaps_is_taken_once_whole(bay, small_clip: Path, tmp_path: Path):
    """What SMB clients, browser downloads and sync tools do: chunks, closed between, pausing
    longer than settle_seconds. Once this shredded one source into three failed fragments."""
    daemon = bay(folders=[{"path": str(tmp_path / "drop"), "recipe": "passthrough", "output": str(tmp_path / "out"),
                           "settle_seconds": 2}])
    finished: dict[str, float] = {}
    _write_in_chunks(small_clip, tmp_path / "drop" / "slow.mp4", 3, 8.0, False, finished)
    (job,) = daemon.wait_jobs(1)
    assert job.created >= finished["slow.mp4"] - 8.0  # not before the last chunk landed
    time.sleep(1.0)
    assert len(daemon.jobs()) == 1 and not (tmp_path / "drop" / "failed").exists()
    assert [p.name for p in _visible(tmp_path / "out") if p.suffix == ".mov"] == ["slow.mov"]
    assert _sha(Path(job.source)) == _sha(small_clip)  # the source whole, in done/
    assert count_frames(job.outputs[0]) == 24


@pytest.mark.slow
def test_a_200_mb_file_written_over_10_s_is_not_taken_early(bay, tmp_path: Path):
    daemon = bay(folders=[{"path": str(tmp_path / "drop"), "recipe": "passthrough", "output": str(tmp_path / "out"),
                           "settle_seconds": 1, "arrival_timeout": 3}])
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(200):
            fh.write(os.urandom(1 << 20))
    finished: dict[str, float] = {}
    _write_in_chunks(big, tmp_path / "drop" / "big.mov", 50, 0.2, False, finished)
    (job,) = daemon.wait_jobs(1, "failed", timeout=120)  # random bytes: not media, but taken whole
    assert job.created >= finished["big.mov"]
    assert (tmp_path / "drop" / "failed" / "big.mov").stat().st_size == 200 << 20


def test_a_part_file_renamed_is_taken_once(bay, small_clip: Path, tmp_path: Path):
    daemon = bay()
    part = tmp_path / "drop" / "shot.mov.part"
    shutil.copy2(small_clip, part)
    time.sleep(1.5)  # longer than settle_seconds: a .part is never taken
    assert daemon.jobs() == []
    os.rename(part, tmp_path / "drop" / "shot.mov")
    (job,) = daemon.wait_jobs(1)
    time.sleep(1.0)
    out = tmp_path / "out"
    assert len(daemon.jobs()) == 1 and _visible(out) == [out / "shot.inspect.html", out / "shot.inspect.json",
                                                         out / "shot.mov", out / "shot.report.json"]


def _many_at_once(bay, tiny_clips, tmp_path: Path, n: int, timeout: float) -> None:
    daemon = bay(workers={"cpu": 2})
    clips = tiny_clips(n)
    for clip in clips:  # all land within a few milliseconds
        os.rename(clip, tmp_path / "drop" / clip.name)
    jobs = daemon.wait_jobs(n, timeout=timeout)
    time.sleep(1.0)  # nothing more arrives after the last one
    jobs = daemon.jobs()
    assert len(jobs) == n and all(j.state == "done" for j in jobs)
    assert len({j.dropped for j in jobs}) == n  # 0 duplicates
    outputs = [p for p in _visible(tmp_path / "out") if p.suffix == ".mov"]
    assert sorted(p.name for p in outputs) == sorted(f"{c.stem}.mov" for c in clips)  # 0 lost
    assert sorted(j.outputs[0] for j in jobs) == sorted(str(p) for p in outputs)  # the ledger agrees
    assert sorted(p.name for p in (tmp_path / "drop" / "done").iterdir()) == sorted(c.name for c in clips)
    assert all(count_frames(p) == 8 for p in outputs[:5])


def test_thirty_clips_dropped_at_once_give_thirty_outputs(bay, tiny_clips, tmp_path: Path):
    _many_at_once(bay, tiny_clips, tmp_path, 30, 120)


@pytest.mark.slow
def test_three_hundred_clips_dropped_at_once(bay, tiny_clips, tmp_path: Path):
    _many_at_once(bay, tiny_clips, tmp_path, 300, 900)


class _OutputWatch(threading.Thread):
    """Looks at the output folder every few ms: every visible file must already be whole."""

    def __init__(self, folder: Path, frames: int):
        super().__init__(daemon=True)
        self.folder, self.frames = folder, frames
        self.problems: list[str] = []
        self.checked: set[str] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for p in _visible(self.folder) if self.folder.exists() else []:
                if p.suffix == ".mov" and p.name not in self.checked:
                    self.checked.add(p.name)
                    try:
                        n = count_frames(p)
                    except Exception as exc:
                        self.problems.append(f"{p.name}: {exc}")
                        continue
                    if n != self.frames:
                        self.problems.append(f"{p.name}: {n} frames visible, {self.frames} expected")
            time.sleep(0.01)


def _running_job(daemon, attempts: int | None = None):
    def find():
        for j in daemon.jobs("running"):
            if j.worker_pid and (attempts is None or j.attempts == attempts):
                return j
        return None

    return wait_for(find, 60, 0.02, what="a running job with a worker")


def test_kill_9_of_the_daemon_mid_job_then_restart(bay, long_clip: Path, tmp_path: Path):
    daemon = bay()
    watch = _OutputWatch(tmp_path / "out", 240)
    watch.start()
    source = drop(long_clip, tmp_path / "drop")
    job = _running_job(daemon)
    wait_for(lambda: daemon.ledger.get(job.id).progress > 0.1, 60, what="some progress")
    daemon.kill()
    # the worker dies with its daemon, so no orphan keeps rendering beside the retry
    wait_for(lambda: not pid_alive(job.worker_pid), 10, what="the orphaned worker to exit")
    assert source.exists() and _sha(source) == _sha(long_clip)
    assert [p for p in _visible(tmp_path / "out") if p.suffix == ".mov"] == []
    daemon.start()
    (done,) = daemon.wait_jobs(1)
    watch.halt.set()
    watch.join()
    assert done.id == job.id and done.attempts == 2  # the interrupted attempt counted, and the one that finished
    assert watch.problems == [] and "long.mov" in watch.checked
    assert count_frames(done.outputs[0]) == 240
    assert _sha(Path(done.source)) == _sha(long_clip)
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no temp left


def test_kill_9_of_a_worker_is_retried_and_a_clip_that_always_crashes_ends_failed(bay, long_clip: Path,
                                                                                    small_clip: Path, tmp_path: Path):
    daemon = bay(workers={"cpu": 1, "retries": 1})
    drop(long_clip, tmp_path / "drop", "once.mp4")
    first = _running_job(daemon, attempts=0)
    os.kill(first.worker_pid, signal.SIGKILL)
    retried = _running_job(daemon, attempts=1)
    assert retried.id == first.id and retried.worker_pid != first.worker_pid
    (done,) = daemon.wait_jobs(1)
    assert count_frames(done.outputs[0]) == 240

    shutil.copyfile(long_clip, tmp_path / "always.mp4")  # same bytes, new mtime: another file
    drop(tmp_path / "always.mp4", tmp_path / "drop")
    for attempt in (0, 1):  # every attempt dies: retries = 1 gives two
        job = _running_job(daemon, attempts=attempt)
        os.kill(job.worker_pid, signal.SIGKILL)
    (failed,) = daemon.wait_jobs(1, "failed")
    assert "SIGKILL" in failed.error and "gave up after 2 attempt(s)" in failed.error
    assert (tmp_path / "drop" / "failed" / "always.mp4").exists()
    report = json.loads((tmp_path / "drop" / "failed" / "always.mp4.report.json").read_text())
    assert report["status"] == "failed" and "SIGKILL" in report["error"]
    # the daemon keeps serving
    drop(small_clip, tmp_path / "drop", "next.mp4")
    daemon.wait_jobs(2)


def test_a_job_past_job_timeout_is_killed_and_fails_after_retries(bay, long_clip: Path, tmp_path: Path):
    daemon = bay(workers={"cpu": 1, "retries": 0, "job_timeout": "0.5s"})
    drop(long_clip, tmp_path / "drop")
    (failed,) = daemon.wait_jobs(1, "failed")
    assert "timed out" in failed.error and "job_timeout" in failed.error
    assert [p for p in _visible(tmp_path / "out") if p.suffix == ".mov"] == []


def test_cancel_stops_a_running_job_and_a_hung_worker_is_killed(bay, long_clip: Path, tmp_path: Path):
    daemon = bay(workers={"cpu": 1, "retries": 0, "heartbeat_timeout": "1s", "grace_seconds": 1})
    source = drop(long_clip, tmp_path / "drop", "cancel-me.mp4")
    job = _running_job(daemon)
    daemon.ledger.cancel(job.id)  # what `postbay cancel` and the API do
    wait_for(lambda: not pid_alive(job.worker_pid), 10, what="the cancelled worker to stop")
    time.sleep(1.0)  # a settle period: the file left in the folder is not queued again
    assert [(j.id, j.state) for j in daemon.jobs()] == [(job.id, "cancelled")]
    assert source.exists() and list((tmp_path / "out").iterdir()) == []

    shutil.copyfile(long_clip, tmp_path / "hang.mp4")
    drop(tmp_path / "hang.mp4", tmp_path / "drop")
    job = _running_job(daemon)
    os.kill(job.worker_pid, signal.SIGSTOP)  # a stalled worker: alive, silent
    (failed,) = daemon.wait_jobs(1, "failed", timeout=30)
    assert "no progress" in failed.error and "hung" in failed.error
    assert not pid_alive(job.worker_pid)


def test_corrupt_truncated_and_empty_files_fail_with_a_reason(bay, small_clip: Path, tmp_path: Path):
    # they never become whole: taken once unchanged for arrival_timeout, then failed with the reason
    daemon = bay(folders=[{"path": str(tmp_path / "drop"), "recipe": "passthrough", "output": str(tmp_path / "out"),
                           "settle_seconds": 0.5, "arrival_timeout": 2}])
    folder = tmp_path / "drop"
    (tmp_path / "garbage.mov").write_bytes(os.urandom(200_000))
    data = small_clip.read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.mov").write_bytes(b"")
    for name in ("garbage.mov", "truncated.mp4", "empty.mov"):
        drop(tmp_path / name, folder)
    failed = daemon.wait_jobs(3, "failed")
    for job in failed:
        name = Path(job.dropped).name
        assert name in job.error and "Traceback" not in job.error, job.error
        assert job.attempts == 1  # bad media is not retried: it will not get better
        assert (folder / "failed" / name).exists()
        report = json.loads((folder / "failed" / f"{name}.report.json").read_text())
        assert report["error"] == job.error and report["retry"] == f"postbay retry {job.id}"
    assert _sha(folder / "failed" / "truncated.mp4") == hashlib.sha256(data[: len(data) // 2]).hexdigest()
    drop(small_clip, folder)
    daemon.wait_jobs(1)  # still serving


def test_a_timeline_waits_for_its_media_then_conforms(bay, small_clip: Path, tmp_path: Path):
    import opentimelineio as otio

    daemon = bay(extra=f'media_roots = ["{tmp_path / "media"}"]')  # the daemon's clips stay in their folders
    media = tmp_path / "media" / "shot.mp4"
    media.parent.mkdir()
    clip = otio.schema.Clip(name="shot", media_reference=otio.schema.ExternalReference(target_url=media.as_uri()),
                            source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24),
                                                                 otio.opentime.RationalTime(24, 24)))
    timeline = otio.schema.Timeline(name="edit", tracks=[otio.schema.Track(children=[clip])])
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    finished: dict[str, float] = {}
    copier = threading.Thread(target=_write_in_chunks, args=(small_clip, media, 4, 0.8, True, finished))
    copier.start()
    drop(tmp_path / "edit.otio", tmp_path / "drop")  # the edit lands while its media is still copying
    copier.join()
    (job,) = daemon.wait_jobs(1)
    assert job.started >= finished["shot.mp4"], "the edit started before its media had arrived"
    assert "waits for 1 media file(s)" in daemon.log()
    conformed = otio.adapters.read_from_file(str(tmp_path / "out" / "edit.postbay.otio"))
    (shot,) = conformed.find_clips()
    rendered = Path(otio.url_utils.filepath_from_url(shot.media_reference.target_url))
    assert rendered.exists() and rendered.parent == tmp_path / "out"

def _cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "postbay", *args, "--config", str(config)], capture_output=True,
                          text=True, timeout=60)


def test_files_present_before_start_or_dropped_while_down_are_processed_once(bay, tiny_clips, tmp_path: Path):
    folder = tmp_path / "drop"
    daemon = bay(folders=[{"path": str(folder), "recipe": "passthrough", "output": str(tmp_path / "out"),
                           "after": "keep", "settle_seconds": 0.5}], start=False)
    before, while_down = tiny_clips(2)
    shutil.copy2(before, folder / before.name)
    daemon.start()
    daemon.wait_jobs(1)
    assert daemon.stop() == 0
    shutil.copy2(while_down, folder / while_down.name)
    daemon.start()
    daemon.wait_jobs(2)
    time.sleep(1.5)  # another settle period: the kept files are not taken again
    jobs = daemon.jobs()
    assert sorted(Path(j.source).name for j in jobs) == [before.name, while_down.name]
    assert all(j.state == "done" for j in jobs)
    # the CLI reads the same ledger, with the daemon running …
    listed = json.loads(_cli("jobs", "--json", config=daemon.config).stdout)
    assert {(j["id"], j["state"]) for j in listed} == {(j.id, "done") for j in jobs}
    assert {"id", "source", "recipe", "state", "outputs", "error"} <= set(listed[0])
    assert daemon.stop() == 0
    # … and without it
    status = json.loads(_cli("status", "--json", config=daemon.config).stdout)
    assert not status["daemon"]["running"] and status["queue"]["done"] == 2


def test_the_same_file_again_is_not_reprocessed_an_edited_one_is(bay, small_clip: Path, tiny_clips,
                                                                  tmp_path: Path):
    daemon = bay()
    folder = tmp_path / "drop"
    drop(small_clip, folder, "shot.mp4")
    (first,) = daemon.wait_jobs(1)
    drop(Path(first.source), folder, "shot.mp4")  # the same file back from done/
    time.sleep(2.0)
    assert len(daemon.jobs()) == 1
    assert "duplicate" in daemon.log() and first.id in daemon.log()
    (folder / "shot.mp4").unlink()
    edited = tiny_clips(1)[0]  # a new export under the same name
    drop(edited, folder, "shot.mp4")
    jobs = daemon.wait_jobs(2)
    assert jobs[1].fingerprint != first.fingerprint and count_frames(jobs[1].outputs[0]) == 8
    # the first version's output is kept: the new one is written beside it
    assert Path(jobs[1].outputs[0]).name == "shot_v2.mov" and count_frames(first.outputs[0]) == 24


@pytest.fixture
def small_tmpfs(tmp_path: Path):
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {result.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=10)


def test_a_full_output_disk_fails_cleanly_and_a_retry_succeeds_once_there_is_room(bay, small_clip: Path,
                                                                                   tmp_path: Path, small_tmpfs: Path):
    # min_free_mb = 0: no pause for headroom (tests/security/test_full_disk.py), the render itself runs out
    daemon = bay(folders=[{"path": str(tmp_path / "drop"), "recipe": "passthrough", "output": str(small_tmpfs),
                           "settle_seconds": 0.5}], extra="[limits]\nmin_free_mb = 0")
    drop(small_clip, tmp_path / "drop")
    (failed,) = daemon.wait_jobs(1, "failed")
    assert "disk full" in failed.error or "No space left" in failed.error, failed.error
    assert [p for p in small_tmpfs.iterdir() if p.suffix == ".mov" or p.name.startswith(".")] == []
    assert _sha(Path(failed.source)) == _sha(small_clip)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True, timeout=10)
    out = _cli("retry", failed.id[:8], config=daemon.config)
    assert out.returncode == 0, out.stderr
    (done,) = daemon.wait_jobs(1)
    assert done.id == failed.id and count_frames(done.outputs[0]) == 24
    assert Path(done.source).parent == tmp_path / "drop" / "done"


def test_sigterm_mid_job_requeues_it_and_notify_messages_arrive(bay, long_clip: Path, tmp_path: Path):
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.2)
    messages: list[str] = []

    def listen(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                messages.append(sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    stop = threading.Event()
    listener = threading.Thread(target=listen, args=(stop,), daemon=True)
    listener.start()
    try:
        daemon = bay(workers={"cpu": 1, "grace_seconds": 0.5},
                     env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"})
        wait_for(lambda: any("READY=1" in m for m in messages), 10, what="READY=1")
        drop(long_clip, tmp_path / "drop")
        job = _running_job(daemon)
        wait_for(lambda: any(m == "WATCHDOG=1" for m in messages), 10, what="WATCHDOG=1")
        t0 = time.monotonic()
        assert daemon.stop() == 0
        assert time.monotonic() - t0 < 15
        again = daemon.ledger.get(job.id)
        assert again.state == "queued" and again.attempts == 0  # an orderly stop is not the clip's fault
        assert not pid_alive(job.worker_pid)
        assert [p for p in _visible(tmp_path / "out") if p.suffix == ".mov"] == []
        wait_for(lambda: any("STOPPING=1" in m for m in messages), 5, what="STOPPING=1")
        assert any(line.startswith("STATUS=") and "queued" in line for m in messages for line in m.splitlines())
        daemon.start()
        (done,) = daemon.wait_jobs(1)
        assert done.id == job.id and count_frames(done.outputs[0]) == 240
    finally:
        stop.set()
        sock.close()


def test_sighup_reloads_folders_and_windows_hold_jobs(bay, small_clip: Path, tmp_path: Path):
    from daemon_harness import write_config

    held = tmp_path / "heavy"
    closed = time.strftime("%a", time.localtime(time.time() + 3 * 86400)).lower()  # a window on another day
    folders = [{"path": str(tmp_path / "drop"), "recipe": "passthrough", "output": str(tmp_path / "out"),
                "settle_seconds": 0.5},
               {"path": str(held), "recipe": "review", "output": str(tmp_path / "out-review"), "settle_seconds": 0.5}]
    daemon = bay(folders=folders, extra="")
    daemon.stop()
    daemon.config.write_text(daemon.config.read_text() +
                             f'[[schedule]]\nrecipe = "review"\nwindow = "{closed} 00:00-24:00"\n')
    daemon.start()
    drop(small_clip, held)
    wait_for(lambda: daemon.jobs("queued"), 10, what="a queued job")
    time.sleep(1.5)
    assert daemon.jobs("queued") and not daemon.jobs("done")  # waits for its window
    extra = tmp_path / "added"
    nightly = tmp_path / "nightly"
    for folder in (extra, nightly):  # made before they are configured (a missing folder refuses the reload)
        folder.mkdir()
    write_config(daemon.config, data_dir=daemon.data_dir, workers={"cpu": 1},
                 folders=[*folders, {"path": str(extra), "recipe": "passthrough", "output": str(tmp_path / "out2"),
                                     "settle_seconds": 0.5, "polling": True},
                          {"path": str(nightly), "recipe": "passthrough", "output": str(tmp_path / "out3"),
                           "settle_seconds": 0.5, "cron": "0 3 * * *"}])
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in daemon.log(), 10, what="reload")
    drop(small_clip, extra, "added.mp4")
    drop(small_clip, nightly, "batch.mp4")
    jobs = daemon.wait_jobs(2)  # the held job runs (no window now) and the new folder is watched (polling)
    assert {Path(j.dropped).parent for j in jobs} == {held, extra}
    assert "added (polling)" in daemon.log() and "nightly (batch)" in daemon.log()
    # a batch folder waits for its time; that time is kept in the ledger's file
    time.sleep(1.0)
    assert all(Path(j.dropped).parent != nightly for j in daemon.jobs())
    with sqlite3.connect(daemon.data_dir / "ledger.sqlite") as db:
        ((job_id, next_run),) = db.execute("SELECT id, next_run_time FROM scheduler_jobs "
                                           "WHERE id LIKE 'batch:%'").fetchall()
    assert job_id == f"batch:{nightly}" and time.localtime(next_run).tm_hour == 3
    # a bad config on reload is refused, the daemon carries on
    daemon.config.write_text("[[watch]]\npath = 3\n")
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in daemon.log(), 10, what="refused reload")
    assert daemon.proc.poll() is None


def test_a_job_that_keeps_taking_the_daemon_down_is_given_up(bay, small_clip: Path, tmp_path: Path):
    from postbay.daemon.ledger import Ledger

    daemon = bay(workers={"cpu": 1, "retries": 1}, start=False)
    source = drop(small_clip, tmp_path / "drop")
    with Ledger(daemon.data_dir / "ledger.sqlite") as ledger:  # as two daemon crashes mid-job leave it
        job, _ = ledger.submit(source, "passthrough", tmp_path / "out", folder=tmp_path / "drop", after="move")
        ledger.claim(job.id)
        ledger.requeue(job.id, "interrupted: the daemon stopped during this job")
        ledger.claim(job.id)
    daemon.start()
    (failed,) = daemon.wait_jobs(1, "failed")
    assert failed.id == job.id and "gave up after 2 attempt(s)" in failed.error
    assert (tmp_path / "drop" / "failed" / source.name).exists()


def test_a_source_that_changes_while_it_is_finished_is_not_moved_and_comes_back_as_a_new_job(bay, long_clip: Path,
                                                                                           tmp_path: Path):
    daemon = bay()
    folder = tmp_path / "drop"
    dropped = drop(long_clip, folder, "shot.mp4")
    first = _running_job(daemon)
    later = time.time() + 5
    os.utime(dropped, (later, later))  # a new version lands under the same name mid-render
    jobs = daemon.wait_jobs(2, timeout=120)
    assert "changed while it was being finished" in daemon.log()
    assert {j.id for j in jobs} >= {first.id}
    assert daemon.ledger.get(first.id).source == str(dropped)  # the first job left it in place
    time.sleep(1.0)
    assert [p.name for p in (folder / "done").iterdir()] == ["shot.mp4"]  # moved once, by the second job
    assert not (folder / "failed").exists() and not dropped.exists()
