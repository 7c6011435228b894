"""stabilise on jittery camera moves (translation, roll and zoom jitter over photographs): residual
jitter ≤ 30 % of the input's and at most FFmpeg deshake's, each shot's crop only what it needs and
≤ 10 %, the intended move (pan, roll, push) kept within 2 px of the smooth truth, a fresh path
after a cut, and the same result on the CuPy-shaped backend."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from inspect_media import film, photo, shaky_camera

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "processors"))
from media import ffmpeg_filter, run_processor
from parity import assert_backends_agree

from postbay.inspect.motion import MotionTracker, jitter, rms_radius
from postbay.pipeline import Pipeline
from postbay.recipe import Step
from postbay.registry import FrameFormat, default_registry

W, H, RATE = 256, 192, 24
RADIUS = rms_radius(H, W)
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)

#: (photograph, start (y, x), the camera's move and its shake) for each case
CASES = {
    "pan, translation shake": ("astronaut", (250, 200), dict(shake=3.0)),
    "pan, roll and push, shaken in all three": ("coffee", (200, 260), dict(velocity=(0.4, -1.0), roll=0.1, push=0.002,
                                                                          shake=2.0, shake_roll=0.4, shake_zoom=0.006)),
}


def camera_moves(frames: list[np.ndarray]) -> np.ndarray:
    """(n - 1, 4) global motion between consecutive frames (dy, dx, rotation, zoom), measured as inspect does."""
    tracker = MotionTracker()
    steps = [tracker(f @ LUMA, shimmer=False, similarity=True) for f in frames]
    return np.array([[s.dy, s.dx, s.rotation, s.zoom] for s in steps[1:]])


def shake(frames: list[np.ndarray]) -> float:
    return jitter(camera_moves(frames), RATE, RADIUS)


def stabilised(frames: list[np.ndarray], cuts: tuple[int, ...] = ()) -> tuple[list[np.ndarray], dict]:
    """stabilise run by the pipeline (16-bit frames in and out), with its notes."""
    proc = default_registry(plugins=False).get("stabilise")
    pipeline = Pipeline([Step(1, proc, proc.params())], cuts=cuts)
    pictures = [np.round(np.clip(f, 0, 1) * 65535).astype(np.uint16) for f in frames]
    out = [f.astype(np.float32) / 65535 for f in pipeline.process(pictures, FrameFormat(W, H, RATE, len(frames)))]
    return out, pipeline.notes["1:stabilise"]


def displacement(picture: np.ndarray, truth: np.ndarray) -> float:
    """RMS over the picture of how far its content sits from where ``truth`` shows it, pixels."""
    tracker = MotionTracker()
    tracker(truth @ LUMA, shimmer=False)
    m, t = tracker(picture @ LUMA, shimmer=False, similarity=True).similarity()
    return float(np.hypot(abs(t), abs(m - 1) * RADIUS))


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    name, start, move = CASES[request.param]
    smooth, shaky = shaky_camera(48, start, **move)
    return photo(name), smooth, film(photo(name), shaky, W, H)


def test_the_tracker_reads_roll_and_zoom():
    smooth, shaky = shaky_camera(16, (250, 220), roll=0.1, shake=3.0, shake_roll=0.4, shake_zoom=0.006)
    frames = film(photo("astronaut"), shaky, W, H)
    for k, (dy, dx, rotation, zoom) in enumerate(camera_moves(frames), start=1):
        # content moves opposite to the camera: p' = (z'/z) e^{-i(r' - r)} p + z' e^{-ir'} (c - c')
        m = shaky.zoom[k] / shaky.zoom[k - 1] * np.exp(-1j * (shaky.roll[k] - shaky.roll[k - 1]))
        t = shaky.zoom[k] * np.exp(-1j * shaky.roll[k]) * (shaky.centre[k - 1] - shaky.centre[k])
        assert abs(complex(dx, dy) - t) < 0.1, k
        assert abs(np.degrees(rotation - np.angle(m))) < 0.05, k
        assert abs(zoom - np.log(abs(m))) < 0.001, k


def test_residual_jitter_crop_and_the_move_kept(case):
    image, smooth, frames = case
    ours, notes = stabilised(frames)
    before, after = shake(frames), shake(ours[4:-4])
    theirs = shake(ffmpeg_filter(frames, "deshake")[4:-4])
    assert after <= 0.3 * before, (before, after)
    assert after <= theirs, (after, theirs)
    assert 0.0 < notes["crop"] <= 0.10 and notes["crops"] == [[0, notes["crop"]]]
    # the move itself: each frame shows what the smooth camera, zoomed by the crop, sees
    truth = film(image, smooth.zoomed(1 / (1 - notes["crop"])), W, H)
    errors = [displacement(o, t) for o, t in zip(ours, truth, strict=True)]
    assert max(errors) <= 2.0, np.round(errors, 2)


def test_the_crop_is_what_each_shot_needs():
    image = photo("astronaut")
    gentle = film(image, shaky_camera(24, (250, 200), shake=1.0)[1], W, H)
    steady = film(image, shaky_camera(24, (250, 200), shake=0.0)[0], W, H)
    strong = film(photo("coffee"), shaky_camera(24, (200, 260), shake=4.0, shake_roll=0.3)[1], W, H)
    out, notes = stabilised(gentle + steady + strong, cuts=(24, 48))
    (_, gentle_crop), (_, steady_crop), (_, strong_crop) = notes["crops"]
    assert [n for n, _ in notes["crops"]] == [0, 24, 48]
    assert steady_crop < 0.005 < gentle_crop < strong_crop <= 0.10, notes["crops"]
    assert np.abs(out[36] - steady[12]).mean() < 0.01  # a steady shot is left (almost) as it was
    # each shot's path is its own: the jitter of the last is taken out as if it were alone
    assert shake(out[52:-4]) <= 0.3 * shake(strong)


def test_the_cpu_shaped_like_cupy_agrees(case, device):
    _, _, frames = case
    assert_backends_agree(lambda backend: run_processor("stabilise", frames[:16], backend=backend),
                          atol=1e-5, device=device)
