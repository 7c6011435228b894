"""The job ledger: one SQLite file (WAL mode) that says what happened to every dropped file.

It is the single source of truth: the daemon writes it, and the CLI (``postbay jobs``,
``retry``, ``cancel``, ``status``) and the HTTP API read it, with or without a running
daemon. Each job is one row; every state change (and, throttled, progress) is also an
``events`` row with a growing sequence number, so a reader in another process can follow
along with :meth:`Ledger.events_since` (server-sent events) and a reader in the daemon's own
process can :meth:`Ledger.subscribe`.

Exactly once: a file is known by its fingerprint (size, mtime and a hash of its first and
last MiB). A fingerprint already ``done`` with the same recipe and file name is not processed
again; a changed file has a new fingerprint and becomes a new job.
"""

from __future__ import annotations

import builtins  # Ledger.list shadows the builtin in the class body
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from postbay.errors import PostbayError
from postbay.timeline import TIMELINE_SUFFIXES

from .frames import folder_fingerprint

__all__ = ["Event", "FINISHED", "Job", "JobState", "Ledger", "STATES", "TIMELINE_SUFFIXES", "clock", "fingerprint",
           "pace", "pid_alive"]

JobState = Literal["queued", "running", "done", "failed", "cancelled", "skipped"]
#: ``skipped``: the output existed and ``existing_output = "skip"`` kept it (the job's output is that file).
STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled", "skipped")
#: States a job ends in: its source is handled as a finished one's (moved to done/, kept or deleted).
FINISHED: tuple[str, ...] = ("done", "skipped")
_MIB = 1 << 20
#: Edit lists: handed to the timeline conform instead of the clip renderer.

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    dropped TEXT NOT NULL,
    folder TEXT,
    output_dir TEXT NOT NULL,
    recipe TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'media',
    after TEXT NOT NULL DEFAULT 'keep',
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    progress REAL NOT NULL DEFAULT 0,
    outputs TEXT NOT NULL DEFAULT '[]',
    report TEXT,
    worker_pid INTEGER,
    heartbeat REAL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    started REAL,
    finished REAL,
    node TEXT,
    step TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created);
CREATE INDEX IF NOT EXISTS jobs_fingerprint ON jobs(fingerprint, recipe);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL,
    message TEXT,
    at REAL NOT NULL,
    step TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, seq);
CREATE TABLE IF NOT EXISTS daemon (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def fingerprint(path: str | Path) -> str:
    """``size:mtime_ns:sha256`` of the first and last MiB: cheap on a 200 GB master, and a
    re-export under the same name (new bytes or new mtime) gets a new one."""
    path = Path(path)
    if path.is_dir():  # a folder of frames
        return folder_fingerprint(path)
    st = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(_MIB))
        if st.st_size > _MIB:
            fh.seek(max(_MIB, st.st_size - _MIB))
            digest.update(fh.read(_MIB))
    return f"{st.st_size}:{st.st_mtime_ns}:{digest.hexdigest()[:32]}"


@dataclass
class Job:
    """One row of the ledger. ``source`` is where the file is now (it moves to ``done/`` or
    ``failed/``); ``dropped`` is where it arrived."""

    id: str
    source: str
    dropped: str
    folder: str | None
    output_dir: str
    recipe: str
    fingerprint: str
    kind: str
    after: str
    state: str
    attempts: int
    error: str | None
    progress: float
    outputs: list[str]
    report: str | None
    worker_pid: int | None
    heartbeat: float | None
    created: float
    updated: float
    started: float | None
    finished: float | None
    node: str | None = None  # the machine that ran (or runs) it, with a cluster executor
    #: What a running job does now, as its worker last said: "denoise 1/7", "verifying", "shot 3/6 · …"
    #: (see docs/daemon.md, "What a job is doing"); None once it ends.
    step: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        data["outputs"] = json.loads(data["outputs"] or "[]")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def timing(self, now: float | None = None) -> dict[str, float | None]:
        """``elapsed`` seconds since the job started (to its end once ended) and, while it
        runs, ``eta``: the seconds left at the pace so far (``None`` until 2 % is done, and once the
        frames are all done: verifying a file is no faster for it)."""
        if self.started is None:
            return {"elapsed": None, "eta": None}
        end = self.finished if self.finished is not None and self.state != "running" else (now or time.time())
        elapsed = max(0.0, end - self.started)
        eta = elapsed * (1 - self.progress) / self.progress if self.state == "running" \
            and 0.02 <= self.progress < 1 else None
        return {"elapsed": round(elapsed, 1), "eta": None if eta is None else round(eta, 1)}

    def pace(self) -> str:
        """See :func:`pace`."""
        return pace(self.to_dict() | self.timing())


