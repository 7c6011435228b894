"""Captions of a conformed programme: the mix of its audio tracks, record timing, cuts, burn-in per delivery."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import srt
import webvtt
from captions_media import SENTENCES, speech, word_error_rate, write_av_clip

from postbay.media import VideoReader, probe
from postbay.processors.captions import safe_area
from postbay.processors.cues import CUT_MARGIN
from postbay.timeline.conform import conform_timeline
from postbay.timeline.programme import caption_programme

from .cuts import RT, TR, recipe_with, stand_in

FPS = 25
LEAD = 25  # the programme opens on a second of black and silence
SIZE = (320, 180)


def _spoken_cut(tmp_path: Path, samples: np.ndarray) -> tuple[Path, int]:
    """V1: gap, shot a, shot b (cut near the end of a sentence); A1: gap, the speech under both.

    The timeline starts at 01:00:00:00; the media carry no timecode (their frame 0 is 00:00:00:00).
    Returns the timeline and the timeline frame of the cut between a and b.
    """
    media = tmp_path / "media"
    media.mkdir()
    frames = int(np.ceil(samples.shape[-1] / 48000 * FPS)) + 5
    voice = write_av_clip(media / "voice.mov", samples, fps=FPS, width=SIZE[0], height=SIZE[1], frames=frames)
    # a second picture: the cut changes the shot (its own audio is not in the cut)
    other = stand_in(media / "other.mov", frames=frames, rate=Fraction(FPS), width=SIZE[0], height=SIZE[1])
    tl = otio.schema.Timeline(name="spoken")
    tl.global_start_time = RT(3600 * FPS, FPS)
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    half = 65  # the cut at 3.6 s falls a quarter second before the end of the first sentence
    v1.append(otio.schema.Gap(source_range=TR(RT(0, FPS), RT(LEAD, FPS))))
    v1.append(otio.schema.Clip(name="a", source_range=TR(RT(0, FPS), RT(half, FPS)),
                               media_reference=otio.schema.ExternalReference(target_url=voice.as_uri())))
    v1.append(otio.schema.Clip(name="b", source_range=TR(RT(half, FPS), RT(frames - half, FPS)),
                               media_reference=otio.schema.ExternalReference(target_url=other.as_uri())))
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.append(otio.schema.Gap(source_range=TR(RT(0, FPS), RT(LEAD, FPS))))
    a1.append(otio.schema.Clip(name="voice", source_range=TR(RT(0, FPS), RT(frames, FPS)),
                               media_reference=otio.schema.ExternalReference(target_url=voice.as_uri())))
    tl.tracks.extend([v1, a1])
    path = tmp_path / "spoken.otio"
    otio.adapters.write_to_file(tl, str(path))
    return path, LEAD + half


def _secs(stamp: str) -> float:
    h, m, rest = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(rest)


def _picture(path: str, n: int) -> np.ndarray:
    return next(iter(VideoReader(path, start=n, count=1)))[1].astype(np.float32) / 65535.0


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels that differ clearly between two pictures, in rows and columns of at least three such.

    (The reframe leaves the odd one-pixel-high edge mark on black frames: not a caption.)
    """
    mask = np.abs(a - b).max(axis=2) > 0.15
    return mask & (mask.sum(axis=1, keepdims=True) >= 3) & (mask.sum(axis=0, keepdims=True) >= 3)


