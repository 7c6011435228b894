"""Hot folders: noticing files (watchdog events plus rescans) and deciding when one has arrived.

A copy onto a drop folder fires ``created`` when it *starts*; network shares fire nothing at
all for writes from another host. So events only nominate a file: :class:`ArrivalTracker`
takes it when its size and mtime have stayed the same for ``settle_seconds`` across polls
and (on Linux) no process holds it open for writing. A file that keeps growing is waited for
as long as it grows. A quiet file must also be whole (:func:`~.arrival.incomplete_reason`):
one that is not and changed within ``arrival_timeout`` is looked at again later, backing off,
so a copy that pauses is never taken in pieces. Only media and edit lists are taken; other
files are logged once and left alone. Rescans nominate everything in the folder, which
catches files that arrived while the daemon was down and files no event reported.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from postbay.config import WatchConfig
from postbay.paths import url_to_path
from postbay.publish import TEMP_MARK
from postbay.sequences import frame_reference

from .arrival import file_kind, incomplete_reason, settle_seconds
from .frames import NO_FRAMES_YET, holds_frames, signature

__all__ = ["ArrivalTracker", "FolderWatcher", "NETWORK_FILESYSTEMS", "Arrival", "is_ignored",
           "mount_type", "on_network", "open_for_writing", "referenced_media", "scan_folder", "uses_polling"]

log = logging.getLogger("postbay.daemon")

#: How long the main loop waits for an edit to be read (well inside systemd's 60 s watchdog).
_READ_SECONDS = 20.0

#: File systems where inotify cannot see other hosts' writes.
NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "sshfs", "9p", "afs", "ceph",
                       "fuse.glusterfs", "glusterfs")
#: Names of copies in progress and of desktop clutter.
_IGNORED_NAMES = ("*.part", "*.partial", "*.tmp", "*.crdownload", "*.download", "~$*", ".*", "._*", "Thumbs.db",
                  "desktop.ini", "*.report.json", "*.conform.json")
#: postbay's own subfolders inside a hot folder.
RESERVED_FOLDERS = ("done", "failed")


def is_ignored(path: Path, root: Path, *, output: Path | None = None) -> bool:
    """True for copies in progress, dot-files, AppleDouble files, postbay's reports and
    temps, and anything under ``done/``, ``failed/`` or the folder's own output."""
    name = path.name
    if TEMP_MARK in name or any(fnmatch.fnmatchcase(name.lower(), pat.lower()) for pat in _IGNORED_NAMES):
        return True
    try:
        rel = path.relative_to(root)
    except ValueError:
        return True
    if any(part.startswith(".") for part in rel.parts[:-1]):
        return True
    if rel.parts and rel.parts[0] in RESERVED_FOLDERS and len(rel.parts) > 1:
        return True
    if output is not None:
        try:
            path.relative_to(output)
            return True
        except ValueError:
            pass
    return False


def mount_type(path: Path, mounts_file: str = "/proc/self/mounts") -> str | None:
    """File-system type of the mount holding ``path`` (longest mount point that contains it)."""
    try:
        with open(mounts_file) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, best_type = point, parts[2]
    return best_type


def on_network(path: Path) -> bool:
    """True when ``path`` is on a network file system (NFS, SMB, sshfs…)."""
    fstype = mount_type(path)
    return fstype is not None and (fstype in NETWORK_FILESYSTEMS or fstype.startswith(("nfs", "cifs", "smb")))


def uses_polling(watch: WatchConfig) -> bool:
    """``polling = true|false`` as configured; ``auto`` polls on network file systems."""
    if watch.polling is True or watch.polling is False:
        return watch.polling
    return on_network(watch.path)


def open_for_writing(paths: Iterable[str | Path] | None = None) -> set[str] | None:
    """Real paths some process holds open for writing, read from ``/proc/*/fd`` (Linux):
    among ``paths`` when given (cheaper: only their descriptors' flags are read), else all.

    Only processes we may inspect are seen (all of them as root or under the same user);
    ``None`` where ``/proc`` is not there.
    """
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    wanted = None if paths is None else {os.path.realpath(p) for p in paths}
    held: set[str] = set()
    me = os.getpid()
    for entry in os.scandir(proc):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        fd_dir = f"/proc/{entry.name}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if not target.startswith("/") or (wanted is not None and target not in wanted) or target in held:
                continue
            try:
                with open(f"/proc/{entry.name}/fdinfo/{fd}") as fh:
                    flags_line = next((ln for ln in fh if ln.startswith("flags:")), "flags: 0")
            except OSError:
                continue
            if int(flags_line.split()[1], 8) & (os.O_WRONLY | os.O_RDWR):
                held.add(target)
    return held


