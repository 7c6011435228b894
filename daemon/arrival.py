"""Has a dropped file arrived whole? What kind of file is it?

A quiet file is not always a whole one: SMB clients, browser downloads and sync tools write
in chunks and close the file between them, with pauses longer than any settle time. So a
file is taken only when its container is complete:

- MP4/MOV (ISO base media): the top-level boxes tile the file exactly and a ``moov`` is there;
- MXF: the footer partition is there (the header's pointer, or a scan of the tail);
- Matroska/WebM: the Segment's declared size fits in the file, or (a live-written file of
  unknown size) its Cues are there;
- anything else: it opens as media (PyAV finds a stream).

A file that is not complete and changed within ``arrival_timeout`` is *not yet arrived*: the
tracker looks again later, backing off. One that stays incomplete and untouched for that long
is taken anyway, and its job fails with the reason (a broken file does not wait forever).

Hot folders take media and edit lists only; everything else is ignored (and logged once). A
text or JSON file with a clip's stem (``clip.txt`` beside ``clip.mp4``, the prompt an AI tool
wrote) is that clip's *sidecar*: it travels with the clip and its text goes into the report.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Literal

from postbay.config import WatchConfig
from postbay.publish import write_json_atomic
from postbay.timeline import TIMELINE_SUFFIXES

from .frames import sequence_incomplete

__all__ = ["MEDIA_SUFFIXES", "NETWORK_SETTLE_SECONDS", "SIDECAR_SUFFIXES", "carry_sidecars", "file_kind",
           "incomplete_reason", "settle_seconds", "sidecars_of"]

#: Containers and raw streams a recipe can finish (video, and audio for the sound steps).
MEDIA_SUFFIXES = frozenset({
    ".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".ts", ".mpg", ".mpeg", ".m2v",
    ".y4m", ".3gp", ".flv", ".wmv", ".dv", ".gif",
    ".wav", ".aif", ".aiff", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".mka",
})
#: What AI tools write beside a clip: its prompt, seed and settings.
SIDECAR_SUFFIXES = (".txt", ".json", ".yaml", ".yml", ".md")
#: Default settle time on network mounts, where a writer's pauses are longer and events late.
NETWORK_SETTLE_SECONDS = 30.0
#: Largest sidecar text copied into a report (a prompt, not a log file).
SIDECAR_TEXT_LIMIT = 64 << 10

_ISO_SUFFIXES = frozenset({".mov", ".mp4", ".m4v", ".m4a", ".3gp"})
_MATROSKA_SUFFIXES = frozenset({".mkv", ".webm", ".mka"})
_TAIL = 1 << 20
# SMPTE 377: partition pack keys differ only in byte 13 (2 header, 3 body, 4 footer) and 14.
_MXF_PARTITION = bytes.fromhex("060e2b34020501010d010201")
_EBML, _SEGMENT, _CUES = b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67", b"\x1c\x53\xbb\x6b"


def file_kind(path: Path) -> Literal["media", "timeline", "sequence", "other"]:
    """What a hot folder does with ``path``: finish it (``media``, or a folder of numbered frames:
    ``sequence``, see :mod:`postbay.daemon.frames`), conform it (``timeline``) or leave it alone
    (``other``: sidecars, stills, notes)."""
    if path.is_dir():
        return "sequence"
    suffix = path.suffix.lower()
    if suffix in MEDIA_SUFFIXES:
        return "media"
    if suffix in TIMELINE_SUFFIXES:
        return "timeline"
    return "other"


def settle_seconds(watch: WatchConfig, network: bool, *, sequence: bool = False) -> float:
    """The folder's ``settle_seconds``; unset on a network mount, the longer network default;
    for a folder of frames (``sequence``), at least ``sequence_settle_seconds``."""
    settle = watch.settle_seconds
    if network and "settle_seconds" not in watch.model_fields_set:
        settle = max(settle, NETWORK_SETTLE_SECONDS)
    return max(settle, watch.sequence_settle_seconds) if sequence else settle


def incomplete_reason(path: Path) -> str | None:
    """Why ``path`` is not (yet) a whole media file, or ``None`` when it is.

    Only media are judged; edit lists are small text files that settle like any other.
    """
    if path.is_dir():
        return sequence_incomplete(path)
    if file_kind(path) != "media":
        return None
    try:
        size = path.stat().st_size
        if size == 0:
            return "empty"
        suffix = path.suffix.lower()
        with open(path, "rb") as fh:
            if suffix in _ISO_SUFFIXES:
                return _iso_incomplete(fh, size)
            if suffix == ".mxf":
                return _mxf_incomplete(fh, size)
            if suffix in _MATROSKA_SUFFIXES:
                return _matroska_incomplete(fh, size)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return _opens_as_media(path)


def _iso_incomplete(fh: BinaryIO, size: int) -> str | None:
    offset, seen = 0, set()
    while offset < size:
        fh.seek(offset)
        head = fh.read(16)
        if len(head) < 8:
            return f"a box header is cut off at byte {offset}"
        box_size, box_type = struct.unpack(">I4s", head[:8])
        if box_size == 1:
            if len(head) < 16:
                return f"a box header is cut off at byte {offset}"
            box_size = struct.unpack(">Q", head[8:16])[0]
        elif box_size == 0:  # "to the end of the file": only legal last, and says nothing
            box_size = size - offset
        if box_size < 8 or not box_type.isascii():
            return f"no MP4/MOV box at byte {offset} (not an MP4/MOV, or written out of order)"
        if offset + box_size > size:
            return f"the '{box_type.decode(errors='replace')}' box ends past the end of the file (still copying)"
        seen.add(box_type)
        offset += box_size
    if b"moov" not in seen:
        return "no 'moov' box yet (the index an MP4/MOV writes last)"
    return None


def _mxf_incomplete(fh: BinaryIO, size: int) -> str | None:
    head = fh.read(1 << 16)
    start = head.find(_MXF_PARTITION)  # after an optional run-in
    if start < 0 or head[start + 13] != 0x02:
        return "no MXF header partition"
    header = _mxf_partition(fh, start)
    if header is not None and header[0] and _mxf_footer_whole(fh, start + header[0], size):
        return None
    fh.seek(max(0, size - _TAIL))
    base = fh.tell()
    tail = fh.read()
    at = tail.find(_MXF_PARTITION)
    while at >= 0:
        if at + 13 < len(tail) and tail[at + 13] == 0x04 and _mxf_footer_whole(fh, base + at, size):
            return None
        at = tail.find(_MXF_PARTITION, at + 1)
    return "no whole MXF footer partition yet (written last)"


def _mxf_partition(fh: BinaryIO, at: int) -> tuple[int, int] | None:
    """(footer offset, end of the pack and the header metadata and index it announces)."""
    fh.seek(at + 16)
    first = fh.read(1)
    if not first:
        return None
    width = first[0] & 0x7F if first[0] >= 0x80 else 0
    length_bytes = fh.read(width)
    length = int.from_bytes(length_bytes, "big") if width else first[0]
    body = fh.read(48)  # versions, KAG, this, previous, footer, header bytes, index bytes
    if len(body) < 48:
        return None
    footer, header_bytes, index_bytes = struct.unpack(">QQQ", body[24:48])
    return footer, at + 17 + width + length + header_bytes + index_bytes


def _mxf_footer_whole(fh: BinaryIO, at: int, size: int) -> bool:
    fh.seek(at)
    key = fh.read(16)
    if not (key.startswith(_MXF_PARTITION) and key[13] == 0x04):
        return False
    footer = _mxf_partition(fh, at)
    return footer is not None and footer[1] <= size


def _ebml_number(fh: BinaryIO, *, keep_marker: bool) -> tuple[int, int] | None:
    first = fh.read(1)
    if not first:
        return None
    width = 1
    while width <= 8 and not first[0] & (0x80 >> (width - 1)):
        width += 1
    if width > 8:
        return None
    rest = fh.read(width - 1)
    if len(rest) < width - 1:
        return None
    value = first[0] if keep_marker else first[0] & (0xFF >> width)
    for byte in rest:
        value = (value << 8) | byte
    return value, width


def _matroska_incomplete(fh: BinaryIO, size: int) -> str | None:
    if fh.read(4) != _EBML:
        return "no EBML header (not a Matroska/WebM file)"
    header = _ebml_number(fh, keep_marker=False)
    if header is None:
        return "the EBML header is cut off"
    fh.seek(4 + header[1] + header[0])
    element = _ebml_number(fh, keep_marker=True)
    length = _ebml_number(fh, keep_marker=False)
    if element is None or length is None or element[0] != int.from_bytes(_SEGMENT, "big"):
        return "no Matroska Segment yet"
    data_start = fh.tell()
    unknown = (1 << (7 * length[1])) - 1
    if length[0] != unknown:
        if data_start + length[0] > size:
            return "the Segment ends past the end of the file (still copying)"
        return None
    fh.seek(max(data_start, size - _TAIL))
    if _CUES in fh.read():
        return None
    return "a live-written Matroska file without Cues yet"


def _opens_as_media(path: Path) -> str | None:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video and not container.streams.audio:
                return "no video or audio stream"
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        return f"does not open as media ({exc})"
    return None


def sidecars_of(source: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Sidecars of ``source`` in its folder: ``STEM.txt``, ``STEM.json`` … (``names``: the
    folder's listing, when the caller has it)."""
    folder = source.parent
    listing = os.listdir(folder) if names is None else names
    stem = source.stem
    return sorted(folder / n for n in listing
                  if n != source.name and Path(n).stem == stem and Path(n).suffix.lower() in SIDECAR_SUFFIXES
                  and (folder / n).is_file())


def carry_sidecars(source: Path, output: Path, report: Path | None) -> list[Path]:
    """Copy ``source``'s sidecars beside ``output`` (``OUTPUT_STEM.txt``…) and record their
    text in ``report``; returns the sidecars found (the caller moves them with the source)."""
    found = sidecars_of(source)
    if not found:
        return []
    recorded = []
    for sidecar in found:
        copy = output.with_name(output.stem + sidecar.suffix.lower())
        shutil.copy2(sidecar, copy)
        with open(sidecar, "rb") as fh:
            text = fh.read(SIDECAR_TEXT_LIMIT).decode("utf-8", errors="replace")
        recorded.append({"name": sidecar.name, "copy": str(copy), "text": text})
    if report is not None and report.is_file():
        data = json.loads(report.read_text())
        data["sidecars"] = recorded
        write_json_atomic(report, data)
    return found
