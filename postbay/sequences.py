"""Numbered image sequences as one shot: what ComfyUI, upscalers and renderers write.

A sequence is named by its folder (holding one run of numbered frames), by a pattern
(``shot_%04d.png``, ``shot_####.exr``) or by any one of its frames. Its frame numbers give its
timecode (frame 1001 at 24 fps is 00:00:41:17); the rate comes from the caller (``--rate``,
the recipe, default 24). Pictures come out as the rest of postbay expects them: uint16
display-encoded Rec.709 RGB. 16-bit PNG, TIFF and DPX keep their 16 bits; EXR is scene-linear
and goes through OpenColorIO (scene-linear Rec.709 to the Rec.709 display encoding).

A gap in the numbering is reported; it is held (the last frame repeats), filled black, or
refused, as the caller chooses.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from postbay.errors import MediaError

__all__ = ["SEQUENCE_SUFFIXES", "GapPolicy", "ImageSequence", "find_sequence", "frame_reference", "image2_input",
           "is_sequence_spec", "linear_pixels", "linear_to_display", "numbered_runs", "read_image",
           "sequence_name", "sequence_pictures", "sequence_rate"]

#: Frame files a sequence is made of.
SEQUENCE_SUFFIXES = frozenset({".png", ".exr", ".dpx", ".tif", ".tiff"})

GapPolicy = Literal["hold", "black", "fail"]

# ComfyUI's SaveImage writes ``ComfyUI_00001_.png``: an underscore may follow the number
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)(?P<suffix>_?\.[A-Za-z0-9]+)$")
_PRINTF = re.compile(r"%0?(\d*)d")


@dataclass(frozen=True)
class ImageSequence:
    """Frames ``<folder>/<prefix><number, zero-padded to padding><suffix>``, by the numbers present."""

    folder: Path
    prefix: str
    suffix: str
    padding: int
    numbers: tuple[int, ...]

    @property
    def first(self) -> int:
        return self.numbers[0]

    @property
    def last(self) -> int:
        return self.numbers[-1]

    @property
    def span(self) -> int:
        """Frames from the first to the last number, gaps included (the shot's length)."""
        return self.last - self.first + 1

    @property
    def pattern(self) -> str:
        """The sequence as a printf pattern (``shot_%04d.png``), how FFmpeg and Nuke name it."""
        return f"{self.prefix}%0{self.padding}d{self.suffix}" if self.padding > 1 else f"{self.prefix}%d{self.suffix}"

    def path(self, number: int) -> Path:
        return self.folder / f"{self.prefix}{number:0{self.padding}d}{self.suffix}"

    def gaps(self) -> list[tuple[int, int]]:
        """Missing runs of frame numbers, first and last missing number of each."""
        runs = []
        for a, b in zip(self.numbers, self.numbers[1:]):
            if b > a + 1:
                runs.append((a + 1, b - 1))
        return runs

    def describe(self) -> str:
        gaps = self.gaps()
        text = f"{self.folder / self.pattern}: frames {self.first}–{self.last} ({len(self.numbers)} files)"
        if gaps:
            missing = sum(b - a + 1 for a, b in gaps)
            shown = ", ".join(f"{a}" if a == b else f"{a}–{b}" for a, b in gaps[:5]) + (" …" if len(gaps) > 5 else "")
            text += f", {missing} missing: {shown}"
        return text


def _scan(folder: Path, prefix: str | None = None, suffix: str | None = None,
          width: int | None = None) -> dict[tuple[str, str], list[str]]:
    """Numbered frame files in ``folder`` by (prefix, suffix): their number strings as written."""
    runs: dict[tuple[str, str], list[str]] = {}
    for entry in folder.iterdir():
        m = _NUMBERED.match(entry.name)
        if not m or entry.name.startswith(".") or Path(entry.name).suffix.lower() not in SEQUENCE_SUFFIXES:
            continue
        key, digits = (m.group("prefix"), m.group("suffix")), m.group("number")
        if prefix is not None and key != (prefix, suffix):
            continue
        if width and len(digits) != width and (len(digits) < width or digits.startswith("0")):
            continue  # shot_#### takes shot_0001 and shot_10000, not shot_001
        runs.setdefault(key, []).append(digits)
    return runs


def numbered_runs(folder: Path) -> list[str]:
    """The runs of numbered frames in ``folder``, as ``prefix####suffix`` names."""
    return [f"{pre}####{suf}" for pre, suf in sorted(_scan(folder))]


def _one(path: Path, runs: dict[tuple[str, str], list[str]], what: str) -> ImageSequence:
    if not runs:
        raise MediaError(f"{what}: no numbered frames ({', '.join(sorted(SEQUENCE_SUFFIXES))})", path=path,
                         hint="frames are named like shot_0001.png")
    if len(runs) > 1:
        names = ", ".join(f"{pre}####{suf}" for pre, suf in sorted(runs))
        raise MediaError(f"{what}: holds {len(runs)} sequences ({names})", path=path,
                         hint="name one with a pattern, e.g. shot_%04d.png")
    (prefix, suffix), digits = next(iter(runs.items()))
    padded = [len(d) for d in digits if d.startswith("0") and len(d) > 1]
    padding = min(padded) if padded else min(len(d) for d in digits)
    return ImageSequence(path if path.is_dir() else path.parent, prefix, suffix, padding,
                         tuple(sorted({int(d) for d in digits})))


def find_sequence(spec: str | Path) -> ImageSequence:
    """The sequence a folder, a pattern (``%04d``, ``####``) or one of its frames names.

    Raises :class:`MediaError` naming the cause when there is none, or more than one.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return _one(path, _scan(path), "folder")
    hashes = re.search(r"#+", path.name)
    printf = _PRINTF.search(path.name)
    if hashes or printf:
        span = hashes.span() if hashes else printf.span()  # type: ignore[union-attr]
        width = (len(hashes.group()) if hashes else int(printf.group(1) or 0))  # type: ignore[union-attr]
        prefix, suffix = path.name[:span[0]], path.name[span[1]:]
        if not path.parent.is_dir():
            raise MediaError("folder of the sequence not found", path=path.parent)
        return _one(path, _scan(path.parent, prefix, suffix, width or None), f"pattern {path.name}")
    m = _NUMBERED.match(path.name)
    if m and path.suffix.lower() in SEQUENCE_SUFFIXES and path.parent.is_dir():
        digits = m.group("number")
        return _one(path, _scan(path.parent, m.group("prefix"), m.group("suffix"),
                                len(digits) if digits.startswith("0") else None), f"frame {path.name}")
    raise MediaError("not an image sequence (a folder of numbered frames, shot_%04d.png or shot_####.exr)", path=path)


def read_image(path: Path, ocio_config: str | None = None) -> np.ndarray:
    """One frame as (H, W, 3) uint16 display-encoded Rec.709 RGB; EXR converted from scene-linear via OCIO."""
    try:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
    except (av.error.FFmpegError, StopIteration) as exc:
        raise MediaError(f"cannot read the frame: {exc}", path=path) from None
    if "f32" in frame.format.name or "f16" in frame.format.name:
        return linear_to_display(linear_pixels(frame), ocio_config)
    return frame.to_ndarray(format="rgb48le")


def linear_pixels(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) float32 RGB of a float frame (an EXR's). Half floats are read from the planes
    as they are: FFmpeg's scaler converts them through a lossy path (0.01 reads as 0.0102)."""
    name = frame.format.name
    if name.startswith(("gbrpf16", "gbrapf16")):
        dtype = np.dtype(">f2" if name.endswith("be") else "<f2")
        g, b, r = (np.frombuffer(bytes(p), dtype).reshape(frame.height, -1)[:, :frame.width]
                   for p in frame.planes[:3])
        return np.stack([r, g, b], axis=-1).astype(np.float32)
    return frame.to_ndarray() if name == "gbrpf32le" else frame.to_ndarray(format="gbrpf32le")


def sequence_pictures(seq: ImageSequence, *, gaps: GapPolicy = "hold", start: int = 0, count: int | None = None,
                      ocio_config: str | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, picture)`` for frames ``first + start`` onwards (index 0 = the first number).

    A missing number repeats the last frame (``hold``), is black (``black``), or raises
    :class:`MediaError` (``fail``) naming it.
    """
    present = set(seq.numbers)
    end = seq.span if count is None else min(seq.span, start + count)
    last: np.ndarray | None = None
    for index in range(max(0, start), end):
        number = seq.first + index
        if number in present:
            last = read_image(seq.path(number), ocio_config)
        elif gaps == "fail":
            raise MediaError(f"frame {number} is missing from the sequence", path=seq.path(number),
                             hint='render it again, or set gaps = "hold" or "black"')
        elif gaps == "black" or last is None:
            shape = last.shape if last is not None else read_image(seq.path(seq.first), ocio_config).shape
            yield index, np.zeros(shape, np.uint16)
            continue
        yield index, last


def sequence_rate(rate: Fraction | int | str | None) -> Fraction:
    """A sequence's rate: the one given (``--rate``, the recipe), else 24."""
    return Fraction(rate) if rate else Fraction(24)


def is_sequence_spec(path: str | Path) -> bool:
    """True for what names a sequence rather than a file: a folder, or a ``%04d``/``####`` pattern."""
    path = Path(path)
    pattern = path.suffix.lower() in SEQUENCE_SUFFIXES and bool(re.search(r"#+|%0?\d*d", path.name))
    return pattern or path.is_dir()


def frame_reference(name: str) -> str | None:
    """The sequence an edit's media name points at, as a name :func:`find_sequence` takes, or None.

    NLEs name an image sequence by its first frame (``shot_1001.exr``: FCP 7 XML, FCPXML, AAF),
    by a printf or hash pattern (``shot_%04d.png``, ``shot_####.exr``: Nuke, Hiero, OTIO) or by a
    frame range in brackets (``shot.[1001-1100].exr``: Resolve, RV); the bracket form becomes
    hashes as wide as its first number.
    """
    name = re.sub(r"\[(\d+)-\d+\]", lambda m: "#" * len(m.group(1)), name)
    if Path(name).suffix.lower() not in SEQUENCE_SUFFIXES:
        return None
    if re.search(r"#+|%0?\d*d", name) or _NUMBERED.match(name):
        return name
    return None


def sequence_name(path: str | Path) -> str:
    """The name a sequence's outputs take: its prefix without separators, else its folder's name."""
    seq = find_sequence(path)
    return seq.prefix.rstrip("_.- ") or seq.folder.name


def image2_input(path: str | Path, rate: Fraction | None, gaps: GapPolicy = "hold") -> tuple[str, dict[str, str]]:
    """The FFmpeg ``image2`` input (pattern, options) that plays ``path``'s sequence at ``rate`` (24).

    FFmpeg stops at the first missing number, so a sequence with gaps is played through a view:
    a folder of links numbered without gaps, a missing frame linked to the last one before it
    (``hold``); ``fail`` refuses the sequence, naming its gaps.
    """
    seq = find_sequence(path)
    options = {"framerate": str(sequence_rate(rate)), "start_number": str(seq.first),
               "pattern_type": "sequence"}
    if not seq.gaps():
        return str(seq.folder / seq.pattern), options
    if gaps == "fail":
        raise MediaError(f"gaps in the numbering: {seq.describe()}", path=seq.folder / seq.pattern,
                         hint='render the missing frames, or let them be held (gaps = "hold")')
    key = hashlib.sha1(f"{seq.folder.resolve()}|{seq.pattern}|{seq.numbers}".encode(), usedforsecurity=False)
    view = Path(tempfile.gettempdir()) / f"postbay-sequence-{key.hexdigest()[:16]}"
    if not view.is_dir():
        tmp = view.with_name(f"{view.name}.{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        present, held = set(seq.numbers), seq.first
        for number in range(seq.first, seq.last + 1):
            held = number if number in present else held
            link = tmp / f"{seq.prefix}{number:0{seq.padding}d}{seq.suffix}"
            link.unlink(missing_ok=True)
            link.symlink_to(seq.path(held).resolve())
        try:
            os.replace(tmp, view)
        except OSError:  # another reader made the same view first
            pass
    return str(view / seq.pattern), options


def linear_to_display(linear: np.ndarray, ocio_config: str | None = None) -> np.ndarray:
    """Scene-linear Rec.709 float RGB (an EXR's) to uint16 Rec.709 display-encoded RGB, via OCIO."""
    from postbay.colour import DEFAULT_OCIO_CONFIG, cpu_apply, processor

    display = cpu_apply(processor("linear", "display", ocio_config or DEFAULT_OCIO_CONFIG), linear)
    return np.round(np.clip(display, 0.0, 1.0) * 65535.0).astype(np.uint16)
