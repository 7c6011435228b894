"""Pass-through keeps picture, precision, rate, timecode, aspect and sync (real media, PyAV)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from postbay.media import VideoReader, probe, read_audio
from postbay.recipe import load_recipe
from postbay.render import finish_clip
from postbay.synth import smooth_frame, write_clip


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) / 65535
    b = b.astype(np.float64) / 65535
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def per_frame_psnr(src, out) -> list[float]:
    ref = [p for _, p in VideoReader(src)]
    got = [p for _, p in VideoReader(out)]
    assert len(ref) == len(got)
    return [psnr(a, b) for a, b in zip(ref, got)]


@pytest.mark.parametrize("matrix,color_range,height", [
    ("ITU709", "MPEG", 360),
    ("ITU601", "MPEG", 360),
    ("ITU709", "JPEG", 360),
    ("ITU601", "MPEG", 480),
])
@pytest.mark.parametrize("recipe", ["passthrough", "review"])
def test_passthrough_colour_fidelity(tmp_path, matrix, color_range, height, recipe):
    width = height * 16 // 9 // 2 * 2
    pix = "yuvj420p" if color_range == "JPEG" else "yuv420p"
    src = write_clip(tmp_path / "src.mp4", frames=12, width=width, height=height, matrix=matrix,
                     color_range=color_range, pix_fmt=pix)
    result = finish_clip(src, load_recipe(recipe), tmp_path / "out")
    values = per_frame_psnr(src, result.output)
    assert min(values) >= 40.0, values
    out = probe(result.output).video
    assert (out.matrix, out.primaries, out.transfer, out.range) == ("bt709", "bt709", "bt709", "limited")


def test_untagged_source_uses_height_convention(tmp_path):
    """An untagged SD clip decodes as BT.601, an untagged HD one as BT.709 (as players do)."""
    for h, matrix in ((360, "ITU601"), (720, "ITU709")):
        src = write_clip(tmp_path / f"u{h}.mp4", frames=4, width=h * 16 // 9, height=h, matrix=matrix,
                         tag_colour=False, audio=None)
        result = finish_clip(src, load_recipe("passthrough"), tmp_path / f"o{h}")
        got = [p for _, p in VideoReader(result.output)]
        for i, picture in enumerate(got):
            ref = (np.clip(smooth_frame(i, h * 16 // 9, h), 0, 1) * 65535).astype(np.uint16)
            assert psnr(ref, picture) >= 38.0


def ramp(i: int, width: int, height: int) -> np.ndarray:
    x = np.linspace(0.1, 0.9, width, dtype=np.float32)
    return np.repeat(np.repeat(x[None, :, None], height, 0), 3, 2)


def test_ten_bit_prores_keeps_precision(tmp_path):
    src = write_clip(tmp_path / "ramp.mov", frames=3, width=1280, height=72, codec="prores",
                     pix_fmt="yuv422p10le", pattern=ramp, audio=None)
    assert probe(src).video.bit_depth == 10
    result = finish_clip(src, load_recipe("passthrough"), tmp_path / "out")
    assert probe(result.output).video.bit_depth == 10
    _, picture = next(iter(VideoReader(result.output)))
    levels = np.unique(picture[36, :, 1])
    # A grey ramp over 0.8 of full scale has at most ~175 8-bit limited-range codes; 10 bits give ~700.
    assert len(levels) > 256, len(levels)


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001), Fraction(30)])
def test_exact_rate_and_frame_count(tmp_path, rate):
    src = write_clip(tmp_path / "r.mov", frames=31, rate=rate, codec="libx264", audio="tone")
    result = finish_clip(src, load_recipe("passthrough"), tmp_path / "out")
    v = probe(result.output).video
    assert v.rate_fraction == rate
    assert v.frames == 31


@pytest.mark.parametrize("tc,rate", [("01:00:00:00", Fraction(24)), ("00:59:58:12", Fraction(24000, 1001)),
                                     ("01:00:00;00", Fraction(30000, 1001))])
@pytest.mark.parametrize("recipe", ["passthrough", "review"])
def test_start_timecode_survives(tmp_path, tc, rate, recipe):
    src = write_clip(tmp_path / "tc.mov", frames=6, rate=rate, timecode=tc, audio=None)
    result = finish_clip(src, load_recipe(recipe), tmp_path / "out")
    assert probe(result.output).timecode == tc


def test_range_render_carries_timecode_of_first_frame(tmp_path):
    src = write_clip(tmp_path / "tc.mov", frames=40, rate=Fraction(25), timecode="10:00:00:00", audio=None)
    result = finish_clip(src, load_recipe("passthrough"), tmp_path / "out", start=30, count=5)
    info = probe(result.output)
    assert info.timecode == "10:00:01:05"
    assert info.video.frames == 5


def test_anamorphic_display_aspect_survives(tmp_path):
    # 1440x1080 with 4:3 pixels = 16:9 HDV-style anamorphic
    src = write_clip(tmp_path / "ana.mp4", frames=4, width=480, height=360, sample_aspect_ratio=Fraction(4, 3),
                     audio=None)
    assert probe(src).video.display_aspect_ratio == "16:9"
    for recipe in ("passthrough", "review"):
        result = finish_clip(src, load_recipe(recipe), tmp_path / recipe)
        v = probe(result.output).video
        assert (v.sample_aspect_ratio, v.display_aspect_ratio) == ("4:3", "16:9")


def click_frame_of(path, rate: Fraction) -> int:
    samples, sr = read_audio(path)
    loud = np.flatnonzero(np.abs(samples[0]) > 0.5)
    assert loud.size, "no click found"
    return int(loud[0] * rate // sr)


@pytest.mark.parametrize("recipe", ["passthrough", "review"])
@pytest.mark.parametrize("rate", [Fraction(24), Fraction(30000, 1001)])
def test_audio_stays_in_sync(tmp_path, recipe, rate):
    src = write_clip(tmp_path / "click.mov", frames=60, rate=rate, click_frame=48, audio="tone")
    assert click_frame_of(src, rate) == 48
    result = finish_clip(src, load_recipe(recipe), tmp_path / "out")
    assert click_frame_of(result.output, rate) == 48


def test_audio_in_sync_for_a_range(tmp_path):
    src = write_clip(tmp_path / "click.mov", frames=60, rate=Fraction(24), click_frame=48, audio="tone")
    result = finish_clip(src, load_recipe("passthrough"), tmp_path / "out", start=40, count=16)
    assert click_frame_of(result.output, Fraction(24)) == 8


@pytest.mark.parametrize("preset", ["passthrough", "review"])
def test_reel_name_survives(tmp_path, preset):
    src = write_clip(tmp_path / "reel.mov", frames=3, reel="A001C003", timecode="01:00:00:00", audio=None)
    assert probe(src).reel == "A001C003"
    result = finish_clip(src, load_recipe(preset), tmp_path / "out")
    assert probe(result.output).reel == "A001C003"
