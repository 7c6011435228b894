"""The daemon's parts on their own: arrival rules, ledger, windows, job store, notify, config, units."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_harness import write_config

from postbay.config import WatchConfig, load_config
from postbay.daemon.daemon import remove_stale_temps
from postbay.daemon.ledger import Ledger
from postbay.daemon.notify import SystemdNotifier
from postbay.daemon.schedule import SQLiteJobStore, cron_trigger, parse_window
from postbay.daemon.settings import check_config, default_config
from postbay.daemon.watcher import ArrivalTracker, is_ignored, mount_type, open_for_writing, uses_polling
from postbay.errors import ConfigError, PostbayError
from postbay.recipe import find_recipes


def test_temp_names_reports_and_postbay_folders_are_ignored(tmp_path: Path):
    root = tmp_path / "drop"
    ignored = ["clip.mov.part", "clip.partial", "x.tmp", "a.crdownload", ".hidden.mov", "._clip.mov", "~$edit.xml",
               "clip.report.json", ".clip.postbay-tmp-12.mov"]
    for name in ignored:
        assert is_ignored(root / name, root), name
    assert is_ignored(root / "done" / "clip.mov", root)
    assert is_ignored(root / "failed" / "clip.mov", root)
    assert is_ignored(root / "out" / "clip.mov", root, output=root / "out")
    for name in ["clip.mov", "A001_C002.MXF", "edit.otio", "done.mov", "my part.mov"]:
        assert not is_ignored(root / name, root), name


def test_network_mounts_are_polled(tmp_path: Path):
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\nserver:/export /mnt/nas nfs4 rw 0 0\n"
                      "//host/share /mnt/smb\\040share cifs rw 0 0\n")
    assert mount_type(Path("/mnt/nas/drop"), str(mounts)) == "nfs4"
    assert mount_type(Path("/mnt/smb share/x"), str(mounts)) == "cifs"
    assert mount_type(Path("/srv/drop"), str(mounts)) == "ext4"
    assert uses_polling(WatchConfig(path=tmp_path, recipe="passthrough", polling=True))
    assert not uses_polling(WatchConfig(path=tmp_path, recipe="passthrough", polling=False))
    # the test folder itself is on a local disk (or tmpfs): inotify
    assert not uses_polling(WatchConfig(path=tmp_path, recipe="passthrough"))


def test_a_file_held_open_for_writing_by_another_process_is_seen(tmp_path: Path):
    path = tmp_path / "copying.mov"
    path.write_bytes(b"x")
    writer = subprocess.Popen([sys.executable, "-c", f"f = open({str(path)!r}, 'ab'); import time; time.sleep(30)"])
    try:
        held = None
        for _ in range(100):
            held = open_for_writing()
            if held and str(path) in held:
                break
            time.sleep(0.05)
        assert held is not None and str(path) in held
    finally:
        writer.kill()
        writer.wait()
    assert str(path) not in (open_for_writing() or set())


def test_arrival_waits_for_size_and_mtime_to_settle(tmp_path: Path):
    # arrival_timeout 0: these bytes are no movie, and the settle rule alone is under test
    watch = WatchConfig(path=tmp_path, recipe="passthrough", settle_seconds=2, arrival_timeout=0)
    path = tmp_path / "clip.mov"
    path.write_bytes(b"a" * 100)
    tracker = ArrivalTracker(check_open=False)
    tracker.nominate(path, watch)
    assert tracker.poll(now=0) == []
    assert tracker.poll(now=1.5) == []
    with open(path, "ab") as fh:  # it grows: the clock restarts
        fh.write(b"b" * 100)
    assert tracker.poll(now=1.9) == []
    assert tracker.poll(now=3.0) == []
    arrived = tracker.poll(now=4.0)
    assert [a.path for a in arrived] == [path] and arrived[0].size == 200
    assert tracker.poll(now=10) == []  # taken once
    gone = tmp_path / "gone.mov"
    gone.write_bytes(b"x")
    tracker.nominate(gone, watch)
    tracker.poll(now=20)
    gone.unlink()
    assert tracker.poll(now=30) == [] and tracker.pending() == 0


def test_ledger_exactly_once_and_lifecycle(tmp_path: Path):
    clip = tmp_path / "a.mov"
    clip.write_bytes(os.urandom(3 << 20))
    with Ledger(tmp_path / "l.sqlite") as ledger:
        seen = []
        ledger.subscribe(seen.append)
        job, created = ledger.submit(clip, "passthrough", tmp_path / "out", folder=tmp_path)
        assert created and job.state == "queued" and job.kind == "media"
        edit = tmp_path / "cut.otio"
        edit.write_text("{}")
        assert ledger.submit(edit, "passthrough", tmp_path / "out")[0].kind == "timeline"
        again, created = ledger.submit(clip, "passthrough", tmp_path / "out")
        assert not created and again.id == job.id
        other, created = ledger.submit(clip, "review", tmp_path / "out")  # another recipe: its own job
        assert created
        assert ledger.claim(job.id).state == "running"
        ledger.progress(job.id, 0.5, force=True)
        assert ledger.get(job.id).progress == 0.5
        done = ledger.finish(job.id, [tmp_path / "out" / "a.mov"], report=tmp_path / "out" / "a.mov.report.json")
        assert done.state == "done" and done.outputs == [str(tmp_path / "out" / "a.mov")]
        assert done.attempts == 1  # the log said "attempt 1": so does the ledger
        _, created = ledger.submit(clip, "passthrough", tmp_path / "out")
        assert not created  # done: not again
        before = clip.stat()
        with open(clip, "r+b") as fh:  # an edit in the last MiB
            fh.seek(-10, os.SEEK_END)
            fh.write(b"0123456789")
        os.utime(clip, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and mtime: the hash tells
        edited, created = ledger.submit(clip, "passthrough", tmp_path / "out")
        assert created and edited.fingerprint != job.fingerprint
        # a crash: running jobs go back to queued with one more attempt
        ledger.claim(edited.id)
        (recovered,) = ledger.recover()
        assert recovered.id == edited.id and recovered.state == "queued" and recovered.attempts == 1
        assert ledger.get(job.id[:6]).id == job.id  # a unique prefix is enough
        cancelled = ledger.cancel(other.id)
        assert cancelled.state == "cancelled"
        with pytest.raises(PostbayError, match="only failed or cancelled"):
            ledger.retry(job.id)
        assert ledger.retry(other.id).state == "queued"
        events = ledger.events_since(0)
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert {e.state for e in events} >= {"queued", "running", "done", "cancelled"}
        assert len(seen) == len(events)
        assert ledger.events_since(events[-1].seq) == []
        counts = ledger.counts()
        assert counts["done"] == 1 and counts["queued"] == 3


def test_ledger_is_shared_between_processes(tmp_path: Path):
    path = tmp_path / "l.sqlite"
    clip = tmp_path / "a.mov"
    clip.write_bytes(b"abc")
    with Ledger(path) as ledger:
        job, _ = ledger.submit(clip, "passthrough", tmp_path)
        out = subprocess.run([sys.executable, "-c", "import sys; from postbay.daemon.ledger import Ledger; "
                              f"Ledger(sys.argv[1]).cancel({job.id!r})", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert ledger.get(job.id).state == "cancelled"


def test_schedule_windows():
    w = parse_window("mon-fri 20:00-06:00")
    monday = dt.datetime(2026, 11, 23)  # a Monday
    assert w.contains(monday.replace(hour=21))
    assert not w.contains(monday.replace(hour=12))
    assert not w.contains(monday.replace(hour=3))  # Sunday night is not in it
    assert w.contains((monday + dt.timedelta(days=1)).replace(hour=3))  # Monday night, into Tuesday
    assert w.contains((monday + dt.timedelta(days=5)).replace(hour=5))  # Friday night into Saturday
    assert not w.contains((monday + dt.timedelta(days=5)).replace(hour=21))  # Saturday evening
    day = parse_window("09:00-17:00")
    assert day.contains(monday.replace(hour=9)) and not day.contains(monday.replace(hour=17))
    assert parse_window("sat,sun 00:00-24:00").contains((monday + dt.timedelta(days=6)).replace(hour=23, minute=59))
    for bad in ["mon-fri", "someday 10:00-11:00", "mon 25:00-26:00", "10:00-10:00"]:
        with pytest.raises(ValueError):
            parse_window(bad)
    assert cron_trigger("0 2 * * mon-fri")
    with pytest.raises(ValueError):
        cron_trigger("every night")


def _noop() -> None:
    pass


def test_scheduler_jobs_persist_in_the_ledger_file(tmp_path: Path):
    from apscheduler.schedulers.background import BackgroundScheduler

    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    sched = BackgroundScheduler(jobstores={"default": SQLiteJobStore(path)})
    sched.start(paused=True)
    sched.add_job(_noop, cron_trigger("0 2 * * *"), id="nightly")
    first = sched.get_job("nightly").next_run_time
    sched.shutdown(wait=False)
    sched = BackgroundScheduler(jobstores={"default": SQLiteJobStore(path)})
    sched.start(paused=True)
    job = sched.get_job("nightly")
    assert job is not None and job.next_run_time == first and job.func is _noop
    sched.remove_job("nightly")
    assert sched.get_jobs() == []
    sched.shutdown(wait=False)


def test_notify_datagrams_reach_the_socket(tmp_path: Path):
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2)
    try:
        n = SystemdNotifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"})
        assert n.enabled and n.watchdog_interval == 2.0
        assert n.ready("watching 1 folder")
        msg = sock.recv(4096).decode()
        assert "READY=1" in msg.splitlines() and "STATUS=watching 1 folder" in msg.splitlines()
        n.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        n.close()
    finally:
        sock.close()
    assert not SystemdNotifier({}).send(ready=1)


def test_bad_config_names_the_key_and_the_daemon_does_not_start(tmp_path: Path):
    def config(text: str) -> Path:
        path = tmp_path / "bad.toml"
        path.write_text(f'data_dir = "{tmp_path / "data"}"\n' + text)
        return path

    cases = {
        '[[watch]]\npath = "drop"\nrecipe = "no-such-recipe"\n': "watch[0].recipe",
        '[[watch]]\npath = "drop"\nrecipe = "passthrough"\nafter = "shred"\n': "watch.0.after",
        '[[watch]]\npath = "drop"\nrecipe = "passthrough"\ncron = "nightly"\n': "watch[0].cron",
        '[[schedule]]\nrecipe = "passthrough"\nwindow = "weekdays 8-9"\n': "schedule[0].window",
        '[workers]\ncpu = 0\ngpu = 0\n': "workers.cpu",
        '[workers]\njob_timeout = "forever"\n': "workers.job_timeout",
        'gpu = "required"\n[workers]\ngpu = 0\n': "gpu",
    }
    for text, key in cases.items():
        path = config(text)
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            check_config(default_config(load_config(path)))
    path = config('[[watch]]\npath = "drop"\nrecipe = "no-such-recipe"\n')
    out = subprocess.run([sys.executable, "-m", "postbay", "daemon", "--config", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "watch[0].recipe" in out.stderr and "known recipes" in out.stderr
    assert not (tmp_path / "data" / "ledger.sqlite").exists()


def test_embedded_default_has_a_folder_per_builtin_recipe(tmp_path: Path):
    config = default_config(load_config(None, base=tmp_path))
    names = sorted(find_recipes())
    assert [w.recipe for w in config.watch] == names
    for w in config.watch:
        assert w.path == tmp_path / "postbay-data" / "watch" / w.recipe
        assert w.output_dir() == tmp_path / "postbay-data" / "out" / w.recipe
    check_config(config)


def test_stale_temps_of_dead_workers_are_removed(tmp_path: Path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".clip.postbay-tmp-{dead.pid}.mov"
    live = tmp_path / f".other.postbay-tmp-{os.getpid()}.mov"
    keep = tmp_path / "clip.mov"
    for p in (stale, live, keep):
        p.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 1
    assert not stale.exists() and live.exists() and keep.exists()
    assert remove_stale_temps(tmp_path, os.getpid()) == 1 and not live.exists()


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (apt: systemd)")
def test_rendered_units_pass_systemd_analyze_verify(tmp_path: Path):
    from postbay.daemon.units import render_unit

    drop, out = tmp_path / "drop folder", tmp_path / "finished"
    config = write_config(tmp_path / "postbay.toml", data_dir=tmp_path / "data",
                          folders=[{"path": str(drop), "recipe": "passthrough", "output": str(out)}])
    system = render_unit(config)
    for needle in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "User=postbay", "NoNewPrivileges=yes",
                   "ProtectSystem=strict", "PrivateTmp=yes", "KillMode=mixed", f"--config {config}"]:
        assert needle in system, needle
    rw = next(line for line in system.splitlines() if line.startswith("ReadWritePaths="))
    for folder in (drop, out, tmp_path / "data"):
        assert str(folder) in rw
    user = render_unit(None, user=True)
    assert "WantedBy=default.target" in user and "User=" not in user
    for name, text in (("system", system), ("user", user)):
        folder = tmp_path / name
        folder.mkdir()
        unit = folder / "postbay.service"
        unit.write_text(text)
        result = _verify(unit)
        assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    # the check can fail: a misspelt key is reported
    bad = tmp_path / "bad" / "postbay.service"
    bad.parent.mkdir()
    bad.write_text(system.replace("WatchdogSec=", "WatchdogSecs="))
    assert "WatchdogSecs" in _verify(bad).stderr


def test_service_install_dry_run_prints_the_unit_and_the_commands(tmp_path: Path, capsys, monkeypatch):
    from postbay.cli import main

    config = write_config(tmp_path / "postbay.toml", data_dir=tmp_path / "data",
                          folders=[{"path": str(tmp_path / "drop"), "recipe": "passthrough"}])
    system_unit = Path("/etc/systemd/system/postbay.service")
    existed = system_unit.exists()
    assert main(["service", "install", "--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert str(system_unit) in out and "systemctl enable --now postbay" in out
    assert "journalctl -u postbay" in out and "Type=notify" in out
    assert system_unit.exists() == existed  # a dry run writes nothing
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    assert main(["service", "install", "--user", "--config", str(config)]) == 0
    unit = home / ".config" / "systemd" / "user" / "postbay.service"
    assert unit.exists() and "Type=notify" in unit.read_text() and f"--config {config}" in unit.read_text()
    assert "systemctl --user enable --now postbay" in capsys.readouterr().out
    assert main(["service", "uninstall", "--user"]) == 0
    assert not unit.exists()

def test_retention_takes_old_done_sources_and_reports_only(tmp_path: Path):
    from postbay.daemon.daemon import expired_files

    watch = WatchConfig(path=tmp_path / "drop", recipe="passthrough", output=tmp_path / "out")
    files = {
        "old_done": tmp_path / "drop" / "done" / "a.mov", "new_done": tmp_path / "drop" / "done" / "b.mov",
        "old_report": tmp_path / "out" / "a.report.json", "old_output": tmp_path / "out" / "a.mov",
        "old_failed_report": tmp_path / "drop" / "failed" / "c.mov.report.json",
        "waiting": tmp_path / "drop" / "d.mov", "old_frames": tmp_path / "drop" / "done" / "gen" / "gen_0001.png",
    }
    for p in files.values():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    cutoff = time.time() + 0.5  # everything written so far is "old" …
    time.sleep(1.0)
    files["new_done"].write_bytes(b"y")  # … except this one
    os.utime(files["new_done"])
    expired = set(expired_files([watch], cutoff))
    assert expired == {files["old_done"], files["old_report"], files["old_failed_report"],
                       files["old_frames"].parent}  # a folder of frames in done/ goes whole
