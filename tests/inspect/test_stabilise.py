"""stabilise on a jittery pan: residual jitter ≤ 30 % of the input's and at most FFmpeg deshake's,
crop ≤ 10 %, the intended pan kept within 2 px, and a fresh path after a cut."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from inspect_media import jittered_pan, photo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "processors"))
from media import ffmpeg_filter, run_processor

from postbay.inspect.motion import MotionTracker, jitter
from postbay.processors.stabilise import StabiliseParams

W, H, RATE = 256, 192, 24
VELOCITY = (0.3, 1.2)


def camera_moves(frames: list[np.ndarray]) -> np.ndarray:
    """(n - 1, 2) global motion between consecutive frames, measured as inspect does."""
    tracker = MotionTracker()
    steps = [tracker(f @ np.array([0.2126, 0.7152, 0.0722], np.float32), shimmer=False) for f in frames]
    return np.array([[s.dy, s.dx] for s in steps[1:]])


@pytest.fixture(scope="module")
def shaky():
    frames, _ = jittered_pan(photo("astronaut"), 48, W, H, jitter=3.0, velocity=VELOCITY)
    return frames


def test_residual_jitter_and_pan_kept(shaky):
    params = StabiliseParams()
    before = jitter(camera_moves(shaky), RATE)
    ours = run_processor("stabilise", shaky)
    deshake = ffmpeg_filter(shaky, "deshake")
    after = jitter(camera_moves(ours[4:-4]), RATE)
    theirs = jitter(camera_moves(deshake[4:-4]), RATE)
    assert after <= 0.3 * before, (before, after)
    assert after <= theirs, (after, theirs)
    assert params.crop <= 0.10
    # the pan itself: the stabilised path follows the smooth truth (magnified by the crop's zoom)
    zoom = 1 / (1 - params.crop)
    path = np.concatenate([[[0.0, 0.0]], np.cumsum(camera_moves(ours), axis=0)])
    truth = -np.outer(np.arange(len(ours)), VELOCITY) * zoom
    residual = (path - truth) - (path - truth)[len(ours) // 2]
    assert np.abs(residual[4:-4]).max() <= 2.0, np.abs(residual).max()


def test_path_restarts_at_a_cut(shaky):
    other, _ = jittered_pan(photo("coffee"), 24, W, H, jitter=3.0, velocity=(-0.5, 0.8), seed=9)
    frames = shaky[:24] + other
    out = run_processor("stabilise", frames)
    second = jitter(camera_moves(out[28:-4]), RATE)
    assert second <= 0.3 * jitter(camera_moves(other), RATE)
