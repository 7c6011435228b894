"""Timed work: schedule windows, timed batch runs, rescans and retention (APScheduler 3.x).

A window such as ``"mon-fri 20:00-06:00"`` keeps a heavy recipe's jobs ``queued`` until the
bay is free at night; a ``cron = "0 2 * * *"`` on a folder (or on a ``[[schedule]]`` recipe)
makes it a batch folder, taken in one go at those times instead of as files arrive.

APScheduler's SQL job store needs SQLAlchemy, which postbay does not depend on, so
:class:`SQLiteJobStore` keeps the scheduler's jobs in the ledger's own SQLite file (table
``scheduler_jobs``). A timed run that fell while the daemon was down then still fires once
on start (coalesced), within its misfire grace time.
"""

from __future__ import annotations

import datetime as dt
import pickle
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apscheduler.job import Job as SchedulerJob
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

__all__ = ["SQLiteJobStore", "Window", "cron_trigger", "parse_window"]

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(?:(?P<days>[a-z,\-*]+|daily|weekdays|weekends)\s+)?"
                     r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Window:
    """Days (0 = Monday) and a start–end time of day; an end before the start runs past
    midnight into the next day (``mon-fri 20:00-06:00`` covers Friday night to Saturday 06:00)."""

    days: frozenset[int]
    start: dt.time
    end: dt.time
    text: str = ""

    def contains(self, when: dt.datetime) -> bool:
        t = when.time()
        day = when.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= t < self.end
        return (day in self.days and t >= self.start) or ((day - 1) % 7 in self.days and t < self.end)


def _parse_days(text: str) -> frozenset[int]:
    text = text.lower()
    if text in ("daily", "*"):
        return frozenset(range(7))
    if text == "weekdays":
        return frozenset(range(5))
    if text == "weekends":
        return frozenset({5, 6})
    days: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in _DAYS or b not in _DAYS:
                raise ValueError(f"unknown day in {part!r}; use {', '.join(_DAYS)}")
            i, j = _DAYS.index(a), _DAYS.index(b)
            days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part in _DAYS:
            days.add(_DAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r}; use {', '.join(_DAYS)}")
    return frozenset(days)


def _parse_time(text: str) -> dt.time:
    h, m = (int(x) for x in text.split(":"))
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"{text!r} is not a time of day")
    return dt.time.max if h == 24 else dt.time(h, m)  # 24:00: to the end of the day


def parse_window(text: str) -> Window:
    """``"mon-fri 20:00-06:00"``, ``"sat,sun 00:00-24:00"``, ``"22:00-07:00"`` (every day)."""
    m = _WINDOW.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a window like \"mon-fri 20:00-06:00\"")
    days = _parse_days(m.group("days")) if m.group("days") else frozenset(range(7))
    start, end = _parse_time(m.group("start")), _parse_time(m.group("end"))
    if start == end:
        raise ValueError(f"{text!r}: start and end are the same time")
    return Window(days, start, end, text)


def cron_trigger(text: str) -> CronTrigger:
    """A five-field crontab expression (``"0 2 * * mon-fri"``) as an APScheduler trigger."""
    try:
        return CronTrigger.from_crontab(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a crontab expression like \"0 2 * * *\": {exc}") from None


class SQLiteJobStore(BaseJobStore):
    """APScheduler 3.x job store on the standard library's sqlite3 (no SQLAlchemy), in the
    ledger's database file."""

    def __init__(self, path: str | Path, tablename: str = "scheduler_jobs"):
        super().__init__()
        self.path = Path(path)
        self.table = tablename
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (id TEXT PRIMARY KEY, next_run_time REAL, "
                         "job_state BLOB NOT NULL)")

    def shutdown(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # After shutdown the scheduler thread may still look once more: it finds nothing.
    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall() if self._db is not None else []

    def _write(self, sql: str, args: tuple[Any, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount if self._db is not None else 0

    def _reconstitute(self, state: bytes) -> SchedulerJob:
        job_state = pickle.loads(state)
        job_state["jobstore"] = self
        job = SchedulerJob.__new__(SchedulerJob)
        job.__setstate__(job_state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def _jobs(self, where: str = "", args: tuple[Any, ...] = ()) -> list[SchedulerJob]:
        jobs, broken = [], []
        for job_id, state in self._query(f"SELECT id, job_state FROM {self.table} {where} ORDER BY next_run_time",
                                         args):
            try:
                jobs.append(self._reconstitute(state))
            except Exception:
                self._logger.exception("cannot restore scheduled job %r; removing it", job_id)
                broken.append(job_id)
        for job_id in broken:
            self._write(f"DELETE FROM {self.table} WHERE id = ?", (job_id,))
        return jobs

    def lookup_job(self, job_id: str) -> SchedulerJob | None:
        rows = self._query(f"SELECT job_state FROM {self.table} WHERE id = ?", (job_id,))
        return self._reconstitute(rows[0][0]) if rows else None

    def get_due_jobs(self, now: dt.datetime) -> list[SchedulerJob]:
        return self._jobs("WHERE next_run_time <= ?", (datetime_to_utc_timestamp(now),))

    def get_next_run_time(self) -> dt.datetime | None:
        rows = self._query(f"SELECT MIN(next_run_time) FROM {self.table} WHERE next_run_time IS NOT NULL")
        return utc_timestamp_to_datetime(rows[0][0]) if rows and rows[0][0] is not None else None

    def get_all_jobs(self) -> list[SchedulerJob]:
        jobs = self._jobs()
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def add_job(self, job: SchedulerJob) -> None:
        try:
            self._write(f"INSERT INTO {self.table} (id, next_run_time, job_state) VALUES (?, ?, ?)",
                        (job.id, datetime_to_utc_timestamp(job.next_run_time),
                         pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL)))
        except sqlite3.IntegrityError:
            raise ConflictingIdError(job.id) from None

    def update_job(self, job: SchedulerJob) -> None:
        n = self._write(f"UPDATE {self.table} SET next_run_time = ?, job_state = ? WHERE id = ?",
                        (datetime_to_utc_timestamp(job.next_run_time),
                         pickle.dumps(job.__getstate__(), pickle.HIGHEST_PROTOCOL), job.id))
        if n == 0:
            raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        if self._write(f"DELETE FROM {self.table} WHERE id = ?", (job_id,)) == 0:
            raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        self._write(f"DELETE FROM {self.table}", ())
