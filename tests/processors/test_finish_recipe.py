"""End to end: a real clip through a recipe of the finishing steps with postbay.render.finish_clip."""

from __future__ import annotations

import numpy as np
from media import add_noise, pan, photo, psnr

from postbay.media import VideoReader, probe
from postbay.recipe import parse_recipe
from postbay.render import finish_clip
from postbay.synth import write_clip

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
