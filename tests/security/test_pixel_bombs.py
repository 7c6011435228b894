"""Probe 5: pixel bombs, movies of a few KB whose frames decode to gigabytes, and runaway resize sizes."""

from __future__ import annotations

import resource
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from bridge.harness import http as request

from postbay.config import LimitsConfig
from postbay.errors import PostbayError
from postbay.media import MAX_PIXELS, probe, set_pixel_limit
from postbay.processors.primaries import ResizeParams, resize_format
from postbay.processors.upscale import UpscaleParams, upscale_format
from postbay.registry import FrameFormat
from postbay.synth import write_clip


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("stream_side", [16000, 64], ids=["honest-header", "lying-header"])
def test_still_of_a_png_pixel_bomb_is_refused_without_decoding_it(open_bay, pixel_bomb, stream_side: int):
    bay = open_bay()
    bomb = pixel_bomb(stream_side=stream_side)
    (bay.media / bomb.name).write_bytes(bomb.read_bytes())
    assert bomb.stat().st_size < 100_000
    before = _peak_mb()
    status, answer = request("GET", bay.url + f"/still?path={bay.media / bomb.name}&frame=1", None)
    assert status == 422 and "67 Mpx" in answer["detail"], answer
    assert _peak_mb() - before < 400  # one decoded RGB frame of it is 1,500 MB
    assert request("GET", bay.url + "/health", None)[0] == 200


def test_pixel_limit_comes_from_the_config(open_bay):
    bay = open_bay(limits=LimitsConfig(max_pixels=320 * 180))
    small = write_clip(bay.media / "small.mov", frames=3, width=320, height=180, audio=None)
    big = write_clip(bay.media / "big.mov", frames=3, width=640, height=360, audio=None)
    assert request("GET", bay.url + f"/still?path={small}", None)[0] == 200
    status, answer = request("GET", bay.url + f"/still?path={big}", None)
    assert status == 422 and "max_pixels" in answer["detail"], answer


def test_postbay_run_on_a_pixel_bomb_fails_fast_and_small(tmp_path: Path, pixel_bomb):
    bomb = pixel_bomb()
    run = subprocess.run([sys.executable, "-m", "postbay", "run", str(bomb), "--recipe", "review",
                          "--out", str(tmp_path / "out"), "-q"], capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode > 0 and str(bomb) in run.stderr and "Mpx" in run.stderr, run.stderr[-600:]
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 < 1500  # it took 8.7 GB
    assert not list((tmp_path / "out").glob("*.mov"))  # a failure report, no output


def test_resize_and_upscale_sizes_are_capped(tmp_path: Path):
    with pytest.raises(ValueError, match="less than or equal to 16384"):
        ResizeParams(width=100_000)
    wide = FrameFormat(width=1920, height=16, rate=Fraction(24), frames=1)  # 120:1
    with pytest.raises(PostbayError, match="resize: a 1966080×16384 output"):
        resize_format(ResizeParams(height=16384), wide)
    with pytest.raises(PostbayError, match="upscale: a .* output is more than 67 Mpx"):
        upscale_format(UpscaleParams(scale=8), FrameFormat(width=3840, height=2160, rate=Fraction(24), frames=1))
    assert resize_format(ResizeParams(height=2160), FrameFormat(1920, 1080, Fraction(24), 1)).width == 3840


def test_probe_refuses_footage_over_the_limit(tmp_path: Path):
    clip = write_clip(tmp_path / "c.mov", frames=2, width=96, height=64, audio=None)
    set_pixel_limit(64 * 64)
    try:
        with pytest.raises(PostbayError, match="max_pixels"):
            probe(clip)
    finally:
        set_pixel_limit(MAX_PIXELS)
    assert probe(clip).require_video().width == 96
