"""Relink a timeline's clips to media on this machine, the way an assistant editor would.

In order, for each clip:

1. the target URL as written: an absolute path, a path relative to the timeline's folder,
   a ``file://`` URL (``file://localhost/…``, percent-escapes, ``file:///D%3A/…``);
2. by file name, case-insensitively and with any extension (a ``.mov`` rendered again as
   ``.mp4`` still links), under the timeline's folder and each media root. Windows paths
   from another machine (``S:\\path\\to\\shot.exr``) and UNC names land here: only their
   last component means anything on this machine;
3. for EDL and AAF, by reel name and source timecode: a file whose reel (or name) is the
   clip's reel and whose timecode span holds the clip's source range.

Audio clips link to audio-only media too (Avid's ``.A01.mxf``, BWF ``.wav``, ``.aif``): their
place on the source clock is the BWF ``bext`` time reference (samples since midnight), else
the file's timecode (MXF/QuickTime ``tmcd``) read at the timeline's rate, and the range a
clip uses is checked in samples (:func:`audio_range`).

What is tried, and what linked, goes into the conform report clip by clip.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PureWindowsPath
from typing import Any

import opentimelineio as otio

from postbay.errors import MediaError, PostbayError
from postbay.media import MediaInfo, frames_to_timecode, probe, snap_rate, timecode_to_frames
from postbay.paths import url_to_path
from postbay.sequences import find_sequence, frame_reference

__all__ = ["MEDIA_SUFFIXES", "AudioRange", "MediaIndex", "Relink", "Relinker", "audio_origin", "audio_range",
           "audio_reel", "clip_reel", "media_origin", "source_origin_seconds"]

#: Files that can be a clip's picture (stills and sequences excepted: postbay finishes movies).
MEDIA_SUFFIXES = {".mov", ".mp4", ".m4v", ".mxf", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".ts", ".mpg",
                  ".mpeg", ".dv", ".y4m", ".wav", ".aif", ".aiff"}

_SKIP_DIRS = {".git", "__pycache__", ".venv", "node_modules"}


def clip_reel(clip: otio.schema.Clip) -> str | None:
    """The reel (tape) name an EDL or AAF gives a clip."""
    meta = clip.metadata  # OTIO metadata is a mapping, not a dict
    cmx, aaf = meta.get("cmx_3600"), meta.get("AAF")
    reel = cmx.get("reel") if hasattr(cmx, "get") else None
    if not reel and hasattr(aaf, "get"):
        reel = aaf.get("ReelName") or aaf.get("TapeName")
    return str(reel) if reel else None


def media_origin(info: MediaInfo) -> tuple[int, str]:
    """The file's first frame on the source timecode clock (frames), and where that came from."""
    video = info.require_video()
    if info.timecode:
        try:
            return timecode_to_frames(info.timecode, video.rate_fraction), f"timecode {info.timecode}"
        except MediaError:
            pass
    return 0, "no timecode: starts at 00:00:00:00"


def audio_reel(info: MediaInfo) -> str | None:
    """The tape/roll name of an audio file: its reel tag, else a BWF description's ``sTAPE=``."""
    if info.reel:
        return info.reel
    for key in ("comment", "description"):
        m = re.search(r"sTAPE=([^\r\n]+)", info.metadata.get(key, ""))
        if m:
            return m.group(1).strip()
    return None


def audio_origin(info: MediaInfo, rate: Fraction) -> tuple[Fraction, str]:
    """Where an audio file's first sample sits on the source clock (seconds), and where that came from.

    A BWF time reference counts samples since midnight; a timecode (MXF, QuickTime ``tmcd``)
    carries no rate of its own in an audio-only file, so it is read at ``rate`` (the
    timeline's: Avid writes audio media at the project rate).
    """
    sample_rate = info.audio[0].sample_rate if info.audio else 48000
    reference = info.metadata.get("time_reference", "").strip()
    if reference.isdigit():
        seconds = Fraction(int(reference), sample_rate)
        return seconds, (f"BWF time reference {reference} samples "
                         f"({frames_to_timecode(int(seconds * rate), rate)} at {float(rate):.3f} fps)")
    if info.timecode:
        try:
            return (Fraction(timecode_to_frames(info.timecode, rate)) / rate,
                    f"timecode {info.timecode} read at {float(rate):.3f} fps")
        except MediaError:
            pass
    return Fraction(0), "no time reference: starts at 00:00:00:00"


