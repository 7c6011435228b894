"""Free space: the daemon pauses new work before a full disk can stop it.

SQLite answers ``database or disk is full`` when the ledger's disk fills, and a render dies
half-written when its output's does. Below ``[limits] min_free_mb`` on the data folder or an
output folder the daemon takes no new job (running ones finish) and says why in the API,
``postbay status`` and systemd's ``STATUS=``; it resumes by itself once space is back.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

__all__ = ["is_disk_full", "low_space"]


def low_space(folders: Iterable[Path], min_free_mb: int) -> str | None:
    """Why new work must wait (the first folder under ``min_free_mb`` free), or None."""
    for folder in folders:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent  # a folder not made yet lives on its parent's disk
        try:
            stat = os.statvfs(probe)
        except OSError:
            continue
        free_mb = stat.f_bavail * stat.f_frsize >> 20
        if free_mb < min_free_mb:
            return (f"disk full: {folder} has {free_mb} MB free, new jobs wait for {min_free_mb} MB "
                    "([limits] min_free_mb); free some space and they start by themselves")
    return None


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is the disk (or its quota) running out, from SQLite or the file system."""
    if isinstance(exc, sqlite3.OperationalError):
        return "disk is full" in str(exc) or "disk I/O error" in str(exc)
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)
