"""Folders of numbered frames dropped into a hot folder: one sequence, one job.

ComfyUI, upscalers and renderers write a shot as numbered frames into a folder, one frame at a
time. A hot folder takes such a folder as *one* source (never frame by frame):

- a folder directly in the hot folder (any depth with ``recursive = true``) is a candidate from
  the moment it appears; loose frames in the hot folder itself stay sidecars and stills, ignored;
- it has arrived when no frame was added, removed or changed for ``sequence_settle_seconds``
  (the folder's own setting, longer than a file's ``settle_seconds``: a generator pauses
  between frames; set it above the longest pause of the tool writing them);
- and, as for files (:mod:`postbay.daemon.arrival`), when it is whole: a frame that is empty or
  does not decode and changed within ``arrival_timeout`` means *not yet arrived*;
- a folder without numbered frames waits (it may be filled later) and never becomes a job;
- a folder holding several numbered runs (``a_0001.png`` and ``b_0001.png``) becomes one job
  that fails naming them: it is moved whole to ``failed/``, to be split into one folder per shot.

The job renders the sequence at the recipe's ``rate`` (else 24) and its gaps are held (the
report lists them). After the job the folder is moved to ``done/`` or ``failed/`` whole, as a
file is; its sidecars (``shot.txt`` beside ``shot/``) travel with it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from postbay.errors import MediaError
from postbay.sequences import find_sequence, frame_reference, numbered_runs, read_image

__all__ = ["NO_FRAMES_YET", "folder_fingerprint", "holds_frames", "sequence_incomplete", "signature"]

#: Why a folder is not a sequence yet: it holds no numbered frame (it never becomes a job so).
NO_FRAMES_YET = "no numbered frames yet"


def holds_frames(folder: Path) -> bool:
    """Whether ``folder`` holds a numbered frame (``shot_0001.png``): a folder worth watching as a
    sequence. A cover still beside a clip (``cover.png``) does not make its folder one."""
    try:
        return any(frame_reference(name) is not None and not name.startswith(".") for name in os.listdir(folder))
    except OSError:
        return False


def _entries(folder: Path) -> list[tuple[str, os.stat_result]]:
    found = []
    for entry in os.scandir(folder):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        try:
            found.append((entry.name, entry.stat()))
        except OSError:
            continue  # gone meanwhile
    return sorted(found, key=lambda e: e[0])


def signature(path: Path) -> tuple[int, int]:
    """(size, last change in ns) of a file, or of a folder's files (their total size and the
    latest mtime or ctime among them): what must stay the same for a source to be settled."""
    if not path.is_dir():
        st = path.stat()
        return st.st_size, st.st_mtime_ns
    return _totals(_entries(path))


def _totals(entries: list[tuple[str, os.stat_result]]) -> tuple[int, int]:
    return (sum(st.st_size for _, st in entries) + len(entries),
            max((max(st.st_mtime_ns, st.st_ctime_ns) for _, st in entries), default=0))


def folder_fingerprint(folder: Path) -> str:
    """``size:change_ns:digest`` of a folder of frames: its files' names, sizes and times."""
    entries = _entries(folder)
    size, changed = _totals(entries)
    digest = hashlib.sha256()
    for name, st in entries:
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(errors="surrogateescape"))
    return f"{size}:{changed}:{digest.hexdigest()[:32]}"


def sequence_incomplete(folder: Path) -> str | None:
    """Why ``folder`` is not (yet) a whole image sequence, or ``None`` when it is (or when it is
    one that cannot be rendered: several runs, which the job reports)."""
    try:
        seq = find_sequence(folder)
    except MediaError:
        # no run yet (wait), or several (taken: the job fails naming them)
        return None if len(numbered_runs(folder)) > 1 else NO_FRAMES_YET
    by_number = {n: seq.path(n) for n in seq.numbers}
    changed: dict[Path, int] = {}
    for path in by_number.values():
        try:
            st = path.stat()
        except OSError:
            return f"frame {path.name} went away"
        if st.st_size == 0:
            return f"frame {path.name} is empty (still being written)"
        changed[path] = st.st_mtime_ns
    # the last frame in number and the newest on disk: where a writer would be now
    newest = max(changed, key=changed.__getitem__)
    for path in dict.fromkeys([by_number[seq.last], newest]):
        try:
            read_image(path)
        except MediaError as exc:
            return f"frame {path.name} does not decode yet ({exc.message})"
    return None