def source_origin_seconds(info: MediaInfo, rate: Fraction) -> Fraction:
    """Where a file starts on the source clock, in seconds: by its picture's timecode when it has
    picture, else as :func:`audio_origin` says."""
    if info.video is not None:
        frames, _ = media_origin(info)
        return Fraction(frames) / info.video.rate_fraction
    return audio_origin(info, rate)[0]


@dataclass
class AudioRange:
    """The samples of an audio-only file a clip uses, and whether the file holds them."""

    first: int
    end: int  # exclusive
    total: int
    sample_rate: int
    origin_from: str

    @property
    def inside(self) -> bool:
        return 0 <= self.first < self.end <= self.total

    def describe(self) -> str:
        return (f"samples {self.first}–{self.end} of {self.total} at {self.sample_rate} Hz ({self.origin_from})")


def audio_range(span: otio.opentime.TimeRange, info: MediaInfo, rate: Fraction) -> AudioRange:
    """The samples of ``info``'s file that ``span`` (source time on the timecode clock) covers."""
    stream = info.audio[0]
    origin, how = audio_origin(info, rate)
    sr = stream.sample_rate
    start = Fraction(span.start_time.value) / _rate_of(span.start_time.rate) - origin
    length = Fraction(span.duration.value) / _rate_of(span.duration.rate)
    first = round(start * sr)
    total = round(Fraction(stream.duration or info.duration).limit_denominator(sr) * sr)
    return AudioRange(first, first + round(length * sr), total, sr, how)


def _rate_of(value: float) -> Fraction:
    return Fraction(value).limit_denominator(1001)


@dataclass
class Relink:
    """Where a clip's media was found (``path``) and how, or why not."""

    path: Path | None
    how: str  # "as given", "relative to the timeline", "by name", "by reel and timecode", "missing", "unreadable"
    written: str | None  # the reference as the timeline wrote it
    tried: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.path is not None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path) if self.path else None, "how": self.how, "written": self.written,
                "tried": self.tried}


class MediaIndex:
    """Media files under a set of folders, by lower-case name and by lower-case stem."""

    def __init__(self, roots: Sequence[Path], exclude: Sequence[Path] = ()):
        self.roots = [Path(r) for r in roots]
        self.by_name: dict[str, list[Path]] = {}
        self.by_stem: dict[str, list[Path]] = {}
        excluded = {Path(p).resolve() for p in exclude}
        seen: set[Path] = set()
        for root in self.roots:
            if not root.is_dir():
                continue
            for folder, dirs, files in os.walk(root):
                here = Path(folder)
                dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")
                                 and (here / d).resolve() not in excluded)
                for name in sorted(files):
                    path = here / name
                    if name.startswith(".") or path.suffix.lower() not in MEDIA_SUFFIXES or ".postbay." in name:
                        continue
                    real = path.resolve()
                    if real in seen:
                        continue
                    seen.add(real)
                    self.by_name.setdefault(name.lower(), []).append(path)
                    self.by_stem.setdefault(_stem(name), []).append(path)

    def find(self, name: str) -> Path | None:
        """A file called ``name`` (any case), else one with its stem and another extension."""
        if not name:
            return None
        hits = self.by_name.get(name.lower()) or self.by_stem.get(_stem(name))
        return hits[0] if hits else None

    def files(self) -> list[Path]:
        return [p for paths in self.by_name.values() for p in paths]


def _stem(name: str) -> str:
    base = PureWindowsPath(name).name if "\\" in name else Path(name).name
    stem = Path(base).stem if Path(base).suffix.lower() in MEDIA_SUFFIXES | {".exr", ".dpx", ".jpg", ".png", ".tif",
                                                                              ".tiff", ".r3d", ".braw", ".ari"} \
        else base
    return stem.lower()


