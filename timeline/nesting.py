"""Nested sequences (compound clips, nests, AAF operation groups) opened up into their tracks.

An editor's nested sequence is a stack inside a track: OTIO reads it faithfully, but a
conform finishes clips, and the programme plays tracks. Before planning, each nested stack is
replaced in its track by what it shows over its trimmed range: for a video track, the nested
video tracks flattened top-down (what an editor sees); for an audio track, the nested
sequence's first audio track. The conform report names each one, and the timeline written back
holds the nested clips inline.
"""

from __future__ import annotations

import copy
from typing import Any

import opentimelineio as otio

from postbay.timeline.reader import timelines_of

__all__ = ["flatten_nested"]


def _opened(stack: otio.schema.Stack, kind: str) -> tuple[list[Any], str]:
    """The items that replace ``stack`` in a ``kind`` track, and how they were made."""
    inner = [t for t in stack if isinstance(t, otio.schema.Track) and t.kind == kind]
    span = stack.trimmed_range()
    if not inner:
        return [otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=span.duration))], \
            f"holds no {kind.lower()} track: a gap"
    if kind == otio.schema.TrackKind.Video:
        source = otio.algorithms.flatten_stack(inner) if len(inner) > 1 else inner[0]
        how = f"{len(inner)} video track(s) flattened top-down" if len(inner) > 1 else "its video track"
    else:
        source = inner[0]
        how = "its first audio track" + (f" ({len(inner) - 1} more not mixed)" if len(inner) > 1 else "")
    trimmed = otio.algorithms.track_trimmed_to_range(source, span)
    items = [copy.deepcopy(item) for item in trimmed]
    for item in items:  # an effect on the nest (an AAF gain, a speed) applies to what it holds
        if isinstance(item, otio.schema.Clip):
            for effect in stack.effects:
                item.effects.append(copy.deepcopy(effect))
    return items, how


def _flatten_track(track: otio.schema.Track, label: str, notes: list[str]) -> None:
    for index in range(len(track) - 1, -1, -1):
        stack = track[index]
        if not isinstance(stack, otio.schema.Stack):
            continue
        for inner in stack:  # nests inside the nest first
            if isinstance(inner, otio.schema.Track):
                _flatten_track(inner, label, notes)
        try:
            items, how = _opened(stack, track.kind)
        except otio.exceptions.OTIOError as exc:
            notes.append(f"nested sequence {stack.name!r} on {label}: left nested ({exc})")
            continue
        del track[index]
        for offset, item in enumerate(items):
            track.insert(index + offset, item)
        notes.append(f"nested sequence {stack.name!r} on {label} opened: {how}, {len(items)} item(s) inline")


def flatten_nested(root: Any) -> list[str]:
    """Open every nested stack of ``root``'s timelines in place; one note per nest."""
    notes: list[str] = []
    for timeline in timelines_of(root):
        counters = {otio.schema.TrackKind.Video: 0, otio.schema.TrackKind.Audio: 0}
        for track in timeline.tracks:
            if not isinstance(track, otio.schema.Track):
                continue
            kind = track.kind if track.kind in counters else otio.schema.TrackKind.Video
            counters[kind] += 1
            _flatten_track(track, f"{kind[0]}{counters[kind]}", notes)
    return notes
