"""Image sequences: found from a folder, a pattern or a frame; gaps named; 16 bits kept; EXR through OCIO."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stills import numbered, write_frame

from postbay.errors import MediaError
from postbay.media import VideoReader, probe
from postbay.recipe import load_recipe
from postbay.render import finish_clip
from postbay.sequences import find_sequence, read_image, sequence_pictures
from postbay.synth import read_frame_number


@pytest.fixture
def comfy(tmp_path: Path) -> Path:
    """ComfyUI-style output: shot_0101 … shot_0110 with 0105 and 0106 never written."""
    numbered(tmp_path / "out", [n for n in range(101, 111) if n not in (105, 106)])
    return tmp_path / "out"


def test_found_by_folder_pattern_hashes_or_frame(comfy: Path) -> None:
    for spec in (comfy, comfy / "shot_%04d.png", comfy / "shot_####.png", comfy / "shot_0103.png"):
        seq = find_sequence(spec)
        assert (seq.prefix, seq.suffix, seq.padding) == ("shot_", ".png", 4)
        assert (seq.first, seq.last, seq.span) == (101, 110, 10)
        assert seq.gaps() == [(105, 106)]
        assert seq.pattern == "shot_%04d.png"
    assert find_sequence(comfy).describe() == f"{comfy}/shot_%04d.png: frames 101–110 (8 files), 2 missing: 105–106"


def test_gaps_are_held_black_or_refused(comfy: Path) -> None:
    seq = find_sequence(comfy)
    held = [(i, read_frame_number(p)) for i, p in sequence_pictures(seq)]
    assert held == [(0, 101), (1, 102), (2, 103), (3, 104), (4, 104), (5, 104), (6, 107), (7, 108), (8, 109),
                    (9, 110)]
    black = [p.max() for _, p in sequence_pictures(seq, gaps="black", start=3, count=4)]
    assert black[0] > 0 and black[1] == black[2] == 0 and black[3] > 0
    with pytest.raises(MediaError, match=r"frame 105 is missing from the sequence"):
        list(sequence_pictures(seq, gaps="fail"))


def test_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no numbered frames"):
        find_sequence(tmp_path / "empty")
    numbered(tmp_path / "two", [1, 2], name="a_")
    numbered(tmp_path / "two", [1, 2], name="b_")
    with pytest.raises(MediaError, match=r"holds 2 sequences \(a_####\.png, b_####\.png\)"):
        find_sequence(tmp_path / "two")
    assert find_sequence(tmp_path / "two" / "b_%04d.png").prefix == "b_"


@pytest.mark.parametrize("suffix", [".png", ".tif", ".dpx"])
def test_sixteen_bits_are_kept(tmp_path: Path, suffix: str) -> None:
    rgb = np.zeros((4, 8, 3), np.uint16)
    rgb[..., 0] = np.arange(32).reshape(4, 8) * 2047 + 1  # values no 8-bit file can hold
    rgb[..., 1], rgb[..., 2] = 40001, 7
    write_frame(tmp_path / f"f_0001{suffix}", rgb)
    assert np.array_equal(read_image(tmp_path / f"f_0001{suffix}"), rgb)


def test_exr_is_read_in_linear_light_through_ocio(tmp_path: Path) -> None:
    linear = np.full((4, 8, 3), 0.18, np.float32)
    linear[0, 0] = (2.0, 1.0, 0.0)  # above white: clipped only at the display encoding
    write_frame(tmp_path / "render.0001.exr", linear)
    seq = find_sequence(tmp_path / "render.####.exr")
    picture = read_image(seq.path(1)).astype(np.float64) / 65535
    assert abs(picture[1, 1, 0] - 0.18 ** (1 / 2.4)) < 2e-4  # Rec.709 display encoding (gamma 2.4) of 18% grey
    assert tuple(np.round(picture[0, 0], 4)) == (1.0, 1.0, 0.0)


def test_postbay_run_finishes_a_sequence_at_the_given_rate(comfy: Path, tmp_path: Path) -> None:
    """`postbay run 'shot_####.png' --rate 25`: one movie named after the frames, timecode from frame 101."""
    out = tmp_path / "masters"
    proc = subprocess.run([sys.executable, "-m", "postbay", "run", str(comfy / "shot_####.png"), "--recipe",
                           "passthrough", "--out", str(out), "--rate", "25", "-q"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    info = probe(out / "shot.mov")
    assert (info.video.rate, info.video.frames, info.timecode) == ("25/1", 10, "00:00:04:01")
    shown = [read_frame_number(p) for _, p in VideoReader(out / "shot.mov")]
    assert shown == [101, 102, 103, 104, 104, 104, 107, 108, 109, 110]  # the gap held on 104
    report = json.loads((out / "shot.report.json").read_text())
    assert report["input"]["metadata"]["sequence"].endswith("2 missing: 105–106")


def test_exr_sequence_is_finished_in_display_light(tmp_path: Path) -> None:
    linear = np.full((8, 16, 3), 0.18, np.float32)
    for n in (1, 2, 3):
        write_frame(tmp_path / "cg" / f"beauty.{n:04d}.exr", linear)
    spec = tmp_path / "cg" / "beauty.%04d.exr"
    result = finish_clip(spec, load_recipe("passthrough"), tmp_path / "out", name="beauty", info=probe(spec))
    _, picture = next(iter(VideoReader(result.output)))
    assert abs(picture.mean() / 65535 - 0.18 ** (1 / 2.4)) < 0.01  # 18% grey shown at its Rec.709 display value


def test_comfyui_names_are_a_sequence(tmp_path: Path) -> None:
    """ComfyUI's SaveImage writes ComfyUI_00001_.png, ComfyUI_00002_.png …"""
    numbered(tmp_path, [1, 2, 3], name="ComfyUI_", suffix="_.png", padding=5)
    seq = find_sequence(tmp_path)
    assert (seq.pattern, seq.numbers) == ("ComfyUI_%05d_.png", (1, 2, 3))
    assert find_sequence(tmp_path / "ComfyUI_00002_.png") == seq
