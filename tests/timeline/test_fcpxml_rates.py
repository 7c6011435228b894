"""FCPXML as Final Cut Pro writes it, at 23.976, 29.97 drop-frame and 59.94: read at the exact
rate and conformed frame for frame.

The document below has what a Final Cut 10.4+ export has and OTIO's adapter mishandles: an
NTSC ``frameDuration``, a ``tcStart`` of one hour (the primary storyline's offsets start
there), media named by ``<media-rep>`` (FCPXML 1.9+) rather than ``src``, a gap, and a
connected clip on lane 1.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from postbay.media import VideoReader, frames_to_timecode, probe, timecode_to_frames
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline
from postbay.timeline.fcpxml import fcpx_time
from postbay.timeline.reader import read_timeline

from .cuts import recipe_with, stand_in

MEDIA_FRAMES = 90
#: (media, source in-point in file frames, length): the storyline; a 3-frame gap after the first.
STORYLINE = [("A001", 20, 10), ("B002", 33, 8)]
GAP = 3
CONNECTED = ("C003", 40, 4, 2)  # media, in-point, length, frames into the first clip where it sits


def _document(media: Path, rate: Fraction, drop: bool) -> str:
    t = lambda frames: fcpx_time(Fraction(frames) / rate)  # noqa: E731
    hour = timecode_to_frames(frames_to_timecode(round(3600 * rate), rate, drop), rate)
    media_start = hour + round(10 * rate)  # the camera files start 10 s after the hour
    name = {Fraction(24000, 1001): "2398", Fraction(30000, 1001): "2997", Fraction(60000, 1001): "5994"}[rate]
    assets = "".join(
        f'<asset id="a{i}" name="{m}" start="{t(media_start)}" duration="{t(MEDIA_FRAMES)}" hasVideo="1" '
        f'format="r1" videoSources="1"><media-rep kind="original-media" src="{(media / (m + ".mov")).as_uri()}"/>'
        f'</asset>' for i, m in enumerate([s[0] for s in STORYLINE] + [CONNECTED[0]]))
    (a, a_in, a_len), (b, b_in, b_len) = STORYLINE
    c, c_in, c_len, c_at = CONNECTED
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.9">
    <resources>
        <format id="r1" name="FFVideoFormat1080p{name}" frameDuration="{t(1)}" width="1920" height="1080"/>
        {assets}
    </resources>
    <library>
        <event name="dailies">
            <project name="cut">
                <sequence format="r1" duration="{t(a_len + GAP + b_len)}" tcStart="{t(hour)}"
                          tcFormat="{'DF' if drop else 'NDF'}" audioLayout="stereo" audioRate="48k">
                    <spine>
                        <asset-clip ref="a0" name="{a}" offset="{t(hour)}" start="{t(media_start + a_in)}"
                                    duration="{t(a_len)}" format="r1" tcFormat="{'DF' if drop else 'NDF'}">
                            <asset-clip ref="a2" lane="1" name="{c}" offset="{t(media_start + a_in + c_at)}"
                                        start="{t(media_start + c_in)}" duration="{t(c_len)}" format="r1"/>
                        </asset-clip>
                        <gap name="Gap" offset="{t(hour + a_len)}" start="{t(hour)}" duration="{t(GAP)}"/>
                        <asset-clip ref="a1" name="{b}" offset="{t(hour + a_len + GAP)}"
                                    start="{t(media_start + b_in)}" duration="{t(b_len)}" format="r1"/>
                    </spine>
                </sequence>
            </project>
        </event>
    </library>
</fcpxml>
""", hour, media_start


CASES = [(Fraction(24000, 1001), False), (Fraction(30000, 1001), True), (Fraction(60000, 1001), True)]


