"""Music bed: set to its loudness, looped or trimmed, faded, and ducked under speech with attack/release."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from captions_media import SENTENCES, speech

from postbay.backend import numpy_backend
from postbay.media import read_audio
from postbay.processors.bed import BedParams, bed, duck_gain
from postbay.processors.loudness import integrated_loudness
from postbay.registry import StepContext

RATE = 48000


def write_music(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    music = (0.3 * chord * (0.7 + 0.3 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=RATE)
        stream.layout = "mono"
        for start in range(0, music.size, 4096):
            frame = av.AudioFrame.from_ndarray((music[None, start:start + 4096] * 32767).astype(np.int16),
                                               format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = Fraction(1, RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory) -> np.ndarray:
    """2 s of room silence, a sentence, 2 s of silence: stereo."""
    voice = speech(SENTENCES[2], tmp_path_factory.mktemp("dialogue"), wpm=160) * 0.5
    pad = np.zeros((1, 2 * RATE), np.float32)
    return np.repeat(np.concatenate([pad, voice, pad], axis=-1), 2, axis=0)


def level_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x ** 2) + 1e-20))


@pytest.mark.parametrize("music_seconds", [3.0, 30.0])  # looped, trimmed
def test_bed_is_laid_ducked_and_faded(tmp_path: Path, dialogue: np.ndarray, music_seconds: float) -> None:
    music = write_music(tmp_path / "music.flac", music_seconds)
    decoded = read_audio(music, rate=RATE)[0]  # what the render hands the step
    ctx = StepContext(numpy_backend(), None, None, music=decoded)  # type: ignore[arg-type]
    params = BedParams(path=str(music), level=-26, duck_db=12, fade=0.5, release=0.25)
    out = bed(dialogue, RATE, ctx, params)
    assert out.shape == dialogue.shape
    layer = out - dialogue  # the dialogue is untouched underneath
    assert ctx.notes["speech_regions"] >= 1 and ctx.notes["looped"] == (music_seconds < 10)
    n = dialogue.shape[-1]
    # music all the way through (looped with no gap), silent only at the very ends of the fades
    blocks = layer[0, : n // 4800 * 4800].reshape(-1, 4800)
    assert (np.abs(blocks[1:-1]).max(axis=1) > 1e-3).all()
    assert np.abs(layer[:, 0]).max() < 1e-3 and np.abs(layer[:, -1]).max() < 1e-3
    # ducked: under the speech the bed is duck_db lower than in the pauses (within 1.5 dB)
    clear = layer[:, int(0.7 * RATE): int(1.7 * RATE)]
    mid = n // 2
    under = layer[:, mid - RATE // 2: mid + RATE // 2]
    assert abs((level_db(clear) - level_db(under)) - 12.0) <= 1.5
    # and it comes back up after the speech
    tail = layer[:, n - int(1.0 * RATE): n - int(0.55 * RATE)]
    assert abs(level_db(tail) - level_db(clear)) <= 1.5
    # the bed before ducking sits at its loudness
    undocked = bed(dialogue * 0, RATE, StepContext(numpy_backend(), None, None, music=decoded),  # type: ignore[arg-type]
                   params.model_copy(update={"duck": False, "fade": 0.0}))
    assert abs(integrated_loudness(undocked, RATE) - -26) <= 0.5


def test_duck_gain_attack_and_release() -> None:
    gain = 20 * np.log10(duck_gain(4 * RATE, RATE, [(1.0, 2.0)], 12.0, attack=0.05, release=0.5))
    assert gain[int(0.5 * RATE)] > -0.1  # up before the speech
    assert gain[int(1.0 * RATE)] < -6.0  # already well down when the voice comes (the duck leads)
    assert gain[int(1.5 * RATE)] < -11.9  # fully down under speech
    after = gain[int(2.0 * RATE):]
    assert np.all(np.diff(after[: RATE]) >= -1e-9)  # release only goes up
    assert -12 < gain[int(2.5 * RATE)] < -3 and gain[int(3.9 * RATE)] > -0.3  # a slow release, then back


def test_missing_music_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="music file not found"):
        BedParams(path=str(tmp_path / "nope.wav"))