def clock(seconds: float | None) -> str:
    """``"1:02:03"`` / ``"2:03"`` for a duration; ``"-"`` for none."""
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def pace(job: dict[str, Any]) -> str:
    """How a job goes, in the words of ``postbay jobs``, ``submit --wait`` and the daemon's log, from
    its JSON (:meth:`Job.to_dict` with :meth:`Job.timing`): ``"42% denoise 1/7, 0:31 elapsed, ETA
    0:43"`` while it runs, ``"in 1:02"`` once it ended, ``""`` before it starts."""
    if job["state"] == "running":
        parts = [f"{job['progress'] * 100:.0f}%" + (f" {job['step']}" if job.get("step") else "")]
        if job.get("elapsed") is not None:
            parts.append(f"{clock(job['elapsed'])} elapsed")
        if job.get("eta") is not None:
            parts.append(f"ETA {clock(job['eta'])}")
        return ", ".join(parts)
    if job["state"] in ("done", "failed", "skipped") and job.get("elapsed") is not None:
        return f"in {clock(job['elapsed'])}"
    return ""


@dataclass(frozen=True)
class Event:
    seq: int
    job_id: str
    state: str
    progress: float
    message: str | None
    at: float
    step: str | None = None  # the job's step at the time (progress events)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    """The job ledger at ``path`` (created with its folder when missing).

    Thread-safe within a process (one connection behind a lock) and safe across processes
    (WAL, busy timeout): the daemon, ``postbay jobs`` and the API can all have it open.
    """

    def __init__(self, path: str | Path, *, progress_interval: float = 0.5):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise PostbayError(f"cannot open the job ledger: {exc}", path=self.path,
                               hint="check data_dir in the config and its permissions") from None
        self._lock = threading.RLock()
        self._listeners: list[Callable[[Event], None]] = []
        self._progress_interval = progress_interval
        self._progress_written: dict[str, tuple[float, float]] = {}  # job id -> (when, fraction) last written

    # -- plumbing ---------------------------------------------------------------------------
    #: Columns added since the first ledgers: (table, column, type); an older file gets them at open.
    _ADDED = (("jobs", "node", "TEXT"),  # the cluster executor
              ("jobs", "step", "TEXT"), ("events", "step", "TEXT"))  # what a running job does now

    def _migrate(self) -> None:
        for table, column, kind in self._ADDED:
            if column not in {r["name"] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so read-modify-write steps (claim,
        # retry, cancel) cannot interleave with another process doing the same.
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # SQLite rolls back by itself on some errors (a full disk): a second ROLLBACK
                # would raise "no transaction is active" over the real error
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _event(self, db: sqlite3.Connection, job_id: str, state: str, progress: float,
               message: str | None = None, step: str | None = None) -> Event:
        now = time.time()
        cur = db.execute("INSERT INTO events (job_id, state, progress, message, at, step) VALUES (?, ?, ?, ?, ?, ?)",
                         (job_id, state, progress, message, now, step))
        return Event(int(cur.lastrowid or 0), job_id, state, progress, message, now, step)

    def _notify(self, events: list[Event]) -> None:
        for ev in events:
            for listener in list(self._listeners):
                try:
                    listener(ev)
                except Exception:  # a broken listener must not break the ledger
                    pass

    def _update(self, job_id: str, *, expect: tuple[str, ...] | None = None, message: str | None = None,
                **fields: Any) -> Job | None:
        """Set ``fields`` on a job (only when in one of the ``expect`` states); record an event."""
        fields["updated"] = time.time()
        if "outputs" in fields:
            fields["outputs"] = json.dumps([str(p) for p in fields["outputs"]])
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or (expect is not None and row["state"] not in expect):
                return None
            db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*fields.values(), job_id))
            job = Job.from_row(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
            ev = self._event(db, job_id, job.state, job.progress, message, job.step)
        self._notify([ev])
        return job

    # -- reading ----------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        """The job with this id, or with an id starting with it (as typed on a command line)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None and job_id:
                rows = self._db.execute("SELECT * FROM jobs WHERE id LIKE ? LIMIT 2", (job_id + "%",)).fetchall()
                row = rows[0] if len(rows) == 1 else None
        return Job.from_row(row) if row else None

    def list(self, state: str | None = None, *, folder: str | None = None, limit: int | None = None) -> list[Job]:
        """Jobs, oldest first, optionally only in ``state`` and/or from ``folder``."""
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if state is not None:
            if state not in STATES:
                raise PostbayError(f"unknown job state {state!r}", hint=f"states: {', '.join(STATES)}")
            sql += " AND state = ?"
            args.append(state)
        if folder is not None:
            sql += " AND folder = ?"
            args.append(folder)
        sql += " ORDER BY created, rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            return [Job.from_row(r) for r in self._db.execute(sql, args).fetchall()]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        counts = dict.fromkeys(STATES, 0)
        counts.update({r["state"]: r["n"] for r in rows})
        return counts

    def find(self, fingerprint: str, recipe: str, states: tuple[str, ...] = STATES) -> Job | None:
        marks = ", ".join("?" * len(states))
        with self._lock:
            row = self._db.execute(f"SELECT * FROM jobs WHERE fingerprint = ? AND recipe = ? AND state IN ({marks}) "
                                   "ORDER BY created DESC LIMIT 1", (fingerprint, recipe, *states)).fetchone()
        return Job.from_row(row) if row else None

    def output_owner(self, path: str | Path) -> Job | None:
        """The job credited with the output file ``path`` (a file is credited to one job at most:
        the one that made it; a ``skipped`` job names it too, as the file it kept)."""
        with self._lock:
            row = self._db.execute("SELECT jobs.* FROM jobs, json_each(jobs.outputs) AS o WHERE o.value = ? "
                                   "AND jobs.state = 'done' ORDER BY jobs.finished DESC LIMIT 1",
                                   (str(path),)).fetchone()
        return Job.from_row(row) if row else None

    # -- writing ----------------------------------------------------------------------------
    def submit(self, source: str | Path, recipe: str, output_dir: str | Path, *, folder: str | Path | None = None,
               after: str = "keep", kind: str | None = None, fingerprint_: str | None = None) -> tuple[Job, bool]:
        """Queue ``source`` for ``recipe``. Returns ``(job, created)``: when the same file
        (fingerprint and name) is already queued, running, done, skipped or cancelled with this recipe,
        that job comes back with ``created=False`` and nothing is queued (a cancelled file
        comes back with ``retry``, not with the next rescan). ``kind``: ``"media"`` or
        ``"timeline"``, from the file's suffix when not given."""
        source = Path(source)
        kind = kind or ("timeline" if source.suffix.lower() in TIMELINE_SUFFIXES else "media")
        fp = fingerprint_ or fingerprint(source)
        now = time.time()
        job_id = uuid.uuid4().hex[:12]
        with self._tx() as db:
            rows = db.execute("SELECT * FROM jobs WHERE fingerprint = ? AND recipe = ? AND state IN "
                              "('queued', 'running', 'done', 'cancelled', 'skipped') ORDER BY created DESC",
                              (fp, recipe)).fetchall()
            # the name counts too: outputs are named after the source, so two names of one
            # file are two deliveries
            same = [r for r in rows if Path(r["dropped"]).name == source.name]
            if same:
                return Job.from_row(same[0]), False
            db.execute("INSERT INTO jobs (id, source, dropped, folder, output_dir, recipe, fingerprint, kind, after, "
                       "state, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                       (job_id, str(source), str(source), str(folder) if folder else None, str(output_dir), recipe,
                        fp, kind, after, now, now))
            job = Job.from_row(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
            ev = self._event(db, job_id, "queued", 0.0, "submitted")
        self._notify([ev])
        return job, True

    def claim(self, job_id: str) -> Job | None:
        """queued → running (None when someone cancelled it meanwhile)."""
        now = time.time()
        return self._update(job_id, expect=("queued",), state="running", progress=0.0, started=now, heartbeat=now,
                            error=None, worker_pid=None, node=None, step=None, message="started")

    def set_worker(self, job_id: str, pid: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET worker_pid = ?, heartbeat = ? WHERE id = ?", (pid, time.time(), job_id))

    def set_node(self, job_id: str, node: str, pid: int | None = None) -> None:
        """Where a running job's worker is: the node (and its pid there), as a cluster reports it."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET node = ?, worker_pid = COALESCE(?, worker_pid), heartbeat = ? "
                       "WHERE id = ? AND state = 'running'", (node, pid, time.time(), job_id))

    def progress(self, job_id: str, fraction: float, *, step: str | None = None, force: bool = False) -> None:
        """Record progress (0–1), what the job does now (``step``, kept when None) and a
        heartbeat: at most one write per interval per job, unless the job moved on by a
        twentieth or more (so short jobs still show their progress) or ``force``."""
        now = time.time()
        fraction = max(0.0, min(1.0, fraction))
        last, last_fraction = self._progress_written.get(job_id, (0.0, 0.0))
        if not force and now - last < self._progress_interval and fraction - last_fraction < 0.05:
            return
        self._progress_written[job_id] = (now, fraction)
        fields: dict[str, Any] = {"progress": fraction, "heartbeat": now}
        if step is not None:
            fields["step"] = step
        self._update(job_id, expect=("running",), message="progress", **fields)

    def finish(self, job_id: str, outputs: Sequence[str | Path], *, report: str | Path | None = None,
               source: str | Path | None = None) -> Job | None:
        """running → done; the attempt that finished counts (the log's "attempt N")."""
        return self._end(job_id, "done", outputs, report=report, source=source, message="done")

    def skip(self, job_id: str, kept: str | Path, *, report: str | Path | None = None,
             source: str | Path | None = None) -> Job | None:
        """running → skipped: the output ``kept`` existed and ``existing_output = "skip"`` left it;
        it is the job's output (the file a user gets for this source)."""
        return self._end(job_id, "skipped", [kept], report=report, source=source,
                         message=f"skipped: kept the existing {kept}")

    def _end(self, job_id: str, state: str, outputs: Sequence[str | Path], *, report: str | Path | None,
             source: str | Path | None, message: str) -> Job | None:
        job = self.get(job_id)
        if job is None:
            return None
        fields: dict[str, Any] = {"state": state, "progress": 1.0, "outputs": outputs, "finished": time.time(),
                                  "error": None, "worker_pid": None, "attempts": job.attempts + 1,
                                  "report": str(report) if report else None, "step": None}
        if source is not None:
            fields["source"] = str(source)
        self._progress_written.pop(job_id, None)
        if state == "done":  # a skip made nothing: the file stays credited to the job that made it
            self._withdraw_credit(job_id, [str(p) for p in outputs])
        return self._update(job_id, expect=("running",), message=message, **fields)

    def _withdraw_credit(self, job_id: str, outputs: Sequence[str]) -> None:
        """A file this job wrote is no longer another job's output (it replaced an earlier render
        of the same delivery): one file, one job."""
        if not outputs:
            return
        marks = ", ".join("?" * len(outputs))
        with self._tx() as db:
            rows = db.execute(f"SELECT DISTINCT jobs.id, jobs.outputs FROM jobs, json_each(jobs.outputs) AS o "
                              f"WHERE jobs.id != ? AND o.value IN ({marks})", (job_id, *outputs)).fetchall()
            for row in rows:
                kept = [o for o in json.loads(row["outputs"]) if o not in outputs]
                db.execute("UPDATE jobs SET outputs = ? WHERE id = ?", (json.dumps(kept), row["id"]))

    def fail(self, job_id: str, error: str, *, report: str | Path | None = None, source: str | Path | None = None,
             count_attempt: bool = True) -> Job | None:
        """running/queued → failed, with the reason a user reads."""
        fields: dict[str, Any] = {"state": "failed", "error": error, "finished": time.time(), "worker_pid": None,
                                  "step": None}
        if report is not None:
            fields["report"] = str(report)
        if source is not None:
            fields["source"] = str(source)
        job = self.get(job_id)
        if job is None:
            return None
        if count_attempt:
            fields["attempts"] = job.attempts + 1
        self._progress_written.pop(job_id, None)
        return self._update(job_id, expect=("running", "queued"), message=error, **fields)

    def requeue(self, job_id: str, reason: str, *, count_attempt: bool = True) -> Job | None:
        """running → queued (a crashed or interrupted attempt); ``count_attempt`` adds one to
        ``attempts`` (an orderly shutdown does not)."""
        job = self.get(job_id)
        if job is None:
            return None
        self._progress_written.pop(job_id, None)
        return self._update(job_id, expect=("running",), state="queued", progress=0.0, worker_pid=None, step=None,
                            attempts=job.attempts + (1 if count_attempt else 0), error=reason, message=reason)

    def cancel(self, job_id: str) -> Job:
        """queued/running → cancelled (a running job's worker is stopped by the daemon)."""
        job = self._resolve(job_id)
        if job.state not in ("queued", "running"):
            raise PostbayError(f"job {job.id} is {job.state}; only queued or running jobs can be cancelled")
        done = self._update(job.id, expect=("queued", "running"), state="cancelled", finished=time.time(),
                            step=None, message="cancelled")
        if done is None:
            raise PostbayError(f"job {job.id} changed state meanwhile; look again with `postbay jobs`")
        return done

    def retry(self, job_id: str) -> Job:
        """failed/cancelled → queued, attempts back to 0."""
        job = self._resolve(job_id)
        if job.state not in ("failed", "cancelled"):
            raise PostbayError(f"job {job.id} is {job.state}; only failed or cancelled jobs can be retried")
        if not Path(job.source).exists():
            raise PostbayError("the source of this job is gone", path=job.source,
                               hint="drop the file into its hot folder again")
        done = self._update(job.id, expect=("failed", "cancelled"), state="queued", attempts=0, progress=0.0,
                            error=None, finished=None, message="retry")
        if done is None:
            raise PostbayError(f"job {job.id} changed state meanwhile; look again with `postbay jobs`")
        return done

    def recover(self, keep: Collection[str] = ()) -> builtins.list[Job]:
        """At daemon start: jobs a crash left ``running`` go back to ``queued`` (attempt + 1),
        except those in ``keep`` (still running on a cluster, which the daemon re-attaches to);
        and a queued job whose file the daemon was reading when it died counts an attempt too (so a
        file that crashes its reader is given up after the retries, not read at every start)."""
        recovered = [j for j in (self.requeue(job.id, "interrupted: the daemon stopped during this job")
                                 for job in self.list("running") if job.id not in keep) if j is not None]
        read = self.daemon_state().get("reading")
        job = self.get(read) if read else None
        if job is not None and job.state == "queued":
            counted = self._update(job.id, expect=("queued",), attempts=job.attempts + 1,
                                   error="the daemon stopped while reading this file (did it crash its reader?)",
                                   message="interrupted while reading")
            recovered += [counted] if counted is not None else []
        self.set_daemon_state(reading=None)
        return recovered

    @contextmanager
    def reading(self, job_id: str) -> Iterator[None]:
        """Mark that the daemon's own process reads ``job_id``'s file (see :meth:`recover`)."""
        self.set_daemon_state(reading=job_id)
        try:
            yield
        finally:
            self.set_daemon_state(reading=None)

    def _resolve(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:
            raise PostbayError(f"no job {job_id!r} in the ledger", path=self.path, hint="list jobs with `postbay jobs`")
        return job

    # -- events -----------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``listener(event)`` for every change made through this Ledger object; returns
        the unsubscribe function. Changes made by other processes: use :meth:`events_since`."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def events_since(self, seq: int = 0, *, limit: int = 1000) -> builtins.list[Event]:
        """Events after sequence number ``seq`` (0: from the start), oldest first. Poll this
        with the last ``seq`` seen to stream changes from any process."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)).fetchall()
        return [Event(**dict(r)) for r in rows]

    def job_events(self, job_id: str, *, limit: int = 1000) -> builtins.list[Event]:
        """The events of one job, oldest first (its history for the dashboard's log panel)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM events WHERE job_id = ? ORDER BY seq LIMIT ?",
                                    (job_id, limit)).fetchall()
        return [Event(**dict(r)) for r in rows]

    def last_event_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) AS m FROM events").fetchone()
        return int(row["m"] or 0)

    def prune_events(self, older_than: float) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM events WHERE at < ?", (older_than,)).rowcount

    # -- daemon state (what `postbay status` shows) -----------------------------------------
    def set_daemon_state(self, **values: Any) -> None:
        with self._tx() as db:
            for key, value in values.items():
                db.execute("INSERT INTO daemon (key, value) VALUES (?, ?) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def daemon_state(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM daemon").fetchall()
        return {r["key"]: json.loads(r["value"]) for r in rows}


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