@pytest.mark.parametrize("rate,drop", CASES, ids=["23.976", "29.97DF", "59.94DF"])
def test_fcpxml_reads_at_the_exact_rate(tmp_path: Path, rate: Fraction, drop: bool) -> None:
    text, hour, media_start = _document(tmp_path / "media", rate, drop)
    path = tmp_path / "cut.fcpxml"
    path.write_text(text)
    loaded = read_timeline(path)
    assert loaded.rate == rate
    tl = loaded.timelines[0]
    assert tl.global_start_time.value == hour and tl.global_start_time.rate == float(rate)
    assert tl.metadata["fcpx"]["tcFormat"] == ("DF" if drop else "NDF")
    primary = tl.tracks[0]
    assert [type(i).__name__ for i in primary] == ["Clip", "Gap", "Clip"]  # no hour-long gap before the first
    (a, a_in, a_len), (b, b_in, b_len) = STORYLINE
    assert [(i.source_range.start_time.value, i.source_range.duration.value) for i in primary] == \
        [(media_start + a_in, a_len), (0, GAP), (media_start + b_in, b_len)]
    assert all(i.source_range.duration.rate == float(rate) for i in primary)
    clip = primary[0]
    assert clip.media_reference.target_url.endswith("/A001.mov")  # from <media-rep>
    assert clip.media_reference.available_range.start_time.value == media_start
    connected = tl.tracks[1]
    c, c_in, c_len, c_at = CONNECTED
    assert [type(i).__name__ for i in connected] == ["Gap", "Clip"]
    assert connected[0].source_range.duration.value == c_at
    assert connected[1].source_range.start_time.value == media_start + c_in


@pytest.mark.parametrize("rate,drop", CASES, ids=["23.976", "29.97DF", "59.94DF"])
def test_fcpxml_conforms_frame_accurately(tmp_path: Path, rate: Fraction, drop: bool) -> None:
    media = tmp_path / "media"
    text, hour, media_start = _document(media, rate, drop)
    for name in [s[0] for s in STORYLINE] + [CONNECTED[0]]:
        stand_in(media / f"{name}.mov", frames=MEDIA_FRAMES, rate=rate,
                 timecode=frames_to_timecode(media_start, rate, drop))
    path = tmp_path / "cut.fcpxml"
    path.write_text(text)
    recipe = recipe_with(deliveries=[{"name": "master", "codec": "ffv1", "audio": "none"}])
    result = conform_timeline(path, recipe, tmp_path / "out", workers=2)
    assert result.ok, result.summary_path.read_text()
    assert sorted(p.status for p in result.clips) == ["conformed"] * 3
    for job in result.jobs:
        info = probe(job.output)
        assert Fraction(info.video.rate) == rate
        assert timecode_to_frames(info.timecode, rate) == media_start + job.start
        assert (";" in info.timecode) == drop
        numbers = [read_frame_number(p) for _, p in VideoReader(job.output)]
        assert numbers == list(range(job.start, job.start + job.count))
    # The programme: lane 1 over A for its frames, A, black for the gap, then B.
    (_, a_in, a_len), (_, b_in, b_len) = STORYLINE
    _, c_in, c_len, c_at = CONNECTED
    want: list[int | None] = [a_in + i for i in range(a_len)] + [None] * GAP + [b_in + i for i in range(b_len)]
    want[c_at:c_at + c_len] = [c_in + i for i in range(c_len)]
    pictures = [p for _, p in VideoReader(Path(result.deliveries[0]["output"]))]
    assert len(pictures) == len(want)
    for t, (n, picture) in enumerate(zip(want, pictures)):
        if n is None:
            assert picture.max() < 0.03 * 65535, t
        else:
            assert read_frame_number(picture) == n, (t, n)
    # Written back at the exact rate, the same structure, pointing at the finished shots.
    native = next(w for w in result.written if w.format == "fcpx_xml")
    assert (native.error, native.lost) == (None, ["postbay clip metadata: 3 → 0"])  # FCPXML has no place for it
    back = read_timeline(native.path)
    assert back.rate == rate and back.timelines[0].global_start_time.value == hour
    assert [i.source_range.duration.value for i in back.timelines[0].tracks[0]] == [a_len, GAP, b_len]
    assert all("/out/" in c.media_reference.target_url for c in back.timelines[0].find_clips())
