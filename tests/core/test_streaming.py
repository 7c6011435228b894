"""Streaming: memory stays bounded whatever the clip length; the pipeline's window logic."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from postbay.pipeline import windowed
from postbay.synth import write_clip

PEAK = textwrap.dedent("""
    import json, resource, sys
    from postbay.recipe import parse_recipe
    from postbay.render import finish_clip
    recipe = parse_recipe({"name": "mem", "steps": [{"processor": "exposure", "stops": 0.25}],
                           "output": {"codec": "h264", "audio": "pcm", "container": "mov"}})
    r = finish_clip(sys.argv[1], recipe, sys.argv[2])
    print(json.dumps({"frames": r.report["frames"],
                      "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")


def peak_memory(src, out) -> dict:
    r = subprocess.run([sys.executable, "-c", PEAK, str(src), str(out)], capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def flat(i: int, width: int, height: int) -> np.ndarray:
    img = np.empty((height, width, 3), np.float32)
    img[...] = (0.2 + 0.6 * ((i % 48) / 48), 0.5, 0.4)
    return img


def _memory_ratio(tmp_path, width: int, height: int) -> tuple[dict, dict]:
    rate = Fraction(24)
    short = write_clip(tmp_path / "short.mp4", frames=240, width=width, height=height, rate=rate, pattern=flat,
                       audio="tone")
    long = write_clip(tmp_path / "long.mp4", frames=2880, width=width, height=height, rate=rate, pattern=flat,
                      audio="tone")
    a = peak_memory(short, tmp_path / "o1")
    b = peak_memory(long, tmp_path / "o2")
    assert (a["frames"], b["frames"]) == (240, 2880)
    return a, b


def test_peak_memory_two_minutes_vs_ten_seconds(tmp_path):
    """2 minutes vs 10 seconds (small pictures; the 1080p version is marked slow): within 1.5x."""
    a, b = _memory_ratio(tmp_path, 320, 180)
    assert b["peak_kib"] <= 1.5 * a["peak_kib"], (a, b)


@pytest.mark.slow
def test_peak_memory_two_minutes_vs_ten_seconds_1080p(tmp_path):
    a, b = _memory_ratio(tmp_path, 1920, 1080)
    assert b["peak_kib"] <= 1.5 * a["peak_kib"], (a, b)


def test_window_repeats_edges_and_keeps_order():
    frames = list(range(5))
    got = list(windowed(frames, 2, 1))
    assert got == [[0, 0, 0, 1], [0, 0, 1, 2], [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 4]]
    assert list(windowed([7], 1, 2)) == [[7, 7, 7, 7]]
    assert list(windowed(frames, 0, 0)) == [[f] for f in frames]


def test_window_holds_only_what_it_needs():
    """The windowed iterator never pulls more than `after + 1` frames ahead of what it yields."""
    pulled = []

    def source():
        for i in range(100):
            pulled.append(i)
            yield i

    it = windowed(source(), 3, 2)
    for n, window in enumerate(it):
        assert len(pulled) <= n + 3
        assert window[3] == n
