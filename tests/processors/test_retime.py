"""retime: motion in-betweens beat a cross-fade on a pan; duplicated frames are rebuilt."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from media import pan_clip
from parity import assert_backends_agree

from postbay.backend import numpy_backend
from postbay.processors.retime import RetimeParams, retime, retime_format
from postbay.registry import FrameFormat, StepContext


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def run(frames, rate, params):
    fmt = FrameFormat(frames[0].shape[1], frames[0].shape[0], Fraction(rate), len(frames))
    ctx = StepContext(numpy_backend(), fmt, retime_format(params, fmt))
    return list(retime(iter(frames), ctx, params)), ctx


@pytest.fixture(scope="module")
def pan48():
    """The clean truth: a 48 fps pan across a photograph, 2.5 px per frame."""
    return pan_clip(24, 256, 192, 2.5)


def test_motion_in_betweens_beat_blending_by_3db_and_round_trip(pan48):
    src24 = pan48[0::2]
    scores = {}
    for method in ("motion", "blend"):
        up, ctx = run(src24, 24, RetimeParams(fps=48, method=method))
        assert len(up) == ctx.fmt_out.frames == 24 and ctx.fmt_out.rate == 48
        scores[method] = np.mean([psnr(up[k], pan48[k]) for k in range(1, 23, 2)])
        down, ctx2 = run(up, 48, RetimeParams(fps=24, method=method))
        assert len(down) == 12 and ctx2.fmt_out.rate == 24
        assert all(np.array_equal(d, s) for d, s in zip(down, src24))  # 24→48→24 gives the originals back
    assert scores["motion"] >= scores["blend"] + 3.0, scores


def test_ntsc_conform_keeps_duration_and_interpolates(pan48):
    out, ctx = run(pan48[:10], 25, RetimeParams(fps="24000/1001"))
    assert ctx.fmt_out.rate == Fraction(24000, 1001)
    assert len(out) == ctx.fmt_out.frames == round(10 * Fraction(24000, 1001) / 25)
    assert np.array_equal(out[0], pan48[0])


def test_drop_method_repeats_whole_frames(pan48):
    out, _ = run(pan48[:12], 24, RetimeParams(fps=30, method="drop"))
    assert len(out) == 15
    assert all(any(np.array_equal(o, s) for s in pan48[:12]) for o in out)


def test_duplicated_frames_are_found_and_rebuilt():
    clean = pan_clip(20, 256, 192, 4.0)
    stutter = list(clean)
    stutter[8] = clean[7]     # a held frame standing in for a missing one
    stutter[14] = clean[15]   # a frame dropped, then the next one repeated
    out, ctx = run(stutter, 24, RetimeParams(fps=24))
    assert ctx.notes["repaired_frames"] == [8, 14]
    assert ctx.notes["suspected_drops"] == []  # the gaps beside the repeats are explained
    for i in (8, 14):
        assert psnr(out[i], clean[i]) >= psnr(stutter[i], clean[i]) + 8.0
    assert all(np.array_equal(out[i], clean[i]) for i in range(20) if i not in (8, 14))


def test_a_dropped_frame_is_reported():
    clean = pan_clip(21, 256, 192, 4.0)
    dropped = clean[:10] + clean[11:]  # frame 10 never came: a double jump between 9 and 10
    out, ctx = run(dropped, 24, RetimeParams(fps=24))
    assert ctx.notes["suspected_drops"] == [10] and ctx.notes["repaired_frames"] == []


def test_still_shot_is_not_repaired():
    still = [pan_clip(1, 128, 96, 0.0)[0]] * 10
    out, ctx = run(still, 24, RetimeParams(fps=24))
    assert ctx.notes["repaired_frames"] == []


def test_fps_is_validated():
    with pytest.raises(ValueError, match="not a frame rate"):
        RetimeParams(fps="fast")
    assert RetimeParams(fps=23.976).fps == "24000/1001"


@pytest.mark.gpu
def test_gpu_in_betweens_match_cpu(pan48):
    from postbay.processors.retime import interpolate

    a, b = pan48[0], pan48[2]
    # Same maths; float32 sums in another order.
    assert_backends_agree(lambda backend: interpolate(backend.asarray(a), backend.asarray(b), 0.5, backend.xp,
                                                      backend.ndimage), min_psnr=45.0)
