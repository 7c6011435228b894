"""Write a conformed timeline back in the editor's format and as ``.otio``, and say what each loses.

Every format drops something: an EDL has one video track and no timeline start, FCPXML
(through OTIO) has no transitions, AAF no markers. Rather than trust a table, postbay reads
each file it wrote back with the same adapter and compares it with the conformed timeline:
the loss list in the conform report is what an editor will actually find missing. Each
loss is a :class:`Lost`: its kind (a :class:`Loss`, which the conform matches to say what
each clip lost) and the words the report shows.

The XML is then finished for the editors that import it: FCP 7 XML gets a filled
``<format>`` (size, rate, pixel aspect: Resolve and Premiere take the sequence settings
from there) and FCPXML gets its projects wrapped in ``<library><event>``, a frame duration
at 23.976 (the adapter writes an empty one) and the sequence's start timecode.
"""

from __future__ import annotations

import copy
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from postbay.errors import PostbayError
from postbay.publish import TEMP_MARK
from postbay.timeline.reader import FORMATS, check_fcpxml_rate, timelines_of

__all__ = ["Loss", "Lost", "Picture", "Written", "describe_structure", "compare_structure", "write_timeline",
           "write_all"]


@dataclass(frozen=True)
class Picture:
    """The sequence picture an editor's import needs: size, pixel aspect and rate."""

    width: int
    height: int
    rate: Fraction
    pixel_aspect: Fraction = Fraction(1)


class Loss(Enum):
    """A kind of thing a written format lost, valued by the words the report uses for it."""

    TIMELINES = "timelines"
    VIDEO_TRACKS = "video tracks"
    AUDIO_TRACKS = "audio tracks"
    TIMELINE_START = "timeline start"
    MARKER_CASE = "marker names upper-cased"
    CLIPS = "clips"
    TRANSITIONS = "transitions"
    GAPS = "gaps"
    NESTED_STACKS = "nested stacks"
    MARKERS = "markers"
    TIME_EFFECTS = "speed/freeze effects"
    MEDIA_LINKS = "media links"
    METADATA = "postbay clip metadata"
    CDL = "ASC CDLs"
    UNVERIFIED = "not verified by reading back"


@dataclass(frozen=True)
class Lost:
    """One loss of a written file: its kind, and the words the report shows (``"markers: 3 → 0"``)."""

    kind: Loss
    text: str


@dataclass
class Written:
    """One timeline file written: where, in what format, and what the format lost."""

    format: str
    path: Path | None
    losses: list[Lost] = field(default_factory=list)
    error: str | None = None

    @property
    def lost(self) -> list[str]:
        """The losses in words, as the report shows them."""
        return [loss.text for loss in self.losses]

    @property
    def kinds(self) -> set[Loss]:
        return {loss.kind for loss in self.losses}

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "label": FORMATS[self.format][1], "path": str(self.path) if self.path else None,
                "lost": self.lost, "error": self.error}


# --------------------------------------------------------------------------------------------
# Structure, measured


def describe_structure(root: Any) -> list[dict[str, Any]]:
    """What an editor sees of each timeline: tracks, items, transitions, markers, start, metadata."""
    out = []
    for tl in timelines_of(root):
        tracks = []
        for track in tl.tracks:
            items, markers, effects, linked, meta, cdl = [], [], 0, 0, 0, 0
            for item in track:
                items.append(type(item).__name__)
                if isinstance(item, otio.schema.Clip):
                    markers += [m.name for m in item.markers]
                    effects += sum(1 for e in item.effects if isinstance(e, otio.schema.TimeEffect))
                    ref = item.media_reference
                    if isinstance(ref, otio.schema.ExternalReference) and ref.target_url:
                        linked += 1
                    meta += "postbay" in item.metadata
                    cdl += "cdl" in item.metadata
            markers += [m.name for m in track.markers]
            tracks.append({"kind": track.kind, "items": items, "markers": markers, "time_effects": effects,
                           "linked": linked, "postbay_metadata": meta, "cdl": cdl})
        start = tl.global_start_time
        out.append({"name": tl.name, "start": None if start is None else otio.opentime.to_timecode(start, start.rate),
                    "tracks": tracks, "markers": [m.name for m in tl.tracks.markers]})
    return out


