"""Shot cuts: the one detector every step that cares about cuts is given the answer of.

A cut is a change of content between two frames. Each frame is reduced to a 16×16 luma
thumbnail, normalised to zero mean and unit spread, and compared with the one before by
correlation: flicker, fades and exposure ramps scale the picture and never look like cuts;
near-uniform frames (black) never start a shot. Processors declare ``needs_cuts=True`` and
read ``ctx.cuts`` (frame numbers of the rendered range where a new shot starts); the render
or the pipeline runs this detector for them, a timeline hands the edit's own cuts instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from postbay.backend import Backend, numpy_backend
from postbay.media import VideoReader

__all__ = ["CUT_CORRELATION", "THUMB", "CutDetector", "clip_cuts", "frame_cuts", "is_cut", "shot_windows",
           "thumbnail"]

F = TypeVar("F")
M = TypeVar("M")

#: Thumbnail side for cut detection (blocks of the picture's luma).
THUMB = 16
#: Correlation of consecutive normalised thumbnails below which a new shot starts.
CUT_CORRELATION = 0.6


def thumbnail(frame: Any, backend: Backend) -> np.ndarray:
    """A 16×16 block-mean luma picture (float64, on the host) of an (H, W, 3) frame on ``backend``."""
    xp = backend.xp
    step = 4 if min(frame.shape[:2]) >= 64 else 1
    sample = xp.ascontiguousarray(frame[::step, ::step]).astype(xp.float64)
    h, w = sample.shape[:2]
    side = min(THUMB, h, w)
    th, tw = h // side, w // side
    y = sample[:th * side, :tw * side].sum(axis=2)
    thumb = y.reshape(side, th, side, tw).mean(axis=(1, 3))
    return backend.to_host(thumb).astype(np.float64)


def is_cut(previous: np.ndarray, current: np.ndarray) -> bool:
    """True when two thumbnails are of different shots (correlation under :data:`CUT_CORRELATION`)."""
    a = previous - previous.mean()
    b = current - current.mean()
    sa, sb = a.std(), b.std()
    if sa < 1e-3 or sb < 1e-3:
        return False
    return float((a * b).mean() / (sa * sb)) < CUT_CORRELATION


class CutDetector:
    """Fed frames in order, says for each whether a new shot starts there."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._previous: np.ndarray | None = None

    def __call__(self, frame: Any) -> bool:
        thumb = thumbnail(frame, self.backend)
        cut = self._previous is not None and is_cut(self._previous, thumb)
        self._previous = thumb
        return cut


def frame_cuts(frames: Iterable[Any], backend: Backend | None = None) -> list[int]:
    """Indices of the frames (on ``backend``, the host's NumPy unless given) where a new shot starts."""
    detect = CutDetector(backend or numpy_backend())
    return [n for n, frame in enumerate(frames) if detect(frame)]


def clip_cuts(path: str | Path, start: int = 0, count: int | None = None) -> list[int]:
    """Shot cuts in frames ``[start, start + count)`` of a clip on disk, as frames from ``start``.

    Decodes the range once, shrunk to 64×36 before conversion to RGB so it costs little more
    than the decode itself.
    """
    pictures = (frame.reformat(width=64, height=36, format="rgb24").to_ndarray().astype(np.float32) / 255.0
                for _, frame in VideoReader(path, start=start, count=count).av_frames())
    return frame_cuts(pictures)


def shot_windows(frames: Iterable[F], is_cut: Callable[[int], bool], radius: int,
                 measure: Callable[[int, F, bool], M]) -> Iterator[tuple[int, F, list[M], int]]:
    """Stream ``frames`` with the measures of their neighbours in the same shot, never across a cut.

    ``measure(n, frame, starts_shot)`` runs once per frame as it arrives (``starts_shot``: a cut
    falls on ``n``, as ``is_cut(n)`` says when the frame arrives: a step's ``ctx.cuts`` grows as the
    pipeline's detector sees frames).
    Each frame comes back in order, once the ``radius`` frames after it are measured or the clip
    has ended, as ``(n, frame, measures, i)``: the measures of the frames of its shot within
    ``n ± radius`` and ``i``, its own place among them. Holds at most ``radius + 1`` frames: what a
    temporal step smoothing over a shot (deflicker, stabilise) declares as its window.
    """
    measures: dict[int, M] = {}
    shot_of: dict[int, int] = {}
    pending: deque[tuple[int, F]] = deque()
    shot = last = 0

    def window(n: int) -> tuple[list[M], int]:
        same = [k for k in range(n - radius, min(n + radius, last) + 1) if k in measures and shot_of[k] == shot_of[n]]
        return [measures[k] for k in same], same.index(n)

    for last, frame in enumerate(frames):
        starts_shot = last > 0 and is_cut(last)
        shot += starts_shot
        measures[last], shot_of[last] = measure(last, frame, starts_shot), shot
        pending.append((last, frame))
        while pending and pending[0][0] + radius <= last:
            n, held = pending.popleft()
            yield (n, held, *window(n))
            for old in [k for k in measures if k < n - radius]:
                del measures[old], shot_of[old]
    while pending:
        n, held = pending.popleft()
        yield (n, held, *window(n))
