"""The hot-folder daemon: watch, settle, queue in the ledger, run, publish, tidy up.

One main loop in the main thread owns the decisions (what to start, what a result means);
watchdog and the scheduler only nominate work from their threads. Lifecycle:

- start: validate the config (a bad key stops the start with an error that names it),
  open the ledger, put jobs a crash left ``running`` back to ``queued`` (attempt + 1),
  remove temp files of dead workers, watch the folders, rescan them, tell systemd READY.
- run: settled files become jobs (once per fingerprint and recipe); queued jobs start when
  a worker slot is free and their recipe's window is open; results move the source to
  ``done/`` (or keep or delete it) or to ``failed/`` with ``NAME.report.json``.
- SIGHUP: reload the config (folders added or removed live). SIGTERM/SIGINT: stop taking
  jobs, let running ones finish for ``grace_seconds``, requeue what is left, exit 0.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import logging.handlers
import os
import queue
import re
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from postbay.config import Config, WatchConfig, load_config
from postbay.errors import PostbayError
from postbay.media import set_pixel_limit
from postbay.publish import TEMP_MARK, write_json_atomic
from postbay.recipe import load_recipe

from .arrival import carry_sidecars, sidecars_of
from .executor import PROGRESS_KINDS, WITH_OUTPUTS, Executor, JobSpec, Outcome, make_executor
from .frames import signature
from .ledger import FINISHED, Job, Ledger, clock, fingerprint, pid_alive
from .notify import SystemdNotifier
from .outputs import output_name, skip_report
from .schedule import SQLiteJobStore, Window, cron_trigger, parse_window
from .settings import check_config, default_config, ledger_path
from .space import is_disk_full, low_space
from .state import publish_state, withdraw_state
from .watcher import Arrival, ArrivalTracker, FolderWatcher, referenced_media
from .webhooks import Webhooks

__all__ = ["Daemon", "Service", "expired_files", "remove_stale_temps"]

log = logging.getLogger("postbay.daemon")

#: Something that runs beside the daemon (the HTTP API): started once the daemon is ready,
#: given its config; returns a handle with ``stop()`` (or None when the config turns it off).
Service = Callable[[Config], Any]
#: How long progress events stay in the ledger for API readers catching up.
_EVENT_DAYS = 7
#: Seconds between a running job's progress lines in the log (its phase changes are logged as they come).
PACE_LOG_SECONDS = 30.0


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for n in range(1, 10_000):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise PostbayError("too many files of this name", path=path)


def _move_into(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = _unique(folder / source.name)
    shutil.move(str(source), str(target))
    return target


def _changed_since_queued(job: Job, source: Path) -> bool:
    """True (and said) when the source's size or mtime differ from when it was queued: a copy
    still landing or a new version. It stays where it is and arrives again as its own job,
    so one source is never split into moved fragments."""
    try:
        size, mtime_ns = signature(source)  # a folder of frames: its frames' total and latest change
    except OSError:
        return False
    if not job.fingerprint or job.fingerprint.startswith(f"{size}:{mtime_ns}:"):
        return False
    log.warning("job %s: %s changed while it was being finished; left where it is (it is taken again as a "
                "new version)", job.id, source)
    return True


def remove_stale_temps(folder: Path, pid: int | None = None) -> int:
    """Remove postbay's temp files in ``folder``: those of worker ``pid``, or (no pid) those
    whose writer is no longer alive."""
    if not folder.is_dir():
        return 0
    n = 0
    for path in folder.glob(f".*{TEMP_MARK}-*"):
        m = re.match(r"\d+", path.name.split(f"{TEMP_MARK}-", 1)[1])
        owner = int(m.group()) if m else None
        if (pid is not None and owner == pid) or (pid is None and not pid_alive(owner)):
            if path.is_dir() and not path.is_symlink():  # an image sequence being written
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            n += 1
    return n


def _say_dashboard(url: str | None) -> None:
    if url:  # the last line of the start: where to click
        print(f"dashboard: {url}/", flush=True)


def _scheduled(kind: str, key: str) -> None:
    """Entry point of persisted scheduler jobs (APScheduler stores it by name)."""
    if Daemon.current is not None:
        Daemon.current.requests.put((kind, key))


@dataclass
class _Folder:
    watch: WatchConfig
    mode: str  # inotify | polling | batch


@dataclass
class _Settings:
    windows: dict[str, Window] = field(default_factory=dict)
    batch_crons: dict[str, str] = field(default_factory=dict)  # folder key -> crontab


class Daemon:
    """The service. ``Daemon(config).run()`` returns the exit status (0 after an orderly stop)."""

    current: Daemon | None = None

    def __init__(self, config: Config, *, config_path: str | Path | None = None, tick: float = 0.2,
                 executor: Executor | None = None, services: list[Service] | tuple[Service, ...] = ()):
        self.config_path = Path(config_path) if config_path else None
        self.config = default_config(config)
        check_config(self.config)
        self.tick = tick
        self.requests: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self.notifier = SystemdNotifier()
        self.webhooks = Webhooks(self.config.notify)
        self.tracker = ArrivalTracker()
        self.watcher = FolderWatcher(self.tracker)
        self.folders: dict[Path, _Folder] = {}
        self.settings = _Settings()
        self._executor = executor
        self.services = list(services)
        self._stop_requested = False
        self._reload_requested = False
        self._stopping = False
        self._stop_deadline = 0.0
        self._shutdown_jobs: set[str] = set()
        self._fp_cache: dict[Path, tuple[int, int, str]] = {}
        self._duplicates_logged: set[tuple[str, str]] = set()
        self._gpu_jobs: set[str] = set()
        self._timeline_media: dict[str, ArrivalTracker] = {}
        self._waiting_logged: set[str] = set()
        self._last_beat = 0.0
        self._last_status = ""
        self._outcomes: list[Outcome] = []  # taken from the executor, not yet written to the ledger
        self._planned: dict[str, Path] = {}  # running job -> the output file it will write
        self._paced: dict[str, float] = {}  # running job -> when its progress was last logged
        self.paused: str | None = None  # why no new job starts (a full disk), None when running
        #: Called once ready with the API's address (None without one): says where to click.
        self.on_ready: Callable[[str | None], None] = _say_dashboard
        self._space_checked = 0.0

    # -- setup ------------------------------------------------------------------------------
    def _setup_logging(self) -> None:
        logs = self.config.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        root = logging.getLogger("postbay")
        root.setLevel(logging.INFO)
        if not any(getattr(h, "_postbay", False) for h in root.handlers):
            fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
            handlers: list[logging.Handler] = [
                logging.StreamHandler(),
                logging.handlers.RotatingFileHandler(logs / "daemon.log", maxBytes=10 << 20, backupCount=3)]
            for handler in handlers:
                handler.setFormatter(fmt)
                handler._postbay = True  # type: ignore[attr-defined]
                root.addHandler(handler)

    def _lock_data_dir(self) -> None:
        # Two daemons on one ledger would each think the other's running jobs were orphans.
        path = self.config.data_dir / "daemon.lock"
        self._lock_file = open(path, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.seek(0)
            owner = self._lock_file.read().strip() or "?"
            self._lock_file.close()
            raise PostbayError(f"another postbay daemon (pid {owner}) is running on this data_dir", path=path,
                               hint="stop it first, or give this one another data_dir") from None
        self._lock_file.truncate(0)
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()

    def _gpu_slots(self) -> int:
        if self.config.gpu == "off" or self.config.workers.gpu == 0:
            return 0
        from postbay.backend import cupy_available

        return self.config.workers.gpu if cupy_available() else 0

    def _apply_settings(self) -> None:
        cfg = self.config
        self.settings = _Settings()
        for s in cfg.schedule:
            if s.window:
                self.settings.windows[s.recipe] = parse_window(s.window)
        by_recipe_cron = {s.recipe: s.cron for s in cfg.schedule if s.cron}
        for w in cfg.watch:
            cron = w.cron or by_recipe_cron.get(w.recipe)
            if cron:
                self.settings.batch_crons[str(w.path)] = cron
        self.executor.apply_limits(job_timeout=cfg.workers.job_timeout,
                                   heartbeat_timeout=cfg.workers.heartbeat_timeout)
        self.gpu_slots = self._gpu_slots()

    def _watch(self, watch: WatchConfig) -> None:
        watch.output_dir().mkdir(parents=True, exist_ok=True)
        if watch.create:
            watch.path.mkdir(parents=True, exist_ok=True)
        if str(watch.path) in self.settings.batch_crons:
            mode = "batch"
        else:
            mode = self.watcher.add(watch)
        self.folders[watch.path] = _Folder(watch, mode)
        log.info("watching %s (%s) -> %s with %s", watch.path, mode, watch.output_dir(), watch.recipe)

    def _unwatch(self, path: Path) -> None:
        folder = self.folders.pop(path, None)
        if folder is not None and folder.mode != "batch":
            self.watcher.remove(path)
        self.tracker.forget_folder(path)
        log.info("stopped watching %s", path)

    def _schedule_jobs(self) -> None:
        """Rescans every ``rescan_minutes`` (in memory); batch crons and retention persisted."""
        sched = self.scheduler
        sched.add_job(self._rescan_live, "interval", minutes=self.config.rescan_minutes, id="rescan",
                      replace_existing=True, jobstore="default", coalesce=True)
        wanted: dict[str, tuple[str, tuple[str, str]]] = {}
        for folder, cron in self.settings.batch_crons.items():
            wanted[f"batch:{folder}"] = (cron, ("batch", folder))
        wanted["retention"] = ("17 3 * * *", ("retention", ""))
        for job in sched.get_jobs(jobstore="ledger"):
            spec = wanted.get(job.id)
            if spec is None or str(job.trigger) != str(cron_trigger(spec[0])):
                job.remove()  # folder gone or its cron changed
        for job_id, (cron, args) in wanted.items():
            if sched.get_job(job_id, jobstore="ledger") is None:
                sched.add_job(_scheduled, cron_trigger(cron), args=args, id=job_id, jobstore="ledger",
                              coalesce=True, misfire_grace_time=6 * 3600, max_instances=1)

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self.config)
        return self._executor

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        set_pixel_limit(cfg.limits.max_pixels)
        self._lock_data_dir()
        self._setup_logging()
        # handlers first: a SIGTERM during start-up is an orderly stop too
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        self.ledger = Ledger(ledger_path(cfg))
        self.running_services: list[Any] = []
        self._state_file: Path | None = None
        self.scheduler = BackgroundScheduler(jobstores={"ledger": SQLiteJobStore(ledger_path(cfg))},
                                             job_defaults={"misfire_grace_time": 3600})
        try:
            attached = self.executor.attached()  # a cluster's jobs outlive the daemon: re-attach, never requeue
            for job_id in attached:
                log.info("job %s is still running on the cluster; following it again", job_id)
            for job in self.ledger.recover(keep=attached):
                log.info("job %s (%s) was interrupted; queued again (attempt %d)", job.id, job.source,
                         job.attempts + 1)
            self._apply_settings()
            self.executor.warm()
            for w in cfg.watch:
                self._watch(w)
                if not attached:  # a re-attached job's temp file may belong to a pid on another node
                    remove_stale_temps(w.output_dir())
            Daemon.current = self
            self.scheduler.start()
            self._schedule_jobs()
            self._rescan_live()
            self.ledger.set_daemon_state(pid=os.getpid(), started=time.time(), beat=time.time(), running=True,
                                         config=cfg.source, folders=self._folder_state(),
                                         slots={"cpu": cfg.workers.cpu, "gpu": self.gpu_slots})
            self._start_services()
            url = next((h.url for h in self.running_services if getattr(h, "url", None)), None)
            self._state_file = publish_state({
                "config": str(self.config_path.resolve()) if self.config_path else None,
                "data_dir": str(cfg.data_dir.resolve()), "ledger": str(ledger_path(cfg).resolve()),
                "api": url, "started": time.time()})
            self.notifier.ready(self._status_line())
            log.info("postbay daemon ready: %d folder(s), %d CPU + %d GPU worker slot(s), ledger %s",
                     len(self.folders), cfg.workers.cpu, self.gpu_slots, self.ledger.path)
            self.on_ready(url)
            while self._turn():
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            withdraw_state(self._state_file)
            for service in self.running_services:
                service.stop()
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            self.watcher.stop()
            if self._executor is not None:
                self._executor.shutdown()
            self.webhooks.close()
            self.ledger.set_daemon_state(running=False, stopped=time.time())
            self.ledger.close()
            self.notifier.close()
            Daemon.current = None
        log.info("postbay daemon stopped")
        return 0

    def _start_services(self) -> None:
        """The services handed in by the command layer (the HTTP API and dashboard). One that
        cannot be loaded is logged and the daemon carries on with its folders; one the config
        makes impossible (the API's port in use) stops the start: a dashboard that silently
        is not there is no option."""
        for start in self.services:
            try:
                handle = start(self.config)
            except (ImportError, OSError) as exc:
                log.error("service %s not started: %s", getattr(start, "__name__", start), exc)
                continue
            if handle is not None:
                self.running_services.append(handle)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
        elif self._stopping:
            self._stop_deadline = 0.0  # asked twice: no more grace, requeue what runs now
        else:
            self._stop_requested = True

    def _turn(self) -> bool:
        """One turn of the main loop that a full disk cannot end: the ledger refuses writes, the
        daemon pauses and tries again (what it was writing is written on a later turn)."""
        try:
            return self._step()
        except (sqlite3.OperationalError, OSError) as exc:
            if not is_disk_full(exc):
                raise
            self._pause(f"disk full: {exc}; new jobs wait until there is space again")
            time.sleep(self.tick)
            return True

    def _pause(self, reason: str) -> None:
        if self.paused != reason:
            log.error("paused: %s", reason)
            self.paused = reason
            self.notifier.status(self._status_line())
        now = time.monotonic()
        if now - self._last_beat >= 2.0:  # alive, only waiting (the heartbeat's ledger write may fail)
            self._last_beat = now
            self.notifier.watchdog()

    def _check_space(self) -> None:
        """Pause below ``[limits] min_free_mb`` on the data or an output folder; resume above it."""
        now = time.monotonic()
        if now - self._space_checked < 2.0:
            return
        self._space_checked = now
        folders = [self.config.data_dir, *(f.watch.output_dir() for f in self.folders.values())]
        reason = low_space(folders, self.config.limits.min_free_mb)
        if reason is not None:
            self._pause(reason)
            with contextlib.suppress(sqlite3.OperationalError):
                self.ledger.set_daemon_state(paused=reason)
        elif self.paused is not None:
            self.ledger.set_daemon_state(paused=None)
            log.info("space is back: resuming (was: %s)", self.paused)
            self.paused = None
            self._rescan_live()  # files that arrived while paused

    def _step(self) -> bool:
        """One turn of the main loop; False when the daemon may exit."""
        # the tick's wait is here, so a file that settles is queued and started in one turn
        outcomes = self.executor.poll(self.tick)
        if self._stop_requested and not self._stopping:
            self._begin_stop()
        if self._reload_requested:
            self._reload_requested = False
            self.reload()
        while True:
            try:
                kind, key = self.requests.get_nowait()
            except queue.Empty:
                break
            self._handle_request(kind, key)
        self._outcomes += outcomes + self.executor.poll(0)
        while self._outcomes:
            self._handle(self._outcomes[0])
            self._outcomes.pop(0)
        self._check_space()
        if not self._stopping and self.paused is None:
            for arrival in self.tracker.poll():
                self._submit(arrival)
        self._follow_cancellations()
        if self._stopping:
            running = self.executor.running()
            if not running:
                return False
            if time.monotonic() >= self._stop_deadline:
                for job_id in running:
                    if job_id not in self._shutdown_jobs:
                        self._shutdown_jobs.add(job_id)
                        self.executor.stop(job_id, "the daemon stopped before this job finished")
        elif self.paused is None:
            self._dispatch()
        self._heartbeat()
        return True

    def _begin_stop(self) -> None:
        self._stopping = True
        grace = self.config.workers.grace_seconds
        self._stop_deadline = time.monotonic() + grace
        running = len(self.executor.running())
        log.info("stopping: no new jobs; %d running job(s) get %.0f s to finish", running, grace)
        self.notifier.stopping(f"stopping: {running} job(s) finishing")
        self.watcher.stop()

    def _heartbeat(self) -> None:
        now = time.monotonic()
        interval = self.notifier.watchdog_interval or 5.0
        if now - self._last_beat < min(interval, 2.0):
            return
        self._last_beat = now
        self.notifier.watchdog()
        status = self._status_line()
        if status != self._last_status:
            self._last_status = status
            self.notifier.status(status)
        self.ledger.set_daemon_state(beat=time.time(), running=True, pid=os.getpid(),
                                     workers=self._worker_state(), executor=self.config.executor.kind,
                                     cluster=self.executor.nodes())

    def _status_line(self) -> str:
        if self.paused is not None:
            return f"PAUSED, {self.paused}"
        c = self.ledger.counts()
        return (f"{len(self.folders)} folder(s); {c['queued']} queued, {c['running']} running, {c['done']} done, "
                f"{c['failed']} failed")

    def _folder_state(self) -> list[dict[str, str]]:
        return [{"path": str(f.watch.path), "recipe": f.watch.recipe, "output": str(f.watch.output_dir()),
                 "mode": f.mode, "after": f.watch.after} for f in self.folders.values()]

    def _worker_state(self) -> list[dict[str, Any]]:
        return [{"job": j, "pid": self.executor.pid(j), "gpu": j in self._gpu_jobs, "node": self.executor.node(j)}
                for j in self.executor.running()]

    # -- intake -----------------------------------------------------------------------------
    def _rescan_live(self) -> None:
        self.sweep_inbox()
        live = [f.watch for f in self.folders.values() if f.mode != "batch"]
        n = self.watcher.rescan(live)
        log.debug("rescan nominated %d file(s)", n)

    def _handle_request(self, kind: str, key: str) -> None:
        if kind == "batch":
            folder = self.folders.get(Path(key))
            if folder is not None and not self._stopping:
                n = self.watcher.rescan([folder.watch])
                log.info("timed batch run of %s: %d file(s)", key, n)
        elif kind == "retention":
            self.apply_retention()

    def _fingerprint(self, path: Path, size: int, mtime_ns: int) -> str:
        cached = self._fp_cache.get(path)
        if cached and cached[:2] == (size, mtime_ns):
            return cached[2]
        fp = fingerprint(path)
        self._fp_cache[path] = (size, mtime_ns, fp)
        return fp

    def _submit(self, arrival: Arrival) -> None:
        watch = arrival.watch
        if watch.path not in self.folders:
            return  # folder removed by a reload meanwhile
        try:
            fp = self._fingerprint(arrival.path, arrival.size, arrival.mtime_ns)
        except OSError:
            return  # gone again
        job, created = self.ledger.submit(arrival.path, watch.recipe, watch.output_dir(), folder=watch.path,
                                          after=watch.after, fingerprint_=fp)
        if created:
            log.info("queued %s as job %s (%s)", arrival.path, job.id, watch.recipe)
        elif (str(arrival.path), fp) not in self._duplicates_logged:
            self._duplicates_logged.add((str(arrival.path), fp))
            log.info("duplicate: %s is the same file as job %s (%s), not processed again", arrival.path, job.id,
                     job.state)

    # -- running ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        running = self.executor.running()
        cpu_slots, gpu_slots = self.executor.slots(self.config.workers.cpu, self.gpu_slots)
        cpu_free = cpu_slots - sum(1 for j in running if j not in self._gpu_jobs)
        gpu_free = gpu_slots - sum(1 for j in running if j in self._gpu_jobs)
        if cpu_free <= 0 and gpu_free <= 0:
            return
        now = dt.datetime.now()
        for job in self.ledger.list("queued", limit=500):
            if cpu_free <= 0 and gpu_free <= 0:
                break
            window = self.settings.windows.get(job.recipe)
            if window is not None and not window.contains(now):
                continue  # waits, queued, for its window
            if job.kind == "timeline" and self._media_arriving(job):
                continue  # media this edit uses is still being copied in
            if job.attempts > self.config.workers.retries:  # interrupted by daemon crashes, again and again
                self._failed(job, f"{job.error} (gave up after {job.attempts} attempt(s))", count_attempt=False)
                continue
            claimed = self.ledger.claim(job.id)
            if claimed is None:
                continue
            on_gpu = gpu_free > 0
            name = self._output_name(job)
            spec = JobSpec(job_id=job.id, source=job.source, recipe=job.recipe, output_dir=job.output_dir,
                           kind="timeline" if job.kind == "timeline" else "media",
                           recipe_dirs=tuple(str(p) for p in self.config.recipes),
                           gpu=self.config.gpu if on_gpu else "off", ocio_config=self.config.ocio_config,
                           media_roots=tuple(str(p) for p in self.config.media_roots),
                           allow_plugin_override=self.config.allow_plugin_override,
                           output_name=name, max_pixels=self.config.limits.max_pixels,
                           existing=self.config.existing_output, inspect=self.config.inspect.every_job,
                           inspect_speech=self.config.inspect.speech, rate=self._folder_rate(job))
            try:
                pid = self.executor.start(spec)
            except Exception as exc:
                log.error("cannot start a worker for job %s: %s", job.id, exc)
                self.ledger.requeue(job.id, f"cannot start a worker: {exc}", count_attempt=False)
                return
            if on_gpu:
                gpu_free -= 1
                self._gpu_jobs.add(job.id)
            else:
                cpu_free -= 1
            if pid:
                self.ledger.set_worker(job.id, pid)
            log.info("started job %s (%s, %s) in worker %s, attempt %d", job.id, Path(job.source).name, job.recipe,
                     pid, job.attempts + 1)

    def _folder_rate(self, job: Job) -> str | None:
        """The job's watch folder's ``rate`` (for its image sequences and EDLs), if set."""
        folder = self.folders.get(Path(job.folder)) if job.folder else None
        return folder.watch.rate if folder else None

    def _output_name(self, job: Job) -> str | None:
        """The stem of a media job's output: its source's, unless that file belongs to another
        job or to no job at all (see :mod:`postbay.daemon.outputs`)."""
        if job.kind == "timeline":
            return None
        from postbay.render import output_paths  # the render engine loads in workers, not at start

        try:
            recipe = load_recipe(job.recipe, search_dirs=self.config.recipes)
        except PostbayError:
            return None  # the worker fails the job and says why
        source, out_dir = Path(job.source), Path(job.output_dir)
        name = output_name(source, lambda stem: output_paths(source, recipe, out_dir, stem)[0], self.ledger,
                           planned=set(self._planned.values()))
        self._planned[job.id] = output_paths(source, recipe, out_dir, name)[0]
        if name != source.stem:
            log.info("job %s: %s is taken by another file; the output is %s", job.id,
                     output_paths(source, recipe, out_dir)[0].name, self._planned[job.id].name)
        return name

    def _media_arriving(self, job: Job) -> bool:
        """An edit's media must settle too (same rule as dropped files), wherever it lives."""
        tracker = self._timeline_media.get(job.id)
        if tracker is None:
            folder = self.folders.get(Path(job.folder)) if job.folder else None
            # sent through the API (no folder): its media is in place; only a copy still being
            # written holds it (a broken file does not wait for arrival_timeout: the conform says why)
            watch = folder.watch if folder else WatchConfig(path=Path(job.source).parent, recipe=job.recipe,
                                                            arrival_timeout=0)
            tracker = self._timeline_media[job.id] = ArrivalTracker()
            with self.ledger.reading(job.id):  # a crash here is remembered across the restart
                media = referenced_media(Path(job.source))
            for path in media:
                tracker.nominate(path, watch)  # a missing file drops out: the conform reports it
        tracker.poll()
        waiting = tracker.pending()
        if waiting and job.id not in self._waiting_logged:
            self._waiting_logged.add(job.id)
            log.info("job %s waits for %d media file(s) of the edit to settle", job.id, waiting)
        return waiting > 0

    def _follow_cancellations(self) -> None:
        running = self.executor.running()
        if not running:
            return
        for job_id in running:
            job = self.ledger.get(job_id)
            if job is not None and job.state == "cancelled":
                self.executor.stop(job_id, "cancelled")

    def _handle(self, outcome: Outcome) -> None:
        job = self.ledger.get(outcome.job_id)
        if job is None:
            return
        if outcome.node is not None and outcome.node != job.node:  # the first word from a cluster job
            self.ledger.set_node(job.id, outcome.node, outcome.pid)
            log.info("job %s runs on node %s (pid %s)", job.id, outcome.node, outcome.pid)
        if outcome.kind in PROGRESS_KINDS:
            self._progress(job, outcome)
            return
        self._paced.pop(job.id, None)
        self._gpu_jobs.discard(job.id)
        self._timeline_media.pop(job.id, None)
        self._planned.pop(job.id, None)
        # a cluster's worker outlives its job: its outcome names the pid only when it is gone
        worker_pid = outcome.pid if outcome.node is not None else job.worker_pid
        if worker_pid:  # the dead worker's temp files (on shared storage, for another node's)
            remove_stale_temps(Path(job.output_dir), worker_pid)
        if job.state == "cancelled":
            log.info("job %s cancelled", job.id)
            return
        if outcome.kind in WITH_OUTPUTS:
            self._finished(job, outcome)
            if Path(job.source).parent == self.config.inbox_dir():
                Path(job.source).unlink(missing_ok=True)  # an upload: its render is out, it goes
        elif outcome.kind == "failed":
            self._failed(job, outcome.error or "failed")
        else:
            reason = outcome.error or "the worker stopped"
            if job.id in self._shutdown_jobs:
                self._shutdown_jobs.discard(job.id)
                self.ledger.requeue(job.id, reason, count_attempt=False)
                log.info("job %s requeued: %s", job.id, reason)
            elif job.attempts + 1 > self.config.workers.retries:
                self._failed(job, f"{reason} (gave up after {job.attempts + 1} attempt(s))")
            else:
                self.ledger.requeue(job.id, reason)
                log.warning("job %s attempt %d failed: %s; retrying", job.id, job.attempts + 1, reason)

    def _progress(self, job: Job, outcome: Outcome) -> None:
        """Progress into the ledger (a phase change at once); into the log, each phase change and
        every :data:`PACE_LOG_SECONDS` the pace."""
        self.ledger.progress(job.id, outcome.fraction, step=outcome.step, force=outcome.kind == "step")
        now = time.monotonic()
        due = now - self._paced.setdefault(job.id, now) >= PACE_LOG_SECONDS
        if due:
            self._paced[job.id] = now
        if outcome.kind == "step" or due:
            current = self.ledger.get(job.id)
            if current is not None and current.state == "running":
                log.info("job %s: %s", job.id, current.pace())

    def _finished(self, job: Job, outcome: Outcome) -> None:
        """A job done, or skipped (its output existed): the source goes as ``after`` says."""
        source = Path(job.source)
        new_source: Path | None = source
        sidecars: list[Path] = []
        skipped = outcome.kind == "skipped"
        if skipped and source.exists():
            sidecars = sidecars_of(source)  # the kept output keeps its own: nothing is copied beside it
        elif outcome.outputs and source.exists():
            try:
                sidecars = carry_sidecars(source, Path(outcome.outputs[0]),
                                          Path(outcome.report) if outcome.report else None)
            except (OSError, ValueError) as exc:
                log.warning("job %s: cannot carry the sidecars of %s: %s", job.id, source.name, exc)
        if job.folder and source.exists() and not _changed_since_queued(job, source):
            try:
                if job.after == "move":
                    new_source = _move_into(source, Path(job.folder) / "done")
                    for sidecar in sidecars:
                        _move_into(sidecar, Path(job.folder) / "done")
                elif job.after == "delete":
                    shutil.rmtree(source) if source.is_dir() else source.unlink()  # a folder of frames: whole
                    new_source = None
            except OSError as exc:
                log.warning("job %s: cannot %s the finished source %s: %s", job.id, job.after, source, exc)
        final_source = new_source if new_source is not None else source
        if skipped:
            kept = outcome.outputs[0]
            ended = self.ledger.skip(job.id, kept, report=skip_report(job, kept, final_source), source=final_source)
        else:
            ended = self.ledger.finish(job.id, outcome.outputs, report=outcome.report, source=final_source)
        if ended is not None:
            self.webhooks.job_ended(ended)
        took = clock((ended or job).timing()["elapsed"])
        if skipped:
            log.info("skipped job %s in %s: %s exists and existing_output is \"skip\"; kept it (%s not rendered)",
                     job.id, took, outcome.outputs[0], source.name)
        else:
            log.info("done job %s in %s: %s -> %s", job.id, took, source.name, ", ".join(outcome.outputs))

    def _failed(self, job: Job, error: str, *, count_attempt: bool = True) -> None:
        source = Path(job.source)
        report_path: Path | None = None
        new_source = source
        if job.folder and source.exists() and not _changed_since_queued(job, source):
            failed_dir = Path(job.folder) / "failed"
            try:
                if source.parent != failed_dir:
                    new_source = _move_into(source, failed_dir)
                report_path = failed_dir / f"{new_source.name}.report.json"
                write_json_atomic(report_path, {
                    "status": "failed", "error": error, "job": job.id, "source": str(new_source),
                    "dropped": job.dropped, "recipe": job.recipe, "attempts": job.attempts + count_attempt,
                    "output_dir": job.output_dir, "finished": dt.datetime.now(dt.UTC).isoformat(),
                    "retry": f"postbay retry {job.id}",
                })
            except OSError as exc:
                log.warning("job %s: cannot move the failed source to %s: %s", job.id, failed_dir, exc)
        ended = self.ledger.fail(job.id, error, report=report_path, source=new_source, count_attempt=count_attempt)
        if ended is not None:
            self.webhooks.job_ended(ended)
        log.error("FAILED job %s: %s", job.id, error)

    # -- reload and retention ---------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read the config file (SIGHUP). A bad file is reported and the old config kept."""
        try:
            new = load_config(self.config_path) if self.config_path else load_config(None)
            new = default_config(new)
            check_config(new)
        except PostbayError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            return False
        old = {w.path: w for w in self.config.watch}
        fresh = {w.path: w for w in new.watch}
        self.config = new
        self.webhooks.hooks = list(new.notify)
        self._apply_settings()
        for path, w in old.items():
            if path not in fresh or fresh[path] != w:
                self._unwatch(path)
        for path, w in fresh.items():
            if path not in self.folders:
                self._watch(w)
                if self.folders[path].mode != "batch":
                    self.watcher.rescan([w])
        self._schedule_jobs()
        self.ledger.set_daemon_state(folders=self._folder_state(), config=new.source,
                                     slots={"cpu": new.workers.cpu, "gpu": self.gpu_slots})
        log.info("config reloaded: %d folder(s)", len(self.folders))
        return True

    def sweep_inbox(self) -> int:
        """Remove uploads whose jobs are done or cancelled (a failed one stays for ``retry``, until
        retention); the render is in the output folder, the upload was only its way in."""
        inbox = self.config.inbox_dir()
        if not inbox.is_dir():
            return 0
        ended = {Path(j.source) for state in (*FINISHED, "cancelled") for j in self.ledger.list(state)
                 if Path(j.source).parent == inbox}
        live = {Path(j.source) for state in ("queued", "running") for j in self.ledger.list(state)}
        n = 0
        for path in ended - live:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                n += 1
        return n

    def apply_retention(self) -> int:
        """Delete finished sources in ``done/`` and reports older than ``retention_days``
        (when set); ledger events (not jobs) older than that or a week go too."""
        days = self.config.retention_days
        self.ledger.prune_events(time.time() - max(days or 0, _EVENT_DAYS) * 86400)
        if not days:
            return 0
        cutoff = time.time() - days * 86400
        n = 0
        waiting = {Path(j.source) for state in ("queued", "running") for j in self.ledger.list(state)}
        for path in set(expired_files([f.watch for f in self.folders.values()], cutoff,
                                      inbox=self.config.inbox_dir())) - waiting:
            try:
                shutil.rmtree(path) if path.is_dir() else path.unlink()  # a folder of frames goes whole
                n += 1
            except OSError:
                continue
        log.info("retention: removed %d file(s) older than %g day(s)", n, days)
        return n


def expired_files(watches: list[WatchConfig], cutoff: float, *, inbox: Path | None = None) -> list[Path]:
    """Sources in ``done/``, uploads in the ``inbox`` and reports (outputs' and ``failed/``'s) last
    touched before ``cutoff``; never an output itself, never a source waiting in a drop folder."""
    found = []
    uploads = [p for p in inbox.glob("*") if not p.name.startswith(".")] if inbox is not None else []
    for watch in watches:
        targets = [*(watch.path / "done").glob("*"), *(watch.path / "failed").glob("*.report.json"),
                   *watch.output_dir().glob("*.report.json"), *uploads]
        uploads = []
        for path in targets:
            try:
                st = path.stat()
            except OSError:
                continue
            # ctime: when it was moved into done/ (a move keeps the mtime of the shoot)
            sequence = path.is_dir() and path.parent.name == "done"  # a folder of frames, finished
            if (path.is_file() or sequence) and max(st.st_mtime, st.st_ctime) < cutoff:
                found.append(path)
    return found
