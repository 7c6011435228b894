"""Verify a rendered file against what the recipe promised, before it is published.

Checks: the streams are there, the frame count, picture size, frame rate and duration are
the promised ones, the audio lasts as long as the picture, and frames decode (the first and
the last always; every frame with ``mode = "full"``). A truncated or short render fails
here and is never renamed into the output folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from postbay.errors import MediaError
from postbay.media import MediaInfo, probe

__all__ = ["Expectation", "verify_output"]


@dataclass
class Expectation:
    width: int
    height: int
    rate: Fraction
    frames: int
    audio: bool
    sample_aspect_ratio: Fraction = Fraction(1)
    mode: str = "fast"


@dataclass
class Verification:
    ok: bool
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    info: MediaInfo | None = None  # the output's probe, for the report (no second probe)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks, "problems": self.problems}


def _decode_all(path: Path) -> int:
    n = 0
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        for _ in container.decode(vs):
            n += 1
    return n


def _decode_ends(path: Path, frames: int, rate: Fraction) -> None:
    with av.open(str(path)) as container:
        vs = container.streams.video[0]
        next(iter(container.decode(vs)))
        tb = vs.time_base
        if frames > 1 and tb is not None:
            target = (vs.start_time or 0) + int((frames - 1) / rate / tb)
            container.seek(target, stream=vs, backward=True)
            if next(iter(container.decode(vs)), None) is None:
                raise MediaError("last frame does not decode", path=path)


def verify_output(path: str | Path, expect: Expectation) -> Verification:
    path = Path(path)
    result = Verification(ok=False)
    try:
        info = probe(path)
    except MediaError as exc:
        result.problems.append(f"output does not open: {exc.message}")
        return result
    result.info = info
    v = info.video
    if v is None:
        result.problems.append("output has no video stream")
        return result
    duration = v.frames / float(v.rate_fraction)
    result.checks = {
        "streams": info.streams, "frames": v.frames, "width": v.width, "height": v.height, "rate": v.rate,
        "duration": round(duration, 4), "audio_streams": len(info.audio),
        "sample_aspect_ratio": v.sample_aspect_ratio, "decode": expect.mode,
    }
    if v.frames != expect.frames:
        result.problems.append(f"{v.frames} frames written, {expect.frames} promised")
    if (v.width, v.height) != (expect.width, expect.height):
        result.problems.append(f"picture is {v.width}x{v.height}, {expect.width}x{expect.height} promised")
    if v.rate_fraction != expect.rate:
        result.problems.append(f"rate is {v.rate}, {expect.rate.numerator}/{expect.rate.denominator} promised")
    if expect.audio and not info.audio:
        result.problems.append("audio stream missing")
    if expect.audio and info.audio and info.audio[0].duration:
        gap = abs(info.audio[0].duration - duration)
        result.checks["audio_duration"] = round(info.audio[0].duration, 4)
        if gap > max(0.1, 2 / float(expect.rate)):
            result.problems.append(f"audio lasts {info.audio[0].duration:.3f}s, picture {duration:.3f}s")
    if v.sar != expect.sample_aspect_ratio:
        promised = expect.sample_aspect_ratio
        result.problems.append(f"pixel aspect is {v.sample_aspect_ratio}, "
                               f"{promised.numerator}:{promised.denominator} promised")
    try:
        if expect.mode == "full":
            decoded = _decode_all(path)
            result.checks["decoded_frames"] = decoded
            if decoded != expect.frames:
                result.problems.append(f"{decoded} frames decode, {expect.frames} promised")
        else:
            _decode_ends(path, v.frames, v.rate_fraction)
    except (av.error.FFmpegError, MediaError, StopIteration) as exc:
        result.problems.append(f"output does not decode: {exc}")
    result.ok = not result.problems
    return result
