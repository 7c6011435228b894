"""Finished clips written as numbered frames: EXR in scene-linear light, 16-bit PNG/TIFF/DPX,
numbered from the source's timecode, published whole and named by the existing-output policy."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from stills import write_frame

from postbay.errors import PostbayError
from postbay.media import probe
from postbay.recipe import parse_recipe
from postbay.render import finish_clip
from postbay.sequences import find_sequence, linear_pixels, read_image
from postbay.synth import frame_number_pattern, read_frame_number, write_clip


def _recipe(kind: str, **output: object):  # type: ignore[no-untyped-def]
    return parse_recipe({"name": "frames", "rate": 25, "output": {"sequence": kind, **output}}, source="<test>")


def _linear(path: Path, depth: str) -> np.ndarray:
    """An EXR's pixels as written, half (``f16``) or full float (``f32``): (H, W, 3) float32 RGB."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    assert depth in frame.format.name
    return linear_pixels(frame)


def _plate(folder: Path, frames: range) -> np.ndarray:
    """Scene-linear EXR frames ``plate.NNNN.exr``: a ramp 0.01–1.0 in R, 18% grey G, 0.5 B."""
    linear = np.empty((16, 32, 3), np.float32)
    linear[..., 0] = np.geomspace(0.01, 1.0, 16 * 32).reshape(16, 32)
    linear[..., 1], linear[..., 2] = 0.18, 0.5
    for n in frames:
        write_frame(folder / f"plate.{n:04d}.exr", linear)
    return linear


@pytest.mark.parametrize("kind,tolerance", [("exr", 1.5e-3), ("exr32", 3e-4)])
def test_exr_out_holds_the_light_that_came_in(tmp_path: Path, kind: str, tolerance: float) -> None:
    """EXR in → 16-bit display working pictures → EXR out: the same scene-linear values within
    the stated relative tolerance (half float: 1.5e-3, its 10-bit mantissa as FFmpeg's encoder
    truncates to it plus the 16-bit display step; full float: 3e-4, the display step)."""
    linear = _plate(tmp_path / "plate", range(1001, 1006))
    result = finish_clip(tmp_path / "plate" / "plate.####.exr", _recipe(kind), tmp_path / "out", name="plate")
    out = tmp_path / "out" / "plate"
    assert result.output == out and result.ok
    seq = find_sequence(out)
    assert (seq.pattern, seq.numbers) == ("plate_%06d.exr", tuple(range(1001, 1006)))  # the source's numbers
    for number in seq.numbers:
        back = _linear(seq.path(number), "f16" if kind == "exr" else "f32")
        assert np.max(np.abs(back - linear) / linear) < tolerance
    report = json.loads(result.report_path.read_text())
    assert report["verification"]["ok"] and report["verification"]["checks"]["frames"] == 5
    assert report["output_probe"]["video"]["rate"] == "25/1"  # the recipe's rate
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize("kind", ["png", "tiff", "dpx"])
def test_sixteen_bit_frames_stay_sixteen_bit(tmp_path: Path, kind: str) -> None:
    rgb = np.zeros((8, 16, 3), np.uint16)
    rgb[..., 0] = np.arange(128).reshape(8, 16) * 511 + 1  # values no 8-bit file can hold
    rgb[..., 1], rgb[..., 2] = 40001, 7
    for n in (1, 2, 3):
        write_frame(tmp_path / "src" / f"gen_{n:04d}.png", rgb)
    result = finish_clip(tmp_path / "src", _recipe(kind), tmp_path / "out", name="gen")
    seq = find_sequence(result.output)  # type: ignore[arg-type]
    assert seq.numbers == (1, 2, 3)
    with av.open(str(seq.path(2))) as container:
        assert "48" in container.streams.video[0].codec_context.pix_fmt  # rgb48: 16 bits a channel
    assert np.array_equal(read_image(seq.path(2)), rgb)


def test_a_movie_is_numbered_from_its_timecode(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "take.mov", frames=6, width=128, height=72, rate=Fraction(24),
                     timecode="01:00:00:00", pattern=frame_number_pattern)
    result = finish_clip(src, _recipe("dpx"), tmp_path / "out")
    seq = find_sequence(tmp_path / "out" / "take")
    assert seq.numbers == tuple(range(86400, 86406))  # 01:00:00:00 at 24 fps
    assert [read_frame_number(read_image(seq.path(n))) for n in (86400, 86405)] == [0, 5]
    assert result.report["output_probe"]["timecode"] == "01:00:00:00"


def test_a_dotted_name_is_versioned_whole(tmp_path: Path) -> None:
    """VFX names hold dots (``sh010.comp.v003``): a folder has no extension to keep apart."""
    src = write_clip(tmp_path / "sh010.comp.v003.mov", frames=2, width=64, height=36, rate=Fraction(24))
    finish_clip(src, _recipe("png"), tmp_path / "out")
    again = finish_clip(src, _recipe("png"), tmp_path / "out", existing="version")
    assert again.output == tmp_path / "out" / "sh010.comp.v003_v2"
    assert again.report_path == tmp_path / "out" / "sh010.comp.v003_v2.report.json"
    assert find_sequence(again.output).prefix == "sh010.comp.v003_v2_"  # type: ignore[arg-type]


def test_existing_output_policy(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "take.mov", frames=3, width=64, height=36, rate=Fraction(24))
    first = finish_clip(src, _recipe("png", sequence_start=0), tmp_path / "out")
    assert find_sequence(first.output).numbers == (0, 1, 2)  # type: ignore[arg-type]
    again = finish_clip(src, _recipe("png", sequence_start=0), tmp_path / "out", existing="version")
    assert again.output == tmp_path / "out" / "take_v2"
    (first.output / "stale_000099.png").write_bytes(b"")  # type: ignore[operator]
    replaced = finish_clip(src, _recipe("png"), tmp_path / "out", existing="overwrite")
    assert replaced.output == first.output
    assert sorted(p.name for p in first.output.iterdir()) == \
        ["take_001001.png", "take_001002.png", "take_001003.png"]  # replaced whole: no stale frame, no timecode: 1001
    with pytest.raises(PostbayError, match="skip"):
        finish_clip(src, _recipe("png"), tmp_path / "out", existing="skip")
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")) == []


def test_postbay_run_writes_a_sequence(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "take.mov", frames=4, width=64, height=36, rate=Fraction(25))
    recipe = tmp_path / "frames.toml"
    recipe.write_text('name = "frames"\n[output]\nsequence = "tiff"\n')
    proc = subprocess.run([sys.executable, "-m", "postbay", "run", str(src), "--recipe", str(recipe), "--out",
                           str(tmp_path / "out"), "-q"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert find_sequence(tmp_path / "out" / "take").numbers == (1001, 1002, 1003, 1004)
    assert probe(tmp_path / "out" / "take", rate=Fraction(25)).video.frames == 4  # type: ignore[union-attr]