class Relinker:
    """Finds clips' media under the timeline's folder and the media roots (probes are cached)."""

    def __init__(self, timeline_path: Path, media_roots: Sequence[Path] = (), exclude: Sequence[Path] = (),
                 base: Path | None = None, *, confine: bool = False):
        # ``base``: where relative references resolve when not the timeline's folder (a bundle's media).
        self.timeline_dir = Path(base).resolve() if base else Path(timeline_path).resolve().parent
        self.roots = [self.timeline_dir] + [Path(r).expanduser().resolve() for r in media_roots]
        #: The daemon's rule (a timeline from a hot folder or the API is not trusted): a clip may
        #: only open a file that, symlinks followed, lies under the timeline's folder or a media root.
        self.confine = confine
        for root in self.roots[1:]:
            if not root.is_dir():
                raise PostbayError("media root is not a folder", path=root, hint="check --media-root / media_roots")
        self.index = MediaIndex(self.roots, exclude=list(exclude))
        self._probes: dict[Path, MediaInfo | None] = {}
        self.problems: dict[Path, str] = {}  # why a file that exists is not usable media
        self.sequence_rates: dict[Path, Fraction] = {}  # image sequences play at their reference's rate
        self._frame_folders: dict[str, list[Path]] = {}  # folders under the roots holding frames, by name glob

    def _info(self, path: Path) -> MediaInfo | None:
        path = Path(path)
        if path not in self._probes:
            try:
                self._probes[path] = probe(path, rate=self.sequence_rates.get(path))
            except PostbayError as exc:
                self._probes[path] = None
                self.problems[path] = exc.message
        return self._probes[path]

    def allowed(self, path: Path) -> bool:
        """Whether this relinker may open ``path`` (always, unless it confines; see ``confine``)."""
        if not self.confine:
            return True
        real = path.resolve()
        return any(real.is_relative_to(root) for root in self.roots)

    def probe(self, path: Path) -> MediaInfo | None:
        """The file's probe, or None when it is not readable video (cached; the reason in ``problems``)."""
        info = self._info(path)
        if info is not None and info.video is None:
            self.problems[Path(path)] = "has no video stream"
            return None
        return info

    def probe_audio(self, path: Path) -> MediaInfo | None:
        """The file's probe for an audio clip: sound with or without picture (a picture-only file
        still links; the programme mix says it is silent); None when it has neither."""
        info = self._info(path)
        if info is not None and not info.audio and info.video is None:
            self.problems[Path(path)] = "has neither audio nor video"
            return None
        return info

    def locate(self, clip: otio.schema.Clip, *, audio: bool = False) -> Relink:
        """Find ``clip``'s media; ``Relink.how`` says how (or ``missing``).

        ``audio``: the clip is on an audio track, so a file with sound and no picture links.
        """
        usable = self.probe_audio if audio else self.probe
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ImageSequenceReference):
            return self._sequence(ref, usable)
        written = getattr(ref, "target_url", None) or None
        tried: list[str] = []
        if not audio and written and frame_reference(written.replace("\\", "/").rsplit("/", 1)[-1]):
            frames = self._frames(clip, written, usable)
            if frames.found:
                return frames
            tried += frames.tried  # no such sequence here: a movie of its name may stand in
        names: list[str] = []
        if written:
            path, name = url_to_path(written, self.timeline_dir)
            names.append(name)
            if path is not None and not self.allowed(path):
                tried.append(f"as given: {path} is outside the timeline's folder and the media roots; refused "
                             "(add its folder to media_roots)")
            elif path is not None:
                tried.append(f"as given: {path}")
                if path.is_file():
                    if usable(path) is None:
                        # The editor's own file is there but broken: say so rather than quietly
                        # linking another file that happens to share its name.
                        kind = "audio" if audio else "video"
                        tried.append(f"{path} exists but is not usable {kind}: {self.problems.get(path)}")
                        return Relink(None, "unreadable", written, tried)
                    relative = not written.lower().startswith("file:") and not Path(written).expanduser().is_absolute()
                    how = "relative to the timeline" if relative else "as given"
                    return Relink(path, how, written, tried)
            else:
                tried.append(f"as given: {written} (not a path on this machine)")
        for given in (ref.name if ref is not None else None, clip.name):
            if given and given not in names:
                names.append(given)
        for name in names:
            if not name:
                continue
            hit = self.index.find(name)
            tried.append(f"by name: {name!r}")
            if hit is not None and self.allowed(hit) and usable(hit) is not None:
                return Relink(hit, "by name", written, tried)
        reel = clip_reel(clip)
        if reel and clip.source_range is not None:
            tried.append(f"by reel {reel!r} and source timecode")
            hit = self._by_reel(reel, clip.source_range, audio=audio)
            if hit is not None and self.allowed(hit):
                return Relink(hit, "by reel and timecode", written, tried)
        return Relink(None, "missing", written, tried)

    def _sequence(self, ref: otio.schema.ImageSequenceReference, usable: Any) -> Relink:
        """An OTIO image sequence: its folder (as written, else by name under the roots) and pattern."""
        pattern = f"{ref.name_prefix}%0{max(ref.frame_zero_padding, 1)}d{ref.name_suffix}"
        written = f"{ref.target_url_base.rstrip('/')}/{pattern}"
        folder, name = url_to_path(ref.target_url_base.rstrip("/"), self.timeline_dir)
        tried = [f"as given: {written}"]
        candidates = [folder] if folder is not None else []
        for root in self.roots:  # a folder of frames moved: the same folder name under a media root
            candidates += [p for p in root.rglob(name) if p.is_dir()] if name else []
        for candidate in candidates:
            path = candidate / pattern
            if not candidate.is_dir():
                continue
            self.sequence_rates[path] = snap_rate(Fraction(ref.rate)) or Fraction(ref.rate).limit_denominator(1001)
            if usable(path) is not None:
                how = "as given" if candidate == folder else "by folder name"
                return Relink(path, how, written, tried)
            tried.append(f"{path}: {self.problems.get(path)}")
        return Relink(None, "missing", written, tried)

    def _frames(self, clip: otio.schema.Clip, written: str, usable: Any) -> Relink:
        """A clip whose media is one frame of a numbered run, or a pattern naming one (how FCP 7 XML,
        FCPXML and AAF name an image sequence): the whole sequence, at the clip's rate; its folder as
        written, else a folder under the roots holding frames of that name."""
        # in a file URL, a printf pattern is not a percent-escape nor hashes a fragment
        url = re.sub(r"%(0?\d*d)", r"%25\1", written).replace("#", "%23") if written.lower().startswith("file:") \
            else written
        path, name = url_to_path(url, self.timeline_dir)
        spec = frame_reference(name) or name
        tried = [f"as an image sequence: {spec}"]
        glob = re.sub(r"#+|%0?\d*d", "*", spec)

        def folders() -> Iterator[Path]:
            """Where the edit says first; the media roots are walked only when that fails (once
            per name, however many clips use the sequence)."""
            if path is not None:
                yield path.parent
            if glob not in self._frame_folders:
                self._frame_folders[glob] = [f for root in self.roots
                                             for f in sorted({h.parent for h in root.rglob(glob)})]
            yield from self._frame_folders[glob]

        rate = clip.trimmed_range().duration.rate
        seen: set[Path] = set()
        for folder in folders():
            if folder in seen or not folder.is_dir() or not self.allowed(folder):
                continue
            seen.add(folder)
            try:
                seq = find_sequence(folder / spec)
            except MediaError as exc:
                tried.append(f"{folder}: {exc.message}")
                continue
            pattern = seq.folder / seq.pattern
            self.sequence_rates[pattern] = snap_rate(Fraction(rate)) or Fraction(rate).limit_denominator(1001)
            if usable(pattern) is not None:
                return Relink(pattern, "as given" if path is not None and folder == path.parent else "by name",
                              written, tried)
            tried.append(f"{pattern}: {self.problems.get(pattern)}")
        return Relink(None, "missing", written, tried)

    def _by_reel(self, reel: str, source_range: otio.opentime.TimeRange, *, audio: bool = False) -> Path | None:
        want = reel.lower()
        for path in self.index.files():
            info = (self.probe_audio if audio else self.probe)(path)
            if info is None:
                continue
            names = {((audio_reel(info) if audio else info.reel) or "").lower(), path.stem.lower()}
            if want not in names and not any(n.startswith(want) for n in names if n):
                continue
            if audio and info.video is None:
                if audio_range(source_range, info, _rate_of(source_range.duration.rate)).inside:
                    return path
                continue
            origin, _ = media_origin(info)
            rate = info.require_video().rate_fraction
            start = round(source_range.start_time.rescaled_to(float(rate)).value)
            end = start + round(source_range.duration.rescaled_to(float(rate)).value)
            if origin <= start and end <= origin + info.require_video().frames:
                return path
        return None
