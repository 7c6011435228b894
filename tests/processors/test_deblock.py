"""deblock: halves the blocking of an over-quantised DCT codec without costing PSNR or real detail."""

from __future__ import annotations

import numpy as np
import pytest
from media import blockiness, compress, pan, photo, psnr, run_processor
from parity import assert_backends_agree


@pytest.fixture(scope="module", params=["astronaut", "coffee"])
def blocky_clip(request, tmp_path_factory):
    clean = pan(photo(request.param), 4, 256, 192)
    return clean, compress(clean, tmp_path_factory.mktemp("deblock") / "blocky.avi", qscale=20)


def test_blocking_halved_without_losing_psnr(blocky_clip):
    clean, blocky = blocky_clip
    before = np.mean([blockiness(b) for b in blocky])
    assert before > 0.25  # the codec really left a grid
    out = run_processor("deblock", blocky)
    after = np.mean([blockiness(o) for o in out])
    assert after <= 0.5 * before
    assert np.mean([psnr(o, c) for o, c in zip(out, clean)]) >= np.mean([psnr(b, c) for b, c in zip(blocky, clean)])


def test_clean_detail_is_left_alone():
    clean = pan(photo("chelsea"), 1, 256, 192)
    out = run_processor("deblock", clean, strength=0.5)
    assert psnr(out[0], clean[0]) > 40.0


def test_strength_zero_is_identity():
    clean = pan(photo("chelsea"), 1, 64, 48)
    assert np.array_equal(run_processor("deblock", clean, strength=0.0)[0], clean[0])


@pytest.mark.gpu
def test_gpu_matches_cpu(blocky_clip):
    _, blocky = blocky_clip
    assert_backends_agree(lambda backend: run_processor("deblock", blocky[:1], backend=backend), atol=1e-4)
