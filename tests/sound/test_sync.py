"""Audio stays sample-accurate with the picture through every sound step: a click on a known frame."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from postbay.media import read_audio
from postbay.recipe import parse_recipe
from postbay.render import finish_clip

CLICK_FRAME = 17
RATE = 48000


@pytest.fixture(scope="module")
def clicked(tmp_path_factory) -> Path:
    from postbay.synth import write_clip

    return write_clip(tmp_path_factory.mktemp("sync") / "click.mov", frames=36, width=160, height=90,
                      click_frame=CLICK_FRAME)


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    from test_bed import write_music

    return write_music(tmp_path_factory.mktemp("music") / "bed.flac", 1.0)


def onset(samples: np.ndarray) -> int:
    x = np.abs(samples).max(axis=0)
    return int(np.argmax(x > 0.5 * x.max()))


@pytest.mark.parametrize("steps", [
    ["cleanup"],
    ["loudness"],
    ["bed"],
    ["captions"],
    ["cleanup", "bed", "loudness", "captions"],
])
def test_click_stays_on_its_frame(clicked: Path, music: Path, tmp_path: Path, steps: list[str]) -> None:
    params = {"bed": f'path = "{music}"\nlevel = -45', "loudness": "target = -23"}
    text = "".join(f'[[steps]]\nprocessor = "{s}"\n{params.get(s, "")}\n' for s in steps)
    recipe = parse_recipe(tomllib.loads(text + '[output]\ncodec = "h264"\ncontainer = "mov"\naudio = "pcm"\n'))
    result = finish_clip(clicked, recipe, tmp_path)
    source, _ = read_audio(clicked)
    out, rate = read_audio(result.output)
    assert rate == RATE and out.shape[-1] == source.shape[-1] == 36 * RATE // 24
    expected = CLICK_FRAME * RATE // 24
    assert onset(source) == expected
    if "cleanup" not in steps:
        # (the zero-phase rumble filter takes the click's DC away symmetrically, which moves a
        # 50 % crossing but not the click: its timing is the cross-correlation below)
        assert onset(out) == expected, steps
    # the click lines up to the sample: the waveforms' cross-correlation peaks at lag 0
    a, b = source.mean(axis=0), out.mean(axis=0)
    window = slice(expected - 2000, expected + 2000)
    lags = np.arange(-300, 301)
    corr = [np.dot(a[window], b[expected - 2000 + lag: expected + 2000 + lag]) for lag in lags]
    assert lags[int(np.argmax(corr))] == 0, steps