def referenced_media(timeline: Path) -> list[Path]:
    """Local media files an edit list points at (read by :func:`url_to_path`, as the conform
    reads them): what its job waits for while they are still arriving. The edit is read in a
    child process (:func:`outline_timeline`), never in the daemon's own: a hostile one can crash
    or hang its reader. Unreadable edits give ``[]`` (the conform reports them properly)."""
    from postbay.timeline.isolated import outline_timeline
    from postbay.timeline.reader import TimelineError

    try:
        outline = outline_timeline(timeline, seconds=_READ_SECONDS)
    except TimelineError:
        return []
    found = {path for path, _ in (url_to_path(clip.url, timeline.parent) for clip in outline.clips) if path}
    return sorted(found)


def scan_folder(watch: WatchConfig) -> Iterator[Path]:
    """Every candidate file in a hot folder (what a rescan nominates)."""
    root = watch.path
    output = watch.output_dir()
    if not root.is_dir():
        return
    if watch.recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = [d for d in dirnames if not is_ignored(here / d / "x", root, output=output)]
            if here != root and holds_frames(here):  # a folder of frames: one source, its frames none
                yield here
                continue
            for name in filenames:
                path = here / name
                if not is_ignored(path, root, output=output):
                    yield path
    else:
        for entry in os.scandir(root):
            path = Path(entry.path)
            if is_ignored(path, root, output=output):
                continue
            if entry.is_file(follow_symlinks=True) or (entry.is_dir() and _frames_folder(path, root)
                                                       and holds_frames(path)):
                yield path


def _frames_folder(path: Path, root: Path) -> bool:
    """Whether a folder in a hot folder may be a folder of frames (not done/, failed/, a dot-folder)."""
    return path.name not in RESERVED_FOLDERS and not path.name.startswith(".") and path != root


@dataclass
class Arrival:
    """A file that has settled: ready to become a job."""

    path: Path
    watch: WatchConfig
    size: int
    mtime_ns: int


@dataclass
class _Candidate:
    watch: WatchConfig
    size: int
    mtime_ns: int
    since: float
    settle: float
    next_look: float = 0.0  # an incomplete file is looked at again from then on
    backoff: float = 0.0


#: Longest pause between two looks at a file that is not whole yet.
MAX_BACKOFF_SECONDS = 60.0


class ArrivalTracker:
    """Candidates from events and rescans; :meth:`poll` returns those that have settled.

    Thread-safe :meth:`nominate` (watchdog and scheduler threads call it); :meth:`poll` runs
    on the daemon's main loop.
    """

    def __init__(self, *, check_open: bool = True):
        self._lock = threading.Lock()
        self._nominated: dict[Path, WatchConfig] = {}
        self._candidates: dict[Path, _Candidate] = {}
        self._check_open = check_open
        self._network: dict[Path, bool] = {}
        self._logged: set[tuple[Path, str]] = set()  # (file, why) said once

    def nominate(self, path: Path, watch: WatchConfig) -> None:
        with self._lock:
            self._nominated[path] = watch

    def forget_folder(self, folder: Path) -> None:
        with self._lock:
            self._nominated = {p: w for p, w in self._nominated.items() if w.path != folder}
            self._candidates = {p: c for p, c in self._candidates.items() if c.watch.path != folder}

    def pending(self, folder: Path | None = None) -> int:
        """Files seen but not yet settled (in ``folder`` when given)."""
        with self._lock:
            watches = [*self._nominated.values(), *(c.watch for c in self._candidates.values())]
        return sum(1 for w in watches if folder is None or w.path == folder)

    def poll(self, now: float | None = None) -> list[Arrival]:
        now = time.monotonic() if now is None else now
        with self._lock:
            nominated, self._nominated = self._nominated, {}
            for path, watch in nominated.items():
                if path in self._candidates:
                    continue
                if file_kind(path) == "other":
                    self._say_once(path, "ignored", "ignoring %s: not media or an edit list", path)
                    continue
                network = self._network.get(watch.path)
                if network is None:
                    network = self._network[watch.path] = on_network(watch.path)
                self._candidates[path] = _Candidate(watch, -1, -1, now,
                                                    settle_seconds(watch, network, sequence=path.is_dir()))
            return self._settled(now)

    def _say_once(self, path: Path, key: str, message: str, *args: object) -> None:
        if (path, key) not in self._logged:
            self._logged.add((path, key))
            log.info(message, *args)

    def _settled(self, now: float) -> list[Arrival]:
        arrived: list[Arrival] = []
        settled: list[tuple[Path, _Candidate]] = []
        for path, cand in list(self._candidates.items()):
            try:
                size, mtime_ns = signature(path)  # a folder of frames: its frames' total and latest change
            except OSError:  # gone (renamed, deleted, moved away): forget it
                del self._candidates[path]
                continue
            if not path.is_file() and not path.is_dir():
                del self._candidates[path]
                continue
            if size != cand.size or mtime_ns != cand.mtime_ns:
                # still growing or touched: the clock starts again
                cand.size, cand.mtime_ns, cand.since = size, mtime_ns, now
                cand.next_look = cand.backoff = 0.0
                continue
            if now - cand.since >= cand.settle and now >= cand.next_look:
                settled.append((path, cand))
        if settled and self._check_open:
            held = open_for_writing(p for p, _ in settled)
            if held:
                still = {os.path.realpath(p) for p, _ in settled} & held
                if still:
                    settled = [(p, c) for p, c in settled if os.path.realpath(p) not in still]
                    for p in list(self._candidates):
                        if os.path.realpath(p) in still:
                            self._candidates[p].since = now
        for path, cand in settled:
            if not self._whole(path, cand, now):
                continue
            del self._candidates[path]
            arrived.append(Arrival(path, cand.watch, cand.size, cand.mtime_ns))
        return arrived

    def _whole(self, path: Path, cand: _Candidate, now: float) -> bool:
        """A quiet file is taken when complete, or when it has stayed incomplete and untouched
        for ``arrival_timeout`` (its job then fails with the reason); else looked at later."""
        why = incomplete_reason(path)
        if why is None:
            return True
        try:
            st = path.stat()
        except OSError:
            return False
        # ctime too: a copier that sets the source's mtime at the end still touches ctime
        # (a folder's latest change is what _settled just read: cand.mtime_ns)
        quiet_for = time.time() - (cand.mtime_ns / 1e9 if path.is_dir() else max(st.st_mtime, st.st_ctime))
        if path.is_dir() and why == NO_FRAMES_YET:  # not a sequence (yet): never a job
            quiet_for = 0.0
        if quiet_for >= cand.watch.arrival_timeout:
            log.warning("taking %s although it is incomplete (%s): unchanged for %.0f s", path, why, quiet_for)
            return True
        cand.backoff = min(max(cand.backoff * 2, cand.settle, 0.5), MAX_BACKOFF_SECONDS)
        cand.next_look = now + cand.backoff
        self._say_once(path, f"incomplete {cand.size}", "waiting for %s: %s", path, why)
        return False


