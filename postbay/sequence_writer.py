"""Finished clips written as numbered frames (``[output] sequence = "exr"``), for VFX and grading.

A recipe whose ``[output]`` sets ``sequence`` writes the finished pictures as a folder of frames,
``OUT/NAME/NAME_%06d.EXT``, instead of a movie:

- ``exr``: OpenEXR, half float (``exr32``: full float), scene-linear Rec.709: the display-encoded
  pictures go back through OpenColorIO (the inverse of how an EXR is read, see
  :mod:`postbay.sequences`), so an EXR sequence read and written again holds the same light;
- ``png``, ``tiff``, ``dpx``: 16-bit RGB, display-encoded Rec.709 as postbay works in.

Frame numbers start at the source's timecode counted in frames (an image sequence's own first
number, so a sequence keeps its numbering), else at 1001 (a source without timecode), unless
``sequence_start`` sets it. Six digits at least (FFmpeg writes more for numbers past 999999).
A sequence holds no sound: the report says so when the source has some.

The frames are written into a temporary dot-folder beside the output, verified (the count and
numbering of the files, the first and last frame decoded at the promised size; every frame with
``verify = "full"``) and renamed into place as one, so no one sees half a sequence under its
name. Replacing an existing one (``existing_output = "overwrite"``) moves the old folder aside
first and removes it after the rename.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from postbay.colour import DEFAULT_OCIO_CONFIG, cpu_apply, processor
from postbay.errors import MediaError
from postbay.media import MediaInfo, add_video_stream, disk_hint, timecode_to_frames, to_rgb16
from postbay.publish import TEMP_MARK, PublishError
from postbay.sequences import find_sequence, read_image
from postbay.verify import Verification

__all__ = ["DEFAULT_FIRST_FRAME", "SEQUENCE_FORMATS", "SequenceFormat", "SequenceKind", "SequenceWriter",
           "first_frame_number", "sequence_pattern"]

SequenceKind = Literal["exr", "exr32", "png", "tiff", "dpx"]

#: Where a sequence made from a source without timecode starts (the VFX convention: handles fit before it).
DEFAULT_FIRST_FRAME = 1001
_PADDING = 6


@dataclass(frozen=True)
class SequenceFormat:
    suffix: str
    codec: str
    pix_fmt: str
    options: tuple[tuple[str, str], ...] = ()


SEQUENCE_FORMATS: dict[str, SequenceFormat] = {
    "exr": SequenceFormat(".exr", "exr", "gbrpf32le", (("format", "half"), ("compression", "zip1"))),
    "exr32": SequenceFormat(".exr", "exr", "gbrpf32le", (("format", "float"), ("compression", "zip1"))),
    "png": SequenceFormat(".png", "png", "rgb48be"),
    "tiff": SequenceFormat(".tif", "tiff", "rgb48le", (("compression_algo", "deflate"),)),
    "dpx": SequenceFormat(".dpx", "dpx", "rgb48le"),
}


def sequence_pattern(folder: Path, kind: str) -> Path:
    """``FOLDER/NAME_%06d.EXT`` for the output folder ``FOLDER`` (named NAME) of ``kind``."""
    return folder / f"{folder.name}_%0{_PADDING}d{SEQUENCE_FORMATS[kind].suffix}"


def first_frame_number(info: MediaInfo, start: int, given: int | None = None) -> int:
    """The number of the first frame written: ``given``, else the source's timecode in frames
    (plus ``start``, the first frame rendered), else :data:`DEFAULT_FIRST_FRAME`."""
    if given is not None:
        return given
    if info.timecode and info.video is not None:
        try:
            return timecode_to_frames(info.timecode, info.video.rate_fraction) + start
        except MediaError:
            pass
    return DEFAULT_FIRST_FRAME + start


class SequenceWriter:
    """Writes pictures as numbered frames into a temporary folder; :meth:`publish` puts them in place.

    ``write()`` takes what :class:`postbay.media.VideoWriter` takes: an (H, W, 3) uint16
    display-encoded RGB array or a decoded frame.
    """

    def __init__(self, folder: Path, kind: SequenceKind, *, width: int, height: int, first: int,
                 ocio_config: str = DEFAULT_OCIO_CONFIG):
        self.folder = Path(folder)  # the name it is published under
        self.kind, self.fmt = kind, SEQUENCE_FORMATS[kind]
        self.width, self.height, self.first = width, height, first
        self.tmp = self.folder.with_name(f".{self.folder.name}{TEMP_MARK}-{os.getpid()}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        pattern = self.tmp / sequence_pattern(self.folder, kind).name
        self._to_linear = processor("display", "linear", ocio_config) if self.fmt.codec == "exr" else None
        try:
            self.output = av.open(str(pattern), "w", format="image2", options={"start_number": str(first)})
        except av.error.FFmpegError as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise MediaError(f"cannot write an image sequence: {exc}", path=pattern) from exc
        self.stream = add_video_stream(self.output, self.fmt.codec, Fraction(24))  # frames carry no rate
        self.stream.codec_context.options = dict(self.fmt.options)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, self.fmt.pix_fmt
        self.frames_written = 0

    def _frame(self, rgb16: np.ndarray) -> av.VideoFrame:
        if self._to_linear is None:
            return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb16), format="rgb48le").reformat(
                format=self.fmt.pix_fmt)
        linear = cpu_apply(self._to_linear, rgb16.astype(np.float32) / 65535.0)
        return av.VideoFrame.from_ndarray(linear, format="gbrpf32le")  # RGB in, planar G, B, R out

    def write(self, picture: np.ndarray | av.VideoFrame) -> None:
        """Write one picture as the next numbered frame."""
        rgb16 = to_rgb16(picture) if isinstance(picture, av.VideoFrame) else picture
        if rgb16.shape[:2] != (self.height, self.width):
            raise MediaError(f"picture is {rgb16.shape[1]}x{rgb16.shape[0]}, the sequence is "
                             f"{self.width}x{self.height}", path=self.folder)
        frame = self._frame(rgb16)
        frame.pts = self.frames_written
        try:
            self.output.mux(self.stream.encode(frame))
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"writing frame {self.first + self.frames_written} failed: {disk_hint(exc)}",
                             path=self.folder, hint="free space or choose another --out") from exc
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder; the frames stay in the temporary folder until :meth:`publish`."""
        try:
            self.output.mux(self.stream.encode(None))
        except (av.error.FFmpegError, OSError) as exc:
            raise MediaError(f"finishing the last frames failed: {disk_hint(exc)}", path=self.folder,
                             hint="free space or choose another --out") from exc
        finally:
            self.output.close()

    def abort(self) -> None:
        """Stop after an error: close and remove the temporary folder."""
        try:
            self.output.close()
        except Exception:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def verify(self, frames: int, *, full: bool = False) -> Verification:
        """The written frames against what was promised: count, numbering, size of the decoded ones."""
        result = Verification(ok=False)
        try:
            seq = find_sequence(self.tmp / sequence_pattern(self.folder, self.kind).name)
        except MediaError as exc:
            result.problems.append(f"no frames written: {exc.message}")
            return result
        numbers = list(range(self.first, self.first + frames))
        decoded = numbers if full else sorted({numbers[0], numbers[-1]}) if numbers else []
        result.checks = {"frames": len(seq.numbers), "first": seq.first, "last": seq.last, "kind": self.kind,
                         "decode": "full" if full else "first and last"}
        if list(seq.numbers) != numbers:
            result.problems.append(f"frames {seq.first}–{seq.last} ({len(seq.numbers)} files) written, "
                                   f"{numbers[0] if numbers else '-'}–{numbers[-1] if numbers else '-'} promised")
            return result
        for number in decoded:
            try:
                picture = read_image(seq.path(number))
            except MediaError as exc:
                result.problems.append(f"frame {number} does not decode: {exc.message}")
                continue
            if picture.shape[:2] != (self.height, self.width):
                result.problems.append(f"frame {number} is {picture.shape[1]}x{picture.shape[0]}, "
                                       f"{self.width}x{self.height} promised")
        result.ok = not result.problems
        return result

    def publish(self, frames: int, *, full: bool = False) -> Verification:
        """Verify the frames, then rename the temporary folder to the output's name as one.

        A sequence that fails is removed and :class:`PublishError` raised naming the output.
        """
        try:
            verification = self.verify(frames, full=full)
            if not verification.ok:
                raise PublishError(verification, self.folder)
            old = self.folder.with_name(f".{self.folder.name}{TEMP_MARK}-{os.getpid()}-old")
            if self.folder.exists():  # overwrite: the old one goes aside, so the rename is whole
                shutil.rmtree(old, ignore_errors=True)
                os.replace(self.folder, old)
            os.replace(self.tmp, self.folder)
            shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        return verification