def _changed_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the caption: the pixels that differ clearly between two pictures."""
    ys, xs = np.nonzero(_changed(a, b))
    assert xs.size > 50, "no caption drawn"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_programme_captions_sidecars_and_burn_in(tmp_path: Path) -> None:
    text = SENTENCES[0]
    src, cut = _spoken_cut(tmp_path, speech(text, tmp_path, wpm=170))
    recipe = recipe_with(
        handles=4,
        steps=[{"processor": "captions", "language": "en"}],
        deliveries=[{"name": "clean", "codec": "prores_hq", "audio": "pcm"},
                    {"name": "master", "codec": "prores_hq", "audio": "pcm", "captions": True},
                    {"name": "vertical", "codec": "prores_hq", "aspect": "9:16", "height": 320, "audio": "none",
                     "captions": True},
                    {"name": "vertical_clean", "codec": "prores_hq", "aspect": "9:16", "height": 320,
                     "audio": "none"}])
    out = tmp_path / "out"
    result = conform_timeline(src, recipe, out, workers=1)
    assert result.ok, result.report_path.read_text()

    # the shots themselves are not captioned (the programme is): no per-shot sidecars
    assert not list(out.glob("spoken_*.srt"))
    report = json.loads(result.report_path.read_text())["captions"]
    assert report["record_start"] == "01:00:00:00" and report["edit_points"] == 2  # black → a, a → b
    srt_path, vtt_path = out / "spoken.postbay.srt", out / "spoken.postbay.vtt"
    assert report["sidecars"] == [str(srt_path), str(vtt_path)]

    subs = list(srt.parse(srt_path.read_text()))
    vtt = list(webvtt.read(str(vtt_path)))
    assert len(subs) == len(vtt) == report["cues"] >= 2
    for s, v in zip(subs, vtt):
        assert (s.start.total_seconds(), s.end.total_seconds(), s.content) == (_secs(v.start), _secs(v.end), v.text)
    heard = " ".join(s.content.replace("\n", " ") for s in subs)
    assert word_error_rate(text, heard) <= 0.25, heard

    # times are the programme's: nothing before the second of black, all of it on frames
    starts = [s.start.total_seconds() for s in subs]
    ends = [s.end.total_seconds() for s in subs]
    assert LEAD / FPS <= starts[0] < LEAD / FPS + 0.8, starts[0]
    for t in starts + ends:
        assert abs(t * FPS - round(t * FPS)) < 0.03  # milliseconds in the file, frames underneath
    # no cue straddles the timeline's cut by less than the margin
    cut_s = cut / FPS
    for a, b in zip(starts, ends):
        if a < cut_s < b:
            assert min(cut_s - a, b - cut_s) >= CUT_MARGIN - 1 / FPS - 1e-6, (a, b, cut_s)
    # and the cut shapes the cues: one changes on it or holds just past it (uncut, the first cue
    # would run on to the second sentence, 1.8 s beyond it)
    assert min(abs(t - cut_s) for t in starts + ends) <= CUT_MARGIN + 2 / FPS, (starts, ends, cut_s)

    # burn-in: the caption lands inside the title-safe area of each delivery's aspect, and only where asked
    by_name = {d["name"]: d for d in result.deliveries}
    assert any(n.startswith("captions burned in") for n in by_name["master"]["notes"])
    assert not any("captions" in n for n in by_name["clean"]["notes"])
    mid = round((starts[0] + ends[0]) / 2 * FPS)
    for burned, clean in (("master", "clean"), ("vertical", "vertical_clean")):
        out_path = by_name[burned]["output"]
        info = probe(out_path).require_video()
        width, height = info.width, info.height
        x0, y0, x1, y1 = _changed_box(_picture(out_path, mid), _picture(by_name[clean]["output"], mid))
        sx0, sy0, sx1, sy1 = safe_area(width, height)
        assert sx0 <= x0 and x1 <= sx1 and sy0 <= y0 and y1 <= sy1, ((x0, y0, x1, y1), (sx0, sy0, sx1, sy1))
        assert y0 > height / 2  # the lower part of the frame
        if height > width:
            assert y1 <= 0.78 * height + 1  # above the platforms' UI zone
        # between cues (the black lead-in) nothing is drawn
        assert not _changed(_picture(out_path, 5), _picture(by_name[clean]["output"], 5)).any()


def test_silent_programme_gets_a_note_not_an_error(tmp_path: Path) -> None:
    media = tmp_path / "media"
    quiet = stand_in(media / "quiet.mov", frames=30, rate=Fraction(FPS), audio="silence")
    tl = otio.schema.Timeline(name="quiet")
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    for track in (v1, a1):
        track.append(otio.schema.Clip(name="q", source_range=TR(RT(0, FPS), RT(30, FPS)),
                                      media_reference=otio.schema.ExternalReference(target_url=quiet.as_uri())))
    tl.tracks.extend([v1, a1])
    src = tmp_path / "quiet.otio"
    otio.adapters.write_to_file(tl, str(src))
    recipe = recipe_with(steps=[{"processor": "captions"}],
                         deliveries=[{"name": "master", "codec": "prores_hq", "audio": "pcm", "captions": True}])
    result = conform_timeline(src, recipe, tmp_path / "out", workers=1)
    assert result.ok
    report = json.loads(result.report_path.read_text())
    assert report["captions"]["cues"] == 0 and report["captions"]["note"] == "the audio is silent: no captions"
    assert report["captions"]["sidecars"] == [] and not list((tmp_path / "out").glob("*.srt"))
    assert any(n.startswith("captions asked for, none burned") for n in report["deliveries"][0]["notes"])
    assert "captions: 0 cue(s) (the audio is silent: no captions)" in result.summary_path.read_text()

    # a timeline with no audio tracks at all: a note too
    no_audio = otio.schema.Timeline(name="mute")
    no_audio.tracks.append(otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video))
    captions = caption_programme(no_audio, None, tmp_path, "mute", rate=Fraction(FPS))
    assert captions.cues == [] and captions.report["note"] == "the timeline has no audio tracks: no captions"
