"""Image sequences as NLEs reference them: by the path of one frame, or by a pattern.

Premiere and FCP 7 XML name a sequence by its first frame (``gen_1001.png``) in a ``<pathurl>``,
with the file's ``<timecode>`` either at the first frame number (Resolve) or at zero (Premiere
counts ``<in>`` from the first frame); FCPXML names it in an asset's ``src``; Nuke and Hiero write
``gen_%04d.png`` or ``gen_[1001-1120].png``. Each relinks as the whole sequence, at the clip's
rate, and conforms frame for frame. The documents follow the samples in tests/data/nle.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from stills import numbered

from postbay.media import VideoReader, probe, timecode_to_frames
from postbay.sequences import frame_reference
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline
from postbay.timeline.fcpxml import fcpx_time
from postbay.timeline.relink import Relinker

from .cuts import RT, TR, recipe_with

FIRST, FRAMES, RATE = 1001, 60, 25


def _clipitem(i: int, url: str, tc_frame: int, start: int, src_in: int, length: int) -> str:
    rate = f"<rate><timebase>{RATE}</timebase><ntsc>FALSE</ntsc></rate>"
    return f"""
        <clipitem id="clipitem-{i}"><name>gen_{FIRST:04d}.png</name><enabled>TRUE</enabled>
          <duration>{FRAMES}</duration>{rate}<start>{start}</start><end>{start + length}</end>
          <in>{src_in}</in><out>{src_in + length}</out>
          <file id="file-{i}"><name>gen_{FIRST:04d}.png</name><pathurl>{url}</pathurl>{rate}
            <duration>{FRAMES}</duration>
            <timecode>{rate}<frame>{tc_frame}</frame><displayformat>NDF</displayformat></timecode>
            <media><video><samplecharacteristics>{rate}<width>128</width><height>72</height>
            </samplecharacteristics></video></media>
          </file>
        </clipitem>"""


def _fcp7(clips: list[str]) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xmeml>
<xmeml version="4">
  <sequence id="sequence-1"><name>frames</name><duration>100</duration>
    <rate><timebase>{RATE}</timebase><ntsc>FALSE</ntsc></rate>
    <media><video><track>{''.join(clips)}
    </track></video></media>
  </sequence>
</xmeml>
"""


def _check(result, want: list[list[int]]) -> None:  # type: ignore[no-untyped-def]
    assert result.ok, result.summary_path.read_text()
    assert [p.status for p in result.clips] == ["conformed"] * len(want)
    for job, numbers in zip(sorted(result.jobs, key=lambda j: j.start), want, strict=True):
        info = probe(job.output)
        assert Fraction(info.video.rate) == RATE
        assert timecode_to_frames(info.timecode, Fraction(RATE)) == numbers[0]
        assert [read_frame_number(p) for _, p in VideoReader(job.output)] == numbers


def test_fcp7_xml_first_frame_relinks_the_sequence(tmp_path: Path) -> None:
    """Two clips on one ComfyUI run: one written where the frames are, with timecode at the first
    frame (Resolve); one whose folder moved, timecode zero and ``<in>`` from the first frame
    (Premiere). Each becomes the whole sequence, cut frame for frame."""
    frames = tmp_path / "renders" / "comfy_out"
    numbered(frames, range(FIRST, FIRST + FRAMES), name="gen_")
    here = (frames / f"gen_{FIRST}.png").resolve().as_uri().replace("file:///", "file://localhost/")
    clips = [_clipitem(1, here, FIRST, 0, 10, 8),
             _clipitem(2, f"file://localhost/D%3a/renders/comfy_out/gen_{FIRST}.png", 0, 8, 40, 6)]
    path = tmp_path / "frames.xml"
    path.write_text(_fcp7(clips))
    result = conform_timeline(path, recipe_with(missing="fail", handles=0), tmp_path / "out",
                              media_roots=[tmp_path / "renders"], workers=1)
    assert [(p.relink.how, Path(str(p.relink.path)).name) for p in result.clips] == \
        [("as given", "gen_%04d.png"), ("by name", "gen_%04d.png")]
    _check(result, [list(range(FIRST + 10, FIRST + 18)), list(range(FIRST + 40, FIRST + 46))])


def test_fcpxml_asset_on_a_frame_relinks_the_sequence(tmp_path: Path) -> None:
    frames = tmp_path / "media" / "shot"
    numbered(frames, range(FIRST, FIRST + FRAMES), name="plate.", suffix=".tif")
    t = lambda n: fcpx_time(Fraction(n, RATE))  # noqa: E731
    src = (frames / f"plate.{FIRST}.tif").resolve().as_uri()
    path = tmp_path / "frames.fcpxml"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.9">
  <resources>
    <format id="r1" name="FFVideoFormat720p25" frameDuration="{t(1)}" width="128" height="72"/>
    <asset id="a0" name="plate" start="{t(FIRST)}" duration="{t(FRAMES)}" hasVideo="1" format="r1" videoSources="1">
      <media-rep kind="original-media" src="{src}"/></asset>
  </resources>
  <library><event name="vfx"><project name="cut">
    <sequence format="r1" duration="{t(12)}" tcStart="0s" tcFormat="NDF">
      <spine><asset-clip ref="a0" name="plate" offset="0s" start="{t(FIRST + 20)}" duration="{t(12)}" format="r1"/>
      </spine>
    </sequence>
  </project></event></library>
</fcpxml>
""")
    result = conform_timeline(path, recipe_with(missing="fail", handles=2), tmp_path / "out", workers=1)
    assert result.clips[0].relink.path == frames / "plate.%04d.tif"
    _check(result, [list(range(FIRST + 18, FIRST + 34))])


@pytest.mark.parametrize("written", ["gen_%04d.png", "gen_####.png", "gen_[1001-1060].png", "gen_1030.png"])
def test_patterns_and_frames_name_the_same_sequence(tmp_path: Path, written: str) -> None:
    """Whatever frame or pattern the edit wrote, the clip links to the one sequence at its rate."""
    frames = tmp_path / "comfy_out"
    numbered(frames, [FIRST, FIRST + 1, FIRST + 2], name="gen_")
    assert frame_reference(written)
    ref = otio.schema.ExternalReference(target_url=(frames.as_uri() + "/" + written))
    clip = otio.schema.Clip(name="gen", media_reference=ref, source_range=TR(RT(FIRST, 30), RT(2, 30)))
    relinker = Relinker(tmp_path / "cut.otio")
    found = relinker.locate(clip)
    assert found.path == frames / "gen_%04d.png", found.tried
    info = relinker.probe(found.path)
    assert info is not None and info.video is not None and info.video.rate_fraction == 30 and info.video.frames == 3


def test_a_still_that_is_not_numbered_is_not_a_sequence() -> None:
    assert frame_reference("poster.png") is None and frame_reference("shot_0001.mov") is None
