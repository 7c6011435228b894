"""What a render is doing now, for whoever shows it: the daemon's ledger, a progress bar.

A render goes through phases: ``probing``, ``audio`` (a recipe's audio steps), ``rendering``,
``verifying``, ``publishing``; a timeline's conform reads and relinks (``relinking``), renders
its shots (``shot 3/6``: two finished, the third rendering), then ``writing timelines``,
``captions`` and ``deliveries``; a daemon job ends ``inspecting`` its source. While frames flow, the frame steps are
chained generators that all run at once on different frames, so no single step is "current"
by construction: the step shown is a *sample*, the stage whose code runs at the moment of
asking (:meth:`postbay.pipeline.Pipeline.current_step`): ``denoise 1/7`` (the recipe's first of
seven steps), ``decoding`` (waiting for the decoder), ``encoding`` (waiting for the encoder).
Sampled at every progress report, it shows where the time goes: the slowest stage is the one
most often caught running.

One render runs at a time in a process (a daemon worker, ``postbay run``), so the activity is
one object per process, :data:`ACTIVITY`. A process forked from a render (a conform's shot
workers) starts with a clean one: its renders are its own, and it must not speak on the
parent's behalf (the parent's listener writes to the daemon's pipe).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["ACTIVITY", "Activity"]


class Activity:
    """The phase of the render in this process, its shot in a conform, and the sampler of the
    frame step running now; listeners hear of each phase change (a worker sends it on)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase: str | None = None
        self.shot: tuple[int, int] | None = None  # (1-based shot, shots) in a conform
        self._sample: Callable[[], str | None] | None = None
        self._listeners: list[Callable[[], None]] = []

    def begin(self, phase: str, sample: Callable[[], str | None] | None = None) -> None:
        """Enter ``phase``; ``sample()`` (while frames flow) names the step running now."""
        with self._lock:
            self.phase, self._sample = phase, sample
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def in_shot(self, shot: int | None, shots: int = 0) -> None:
        """A conform is rendering shot ``shot`` of ``shots`` (None: past its shots)."""
        self.shot = (shot, shots) if shot is not None else None

    def now(self) -> str | None:
        """``"denoise 1/7"``, ``"verifying"``, ``"shot 3/6 · denoise 1/7"``; None outside a render."""
        with self._lock:
            phase, sample, shot = self.phase, self._sample, self.shot
        what = (sample() if sample is not None else None) or phase
        parts = [f"shot {shot[0]}/{shot[1]}" if shot else None, what]
        return " · ".join(p for p in parts if p) or None

    @contextmanager
    def watch(self, listener: Callable[[], None]) -> Iterator[None]:
        """Call ``listener()`` at each phase change of one render, from a clean start."""
        self.reset()
        self._listeners.append(listener)
        try:
            yield
        finally:
            self._listeners.remove(listener)
            self.reset()

    def reset(self) -> None:
        with self._lock:
            self.phase, self._sample, self.shot = None, None, None

    def _forked(self) -> None:
        self._lock = threading.Lock()  # another thread of the parent may have held it at the fork
        self._listeners = []
        self.phase, self._sample, self.shot = None, None, None


#: The render of this process.
ACTIVITY = Activity()
os.register_at_fork(after_in_child=ACTIVITY._forked)