def compare_structure(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> list[Lost]:
    """What ``got`` (read back from a written file) lacks against ``expected``, each loss once."""
    lost: list[Lost] = []
    if len(got) < len(expected):
        lost.append(Lost(Loss.TIMELINES, f"timelines: {len(expected)} → {len(got)}"))
    tracks_lost = {"Video": Loss.VIDEO_TRACKS, "Audio": Loss.AUDIO_TRACKS}
    counted = {"clips": (Loss.CLIPS, "Clip"), "transitions": (Loss.TRANSITIONS, "Transition"),
               "gaps": (Loss.GAPS, "Gap"), "nested stacks": (Loss.NESTED_STACKS, "Stack")}
    tallied = {"time_effects": Loss.TIME_EFFECTS, "linked": Loss.MEDIA_LINKS, "postbay_metadata": Loss.METADATA,
               "cdl": Loss.CDL}
    for exp, back in zip(expected, got):
        for kind, loss in tracks_lost.items():
            n_exp = sum(t["kind"] == kind for t in exp["tracks"])
            n_got = sum(t["kind"] == kind for t in back["tracks"])
            if n_got < n_exp:
                lost.append(Lost(loss, f"{loss.value}: {n_exp} → {n_got}"))
        if exp["start"] is not None and back["start"] != exp["start"]:
            lost.append(Lost(Loss.TIMELINE_START, f"timeline start {exp['start']} → {back['start'] or 'none'}"))
        exp_tracks = {k: [t for t in exp["tracks"] if t["kind"] == k] for k in ("Video", "Audio")}
        got_tracks = {k: [t for t in back["tracks"] if t["kind"] == k] for k in ("Video", "Audio")}
        totals: dict[Loss, list[int]] = {}
        for kind in ("Video", "Audio"):
            for te, tg in zip(exp_tracks[kind], got_tracks[kind]):
                for loss, key in counted.values():
                    a, b = te["items"].count(key), tg["items"].count(key)
                    totals.setdefault(loss, [0, 0])
                    totals[loss][0] += a
                    totals[loss][1] += b
                for label, loss in tallied.items():
                    totals.setdefault(loss, [0, 0])
                    totals[loss][0] += te[label]
                    totals[loss][1] += tg[label]
                me, mg = te["markers"], tg["markers"]
                totals.setdefault(Loss.MARKERS, [0, 0])
                totals[Loss.MARKERS][0] += len(me)
                totals[Loss.MARKERS][1] += len(mg)
                if len(me) == len(mg) and me != mg and [m.upper() for m in me] == [m.upper() for m in mg]:
                    lost.append(Lost(Loss.MARKER_CASE, Loss.MARKER_CASE.value))
        for loss, (a, b) in totals.items():
            if b < a:
                lost.append(Lost(loss, f"{loss.value}: {a} → {b}"))
    return sorted(set(lost), key=lost.index)


# --------------------------------------------------------------------------------------------
# Preparing a copy each writer accepts


def _fill_available_ranges(root: Any) -> None:
    for clip in root.find_clips() if hasattr(root, "find_clips") else []:
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ExternalReference) and ref.available_range is None and clip.source_range:
            ref.available_range = clip.source_range


def _prepare(fmt: str, root: Any) -> Any:
    work = copy.deepcopy(root)
    if fmt in ("fcp_xml", "fcpx_xml", "AAF", "cmx_3600"):
        for tl in timelines_of(work):
            _fill_available_ranges(tl)
    if fmt == "cmx_3600":
        tl = timelines_of(work)[0]
        video = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video and t.enabled]
        keep = video[:1]
        for track in list(tl.tracks):
            if track not in keep:
                tl.tracks.remove(track)
        return tl
    if fmt == "fcpx_xml":
        for tl in timelines_of(work):
            for track in tl.tracks:
                for item in list(track):
                    if isinstance(item, otio.schema.Transition):
                        track.remove(item)
    if fmt == "AAF":
        for tl in timelines_of(work):
            for track in tl.tracks:
                for item in track:
                    if isinstance(item, otio.schema.Transition):
                        _aaf_transition_metadata(item)
                    elif isinstance(item, otio.schema.Clip):
                        _aaf_edit_rate(item)
        work = timelines_of(work)[0]
    return work


def _aaf_edit_rate(clip: otio.schema.Clip) -> None:
    """AAF keeps one edit rate per slot: a source of another rate is described at the clip's rate."""
    ref = clip.media_reference
    avail = getattr(ref, "available_range", None)
    if avail is None or clip.source_range is None:
        return
    rate = clip.source_range.duration.rate
    if abs(avail.duration.rate - rate) > 1e-9:
        start = avail.start_time.rescaled_to(rate)
        ref.available_range = otio.opentime.TimeRange(
            otio.opentime.RationalTime(round(start.value), rate),
            otio.opentime.RationalTime(int(avail.duration.rescaled_to(rate).value), rate))


