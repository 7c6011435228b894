"""The flatten: which finished shot the programme shows at each record frame, and its pictures.

The top video track wins, as an online editor flattens; dissolves are cross-dissolves over
the handles the conform rendered (the outgoing clip plays on past its cut, the incoming
one starts early); gaps are black. :func:`shown_at` is the one walk down the tracks that
the pictures and the edit points share. Pictures come from the finished shots, never the
sources, so the programme is exactly what the conformed timeline shows.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import opentimelineio as otio

from postbay.media import VideoReader
from postbay.paths import url_to_path

__all__ = ["Dissolve", "Layer", "Segment", "centre_crop", "edit_points", "fit", "flatten",
           "programme_frames", "record_frame", "shown_at", "url_path"]


@dataclass(frozen=True)
class Segment:
    """Timeline frames ``[start, end)`` of one track shown from ``file``.

    Timeline frame ``t`` shows file frame ``first + floor((t - start) * speed)``; a
    dissolve reads a clip beyond its cut by the transition's length, which the handles hold.
    """

    start: int
    end: int
    file: Path
    first: int
    speed: float
    key: str


@dataclass(frozen=True)
class Dissolve:
    """Timeline frames ``[start, end)`` where ``outgoing`` cross-dissolves into ``incoming``."""

    start: int
    end: int
    outgoing: Segment
    incoming: Segment


@dataclass
class Layer:
    """One video track of the flatten: its segments in record order and its dissolves."""

    segments: list[Segment]
    dissolves: list[Dissolve]
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.starts = [s.start for s in self.segments]


def shown_at(layers: list[Layer], t: int) -> Segment | Dissolve | None:
    """What the programme shows at record frame ``t``: the top layer with a dissolve or a
    segment there wins (a dissolve over its whole length); None is black."""
    for layer in reversed(layers):
        dissolve = next((d for d in layer.dissolves if d.start <= t < d.end), None)
        if dissolve is not None:
            return dissolve
        k = bisect_right(layer.starts, t) - 1
        if k >= 0 and layer.segments[k].start <= t < layer.segments[k].end:
            return layer.segments[k]
    return None


def url_path(url: str) -> Path:
    # the conformed timeline's own URLs: local files, or relative paths kept as written
    return url_to_path(url, Path())[0] or Path(url)


def record_frame(rt: otio.opentime.RationalTime, rate: Fraction) -> int:
    """A timeline time as the nearest frame at the programme's ``rate``."""
    return int(round(rt.rescaled_to(float(rate)).value))


def _file_frame(seg: Segment, t: int) -> int:
    return seg.first + int(math.floor((t - seg.start) * seg.speed + 1e-9))


def flatten(timeline: otio.schema.Timeline, rate: Fraction) -> tuple[int, list[Layer], int]:
    """(frames, the video tracks bottom→top as layers of segments and dissolves, items not renderable)."""
    tracks = []
    skipped = 0
    total = record_frame(timeline.duration(), rate)
    for track in timeline.video_tracks():
        segments: list[Segment] = []
        dissolves: list[Dissolve] = []
        children = list(track)
        for i, item in enumerate(children):
            if isinstance(item, otio.schema.Transition) or not isinstance(item, otio.core.Item):
                continue
            span = track.range_of_child_at_index(i)
            start, end = record_frame(span.start_time, rate), record_frame(span.end_time_exclusive(), rate)
            if isinstance(item, otio.schema.Gap):
                continue
            ref = getattr(item, "media_reference", None)
            meta = item.metadata.get("postbay", {}) if isinstance(item, otio.schema.Clip) else {}
            if not isinstance(item, otio.schema.Clip) or meta.get("status") != "conformed" or not isinstance(
                    ref, otio.schema.ExternalReference):
                skipped += 1
                continue
            speed = 1.0
            for effect in item.effects:
                if isinstance(effect, otio.schema.FreezeFrame):
                    speed = 0.0
                elif isinstance(effect, otio.schema.LinearTimeWarp):
                    speed *= abs(effect.time_scalar)  # a reverse plays forward here (see docs: limits)
            avail = ref.available_range
            first = record_frame(item.trimmed_range().start_time, rate) - record_frame(avail.start_time, rate)
            segments.append(Segment(start, end, url_path(ref.target_url), first, speed, f"{id(item)}"))
        # Transitions: the outgoing clip plays on past its cut and the incoming one starts early.
        for i, item in enumerate(children):
            if not isinstance(item, otio.schema.Transition):
                continue
            before = next((s for s in segments if i > 0 and s.key == f"{id(children[i - 1])}"), None)
            after = next((s for s in segments if i + 1 < len(children) and s.key == f"{id(children[i + 1])}"), None)
            following = i + 1 < len(children)
            cut = record_frame(track.range_of_child_at_index(i + 1).start_time, rate) if following else total
            lo, hi = cut - record_frame(item.in_offset, rate), cut + record_frame(item.out_offset, rate)
            if before is not None and after is not None and hi > lo:
                dissolves.append(Dissolve(lo, hi, before, after))
        segments.sort(key=lambda s: s.start)
        tracks.append(Layer(segments, dissolves))
    return total, tracks, skipped


