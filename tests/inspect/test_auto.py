"""recipe auto: on a noisy clip at least finish's PSNR gain, on a clean clip at most 0.3 dB lost and
no processing step, and the report says what was measured and why each step ran or not."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from inspect_media import encode, film, pan, photo, psnr, shaky_camera

from postbay.inspect import inspect_clip
from postbay.recipe import load_recipe, parse_recipe
from postbay.render import finish_clip

W, H = 256, 192
OUTPUT = {"codec": "prores_hq", "audio": "none"}
#: finish's restoring steps (its upscale, grain and print look change size and colour: left out of both)
RESTORING = ("denoise", "deblock", "deflicker", "soften")


def decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0 for f in container.decode(video=0)]


def score(path, clean) -> float:
    return float(np.mean([psnr(a, b, border=4) for a, b in zip(decoded(path), clean, strict=True)]))


def auto_recipe():
    return parse_recipe({"name": "auto", "auto": {"height": H, "loudness": None}, "output": OUTPUT})


def finish_restoring():
    finish = load_recipe("finish")
    steps = [{"processor": s.name, **s.params.model_dump()} for s in finish.steps if s.name in RESTORING]
    return parse_recipe({"name": "finish-restoring", "steps": steps, "output": OUTPUT})


@pytest.fixture(scope="module")
def clean():
    return pan(photo("astronaut"), 12, W, H, velocity=(0.4, 1.3))


def test_noisy_clip_gains_at_least_as_much_as_finish(clean, tmp_path):
    rng = np.random.default_rng(7)
    noisy = [(f + rng.normal(0, 0.04, f.shape)).astype(np.float32) for f in clean]
    src = encode(tmp_path / "noisy.mp4", noisy, audio=None)
    auto = finish_clip(src, auto_recipe(), tmp_path / "auto")
    finish = finish_clip(src, finish_restoring(), tmp_path / "finish")
    before = score(src, clean)
    gain_auto = score(auto.output, clean) - before
    gain_finish = score(finish.output, clean) - before
    assert gain_auto >= gain_finish - 0.05, (gain_auto, gain_finish)
    report = json.loads(auto.report_path.read_text())
    ran = [s["processor"] for s in report["auto"]["ran"]]
    assert "denoise" in ran and "upscale" not in ran
    assert any("noise σ" in s["reason"] for s in report["auto"]["ran"])
    assert any(s["processor"] == "deflicker" and s["reason"].startswith("no deflicker")
               for s in report["auto"]["not_needed"])


def test_clean_clip_gets_no_step_and_loses_at_most_0_3_db(clean, tmp_path):
    src = encode(tmp_path / "clean.mp4", clean, audio=None)
    auto = finish_clip(src, auto_recipe(), tmp_path / "auto")
    report = json.loads(auto.report_path.read_text())
    assert report["auto"]["ran"] == []
    assert report["recipe"]["steps"] == []
    assert score(auto.output, clean) >= score(src, clean) - 0.3


def test_a_shaky_clip_is_stabilised_and_nothing_else(tmp_path):
    _, shaky = shaky_camera(24, (250, 200), shake=1.5, shake_roll=0.4, shake_zoom=0.005)
    src = encode(tmp_path / "shaky.mp4", film(photo("astronaut"), shaky, W, H), audio=None)
    auto = finish_clip(src, auto_recipe(), tmp_path / "auto")
    report = json.loads(auto.report_path.read_text())
    assert [s["processor"] for s in report["auto"]["ran"]] == ["stabilise"]
    assert inspect_clip(auto.output)["shake"]["jitter"] < 0.3 * report["auto"]["measured"]["shake"]