def _aaf_transition_metadata(transition: otio.schema.Transition) -> None:
    """The fields the AAF writer insists on, as Media Composer writes a plain dissolve."""
    aaf = dict(transition.metadata.get("AAF", {}))
    length = (transition.in_offset + transition.out_offset).value
    aaf.setdefault("PointList", [{"Time": 0.0, "Value": 0.0}, {"Time": 1.0, "Value": 100.0}])
    aaf.setdefault("CutPoint", int(transition.in_offset.value))
    group = dict(aaf.get("OperationGroup", {}))
    operation = dict(group.get("Operation", {}))
    # The SMPTE/AAF "Video Dissolve" operation (kAAFEffectVideoDissolve).
    operation.setdefault("Identification", "0c3bea40-fc05-11d2-8a29-0050040ef7d2")
    operation.setdefault("DataDefinition", {"Name": "Picture"})
    operation.setdefault("Description", "Video Dissolve")
    operation.setdefault("Name", "VideoDissolve_2")
    operation.setdefault("IsTimeWarp", False)
    operation.setdefault("Bypass", 1)
    operation.setdefault("NumberInputs", 2)
    operation.setdefault("OperationCategory", "OperationCategory_Effect")
    group["Operation"] = operation
    group.setdefault("Length", int(length))
    aaf["OperationGroup"] = group
    transition.metadata["AAF"] = aaf


# --------------------------------------------------------------------------------------------
# Finishing the XML for the editors that import it


def _rate_elements(parent: ET.Element, rate: Fraction) -> None:
    ntsc = rate.denominator == 1001
    timebase = round(rate)
    ET.SubElement(parent, "timebase").text = str(timebase)
    ET.SubElement(parent, "ntsc").text = "TRUE" if ntsc else "FALSE"


def finish_fcp_xml(text: str, picture: Picture) -> str:
    """Fill every empty sequence ``<format>`` with sample characteristics (size, rate, aspect)."""
    root = ET.fromstring(text)
    for fmt in root.iter("format"):
        if fmt.find("samplecharacteristics") is not None:
            continue
        sc = ET.SubElement(fmt, "samplecharacteristics")
        _rate_elements(ET.SubElement(sc, "rate"), picture.rate)
        ET.SubElement(sc, "width").text = str(picture.width)
        ET.SubElement(sc, "height").text = str(picture.height)
        ET.SubElement(sc, "anamorphic").text = "FALSE"
        ET.SubElement(sc, "pixelaspectratio").text = "square" if picture.pixel_aspect == 1 else "NTSC-601"
        ET.SubElement(sc, "fielddominance").text = "none"
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _fcpx_time(value: Fraction) -> str:
    value = Fraction(value)
    return f"{value.numerator}/{value.denominator}s" if value.denominator != 1 else f"{value.numerator}s"


def finish_fcpxml(text: str, picture: Picture, starts: dict[str, otio.opentime.RationalTime | None],
                  library_name: str) -> str:
    """Wrap projects in ``<library><event>``, fill formats' frame duration and size, set ``tcStart``."""
    root = ET.fromstring(text)
    frame = Fraction(picture.rate.denominator, picture.rate.numerator)
    for fmt in root.iter("format"):
        if not fmt.get("frameDuration"):
            fmt.set("frameDuration", _fcpx_time(frame))
        fmt.set("width", str(picture.width))
        fmt.set("height", str(picture.height))
        if not fmt.get("name"):
            if (picture.width, picture.height) in ((1280, 720), (1920, 1080), (3840, 2160), (4096, 2160)):
                fmt.set("name", f"FFVideoFormat{picture.height}p{_fcpx_rate_name(picture.rate)}")
            else:
                fmt.attrib.pop("name", None)
    for project in root.iter("project"):
        start = starts.get(project.get("name", ""))
        seq = project.find("sequence")
        if seq is not None and start is not None:
            seconds = Fraction(int(round(start.value)), 1) / Fraction(start.rate).limit_denominator(1001)
            seq.set("tcStart", _fcpx_time(seconds))
            seq.set("tcFormat", "DF" if picture.rate.denominator == 1001 and round(picture.rate) % 30 == 0 else "NDF")
        if not project.get("uid"):
            project.attrib.pop("uid", None)
    if root.find("library") is None:
        library = ET.Element("library")
        events = [c for c in root if c.tag == "event"]
        loose = [c for c in root if c.tag not in ("resources", "event", "library")]
        if not events:
            event = ET.SubElement(library, "event", {"name": library_name})
            for child in loose:
                root.remove(child)
                event.append(child)
        else:
            for child in events + loose:
                root.remove(child)
                library.append(child)
        root.append(library)
    root.set("version", root.get("version") or "1.8")
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _fcpx_rate_name(rate: Fraction) -> str:
    return {Fraction(24000, 1001): "2398", Fraction(30000, 1001): "2997", Fraction(60000, 1001): "5994"}.get(
        rate, str(round(rate)))


