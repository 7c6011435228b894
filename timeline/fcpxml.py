"""FCPXML at its exact rate: OpenTimelineIO's FCPXML adapter, with its time arithmetic corrected.

Final Cut Pro writes every time as rational seconds (``offset="3003/1000s"``) and every format
with an exact frame duration (``frameDuration="1001/24000s"`` for 23.976). The adapter
(otio-fcpx-xml-adapter 1.0) turns that duration into ``int(24000 / 1001) = 23`` fps and counts
frames as ``int(seconds * 23)``, so a 23.976, 29.97 or 59.94 project reads at the wrong rate
with clips drifting a frame every ~40; it also ignores the sequence's ``tcStart`` and places
the primary storyline, which Final Cut writes starting at ``tcStart``, after a gap as long as
the start timecode. On the way out it writes an empty ``frameDuration`` for those rates.

The classes below keep the adapter's walk over the document and replace only its arithmetic:
frame rates are the exact ``Fraction`` of the frame duration, frame counts are rounded from
exact rational seconds, and the sequence start becomes the timeline's ``global_start_time``.
The drop-frame flag (``tcFormat="DF"``) is kept in the timeline's metadata for writing back,
and a clip's ``<adjust-volume>`` (which the adapter drops) in the clip's metadata for the mix.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import opentimelineio as otio
from otio_fcpx_xml_adapter import fcpx_xml as adapter  # type: ignore[import-untyped]

from postbay.media import snap_rate
from postbay.timeline.levels import fcpx_volume

__all__ = ["drop_frame_of", "fcpx_seconds", "fcpx_time", "read_fcpxml", "write_fcpxml"]

RT = otio.opentime.RationalTime

# The adapter's module-level time helpers are called from inside its classes; they are swapped
# for exact ones while postbay reads or writes, one document at a time.
_LOCK = threading.Lock()


def fcpx_seconds(value: str | None) -> Fraction:
    """Rational seconds from an FCPXML time (``"1001/24000s"``, ``"3600s"``, ``"0s"``, absent)."""
    if not value:
        return Fraction(0)
    return Fraction(value.strip().rstrip("s") or "0")


def fcpx_time(seconds: Fraction) -> str:
    """An FCPXML time for exact ``seconds``: ``"1001/500s"``, ``"3600s"``."""
    seconds = Fraction(seconds)
    return f"{seconds.numerator}/{seconds.denominator}s" if seconds.denominator != 1 else f"{seconds.numerator}s"


def _exact_rate(fps: Any) -> Fraction:
    """The rate the adapter passed around as a float, back as the standard fraction it stands for."""
    return snap_rate(Fraction(fps)) or Fraction(fps).limit_denominator(1001)


def _frames(seconds: Fraction, rate: Fraction) -> int:
    # Final Cut's times are on the frame grid; a time between frames (sub-frame audio edits)
    # goes to the nearest frame rather than always the earlier one.
    return round(seconds * rate)


def _to_rational_time(rational_number: str | None, fps: Any) -> otio.opentime.RationalTime:
    rate = _exact_rate(fps)
    return RT(_frames(fcpx_seconds(rational_number), rate), float(rate))


def _from_rational_time(rational_time: otio.opentime.RationalTime) -> str:
    frames = round(rational_time.value)
    if frames == 0:
        return "0s"
    return fcpx_time(frames / _exact_rate(rational_time.rate))


@contextmanager
def _exact_helpers() -> Iterator[None]:
    with _LOCK:
        saved = adapter.to_rational_time, adapter.from_rational_time
        adapter.to_rational_time, adapter.from_rational_time = _to_rational_time, _from_rational_time
        try:
            yield
        finally:
            adapter.to_rational_time, adapter.from_rational_time = saved


def drop_frame_of(timeline: otio.schema.Timeline) -> bool | None:
    """``tcFormat`` of the sequence a timeline was read from: True for DF, False for NDF, None if unknown."""
    fmt = timeline.metadata.get("fcpx", {}).get("tcFormat")
    return None if fmt is None else fmt == "DF"


class _ExactReader(adapter.FcpxXml):
    """The adapter's reader with rates and frame counts exact."""

    def __init__(self, xml_string: str) -> None:
        super().__init__(xml_string)
        self._origin = Fraction(0)  # the tcStart of the sequence being walked

    def _rate(self, format_id: str | None) -> Fraction:
        fmt = self._format_by_id(format_id)
        return 1 / fcpx_seconds(fmt.get("frameDuration"))

    def _format_frame_rate(self, format_id: str | None) -> float:
        return float(self._rate(format_id))

    def _number_of_frames(self, time_value: str | None, format_id: str | None) -> int:
        return _frames(fcpx_seconds(time_value), self._rate(format_id))

    def _time_range(self, element: Any, format_id: str | None) -> otio.opentime.TimeRange:
        rate = self._rate(format_id)
        return otio.opentime.TimeRange(RT(_frames(fcpx_seconds(element.get("start")), rate), float(rate)),
                                       RT(_frames(fcpx_seconds(element.get("duration")), rate), float(rate)))

    def _reference_from_id(self, asset_id: str, default_format: str | None) -> Any:
        # FCPXML 1.9+ names the file in a <media-rep> child; the adapter looks only at ``src``.
        asset = self._asset_by_id(asset_id)
        if asset is not None and not asset.get("src"):
            reps = asset.findall("./media-rep")
            rep = next((r for r in reps if r.get("kind") == "original-media"), reps[0] if reps else None)
            if rep is not None and rep.get("src"):
                asset.set("src", rep.get("src"))
        return super()._reference_from_id(asset_id, default_format)

    def _build_composable(self, element: Any, default_format: str | None) -> Any:
        # The adapter drops <adjust-volume>: keep it for the programme mix (postbay.timeline.levels).
        composable = super()._build_composable(element, default_format)
        volume = fcpx_volume(element) or fcpx_volume(self._timing_clip(element))
        if volume is not None and isinstance(composable, otio.schema.Clip):
            composable.metadata.setdefault("fcpx_xml", {})["adjust-volume"] = volume
        return composable

    def _from_project(self, project_element: Any) -> otio.schema.Timeline:
        timeline = super()._from_project(project_element)
        sequence = project_element.find("./sequence")
        if sequence is not None:
            rate = self._rate(sequence.get("format"))
            timeline.global_start_time = RT(_frames(fcpx_seconds(sequence.get("tcStart")), rate), float(rate))
            if sequence.get("tcFormat"):
                timeline.metadata.setdefault("fcpx", {})["tcFormat"] = sequence.get("tcFormat")
        return timeline

    def _squence_to_stack(self, sequence_element: Any, name: str = "", source_range: Any = None) -> Any:
        outer, self._origin = self._origin, fcpx_seconds(sequence_element.get("tcStart"))
        try:
            return super()._squence_to_stack(sequence_element, name=name, source_range=source_range)
        finally:
            self._origin = outer

    def _offset_and_lane(self, clip: Any, default_format: str | None) -> tuple[otio.opentime.RationalTime, str]:
        # The primary storyline starts at the sequence's tcStart, not at zero.
        offset, lane = super()._offset_and_lane(clip, default_format)
        shift = _frames(self._origin, _exact_rate(offset.rate))
        return RT(offset.value - shift, offset.rate), lane


