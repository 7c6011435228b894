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

What is tried, and what linked, goes into the conform report clip by clip.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import opentimelineio as otio

from postbay.errors import MediaError, PostbayError
from postbay.media import MediaInfo, probe, timecode_to_frames
from postbay.paths import url_to_path

__all__ = ["MEDIA_SUFFIXES", "MediaIndex", "Relink", "Relinker", "clip_reel",
           "media_origin"]

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

    def __init__(self, timeline_path: Path, media_roots: Sequence[Path] = (), exclude: Sequence[Path] = ()):
        self.timeline_dir = Path(timeline_path).resolve().parent
        self.roots = [self.timeline_dir] + [Path(r).expanduser().resolve() for r in media_roots]
        for root in self.roots[1:]:
            if not root.is_dir():
                raise PostbayError("media root is not a folder", path=root, hint="check --media-root / media_roots")
        self.index = MediaIndex(self.roots, exclude=list(exclude))
        self._probes: dict[Path, MediaInfo | None] = {}
        self.problems: dict[Path, str] = {}  # why a file that exists is not usable video

    def probe(self, path: Path) -> MediaInfo | None:
        """The file's probe, or None when it is not readable video (cached; the reason in ``problems``)."""
        path = Path(path)
        if path not in self._probes:
            try:
                info = probe(path)
                self._probes[path] = info if info.video is not None else None
                if info.video is None:
                    self.problems[path] = "has no video stream"
            except PostbayError as exc:
                self._probes[path] = None
                self.problems[path] = exc.message
        return self._probes[path]

    def locate(self, clip: otio.schema.Clip) -> Relink:
        """Find ``clip``'s media; ``Relink.how`` says how (or ``missing``)."""
        ref = clip.media_reference
        written = getattr(ref, "target_url", None) or None
        tried: list[str] = []
        names: list[str] = []
        if written:
            path, name = url_to_path(written, self.timeline_dir)
            names.append(name)
            if path is not None:
                tried.append(f"as given: {path}")
                if path.is_file():
                    if self.probe(path) is None:
                        # The editor's own file is there but broken: say so rather than quietly
                        # linking another file that happens to share its name.
                        tried.append(f"{path} exists but is not usable video: {self.problems.get(path)}")
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
            if hit is not None and self.probe(hit) is not None:
                return Relink(hit, "by name", written, tried)
        reel = clip_reel(clip)
        if reel and clip.source_range is not None:
            tried.append(f"by reel {reel!r} and source timecode")
            hit = self._by_reel(reel, clip.source_range)
            if hit is not None:
                return Relink(hit, "by reel and timecode", written, tried)
        return Relink(None, "missing", written, tried)

    def _by_reel(self, reel: str, source_range: otio.opentime.TimeRange) -> Path | None:
        want = reel.lower()
        for path in self.index.files():
            info = self.probe(path)
            if info is None:
                continue
            names = {(info.reel or "").lower(), path.stem.lower()}
            if want not in names and not any(n.startswith(want) for n in names if n):
                continue
            origin, _ = media_origin(info)
            rate = info.require_video().rate_fraction
            start = round(source_range.start_time.rescaled_to(float(rate)).value)
            end = start + round(source_range.duration.rescaled_to(float(rate)).value)
            if origin <= start and end <= origin + info.require_video().frames:
                return path
        return None
