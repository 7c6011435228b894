"""Subtitle cues and their files: what a captions step hands the render.

A captions step leaves a :class:`Captions` in ``ctx.captions``; :func:`postbay.render.finish_clip`
writes ``NAME.srt`` and ``NAME.vtt`` beside the output from it and, when asked, muxes the cues
as a soft subtitle track (``mov_text`` in MP4/MOV, ``subrip`` in Matroska). Cue times are
seconds from the first rendered frame, already snapped to frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from postbay.publish import write_text_atomic

__all__ = ["Captions", "Cue", "format_srt", "format_vtt", "write_sidecars"]


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start`` to ``end`` (seconds), one string per line."""

    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def characters(self) -> int:
        """Characters a viewer reads (line breaks count as one space)."""
        return len(" ".join(self.lines))


@dataclass
class Captions:
    """Cues for the rendered range, and whether the output carries them as a soft track."""

    cues: list[Cue] = field(default_factory=list)
    language: str | None = None
    soft_track: bool = False


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def format_srt(cues: list[Cue]) -> str:
    """SubRip text: numbered blocks, ``HH:MM:SS,mmm`` times."""
    blocks = [f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{c.text}\n" for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def format_vtt(cues: list[Cue]) -> str:
    """WebVTT text: a ``WEBVTT`` header, ``HH:MM:SS.mmm`` times."""
    blocks = [f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def write_sidecars(cues: list[Cue], output: Path) -> list[Path]:
    """Write ``NAME.srt`` and ``NAME.vtt`` beside ``output`` (atomically: temp name, then rename)."""
    written = []
    for suffix, text in ((".srt", format_srt(cues)), (".vtt", format_vtt(cues))):
        path = output.with_suffix(suffix)
        write_text_atomic(path, text)
        written.append(path)
    return written
