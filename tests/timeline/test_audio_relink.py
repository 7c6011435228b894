"""Audio clips relink to audio-only media: Avid's sound files, BWF from the recorder, OP-Atom MXF.

By name first (Media Composer's ``one_clip.aaf`` names a ``.wav`` beside its picture MXF),
then by reel/tape and source timecode (the BWF ``bext`` time reference, the MXF timecode).
The range a clip uses is checked in samples, and the programme mix plays the right samples.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from postbay.media import frames_to_timecode, read_audio
from postbay.timeline.conform import conform_timeline

from .cuts import NLE_SAMPLES, RT, TR, Shot, build_cut, recipe_with, stand_in, write_sound

ONE_CLIP = NLE_SAMPLES / "avid" / "one_clip.aaf"
PROGRAMME = [{"name": "master", "codec": "ffv1", "audio": "pcm"}]


def _tone(n: int, sample_rate: int, hz: float = 1000.0) -> np.ndarray:
    return 0.5 * np.sin(2 * np.pi * hz * np.arange(n) / sample_rate)


def _programme_audio(result) -> np.ndarray:
    delivery = result.deliveries[0]
    samples, rate = read_audio(Path(delivery["output"]), 0.0, delivery["frames"] / 24)
    assert rate == 48000
    return samples[0]


@pytest.mark.parametrize("suffix,sample_rate", [(".wav", 44100), (".mxf", 48000), (".aif", 48000)],
                         ids=["bwf", "op-atom-mxf", "aiff"])
def test_avid_aaf_audio_links_to_sound_files_by_name(tmp_path: Path, suffix: str, sample_rate: int) -> None:
    """one_clip.aaf: picture from ppjoshm_1.V01…mxf at 01:00:04:05, sound from ppjoshm_1.A01… (10 frames)."""
    media = tmp_path / "media"
    rate = Fraction(24)
    stand_in(media / "ppjoshm_1.V01.D8C35C9E69C8V.mov", frames=34, rate=rate,
             timecode=frames_to_timecode(86501 - 12, rate), width=64, height=36)
    n = 10 * sample_rate // 24  # what the AAF's WAVEDescriptor says: 18375 samples at 44.1 kHz
    write_sound(media / f"ppjoshm_1.A01.D8C35C9E69C8A{suffix}", _tone(n, sample_rate), sample_rate=sample_rate)
    result = conform_timeline(ONE_CLIP, recipe_with(missing="fail", deliveries=PROGRAMME), tmp_path / "out",
                              media_roots=[media], workers=1)
    assert result.ok, result.summary_path.read_text()
    sound = next(p for p in result.clips if p.track_label.startswith("A"))
    assert (sound.status, sound.relink.how) == ("passed through", "by name")
    assert sound.relink.path.suffix == suffix
    assert sound.notes[0].startswith(f"audio-only media: samples 0–{n} of {n} at {sample_rate} Hz ")
    # The programme plays the sound file: a 1 kHz tone at -9 dBFS RMS for its 10 frames.
    mix = _programme_audio(result)
    body = mix[200:20000 - 200]
    assert abs(np.sqrt(np.mean(body ** 2)) - 0.5 / np.sqrt(2)) < 0.02
    spectrum = np.abs(np.fft.rfft(body))
    assert abs(np.argmax(spectrum) * 48000 / len(body) - 1000) < 5


def _cut_with_boom(tmp_path: Path, start: int, written: str = "file:///D%3A/SOUND/Day1/T003.wav"
                   ) -> tuple[Path, Path]:
    """A 24 fps cut whose audio clip names a file on another machine and tape TAPE7 at ``start``."""
    media = tmp_path / "media"
    tl = build_cut(media, [Shot("a.mov", 12, 24)], rate=Fraction(24), media_frames=48)
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    clip = otio.schema.Clip(name="T003", source_range=TR(RT(start, 24), RT(24, 24)),
                            media_reference=otio.schema.ExternalReference(target_url=written),
                            metadata={"cmx_3600": {"reel": "TAPE7"}})
    audio.append(clip)
    tl.tracks.append(audio)
    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path, media


@pytest.mark.parametrize("suffix", [".wav", ".mxf"], ids=["bwf-bext", "op-atom-tmcd"])
def test_sound_links_by_tape_and_timecode_in_sync(tmp_path: Path, suffix: str) -> None:
    """The recorder's file has another name: tape TAPE7 and its time reference find it, and the
    programme plays the clip's samples (a click 2.5 s into the file is 0.5 s into the clip)."""
    path, media = _cut_with_boom(tmp_path, start=86688)  # 01:00:12:00
    sr = 48000
    take = np.zeros(5 * sr)
    take[int(2.5 * sr):int(2.5 * sr) + 48] = 0.9
    starts = 3610 * sr  # 01:00:10:00 in samples since midnight
    if suffix == ".wav":
        write_sound(media / "roll_07.wav", take, time_reference=starts, reel="TAPE7")
        # Same tape, another hour: its name matches the tape but its time does not hold the clip.
        write_sound(media / "TAPE7_pickups.wav", np.zeros(5 * sr), time_reference=7200 * sr, reel="TAPE7")
    else:
        write_sound(media / "roll_07.mxf", take, timecode="01:00:10:00", reel="TAPE7")
    result = conform_timeline(path, recipe_with(missing="fail", deliveries=PROGRAMME), tmp_path / "out",
                              media_roots=[media], workers=1)
    assert result.ok, result.summary_path.read_text()
    sound = next(p for p in result.clips if p.track_label == "A1")
    assert (sound.relink.how, sound.relink.path.name) == ("by reel and timecode", f"roll_07{suffix}")
    origin = "BWF time reference 173280000 samples (01:00:10:00 at 24.000 fps)" if suffix == ".wav" \
        else "timecode 01:00:10:00 read at 24.000 fps"
    assert sound.notes[0] == f"audio-only media: samples 96000–144000 of 240000 at 48000 Hz ({origin})"
    mix = _programme_audio(result)
    assert abs(int(np.argmax(np.abs(mix))) - sr // 2) <= 2
    assert np.abs(mix[: sr // 2 - 10]).max() < 1e-3


def test_sound_file_shorter_than_the_edit_fails_in_samples(tmp_path: Path) -> None:
    path, media = _cut_with_boom(tmp_path, start=86688, written="T003.wav")
    write_sound(media / "T003.wav", np.zeros(48000), time_reference=3610 * 48000)  # 1 s from 01:00:10:00
    result = conform_timeline(path, recipe_with(missing="skip"), tmp_path / "out", media_roots=[media], workers=1)
    sound = next(p for p in result.clips if p.track_label == "A1")
    assert sound.status == "failed"
    assert sound.notes[0].startswith("audio-only media: samples 96000–144000 of 48000 at 48000 Hz")
    assert sound.notes[1] == "the media is shorter than the edit"
