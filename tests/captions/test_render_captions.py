"""End to end through finish_clip: captions + loudness → output, NAME.srt, NAME.vtt, soft track, burn-in."""

from __future__ import annotations

import tomllib
from pathlib import Path

import av
import numpy as np
import pyloudnorm
import pytest
import srt
import webvtt
from captions_media import SENTENCES, speech, word_error_rate, write_av_clip

from postbay.media import VideoReader, read_audio
from postbay.processors.captions import safe_area
from postbay.recipe import parse_recipe
from postbay.render import finish_clip


def recipe(captions: str = "", output: str = 'codec = "h264"\ncontainer = "mov"\naudio = "pcm"', loudness=True):
    text = f"[[steps]]\nprocessor = \"captions\"\n{captions}\n"
    if loudness:
        text += "[[steps]]\nprocessor = \"loudness\"\ntarget = -16\n"
    return parse_recipe(tomllib.loads(text + f"[output]\n{output}\n"))


@pytest.fixture(scope="module")
def talk(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("talk")
    voice = speech(SENTENCES[1], tmp, wpm=165) * 0.25  # quiet: the loudness step has work to do
    samples = np.concatenate([np.zeros((1, 24000), np.float32), voice, np.zeros((1, 12000), np.float32)], axis=-1)
    return write_av_clip(tmp / "talk.mov", np.repeat(samples, 2, axis=0), width=160, height=90)


def test_captions_and_loudness_through_finish_clip(talk: Path, tmp_path: Path) -> None:
    result = finish_clip(talk, recipe(), tmp_path)
    assert result.ok and result.output.is_file()
    srt_path, vtt_path = result.output.with_suffix(".srt"), result.output.with_suffix(".vtt")
    assert result.report["sidecars"] == [str(srt_path), str(vtt_path)]
    subs = list(srt.parse(srt_path.read_text(encoding="utf-8")))
    vtt = list(webvtt.read(str(vtt_path)))
    assert len(subs) == len(vtt) == result.report["notes"]["1:captions"]["cues"] >= 2
    assert [s.content for s in subs] == [v.text for v in vtt]
    heard = " ".join(s.content for s in subs)
    assert word_error_rate(SENTENCES[1], heard) <= 0.2, heard
    # the cues follow the speech: the first starts after the half second of silence, the last ends inside the clip
    assert 0.45 < subs[0].start.total_seconds() < 0.7
    assert subs[-1].end.total_seconds() <= result.report["frames"] / 24 + 1e-6
    samples, rate = read_audio(result.output)
    measured = pyloudnorm.Meter(rate).integrated_loudness(samples.T.astype(np.float64))
    assert abs(measured - -16) <= 0.5


@pytest.mark.parametrize("container,codec", [("mp4", "mov_text"), ("mkv", "subrip")])
def test_soft_subtitle_track(talk: Path, tmp_path: Path, container: str, codec: str) -> None:
    result = finish_clip(talk, recipe("soft_track = true", f'codec = "h264"\ncontainer = "{container}"\naudio = "aac"',
                                      loudness=False), tmp_path)
    cues = list(srt.parse(result.output.with_suffix(".srt").read_text(encoding="utf-8")))
    with av.open(str(result.output)) as out:
        stream = out.streams.subtitles[0]
        assert stream.codec_context.name in (codec, "srt")
        packets = [p for p in out.demux(stream) if p.size > 2]
        texts = []
        for p in packets:
            data = bytes(p)
            texts.append((data[2:] if codec == "mov_text" else data).decode())
        starts = [float(p.pts * stream.time_base) for p in packets]
    assert texts == [c.content for c in cues]
    assert np.allclose(starts, [c.start.total_seconds() for c in cues], atol=0.002)


def test_vertical_delivery_burns_captions_above_the_ui_zone(tmp_path: Path) -> None:
    voice = speech(SENTENCES[0], tmp_path, wpm=170)
    clip = write_av_clip(tmp_path / "vertical.mov", np.repeat(voice, 2, axis=0), width=180, height=320)
    result = finish_clip(clip, recipe("burn = true", loudness=False), tmp_path / "out")
    cues = list(srt.parse(result.output.with_suffix(".srt").read_text(encoding="utf-8")))
    n = int(round((cues[0].start.total_seconds() + 0.5) * 24))
    (_, src), = VideoReader(clip, start=n, count=1)
    (_, out), = VideoReader(result.output, start=n, count=1)
    ys, xs = np.nonzero(np.abs(out.astype(np.int32) - src.astype(np.int32)).max(axis=-1) > 6000)
    x0, y0, x1, y1 = safe_area(180, 320)
    assert ys.size > 200
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1 < 0.8 * 320


@pytest.mark.parametrize("audio", [None, "silence"])
def test_no_audio_or_silence_gives_no_captions_not_an_error(clip, tmp_path: Path, audio) -> None:
    source = clip("quiet.mov", frames=24, audio=audio)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "quiet.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nan earlier render\n")
    result = finish_clip(source, recipe(loudness=False), tmp_path / "out")
    assert result.ok
    assert "sidecars" not in result.report
    assert not list((tmp_path / "out").glob("*.srt"))  # a stale sidecar is not left to contradict the output
    note = result.report["notes"]["1:captions"]["note"]
    assert "no captions" in note and ("no audio stream" in note if audio is None else "silent" in note)


def test_captions_alone_leave_the_audio_copied(talk: Path, tmp_path: Path) -> None:
    """Captions only listen: the source's audio packets are copied, not re-encoded."""
    result = finish_clip(talk, recipe(loudness=False, output='codec = "h264"\ncontainer = "mov"\naudio = "copy"'),
                         tmp_path)
    with av.open(str(talk)) as src, av.open(str(result.output)) as out:
        assert out.streams.audio[0].codec_context.name == src.streams.audio[0].codec_context.name == "pcm_s16le"
    source, _ = read_audio(talk)
    copied, _ = read_audio(result.output)
    assert np.array_equal(source[:, : copied.shape[-1]], copied)