class _Events(FileSystemEventHandler):
    def __init__(self, watch: WatchConfig, tracker: ArrivalTracker):
        self.watch = watch
        self.tracker = tracker
        self.output = watch.output_dir()

    def _consider(self, raw: str | bytes) -> None:
        path = Path(os.fsdecode(raw))
        if not is_ignored(path, self.watch.path, output=self.output):
            self.tracker.nominate(path, self.watch)

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:  # a folder of frames, made here or moved in, is nominated as one
            raw = event.dest_path if event.event_type == "moved" else event.src_path
            folder = Path(os.fsdecode(raw))
            if event.event_type in ("created", "moved") and _frames_folder(folder, self.watch.path) \
                    and (self.watch.recursive or folder.parent == self.watch.path):
                self._consider(raw)
            return
        path = Path(os.fsdecode(event.src_path))
        if path.parent != self.watch.path and frame_reference(path.name) is not None:
            # a numbered frame landing (recursive watch): its folder, without listing it per event
            self._consider(os.fsencode(path.parent))
            return
        if event.event_type in ("created", "modified", "closed", "attrib"):  # attrib: an mtime set (cp -p)
            self._consider(event.src_path)
        elif event.event_type == "moved":  # `clip.mov.part` renamed to `clip.mov`
            self._consider(event.dest_path)


class FolderWatcher:
    """watchdog observers for a set of hot folders: inotify where it works, polling where
    ``polling`` says so (network shares)."""

    def __init__(self, tracker: ArrivalTracker, *, poll_interval: float = 1.0):
        self.tracker = tracker
        self.poll_interval = poll_interval
        self._observers: dict[Path, BaseObserver] = {}

    @property
    def folders(self) -> list[Path]:
        return list(self._observers)

    def add(self, watch: WatchConfig) -> str:
        """Start watching (the folder exists: the config check saw to it); returns
        ``"inotify"`` or ``"polling"``."""
        polling = uses_polling(watch)
        observer: BaseObserver = PollingObserver(timeout=self.poll_interval) if polling else Observer()
        observer.schedule(_Events(watch, self.tracker), str(watch.path), recursive=watch.recursive)
        observer.daemon = True
        observer.start()
        self._observers[watch.path] = observer
        return "polling" if polling else "inotify"

    def remove(self, folder: Path) -> None:
        observer = self._observers.pop(folder, None)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        self.tracker.forget_folder(folder)

    def stop(self) -> None:
        for folder in list(self._observers):
            self.remove(folder)

    def rescan(self, watches: Iterable[WatchConfig]) -> int:
        """Nominate every candidate file in these folders; returns how many."""
        n = 0
        for watch in watches:
            for path in scan_folder(watch):
                self.tracker.nominate(path, watch)
                n += 1
        return n