class _Readers:
    """Sequential decoders of the finished shots, one per segment, restarted on a jump."""

    def __init__(self) -> None:
        # key → [decoder, next index, last index, last picture] (a freeze frame repeats the last)
        self.open: dict[str, list[Any]] = {}

    def frame(self, seg: Segment, index: int) -> np.ndarray:
        state = self.open.get(seg.key)
        if state is not None and state[2] == index:
            return state[3]
        if state is None or state[1] != index:
            if state is not None:
                state[0].close()
            state = [iter(VideoReader(seg.file, start=index)), index, None, None]
            self.open[seg.key] = state
        _, picture = next(state[0])
        state[1:] = [index + 1, index, picture]
        return picture

    def keep_only(self, keys: set[str]) -> None:
        for key in list(self.open):
            if key not in keys:
                self.open.pop(key)[0].close()


def fit(picture: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale a uint16 RGB picture into width×height, letterboxed/pillarboxed on black."""
    h, w = picture.shape[:2]
    if (w, h) == (width, height):
        return picture
    scale = min(width / w, height / h)
    sw, sh = max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb48le")
    scaled = frame.reformat(width=sw, height=sh, interpolation="BICUBIC").to_ndarray()
    out = np.zeros((height, width, 3), np.uint16)
    y, x = (height - sh) // 2, (width - sw) // 2
    out[y:y + sh, x:x + sw] = scaled
    return out


def centre_crop(picture: np.ndarray, aspect: Fraction) -> np.ndarray:
    """The centre of the picture at ``aspect`` (width/height)."""
    h, w = picture.shape[:2]
    if Fraction(w, h) > aspect:
        cw = max(2, int(round(h * aspect / 2)) * 2)
        x = (w - cw) // 2
        return picture[:, x:x + cw]
    ch = max(2, int(round(w / aspect / 2)) * 2)
    y = (h - ch) // 2
    return picture[y:y + ch]


def programme_frames(timeline: otio.schema.Timeline, rate: Fraction, width: int, height: int
                     ) -> tuple[int, Iterator[np.ndarray], int]:
    """(frame count, uint16 RGB pictures of the flattened cut at width×height, skipped items)."""
    total, layers, skipped = flatten(timeline, rate)

    def pictures() -> Iterator[np.ndarray]:
        readers = _Readers()
        black = np.zeros((height, width, 3), np.uint16)
        for t in range(total):
            shown = shown_at(layers, t)
            if isinstance(shown, Dissolve):
                a = fit(readers.frame(shown.outgoing, _file_frame(shown.outgoing, t)), width, height)
                b = fit(readers.frame(shown.incoming, _file_frame(shown.incoming, t)), width, height)
                alpha = (t - shown.start + 0.5) / (shown.end - shown.start)
                readers.keep_only({shown.outgoing.key, shown.incoming.key})
                yield (a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha + 0.5).astype(np.uint16)
            elif shown is not None:
                picture = fit(readers.frame(shown, _file_frame(shown, t)), width, height)
                readers.keep_only({shown.key})
                yield picture
            else:
                readers.keep_only(set())
                yield black
        readers.keep_only(set())

    return total, pictures(), skipped


def edit_points(timeline: otio.schema.Timeline, rate: Fraction) -> list[int]:
    """Timeline frames where the programme's picture changes shot (or goes to or from black).

    What a subtitler calls the cuts: the top visible track decides, as in the flatten; a
    dissolve counts once, at its edit point (where the incoming clip's cut is).
    """
    total, layers, _ = flatten(timeline, rate)
    points: list[int] = []
    previous: str | None = None
    for t in range(total):
        shown = shown_at(layers, t)
        if isinstance(shown, Dissolve):
            key: str | None = shown.outgoing.key if t < shown.outgoing.end else shown.incoming.key
        else:
            key = shown.key if shown is not None else None
        if t > 0 and key != previous:
            points.append(t)
        previous = key
    return points
