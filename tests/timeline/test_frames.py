"""Frame accuracy: every rendered frame is the source frame the timeline names, handles included.

Stand-in media carry their own frame number as binary blocks; the test decodes each
finished shot and the programme render and reads the numbers back. Dissolve frames are
checked against the exact blend of the two frames the timeline names.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from postbay.media import VideoReader, probe, timecode_to_frames
from postbay.synth import frame_number_pattern, read_frame_number
from postbay.timeline.conform import conform_timeline
from postbay.timeline.writeback import Picture, write_timeline

from .cuts import RT, Shot, build_cut, recipe_with

SHOTS = [Shot("a.mov", 20, 8), Shot("b.mov", 30, 6), Shot("a.mov", 24, 6), Shot("c.mov", 14, 5)]
DISSOLVE = (2, 2)  # frames before and after the cut from B to the second A
MEDIA_FRAMES = 72


def _cut(folder: Path, rate: Fraction, drop: bool | None) -> otio.schema.Timeline:
    tl = build_cut(folder, SHOTS, rate=rate, media_frames=MEDIA_FRAMES, drop_frame=drop, gaps={0: 3})
    track = tl.tracks[0]
    # items: A, gap, B, A2, C → dissolve between B and A2
    track.insert(3, otio.schema.Transition(name="dissolve", transition_type="SMPTE_Dissolve",
                                           in_offset=RT(DISSOLVE[0], float(rate)),
                                           out_offset=RT(DISSOLVE[1], float(rate))))
    return tl


def _expected_programme(rate: Fraction) -> list[tuple]:
    """For each programme frame: ("cut", n) or ("black",) or ("mix", n_out, n_in, alpha)."""
    frames: list[tuple] = []
    a, b, a2, c = SHOTS
    frames += [("cut", a.src_in + i) for i in range(a.length)]
    frames += [("black",)] * 3
    lo, hi = DISSOLVE
    for i in range(b.length):
        if i >= b.length - lo:
            k = i - (b.length - lo)
            frames.append(("mix", b.src_in + i, a2.src_in - lo + k, (k + 0.5) / (lo + hi)))
        else:
            frames.append(("cut", b.src_in + i))
    for i in range(a2.length):
        if i < hi:
            k = lo + i
            frames.append(("mix", b.src_in + b.length + i, a2.src_in + i, (k + 0.5) / (lo + hi)))
        else:
            frames.append(("cut", a2.src_in + i))
    frames += [("cut", c.src_in + i) for i in range(c.length)]
    return frames


def _bit_means(picture: np.ndarray) -> np.ndarray:
    img = picture.astype(np.float32) / 65535.0
    cell = 8
    return np.array([img[cell // 4: 3 * cell // 4, bit * cell + cell // 4: (bit + 1) * cell - cell // 4].mean()
                     for bit in range(16)])


CASES = [
    (Fraction(24000, 1001), None, "fcp_xml", "xml"),
    (Fraction(24), None, "otio_json", "otio"),
    (Fraction(25), None, "otio_json", "otio"),
    (Fraction(30000, 1001), True, "AAF", "aaf"),  # drop-frame timecode, through Avid's format
    (Fraction(30), None, "fcp_xml", "xml"),
]


@pytest.mark.parametrize("rate,drop,fmt,suffix", CASES,
                         ids=["23.976-xml", "24-otio", "25-otio", "29.97DF-aaf", "30-xml"])
def test_frame_accurate(tmp_path: Path, rate: Fraction, drop: bool | None, fmt: str, suffix: str) -> None:
    media = tmp_path / "media"
    tl = _cut(media, rate, drop)
    source = tmp_path / f"cut.{suffix}"
    written = write_timeline(tl, fmt, source, rate=rate, picture=Picture(128, 72, rate))
    assert written.error is None
    recipe = recipe_with(deliveries=[{"name": "master", "codec": "ffv1", "audio": "none"}])
    result = conform_timeline(source, recipe, tmp_path / "out", workers=2)
    assert result.ok, result.summary_path.read_text()

    origin = timecode_to_frames(probe(media / "a.mov").timecode, rate)
    conformed = [p for p in result.clips if p.status == "conformed"]
    assert len(conformed) == 4
    # The two clips of a.mov overlap once handles are added: one render holds both.
    assert len(result.jobs) == 3
    a_job = next(j for j in result.jobs if j.media.name == "a.mov")
    assert len(a_job.clips) == 2
    assert (a_job.start, a_job.start + a_job.count) == (20 - 12, 24 + 6 + 12)
    for job in result.jobs:
        info = probe(job.output)
        assert Fraction(info.video.rate) == rate
        assert timecode_to_frames(info.timecode, rate) == origin + job.start
        if drop:
            assert ";" in info.timecode
        numbers = [read_frame_number(p) for _, p in VideoReader(job.output)]
        assert numbers == list(range(job.start, job.start + job.count)), job.name

    programme = Path(result.deliveries[0]["output"])
    expected = _expected_programme(rate)
    pictures = [p for _, p in VideoReader(programme)]
    assert len(pictures) == len(expected)
    for t, (want, picture) in enumerate(zip(expected, pictures)):
        if want[0] == "cut":
            assert read_frame_number(picture) == want[1], (t, want)
        elif want[0] == "black":
            assert picture.max() < 0.03 * 65535, t
        else:
            _, n_out, n_in, alpha = want
            blend = (1 - alpha) * _bit_means((frame_number_pattern(n_out, 128, 72) * 65535).astype(np.uint16)) \
                + alpha * _bit_means((frame_number_pattern(n_in, 128, 72) * 65535).astype(np.uint16))
            assert np.abs(_bit_means(picture) - blend).max() < 0.03, (t, want)
