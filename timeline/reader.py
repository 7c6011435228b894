"""Read an editor's timeline safely: the format from its content, the rate an EDL forgot.

OpenTimelineIO and its adapters do the parsing (FCP 7 XML from Premiere and Resolve,
FCPXML, CMX 3600 EDL, AAF, ``.otio``/``.otioz``/``.otiod``). Before an adapter sees a file
postbay checks what it is from its first bytes (an AAF renamed ``.xml`` is still an AAF, a
text file renamed ``.aaf`` is refused), refuses XML that declares entities (an entity
expansion bomb would eat the machine), and turns parse failures into one-line errors that
name the file and, where it can, the line or element.

An EDL carries no frame rate: a 25 fps list read at 24 fails or, worse, reads wrong. The rate
comes from ``--rate``, else the recipe's ``rate``, else it is inferred from the list's own
timecodes (a frame field of 24 rules out 24 fps) and from the media it names.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from postbay.errors import PostbayError
from postbay.media import snap_rate
from postbay.timeline import TIMELINE_SUFFIXES

__all__ = ["FORMATS", "LoadedTimeline", "TimelineError", "detect_format", "parse_rate", "read_timeline",
           "check_xml_safety", "check_fcpxml_rate", "infer_edl_rate", "timelines_of"]


class TimelineError(PostbayError):
    """A timeline cannot be read: malformed, truncated, unsafe, or not the format it claims."""


#: OTIO adapter name → (written suffix, what editors call it).
FORMATS: dict[str, tuple[str, str]] = {
    "otio_json": ("otio", "OpenTimelineIO"),
    "otioz": ("otioz", "OpenTimelineIO zip bundle"),
    "otiod": ("otiod", "OpenTimelineIO folder bundle"),
    "fcp_xml": ("xml", "Final Cut Pro 7 XML (Premiere, Resolve)"),
    "fcpx_xml": ("fcpxml", "FCPXML (Final Cut Pro, Resolve)"),
    "cmx_3600": ("edl", "CMX 3600 EDL"),
    "AAF": ("aaf", "AAF (Avid Media Composer)"),
}

_SUFFIX_FORMAT = {".otio": "otio_json", ".otioz": "otioz", ".otiod": "otiod", ".xml": "fcp_xml",
                  ".fcpxml": "fcpx_xml", ".fcpxmld": "fcpx_xml", ".edl": "cmx_3600", ".aaf": "AAF"}
assert set(_SUFFIX_FORMAT) == TIMELINE_SUFFIXES, "postbay.timeline.TIMELINE_SUFFIXES and the reader disagree"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # AAF files are Microsoft compound files
_EDL_EVENT = re.compile(r"^\s*(\d{1,6})\s+(\S+)\s+(\S+)\s+(C|D|W\d{3}|K\s*[BO]?)\s*(\d{3})?\s+"
                        r"(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+"
                        r"(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s+(\d\d[:;.]\d\d[:;.]\d\d[:;.]\d\d)\s*$")
_EDL_LINE_STARTS = ("TITLE:", "FCM:", "*", "M2", "FROM CLIP", "TO CLIP", ">>>", "AUD", "SPLIT", "SWM", "EFFECTS NAME",
                    "FINAL CUT PRO REEL", "REM", "LOC:", "ASC_", "SOURCE FILE")
_TIMECODE = re.compile(r"(\d\d)[:;.](\d\d)[:;.](\d\d)([:;.])(\d\d)")


@dataclass
class LoadedTimeline:
    """A timeline as read: the OTIO object, where it came from and how it was read."""

    path: Path
    format: str  # an OTIO adapter name, a key of FORMATS
    root: Any  # otio Timeline or SerializableCollection of them
    rate: Fraction
    rate_source: str  # "--rate", "recipe", "config", "file", "inferred from …"
    notes: list[str] = field(default_factory=list)

    @property
    def timelines(self) -> list[otio.schema.Timeline]:
        return timelines_of(self.root)

    @property
    def name(self) -> str:
        return self.path.name[: -len("".join(self.path.suffixes[-1:]))] if self.path.suffix else self.path.name


def timelines_of(root: Any) -> list[otio.schema.Timeline]:
    """The timelines in what an adapter returned (FCPXML may hold several in a collection)."""
    if isinstance(root, otio.schema.Timeline):
        return [root]
    return list(root.find_children(descended_from_type=otio.schema.Timeline, shallow_search=False))


def parse_rate(value: Any, *, where: str = "--rate") -> Fraction:
    """A frame rate from ``25``, ``"23.976"``, ``"24000/1001"``, ``29.97``; snapped to the standard it means."""
    try:
        if isinstance(value, str):
            value = value.strip()
            rate = Fraction(value) if "/" in value else Fraction(float(value))
        else:
            rate = Fraction(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise PostbayError(f"{where}: {value!r} is not a frame rate",
                           hint="e.g. 24, 25, 23.976 or 24000/1001") from None
    if rate <= 0 or rate > 1000:
        raise PostbayError(f"{where}: {value!r} is not a frame rate", hint="e.g. 24, 25, 23.976 or 24000/1001")
    return snap_rate(rate) or rate


# --------------------------------------------------------------------------------------------
# Format detection


def detect_format(path: Path) -> str:
    """The OTIO adapter for ``path``, decided from its content; the suffix only breaks ties.

    Raises :class:`TimelineError` when the content contradicts the suffix in a way that
    means the file is not a timeline (a text file called ``.aaf``).
    """
    by_suffix = _SUFFIX_FORMAT.get(path.suffix.lower())
    if path.is_dir():
        if (path / "content.otio").is_file():
            return "otiod"
        if by_suffix == "fcpx_xml" and (path / "Info.fcpxml").is_file():
            return "fcpx_xml"
        raise TimelineError("is a folder, not a timeline", path=path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise TimelineError(f"cannot read: {exc.strerror}", path=path) from None
    if not head:
        raise TimelineError("is empty (0 bytes)", path=path)
    if head.startswith(_OLE_MAGIC):
        return "AAF"
    if by_suffix == "AAF":
        raise TimelineError("is not an AAF file (no compound-file header)", path=path,
                            hint="export the sequence again from Media Composer (File > Export > AAF)")
    if head.startswith(b"PK\x03\x04"):
        return "otioz"
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.startswith("{") and "OTIO_SCHEMA" in text:
        return "otio_json"
    if text.startswith("<"):
        root = re.search(r"<([A-Za-z_][\w.:-]*)", re.sub(r"<!--.*?-->|<\?.*?\?>|<!DOCTYPE[^>]*>", "", text, flags=re.S))
        if root is None and by_suffix in ("fcp_xml", "fcpx_xml"):
            return by_suffix  # root element beyond the first 4 KiB: trust the suffix, the parser checks
        if root is not None and root.group(1) == "xmeml":
            return "fcp_xml"
        if root is not None and root.group(1) == "fcpxml":
            return "fcpx_xml"
        found = f"<{root.group(1)}>" if root else "no root element"
        raise TimelineError(f"is XML but neither FCP 7 XML (<xmeml>) nor FCPXML (<fcpxml>): {found}", path=path)
    if by_suffix == "cmx_3600" or re.search(r"^\s*(TITLE:|FCM:|\d{3,6}\s+\S+\s+\S+\s+[CDW])", text, re.M):
        return "cmx_3600"
    if by_suffix in ("otio_json",):
        return by_suffix
    raise TimelineError("is not a timeline postbay can read", path=path,
                        hint="export .otio, FCP 7 XML, FCPXML, CMX 3600 EDL or AAF")


# --------------------------------------------------------------------------------------------
# XML safety and well-formedness

_DOCTYPE = re.compile(rb"<!DOCTYPE\s+([A-Za-z_][\w.-]*)\s*(\[|SYSTEM|PUBLIC)?", re.I)


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def check_xml_safety(data: bytes, path: Path) -> None:
    """Refuse entity declarations and external DTDs, then check the XML is well formed.

    Editors never declare entities; a file that does is either broken or an attack (the
    "billion laughs" bomb expands a few hundred bytes into gigabytes inside the parser).
    A bare ``<!DOCTYPE xmeml>`` (as Hiero and Final Cut write) is fine.
    """
    m = re.search(rb"<!ENTITY", data, re.I)
    if m:
        raise TimelineError(f"line {_line_of(data, m.start())}: declares XML entities; refused "
                            "(entity expansion can exhaust memory)", path=path,
                            hint="re-export the timeline from the editor")
    m = _DOCTYPE.search(data)
    if m and m.group(2):
        raise TimelineError(f"line {_line_of(data, m.start())}: DOCTYPE with an internal subset or external "
                            "DTD; refused", path=path, hint="re-export the timeline from the editor")
    try:
        ET.parse(io.BytesIO(data))
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        if "no element found" in reason or "unclosed token" in reason:
            reason += " (the file is truncated: still copying, or the export was cut short)"
        raise TimelineError(f"line {line}, column {column}: malformed XML: {reason}", path=path) from None


def check_fcpxml_rate(data: bytes, path: Path) -> None:
    """Refuse FCPXML at NTSC rates: the OTIO reader truncates 23.976 to 23 fps and would conform
    the wrong frames (it counts ``int(seconds * 23)``)."""
    for m in re.finditer(rb'frameDuration="(\d+)/(\d+)s"', data):
        num, den = int(m.group(1)), int(m.group(2))
        if num and den % num:
            rate = Fraction(den, num)
            raise TimelineError(f"line {_line_of(data, m.start())}: FCPXML at {float(rate):.3f} fps: OpenTimelineIO's "
                                "FCPXML reader truncates this rate and would conform the wrong frames; refused",
                                path=path, hint="export FCP 7 XML (File > Export > XML) or .otio from the editor")


# --------------------------------------------------------------------------------------------
# EDL checks and rate


def _check_edl_lines(text: str, path: Path) -> list[str]:
    """Reject lines no EDL writer produces; returns notes on lines that were tolerated."""
    notes: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if any(ord(c) < 9 or 13 < ord(c) < 32 for c in stripped) or "\ufffd" in stripped:
            raise TimelineError(f"line {number}: binary data in an EDL", path=path,
                                hint="the file is corrupt or not an EDL")
        upper = stripped.upper()
        if stripped[0].isdigit():
            if not _EDL_EVENT.match(stripped):
                raise TimelineError(f"line {number}: not a CMX 3600 event: {stripped[:60]!r}", path=path,
                                    hint="an event is: number reel track transition source-in source-out "
                                         "record-in record-out")
            continue
        if upper.startswith(_EDL_LINE_STARTS) or upper.startswith(("FROM ", "TO ", "%", "NOTE")):
            continue
        raise TimelineError(f"line {number}: not an EDL line: {stripped[:60]!r}", path=path)
    return notes


def infer_edl_rate(text: str, media_rates: Iterable[Fraction] = ()) -> tuple[Fraction, str]:
    """Guess an EDL's rate from its timecodes and the rates of the media it names.

    The highest frame field bounds the rate from below (a ``:24`` frame needs 25 fps or
    more); drop-frame separators or ``FCM: DROP FRAME`` mean 29.97. Among the rates the
    timecodes allow, the media's own rate wins; otherwise the lowest standard one.
    """
    max_frame = 0
    drop = bool(re.search(r"^\s*FCM:\s*DROP", text, re.M | re.I))
    for line in text.splitlines():
        if _EDL_EVENT.match(line.strip()):
            for m in _TIMECODE.finditer(line):
                max_frame = max(max_frame, int(m.group(5)))
                drop = drop or m.group(4) in ";,"
    if drop:
        return Fraction(30000, 1001), "inferred: drop-frame timecode means 29.97"
    allowed = [r for r in (Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                           Fraction(50), Fraction(60000, 1001), Fraction(60)) if max_frame < round(r)]
    for rate in media_rates:
        if rate in allowed:
            return rate, f"inferred: the media it names run at {_rate_text(rate)}"
    rate = allowed[0] if allowed else Fraction(60)
    if rate == Fraction(24000, 1001):
        rate = Fraction(24)
    return rate, f"inferred: highest frame number in its timecodes is {max_frame}"


def _rate_text(rate: Fraction) -> str:
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------------
# Reading


def _adapter_error(exc: Exception, path: Path, fmt: str) -> TimelineError:
    text = f"{type(exc).__name__}: {exc}".strip()
    text = text.splitlines()[0][:300] if text else type(exc).__name__
    label = FORMATS[fmt][1]
    return TimelineError(f"cannot be read as {label}: {text}", path=path)


def _read_otioz(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as bundle:
            if "content.otio" not in bundle.namelist():
                raise TimelineError("is a zip without content.otio: not an .otioz bundle", path=path)
    except zipfile.BadZipFile:
        raise TimelineError("is a damaged zip (truncated .otioz)", path=path) from None
    return otio.adapters.read_from_file(str(path), adapter_name="otioz", extract_to_directory=None)


def read_timeline(path: str | Path, *, rate: Any = None, recipe_rate: Any = None, config_rate: Any = None,
                  media_rates: Callable[[str], Iterable[Fraction]] | None = None) -> LoadedTimeline:
    """Read ``path`` as whatever timeline it is.

    ``rate`` (``--rate``), ``recipe_rate`` and ``config_rate`` give an EDL its rate in that
    order; failing those, :func:`infer_edl_rate` decides, asking ``media_rates(text)`` for the
    rates of the media the EDL names. Other formats carry their own rate.
    """
    path = Path(path)
    if not path.exists():
        raise TimelineError("timeline not found", path=path)
    fmt = detect_format(path)
    notes: list[str] = []
    suffix_fmt = _SUFFIX_FORMAT.get(path.suffix.lower())
    if suffix_fmt and suffix_fmt != fmt and not (suffix_fmt == "otio_json" and fmt == "otio_json"):
        notes.append(f"content is {FORMATS[fmt][1]} although the name ends in {path.suffix}")
    kwargs: dict[str, Any] = {}
    rate_value: Fraction | None = None
    rate_source = "file"
    data = b""
    if not path.is_dir():
        data = path.read_bytes()
    if fmt in ("fcp_xml", "fcpx_xml"):
        check_xml_safety(data, path)
    if fmt == "fcpx_xml":
        check_fcpxml_rate(data, path)
    elif fmt == "cmx_3600":
        text = data.decode("utf-8", errors="replace")
        notes += _check_edl_lines(text, path)
        for value, where in ((rate, "--rate"), (recipe_rate, "recipe"), (config_rate, "config")):
            if value is not None:
                rate_value, rate_source = parse_rate(value, where=where), where
                break
        if rate_value is None:
            rates = list(media_rates(text)) if media_rates else []
            rate_value, rate_source = infer_edl_rate(text, rates)
        kwargs["rate"] = float(rate_value)
    elif fmt == "otio_json":
        text = data.decode("utf-8", errors="replace")
        if not text.rstrip().endswith("}"):
            raise TimelineError("truncated .otio (the JSON does not close)", path=path)
    try:
        if fmt == "otioz":
            root = _read_otioz(path)
        elif fmt == "cmx_3600":
            root = otio.adapters.read_from_string(data.decode("utf-8", errors="replace"), adapter_name=fmt, **kwargs)
        elif fmt in ("fcp_xml", "fcpx_xml", "otio_json"):
            root = otio.adapters.read_from_string(data.decode("utf-8"), adapter_name=fmt)
        else:
            root = otio.adapters.read_from_file(str(path), adapter_name=fmt)
    except TimelineError:
        raise
    except UnicodeDecodeError as exc:
        raise TimelineError(f"byte {exc.start}: not UTF-8 text", path=path) from None
    except Exception as exc:  # adapters raise anything from KeyError to their own errors
        error = _adapter_error(exc, path, fmt)
        if fmt == "cmx_3600" and rate_value is not None and rate_source.startswith("inferred"):
            error.hint = f"read at {_rate_text(rate_value)} fps ({rate_source}); give the right --rate"
        raise error from None
    timelines = timelines_of(root)
    if not timelines:
        raise TimelineError("holds no timeline (no sequence or project)", path=path)
    if rate_value is None:
        rate_value = _timeline_rate(timelines[0])
    return LoadedTimeline(path=path, format=fmt, root=root, rate=rate_value, rate_source=rate_source, notes=notes)


def _timeline_rate(timeline: otio.schema.Timeline) -> Fraction:
    """The edit rate of a timeline: its start time's, else its first item's."""
    candidates = []
    if timeline.global_start_time is not None:
        candidates.append(timeline.global_start_time.rate)
    for track in timeline.tracks:
        for item in track:
            if not isinstance(item, otio.schema.Transition) and item.source_range is not None:
                candidates.append(item.source_range.duration.rate)
                break
    for value in candidates:
        if value and value > 0:
            return snap_rate(Fraction(value)) or Fraction(value).limit_denominator(1001)
    return Fraction(24)
