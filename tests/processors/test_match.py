"""match: colour-cast shots of a scene land on the reference's colour; one CDL per shot."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from media import photo
from parity import assert_backends_agree
from PIL import Image

from postbay.backend import numpy_backend
from postbay.errors import PostbayError
from postbay.media import read_reference
from postbay.processors.grade import CDL, apply_cdl
from postbay.processors.match import MatchParams, cdl_for_clip, match, match_cdl, rgb_to_lab
from postbay.registry import FrameFormat, StepContext
from postbay.synth import write_clip

deltaE_ciede2000 = pytest.importorskip("skimage.color").deltaE_ciede2000

CASTS = [CDL(slope=(1.15, 1.0, 0.82), offset=(0.02, 0.0, -0.01)),                              # warm, lifted
         CDL(slope=(0.9, 1.08, 1.0), offset=(0.0, 0.03, 0.02), power=(1.1, 0.95, 1.0), sat=0.8),  # green, flat
         CDL(slope=(0.85, 0.9, 1.12), offset=(0.04, 0.03, 0.05), power=0.9, sat=1.15)]          # cold, milky


def lab(rgb):
    return rgb_to_lab(np.clip(rgb, 0, 1))


def mean_de(a, b) -> float:
    """ΔE2000 between the mean colours of two pictures (their content differs: pixels do not pair)."""
    return float(deltaE_ciede2000(lab(a).reshape(-1, 3).mean(0), lab(b).reshape(-1, 3).mean(0)))


def framings(name):
    """Two framings of one scene: the left 60 % (the reference) and the right 60 % (the shot)."""
    img = photo(name)[::2, ::2]
    w = img.shape[1]
    return img[:, : int(w * 0.6)], img[:, int(w * 0.4):]


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_match_cuts_delta_e_to_the_reference_by_75_percent(name):
    reference, clean = framings(name)
    for cast in CASTS:
        shot = np.clip(apply_cdl(clean, cast), 0, 1)
        cdl = match_cdl([shot], reference)
        out = np.clip(apply_cdl(shot, cdl), 0, 1)
        before, after = mean_de(shot, reference), mean_de(out, reference)
        assert after <= 0.25 * before, (cast, before, after)


def test_match_takes_the_cast_itself_out_when_the_scene_is_alike():
    # Where both framings hold the same kind of content, the per-pixel error to the clean
    # shot (the truth) falls too, not only the average colour.
    reference, clean = framings("chelsea")
    for cast in CASTS:
        shot = np.clip(apply_cdl(clean, cast), 0, 1)
        out = np.clip(apply_cdl(shot, match_cdl([shot], reference)), 0, 1)
        before = deltaE_ciede2000(lab(shot), lab(clean)).mean()
        after = deltaE_ciede2000(lab(out), lab(clean)).mean()
        assert after <= 0.4 * before, (cast, before, after)


def test_one_correction_per_shot_from_a_still_reference(tmp_path):
    reference, clean = framings("coffee")
    still = tmp_path / "hero.png"
    Image.fromarray((reference * 255 + 0.5).astype(np.uint8)).save(still)
    # A shot whose exposure pumps frame to frame: the correction must not follow the pumping.
    frames = [np.clip(apply_cdl(clean, CASTS[0]) * (1 + 0.05 * np.sin(i)), 0, 1).astype(np.float32)
              for i in range(10)]
    params = MatchParams(reference=str(still), frames=4)
    fmt = FrameFormat(clean.shape[1], clean.shape[0], Fraction(24), 10)
    ctx = StepContext(numpy_backend(), fmt, fmt, reference=read_reference(still))  # decoded as the render does
    out = list(match(iter(frames), ctx, params))
    assert len(out) == 10
    cdl = CDL(**ctx.notes["cdl"])
    assert not cdl.is_identity
    for f, o in zip(frames, out):
        assert np.allclose(o, apply_cdl(f, cdl), atol=1e-6)
    assert mean_de(out[0], reference) < 0.35 * mean_de(frames[0], reference)  # measured on pumping frames


def test_reference_from_the_conform_and_from_a_clip(tmp_path):
    reference, clean = framings("rocket")
    shot = np.clip(apply_cdl(clean, CASTS[1]), 0, 1).astype(np.float32)
    fmt = FrameFormat(shot.shape[1], shot.shape[0], Fraction(24), 3)
    ctx = StepContext(numpy_backend(), fmt, fmt, reference=reference[None])
    list(match(iter([shot] * 3), ctx, MatchParams()))
    from_array = CDL(**ctx.notes["cdl"])
    # The conform's way: a CDL from a clip on disk, without rendering anything.
    hero = write_clip(tmp_path / "hero.mov", frames=4, width=reference.shape[1] // 2 * 2,
                      height=reference.shape[0] // 2 * 2, codec="prores", pix_fmt="yuv422p10le", audio=None,
                      pattern=lambda i, w, h: reference[:h, :w])
    take = write_clip(tmp_path / "take.mov", frames=4, width=shot.shape[1] // 2 * 2, height=shot.shape[0] // 2 * 2,
                      codec="prores", pix_fmt="yuv422p10le", audio=None, pattern=lambda i, w, h: shot[:h, :w])
    from_clips = cdl_for_clip(take, hero, frames=2)
    # Both corrections (the codec round trip aside) grade the shot alike: compare pictures, since
    # slope, offset and power trade off against each other.
    a, b = np.clip(apply_cdl(shot, from_array), 0, 1), np.clip(apply_cdl(shot, from_clips), 0, 1)
    assert deltaE_ciede2000(lab(a), lab(b)).mean() < 1.5


def test_missing_reference_is_a_clear_error(tmp_path):
    fmt = FrameFormat(8, 8, Fraction(24), 1)
    ctx = StepContext(numpy_backend(), fmt, fmt)
    with pytest.raises(PostbayError, match="match needs a reference"):
        list(match(iter([np.zeros((8, 8, 3), np.float32)]), ctx, MatchParams()))
    with pytest.raises(ValueError, match="not found"):
        MatchParams(reference=str(tmp_path / "nope.png"))


@pytest.mark.gpu
def test_gpu_match_applies_the_same_cdl():
    reference, clean = framings("coffee")
    shot = np.clip(apply_cdl(clean, CASTS[0]), 0, 1).astype(np.float32)
    fmt = FrameFormat(shot.shape[1], shot.shape[0], Fraction(24), 2)

    def matched(backend):
        ctx = StepContext(backend, fmt, fmt, reference=reference[None])
        return list(match(iter([backend.asarray(shot)] * 2), ctx, MatchParams()))[0]

    assert_backends_agree(matched, atol=1e-4)