class _ExactWriter(adapter.FcpxOtio):
    """The adapter's writer with exact frame durations and times."""

    @staticmethod
    def _framerate_to_frame_duration(framerate: Any) -> str:
        return fcpx_time(1 / _exact_rate(framerate))

    @staticmethod
    def _calculate_rational_number(duration: Any, rate: Any) -> str:
        return _from_rational_time(RT(duration, rate))

    def _frame_rate_from_element(self, element: Any, default_format_id: str | None) -> float:
        # The adapter finds the element's format the same way, then truncates its rate to an int.
        format_id = default_format_id
        if element.tag == "ref-clip":
            format_id = self._media_by_id(element.get("ref")).find("./sequence").get("format")
        elif element.tag in ("clip", "asset-clip"):
            inner = element.find("./gap/audio")
            if inner is None:
                inner = element.find("./video")
            ref = element.get("ref") if element.tag == "asset-clip" else inner.get("ref")
            format_id = self._asset_by_id(ref).get("format")
        fmt = self.resource_element.find(f"./format[@id='{format_id}']")
        return float(1 / fcpx_seconds(fmt.get("frameDuration")))

    def _clip_format_name(self, clip: Any) -> str:
        # The adapter runs ffprobe on every clip for a name; postbay names formats from the picture.
        return ""


def read_fcpxml(text: str) -> Any:
    """An FCPXML document as OTIO (a Timeline, or a SerializableCollection of them), rates exact."""
    with _exact_helpers():
        return _ExactReader(text).to_otio()


def write_fcpxml(root: Any) -> str:
    """``root`` as FCPXML with exact frame durations and times (the caller wraps it for import)."""
    with _exact_helpers():
        return _ExactWriter(root).to_xml()
