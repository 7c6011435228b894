"""End to end: a real clip through a recipe of the finishing steps with postbay.render.finish_clip."""

from __future__ import annotations

import tomllib

import numpy as np
from media import add_noise, pan, photo, psnr
from parity import backend_named

from postbay.backend import numpy_backend
from postbay.media import VideoReader, probe
from postbay.recipe import builtin_recipe_paths, parse_recipe
from postbay.render import finish_clip
from postbay.synth import ai_look_frame, write_clip

FINISH = {
    "name": "finish-test",
    "steps": [
        {"processor": "denoise", "strength": 0.6},
        {"processor": "deblock"},
        {"processor": "deflicker", "window": 9},
        {"processor": "upscale", "scale": 2, "sharpen": 0.2},
        {"processor": "soften", "amount": 0.2},
        {"processor": "grain", "amount": 0.01, "seed": 4},
    ],
    "output": {"codec": "h264", "audio": "copy"},
}


def test_finish_clip_runs_every_step(tmp_path):
    clean = pan(photo("astronaut"), 12, 160, 120)
    noisy = add_noise(clean, 0.04, seed=2)
    source = write_clip(tmp_path / "gen.mp4", frames=12, width=160, height=120,
                        pattern=lambda i, w, h: noisy[i], audio="tone")
    result = finish_clip(source, parse_recipe(FINISH), tmp_path / "out", gpu="off")
    assert result.ok and result.output.is_file()
    video = probe(result.output).require_video()
    assert (video.width, video.height, video.frames) == (320, 240, 12)
    assert probe(result.output).audio  # audio carried through
    timings = result.report["timings"]
    for name in ("denoise", "deblock", "deflicker", "upscale", "soften", "grain"):
        assert any(key.endswith(f":{name}") for key in timings)


def test_finish_clip_denoises_a_real_encode(tmp_path):
    clean = pan(photo("coffee"), 10, 160, 120)
    noisy = add_noise(clean, 0.04, seed=3)
    source = write_clip(tmp_path / "noisy.mp4", frames=10, width=160, height=120,
                        pattern=lambda i, w, h: noisy[i], audio=None)
    recipe = parse_recipe({"name": "clean", "steps": [{"processor": "denoise"}], "output": {"codec": "ffv1"}})
    result = finish_clip(source, recipe, tmp_path / "out", gpu="off")
    before = [p.astype(np.float32) / 65535 for _, p in VideoReader(source)]
    after = [p.astype(np.float32) / 65535 for _, p in VideoReader(result.output)]
    gain = np.mean([psnr(a, c) - psnr(b, c) for a, b, c in zip(after[2:-2], before[2:-2], clean[2:-2])])
    assert gain > 3.0


def test_the_finish_recipe_runs_the_same_on_a_device_backend(tmp_path, device):
    """The whole pipeline (upload, colour conversions, every step of `finish`, download) on a
    device backend gives the CPU's pictures: no host array meets device work on the way."""
    source = write_clip(tmp_path / "gen.mp4", frames=6, width=128, height=72, pattern=ai_look_frame, audio=None)
    steps = tomllib.loads(builtin_recipe_paths()["finish"].read_text())["steps"]
    for step in steps:  # every step of `finish`, enlarging 2x instead of to 1080 lines (a quick test)
        if step["processor"] == "upscale":
            step["height"] = 144
    recipe = parse_recipe({"name": "finish-small", "steps": steps, "output": {"codec": "ffv1"}})
    outputs = {}
    for name, backend in (("cpu", numpy_backend()), (device, backend_named(device))):
        result = finish_clip(source, recipe, tmp_path / name, backend=backend)
        assert result.report["backend"] == backend.name
        outputs[name] = [p.astype(np.float32) / 65535 for _, p in VideoReader(result.output)]
    assert np.mean([psnr(a, b) for a, b in zip(outputs[device], outputs["cpu"])]) > 50
