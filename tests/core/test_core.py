"""Registry, recipes, config and CLI listings."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from postbay.backend import get_backend, numpy_backend
from postbay.config import load_config, parse_duration
from postbay.errors import ConfigError, PostbayError, RecipeError
from postbay.media import PRESETS, frames_to_timecode, probe, snap_rate, timecode_to_frames
from postbay.recipe import find_recipes, load_recipe, parse_recipe
from postbay.registry import FrameFormat, ParamModel, Processor, Registry, default_registry, discover_plugins
from postbay.render import finish_clip


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "postbay", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_every_builtin_recipe_loads():
    recipes = find_recipes()
    assert {"passthrough", "review"} <= set(recipes)
    for name in recipes:
        recipe = load_recipe(name)
        assert recipe.output.codec in PRESETS


def test_user_recipe_folder_wins_over_builtin(tmp_path):
    (tmp_path / "review.toml").write_text('description = "mine"\n[output]\ncodec = "ffv1"\n')
    assert load_recipe("review", search_dirs=[tmp_path]).output.codec == "ffv1"
    assert load_recipe("review").output.codec == "h264"


def test_recipe_unknown_top_level_key():
    with pytest.raises(RecipeError, match="unknown key\\(s\\) stpes"):
        parse_recipe({"stpes": []}, source="x.toml")


def test_resize_keeps_display_aspect_when_one_side_given():
    recipe = parse_recipe({"steps": [{"processor": "resize", "height": 720}]})
    step = recipe.steps[0]
    fmt = FrameFormat(480, 360, Fraction(24), 10, Fraction(4, 3))  # anamorphic 16:9
    out = step.processor.output_format(step.params, fmt)
    assert (out.width, out.height, out.sample_aspect_ratio) == (1280, 720, 1)


def test_resize_end_to_end_in_linear_light(tmp_path, shared_clip):
    recipe = parse_recipe({"name": "up", "steps": [{"processor": "resize", "width": 640}],
                           "output": {"codec": "h264"}})
    result = finish_clip(shared_clip, recipe, tmp_path)
    v = probe(result.output).video
    assert (v.width, v.height, v.frames) == (640, 360, 24)
    timings = result.report["timings"]
    assert "1:resize" in timings and "colour display→linear" in timings and "colour linear→display" in timings


def test_exposure_doubles_linear_light(tmp_path):
    recipe = parse_recipe({"steps": [{"processor": "exposure", "stops": 1.0}]})
    from postbay.pipeline import Pipeline

    pipe = Pipeline(recipe.steps)
    grey = np.full((4, 4, 3), 0.18 ** (1 / 2.4), np.float32)  # 18% grey, display-encoded (gamma 2.4)
    picture = (grey * 65535).astype(np.uint16)
    out = list(pipe.process([picture], FrameFormat(4, 4, Fraction(24), 1)))[0].astype(np.float64) / 65535
    assert out[0, 0, 0] ** 2.4 == pytest.approx(0.36, rel=0.01)


def test_lut_processor_matches_numpy_trilinear(tmp_path):
    size = 5
    grid = np.linspace(0, 1, size)
    lines = [f"LUT_3D_SIZE {size}"]
    for b in grid:
        for g in grid:
            for r in grid:
                lines.append(f"{r ** 2:.6f} {g:.6f} {1 - b:.6f}")
    cube = tmp_path / "look.cube"
    cube.write_text("\n".join(lines) + "\n")
    recipe = parse_recipe({"steps": [{"processor": "lut", "path": str(cube), "interpolation": "linear"}]})
    step = recipe.steps[0]
    rng = np.random.default_rng(1)
    rgb = rng.random((8, 8, 3), dtype=np.float32)
    from postbay.registry import StepContext

    fmt = FrameFormat(8, 8, Fraction(24), 1)
    out = step.processor.function([rgb], StepContext(numpy_backend(), fmt, fmt), step.params)
    # separable LUT: r→r², g→g, b→1-b; trilinear interpolation between 5 nodes
    expect = np.stack([np.interp(rgb[..., 0], grid, grid ** 2), rgb[..., 1], 1 - rgb[..., 2]], -1)
    assert np.abs(out - expect).max() < 1e-5


def test_lut_missing_file_is_a_recipe_error():
    with pytest.raises(RecipeError, match="step 1 \\(lut\\): path: .*neither a file nor a shipped look"):
        parse_recipe({"steps": [{"processor": "lut", "path": "/no/such.cube"}]}, source="r.toml")


class _Params(ParamModel):
    gain: float = 1.0


def _gain(frames, ctx, params):
    return frames[0] * params.gain


def test_plugins_are_discovered_and_broken_ones_reported():
    good = SimpleNamespace(name="vig", value="pkg:REC", dist=SimpleNamespace(name="pkg"),
                           load=lambda: Processor("vignette2", _gain, _Params))
    broken = SimpleNamespace(name="bad", value="nope:X", dist=None,
                             load=lambda: (_ for _ in ()).throw(ImportError("no module named nope")))
    clash = SimpleNamespace(name="clash", value="c:R", dist=SimpleNamespace(name="c"),
                            load=lambda: Processor("resize", _gain, _Params))
    reg = default_registry(plugins=False)
    discover_plugins(reg, entry_points=[good, broken, clash])
    assert reg.get("vignette2").origin == "plugin:pkg"
    assert reg.get("resize").origin == "postbay"
    problems = {p.entry_point: p.error for p in reg.problems}
    assert "ImportError: no module named nope" in problems["bad = nope:X"]
    assert "would replace" in problems["clash = c:R"]


def test_registry_rejects_bad_records():
    reg = Registry()
    with pytest.raises(ValueError, match="colourspace"):
        reg.register(Processor("x", _gain, _Params, colourspace="xyz"))
    with pytest.raises(PostbayError, match="unknown processor 'nope'"):
        reg.get("nope")


def test_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "postbay.toml"
    cfg.write_text('gpu = "sometimes"\n[workers]\ncpu = -1\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(cfg) in str(err.value) and "gpu" in str(err.value) and "workers.cpu" in str(err.value)
    cfg.write_text('[[watch]]\npath = "drop"\nrecipe = "review"\n[workers]\njob_timeout = "2h"\n')
    config = load_config(cfg)
    assert config.watch[0].path == (tmp_path / "drop").resolve()
    assert config.workers.job_timeout == 7200
    assert parse_duration("15m") == 900


def test_gpu_required_without_cuda_is_a_clear_error():
    from postbay.backend import cupy_available

    if cupy_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="no CUDA device"):
        get_backend("required")
    assert get_backend("auto").name == "cpu"


def test_rates_and_timecode():
    assert snap_rate(Fraction(2997, 125)) == Fraction(24000, 1001)
    assert snap_rate(23.976) == Fraction(24000, 1001)
    assert timecode_to_frames("01:00:00:00", Fraction(24)) == 86400
    assert frames_to_timecode(107892, Fraction(30000, 1001)) == "01:00:00;00"
    assert frames_to_timecode(86364 + 100, Fraction(24000, 1001)) == "01:00:02:16"


def test_cli_listings(shared_clip):
    r = cli("probe", str(shared_clip))
    info = json.loads(r.stdout)
    assert info["video"]["rate"] == "24/1" and info["timecode"] == "01:00:00:00"
    r = cli("processors", "--json")
    assert r.returncode == 0
    names = [p["name"] for p in json.loads(r.stdout)["processors"]]
    assert {"resize", "exposure", "lut"} <= set(names)
    r = cli("recipes")
    assert "passthrough" in r.stdout and r.returncode == 0
    r = cli("presets")
    assert "prores_hq" in r.stdout
    assert cli("--version").stdout.startswith("postbay ")


def test_demo_makes_and_finishes_a_clip(tmp_path):
    r = cli("demo", "--out", str(tmp_path / "demo"), "--frames", "12", "--recipe", "review", "-q")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "demo" / "finished" / "demo-ai-clip.report.json").read_text())
    assert report["status"] == "done" and report["verification"]["ok"]
    assert report["input"]["video"]["width"] == 1280 and report["input"]["audio"]
