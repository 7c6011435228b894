"""Music bed: lay a music track under the clip, looped or trimmed, faded, ducked under speech.

What an editor does on a social cut: the track is brought to a set loudness (``level``,
LUFS), looped with a short crossfade when it is shorter than the clip or trimmed when
longer, faded in and out, and pulled down by ``duck_db`` while someone speaks. Speech is
found with the Silero voice detector that ships with faster-whisper; the ducking gain moves
with an attack and a release like a sidechain compressor, starting slightly before the
first word so the music is already down when the voice arrives.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator
from scipy.signal import resample_poly

from postbay.errors import MediaError, PostbayError
from postbay.processors.loudness import integrated_loudness
from postbay.registry import ParamModel, processor

__all__ = ["BedParams", "duck_gain", "fit_bed", "speech_regions"]

VAD_RATE = 16000
CONTROL_RATE = 1000  # the ducking gain is computed per millisecond, then interpolated


class BedParams(ParamModel):
    path: str = Field(description="the music file (any format FFmpeg reads)")
    level: float = Field(default=-26.0, ge=-60, le=-6, description="loudness of the bed before ducking, LUFS")
    duck: bool = Field(default=True, description="pull the bed down while someone speaks")
    duck_db: float = Field(default=12.0, ge=0, le=40, description="how far the bed drops under speech, dB")
    attack: float = Field(default=0.08, gt=0, le=2, description="seconds for the bed to go down")
    release: float = Field(default=0.6, gt=0, le=5, description="seconds for the bed to come back up")
    fade: float = Field(default=1.0, ge=0, le=10, description="fade in and fade out, seconds")

    @field_validator("path")
    @classmethod
    def _exists(cls, value: str) -> str:
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(f"{value}: music file not found")
        return str(path.resolve())


def speech_regions(samples: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """(start, end) seconds where someone speaks (Silero VAD from faster-whisper)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    mono = np.atleast_2d(samples).mean(axis=0).astype(np.float32)
    g = math.gcd(int(rate), VAD_RATE)
    audio = resample_poly(mono, VAD_RATE // g, int(rate) // g).astype(np.float32)
    stamps = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=300, speech_pad_ms=100))
    return [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in stamps]


def duck_gain(n: int, rate: int, regions: list[tuple[float, float]], duck_db: float, attack: float,
              release: float) -> np.ndarray:
    """Per-sample linear gain: down by ``duck_db`` over speech, with attack and release ramps."""
    steps = int(math.ceil(n / rate * CONTROL_RATE)) + 1
    target = np.zeros(steps)
    for start, end in regions:  # start the duck one attack early: the music is down when the voice comes
        target[max(0, int((start - attack) * CONTROL_RATE)): int(end * CONTROL_RATE) + 1] = -duck_db
    down = 1.0 - math.exp(-1.0 / (attack * CONTROL_RATE))
    up = 1.0 - math.exp(-1.0 / (release * CONTROL_RATE))
    level = np.empty(steps)
    g = 0.0
    for i, t in enumerate(target):  # one-pole ballistics, attack going down and release coming up
        g += (t - g) * (down if t < g else up)
        level[i] = g
    curve = np.interp(np.arange(n) / rate * CONTROL_RATE, np.arange(steps), level)
    return 10 ** (curve / 20)


def fit_bed(music: np.ndarray, n: int, rate: int, fade: float) -> np.ndarray:
    """The music looped (0.5 s crossfade at each seam) or trimmed to ``n`` samples, faded in and out."""
    music = np.atleast_2d(music)
    xfade = min(int(0.5 * rate), music.shape[-1] // 4)
    out = music[:, :n].copy()
    while out.shape[-1] < n:
        ramp = np.linspace(0.0, 1.0, xfade, dtype=np.float32)
        head = out[:, :-xfade] if xfade else out
        seam = out[:, out.shape[-1] - xfade:] * (1 - ramp) + music[:, :xfade] * ramp
        out = np.concatenate([head, seam, music[:, xfade:]], axis=-1)[:, :n]
    f = min(int(fade * rate), n // 2)
    if f > 0:
        ramp = np.linspace(0.0, 1.0, f, dtype=np.float32)
        out[:, :f] *= ramp
        out[:, n - f:] *= ramp[::-1]
    return out


@processor("bed", params=BedParams, kind="audio", backends=("cpu",), reads="path")
def bed(samples: np.ndarray, rate: int, ctx: Any, params: BedParams) -> np.ndarray:
    """Lay a music bed under the clip: set to a loudness, looped or trimmed, faded, ducked under speech.

    ``level`` is the bed's loudness in LUFS before ducking (−26 sits well under dialogue at
    −14 to −23); ``duck_db``, ``attack`` and ``release`` shape the dip while someone speaks.
    The clip's own sound is untouched and stays in sync; the bed is added to it.
    """
    n = samples.shape[-1]
    if n == 0:
        return samples
    music = ctx.music  # decoded at the clip's rate by the render
    if music is None:
        raise PostbayError("bed was given no music", path=params.path,
                           hint="run it in a recipe: the render decodes the music file for it")
    if music.shape[-1] == 0:
        raise MediaError("the music file has no audio", path=params.path)
    channels = samples.shape[0]
    if music.shape[0] != channels:  # mono music spreads to every channel; a mono clip takes the downmix
        music = np.repeat(music.mean(axis=0, keepdims=True), channels, axis=0)
    measured = integrated_loudness(music, rate)  # measured as it will play, on the clip's channels
    if math.isfinite(measured):
        music = music * np.float32(10 ** ((params.level - measured) / 20))
    layer = fit_bed(music, n, rate, params.fade)
    regions = speech_regions(samples, rate) if params.duck else []
    if regions:
        layer = layer * duck_gain(n, rate, regions, params.duck_db, params.attack, params.release)[None, :]
    ctx.notes.update(bed=Path(params.path).name, bed_lufs=round(params.level, 1), speech_regions=len(regions),
                     looped=music.shape[-1] < n)
    return (samples + layer).astype(np.float32)
