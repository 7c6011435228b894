"""Read a timeline in a short-lived child process, never in the caller's own.

An adapter is C++ and Python written for files editors export, not for hostile ones: a
document that crashes or hangs it must take down a disposable process, not the daemon or
the API that asked what the timeline references. :func:`outline_timeline` runs
:func:`~postbay.timeline.reader.read_timeline` (with its size and nesting checks) in
``python -m postbay.timeline.isolated`` under a time and an address-space limit, and hands
back only what the caller needs: the format and each clip's name and media URL as written.
A child that dies on a signal, runs out of memory or out of time is reported as a
:class:`~postbay.timeline.reader.TimelineError` naming the file.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from postbay.timeline.reader import TimelineError

__all__ = ["ClipReference", "TimelineOutline", "outline_timeline"]

#: Seconds a child may take to read one timeline (a feature's .otio reads in a second or two).
READ_SECONDS = 60.0
#: Address space a child may add to what it holds after its imports, in MB.
READ_MEMORY_MB = 2048


@dataclass(frozen=True)
class ClipReference:
    """One clip of a timeline: its name and its media's URL exactly as the timeline writes it."""

    name: str
    url: str


@dataclass(frozen=True)
class TimelineOutline:
    """What a timeline references, read in a child process."""

    path: Path
    format: str
    clips: tuple[ClipReference, ...]


def outline_timeline(path: str | Path, *, seconds: float = READ_SECONDS,
                     memory_mb: int = READ_MEMORY_MB) -> TimelineOutline:
    """The clips of the timeline at ``path``, read by a child limited to ``seconds`` and ``memory_mb``.

    Raises :class:`TimelineError` when the timeline cannot be read, for whatever reason."""
    path = Path(path)
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "postbay.timeline.isolated", str(path), str(memory_mb)]
    try:
        child = subprocess.run(command, capture_output=True, text=True, timeout=seconds, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise TimelineError(f"took more than {seconds:g} s to read; refused", path=path,
                            hint="re-export the timeline from the editor") from None
    if child.returncode < 0:
        name = signal.Signals(-child.returncode).name
        raise TimelineError(f"crashed the timeline reader ({name}); refused", path=path,
                            hint="re-export the timeline from the editor")
    try:
        answer = json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise TimelineError(f"the timeline reader failed: {tail[:300]}", path=path,
                            hint="re-export the timeline from the editor") from None
    if "error" in answer:
        raise TimelineError(answer["error"], path=path, hint=answer.get("hint"))
    return TimelineOutline(path=path, format=answer["format"],
                           clips=tuple(ClipReference(name, url) for name, url in answer["clips"]))


def _limit_memory(extra_mb: int) -> None:
    with open("/proc/self/status") as status:
        held_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = held_kb * 1024 + extra_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _main(path: str, memory_mb: str) -> None:
    import opentimelineio as otio

    from postbay.timeline.reader import read_timeline

    _limit_memory(int(memory_mb))
    try:
        loaded = read_timeline(path)
        clips = [(clip.name, getattr(clip.media_reference, "target_url", None) or "")
                 for timeline in loaded.timelines for clip in timeline.find_clips()
                 if isinstance(clip, otio.schema.Clip)]
        answer: dict[str, object] = {"format": loaded.format, "clips": [c for c in clips if c[1]]}
    except TimelineError as exc:
        answer = {"error": exc.message, "hint": exc.hint}
    except MemoryError:
        answer = {"error": f"needs more than {memory_mb} MB to read; refused"}
    print(json.dumps(answer))


if __name__ == "__main__":
    _main(*sys.argv[1:3])
