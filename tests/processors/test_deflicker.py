"""deflicker: removes ≥ 85 % of the flicker index; a real cut is not smeared, a fade stays a fade."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from media import ffmpeg_filter, flicker, luma, pan, photo, psnr, run_processor
from parity import assert_backends_agree


def flicker_index(frames, shots) -> float:
    """Variance of per-frame mean luma once each shot's slow trend (a 9-frame local line) is removed."""
    m = np.array([luma(f).mean() for f in frames])
    total = 0.0
    for start, end in shots:
        seg = m[start:end]
        total += float(np.var(seg - scipy.signal.savgol_filter(seg, 9, 1, mode="interp")))
    return total


@pytest.fixture(scope="module")
def two_shots():
    # Shot A: a bright portrait panning; shot B: a darker still life panning the other way.
    a = pan(photo("astronaut"), 24, 192, 144)
    b = [0.55 * f for f in pan(photo("coffee"), 24, 192, 144, velocity=(0.3, -1.2), start=(20, 300))]
    clean = a + b
    flickered, _ = flicker(clean, amplitude=0.08)
    return clean, flickered


def test_flicker_removed_and_cut_kept(two_shots):
    clean, flickered = two_shots
    shots = [(0, 24), (24, 48)]
    out = run_processor("deflicker", flickered)
    assert len(out) == len(flickered)
    assert flicker_index(out, shots) <= 0.15 * flicker_index(flickered, shots)
    assert np.mean([psnr(o, c) for o, c in zip(out, clean)]) > np.mean(
        [psnr(f, c) for f, c in zip(flickered, clean)]) + 5
    # The frames either side of the cut keep their own shot's level: no pull across the cut.
    level = [luma(f).mean() for f in out]
    # (A shot's first and last frames see only one side, so their reference is looser.)
    assert abs(level[23] - np.mean(level[18:23])) < 0.015
    assert abs(level[24] - np.mean(level[25:30])) < 0.015
    # FFmpeg's deflicker averages across the cut and drags the last frames of shot A down.
    ffmpeg = [luma(f).mean() for f in ffmpeg_filter(flickered, "deflicker=size=15")]
    assert abs(ffmpeg[23] - np.mean(ffmpeg[18:23])) > 0.05


def test_fade_is_kept():
    clean = pan(photo("chelsea"), 20, 160, 120)
    fade = [f * np.float32(1.0 - 0.04 * i) for i, f in enumerate(clean)]  # a fade towards black
    flickered, _ = flicker(fade, amplitude=0.05, seed=8)
    out = run_processor("deflicker", flickered, window=9)
    err = [abs(luma(o).mean() - luma(c).mean()) for o, c in zip(out, fade)]
    assert max(err) < 0.02
    assert flicker_index(out, [(0, 20)]) <= 0.15 * flicker_index(flickered, [(0, 20)])


def test_cuts_given_by_the_job_are_respected(two_shots):
    from postbay.pipeline import Pipeline
    from postbay.recipe import Step
    from postbay.registry import FrameFormat, default_registry

    _, flickered = two_shots
    proc = default_registry(plugins=False).get("deflicker")
    pipeline = Pipeline([Step(1, proc, proc.params())], cuts=(10,))  # the job's cut, and the picture's at 24
    pictures = [np.round(np.clip(f, 0, 1) * 65535).astype(np.uint16) for f in flickered]
    out = list(pipeline.process(pictures, FrameFormat(192, 144, 24, 48)))
    assert len(out) == 48 and pipeline.notes["1:deflicker"]["cuts"] == [10, 24]


def test_strength_zero_is_identity(two_shots):
    _, flickered = two_shots
    out = run_processor("deflicker", flickered[:6], strength=0.0)
    assert all(np.allclose(o, f, atol=1e-6) for o, f in zip(out, flickered))


@pytest.mark.gpu
def test_gpu_matches_cpu(two_shots):
    _, flickered = two_shots
    assert_backends_agree(lambda backend: run_processor("deflicker", flickered, backend=backend), atol=1e-4)