# --------------------------------------------------------------------------------------------
# Writing


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}{TEMP_MARK}-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _read_back(fmt: str, path: Path, rate: Fraction) -> Any:
    if fmt == "fcpx_xml":
        check_fcpxml_rate(path.read_bytes(), path)
    kwargs = {"rate": float(rate)} if fmt == "cmx_3600" else {}
    return otio.adapters.read_from_file(str(path), adapter_name=fmt, **kwargs)


def _fcpxml_starts(path: Path, back: Any, rate: Fraction) -> None:
    """The OTIO reader ignores a sequence's ``tcStart``; editors do not, so count it as carried."""
    root = ET.parse(path).getroot()
    starts = {}
    for project in root.iter("project"):
        seq = project.find("sequence")
        tc_start = seq.get("tcStart") if seq is not None else None
        if tc_start:
            seconds = Fraction(tc_start.rstrip("s"))
            starts[project.get("name", "")] = otio.opentime.RationalTime(float(seconds * rate), float(rate))
    for tl in timelines_of(back):
        if tl.global_start_time is None and tl.name in starts:
            tl.global_start_time = starts[tl.name]


def write_timeline(root: Any, fmt: str, path: Path, *, rate: Fraction, picture: Picture) -> Written:
    """Write ``root`` as ``fmt`` to ``path`` (atomically), read it back and list what was lost."""
    expected = describe_structure(root)
    work = _prepare(fmt, root)
    tmp = path.with_name(f".{path.stem}{TEMP_MARK}-{os.getpid()}{path.suffix}")
    try:
        if fmt == "AAF":
            otio.adapters.write_to_file(work, str(tmp), adapter_name="AAF", use_empty_mob_ids=True)
            os.replace(tmp, path)
        elif fmt in ("otioz", "otiod"):
            otio.adapters.write_to_file(work, str(tmp), adapter_name=fmt)
            os.replace(tmp, path)
        else:
            kwargs = {"rate": float(rate)} if fmt == "cmx_3600" else {}
            text = otio.adapters.write_to_string(work, adapter_name=fmt, **kwargs)
            if fmt == "fcp_xml":
                text = finish_fcp_xml(text, picture)
            elif fmt == "fcpx_xml":
                starts = {tl.name: tl.global_start_time for tl in timelines_of(work)}
                text = finish_fcpxml(text, picture, starts, library_name=timelines_of(work)[0].name or "postbay")
            _atomic_text(path, text)
    except Exception as exc:  # an adapter that cannot write this timeline: say so, keep the others
        for leftover in (tmp,):
            if leftover.exists():
                leftover.unlink()
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        return Written(fmt, None, error=f"{type(exc).__name__}: {first}"[:300])
    try:
        back = _read_back(fmt, path, rate)
        if fmt == "fcpx_xml":
            _fcpxml_starts(path, back, rate)
    except Exception as exc:
        reason = exc.message if isinstance(exc, PostbayError) else f"{type(exc).__name__}: {exc}"
        return Written(fmt, path, losses=[Lost(Loss.UNVERIFIED, f"{Loss.UNVERIFIED.value}: {reason}"[:300])])
    return Written(fmt, path, losses=compare_structure(expected, describe_structure(back)))


def write_all(root: Any, native: str, out_dir: Path, name: str, *, rate: Fraction, picture: Picture) -> list[Written]:
    """The conformed timeline as ``<name>.postbay.otio`` and in the input's own format."""
    results = [write_timeline(root, "otio_json", out_dir / f"{name}.postbay.otio", rate=rate, picture=picture)]
    if native != "otio_json":
        suffix = FORMATS[native][0]
        results.append(write_timeline(root, native, out_dir / f"{name}.postbay.{suffix}", rate=rate, picture=picture))
    for written in results:
        if written.error and written.format == "otio_json":
            raise PostbayError(f"cannot write the conformed timeline: {written.error}", path=out_dir)
    return results
