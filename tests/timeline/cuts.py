"""Timeline test helpers: stand-in media that carry their frame number, timelines built in OTIO."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from postbay.media import frames_to_timecode
from postbay.recipe import parse_recipe
from postbay.synth import frame_number_pattern, write_clip

__all__ = ["SHARED", "NLE_SAMPLES", "RT", "TR", "stand_in", "Shot", "build_cut", "recipe_with"]

#: ../shared beside the repository (CI clones it there): the real NLE exports.
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
NLE_SAMPLES = SHARED / "nle-samples"

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def stand_in(path: Path, *, frames: int, rate: Fraction, timecode: str | None = None, width: int = 128,
             height: int = 72, audio: str | None = None, reel: str | None = None) -> Path:
    """A small clip whose every frame shows its own number (file frame 0, 1, 2…)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_clip(path, frames=frames, width=width, height=height, rate=rate, pattern=frame_number_pattern,
                      timecode=timecode, audio=audio, reel=reel)


@dataclass
class Shot:
    """A clip of a test cut: media file name, source in-point (file frame) and length."""

    media: str
    src_in: int
    length: int
    name: str = ""


def build_cut(folder: Path, shots: list[Shot], *, rate: Fraction, media_frames: int = 60,
              tc_start: int = 3600, drop_frame: bool | None = None, gaps: dict[int, int] | None = None,
              make_media: bool = True, name: str = "cut") -> otio.schema.Timeline:
    """A one-track cut of ``shots``; each media file starts at ``tc_start`` seconds of timecode."""
    r = float(rate)
    origin = int(round(tc_start * rate))
    tl = otio.schema.Timeline(name=name)
    tl.global_start_time = RT(origin, r)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    made: set[str] = set()
    for i, shot in enumerate(shots):
        media = folder / shot.media
        if make_media and shot.media not in made:
            stand_in(media, frames=media_frames, rate=rate, timecode=frames_to_timecode(origin, rate, drop_frame))
            made.add(shot.media)
        ref = otio.schema.ExternalReference(target_url=media.resolve().as_uri(),
                                            available_range=TR(RT(origin, r), RT(media_frames, r)))
        clip = otio.schema.Clip(name=shot.name or Path(shot.media).stem, media_reference=ref,
                                source_range=TR(RT(origin + shot.src_in, r), RT(shot.length, r)))
        track.append(clip)
        if gaps and i in gaps:
            track.append(otio.schema.Gap(source_range=TR(RT(0, r), RT(gaps[i], r))))
    return tl


def recipe_with(**extra):
    data = {"name": "test", "output": {"codec": "prores_hq", "audio": "pcm"}}
    data.update(extra)
    return parse_recipe(data, source="<test>")
