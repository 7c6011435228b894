"""Round trips through every writable format, with what each loses asserted exactly."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from postbay.timeline.conform import conform_timeline
from postbay.timeline.conformed import clip_losses
from postbay.timeline.reader import TimelineError, read_timeline
from postbay.timeline.renders import cdl_from_notes
from postbay.timeline.writeback import Picture, describe_structure, write_timeline

from .cuts import RT, TR, Shot, build_cut, recipe_with

# What each editor's format cannot carry, as measured by reading the written file back.
EXPECTED_LOSSES = {
    "otio_json": [],
    "fcp_xml": ["postbay clip metadata: 4 → 0"],
    "fcpx_xml": ["transitions: 1 → 0", "postbay clip metadata: 4 → 0"],
    "cmx_3600": ["audio tracks: 1 → 0", "timeline start 01:00:00:00 → none", "marker names upper-cased",
                 "postbay clip metadata: 3 → 0"],
    "AAF": ["postbay clip metadata: 4 → 0", "markers: 1 → 0"],
}
SUFFIX = {"otio_json": "otio", "fcp_xml": "xml", "fcpx_xml": "fcpxml", "cmx_3600": "edl", "AAF": "aaf"}


@pytest.fixture(scope="module")
def conformed(tmp_path_factory):
    """A cut with a gap, a dissolve, a marker, an audio track and a timeline start, conformed."""
    d = tmp_path_factory.mktemp("roundtrip")
    rate = Fraction(24)
    tl = build_cut(d / "media", [Shot("a.mov", 20, 8), Shot("b.mov", 30, 6), Shot("c.mov", 24, 6)], rate=rate,
                   gaps={0: 3}, media_frames=72)
    track = tl.tracks[0]
    track.insert(3, otio.schema.Transition(name="dissolve", transition_type="SMPTE_Dissolve", in_offset=RT(2, 24),
                                           out_offset=RT(2, 24)))
    track[0].markers.append(otio.schema.Marker(name="hero", marked_range=TR(RT(86400 + 22, 24), RT(0, 24))))
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    tl.tracks.append(audio)
    audio.append(otio.schema.Clip(name="a", source_range=TR(RT(86420, 24), RT(8, 24)),
                                  media_reference=otio.schema.ExternalReference(
                                      target_url=(d / "media" / "a.mov").as_uri())))
    src = d / "cut.otio"
    otio.adapters.write_to_file(tl, str(src))
    result = conform_timeline(src, recipe_with(), d / "out", workers=1)
    assert result.ok
    return result, d


def test_losses_per_clip_for_an_edl_input(tmp_path: Path) -> None:
    """An EDL input: each clip's report line says what the written EDL drops of it."""
    rate = Fraction(24)
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 20, 8), Shot("b.mov", 30, 6)], rate=rate, media_frames=72)
    hero = otio.schema.Marker(name="hero", marked_range=TR(RT(86422, 24), RT(0, 24)))
    next(iter(tl.find_clips())).markers.append(hero)
    src = tmp_path / "cut.edl"
    write_timeline(tl, "cmx_3600", src, rate=rate, picture=Picture(128, 72, rate))
    result = conform_timeline(src, recipe_with(), tmp_path / "out", workers=1)
    assert [w.format for w in result.written] == ["otio_json", "cmx_3600"]
    assert result.written[1].lost == ["postbay clip metadata: 2 → 0"]  # its marker was upper-case already
    assert [p.lost for p in result.clips] == [["EDL: postbay metadata"]] * 2
    assert (tmp_path / "out" / "cut.postbay.edl").is_file()


@pytest.mark.parametrize("fmt", list(EXPECTED_LOSSES))
def test_round_trip_losses(conformed, fmt: str) -> None:
    result, d = conformed
    path = d / "out" / f"rt.{SUFFIX[fmt]}"
    written = write_timeline(result.conformed, fmt, path, rate=Fraction(24), picture=Picture(128, 72, Fraction(24)))
    assert written.error is None
    assert written.lost == EXPECTED_LOSSES[fmt]
    per_clip = {p.key: clip_losses(p, written) for p in result.clips}
    label = SUFFIX[fmt].upper()
    if fmt == "fcpx_xml":  # the clips either side of the dissolve lose it
        assert per_clip["V1/3"] == per_clip["V1/5"] == [f"{label}: its dissolve (becomes a cut)",
                                                        f"{label}: postbay metadata"]
    if fmt == "AAF":
        assert per_clip["V1/1"] == [f"{label}: 1 marker(s)", f"{label}: postbay metadata"]
    if fmt == "cmx_3600":
        assert per_clip["A1/1"][0] == "EDL: the clip's audio track"
    back = read_timeline(path, rate=24).timelines[0]
    # Whatever else survives: the video clips still point at the finished shots.
    urls = [c.media_reference.target_url for c in back.video_tracks()[0].find_clips()]
    assert len(urls) == 3 and all("/out/cut_V1_" in u for u in urls), urls


def test_written_with_the_conform_match_the_table(conformed) -> None:
    """The conform itself wrote .otio and the input's own format, and reported their losses."""
    result, _ = conformed
    assert [(w.format, w.lost) for w in result.written] == [("otio_json", [])]
    assert result.written[0].path.name == "cut.postbay.otio"


def test_fcp_xml_carries_the_sequence_format(conformed) -> None:
    result, d = conformed
    path = d / "out" / "fmt.xml"
    write_timeline(result.conformed, "fcp_xml", path, rate=Fraction(24000, 1001),
                   picture=Picture(128, 72, Fraction(24000, 1001)))
    root = ET.parse(path).getroot()
    sc = root.find(".//sequence/media/video/format/samplecharacteristics")
    assert sc is not None
    assert (sc.findtext("width"), sc.findtext("height")) == ("128", "72")
    assert (sc.findtext("rate/timebase"), sc.findtext("rate/ntsc")) == ("24", "TRUE")


def test_fcpxml_is_wrapped_for_import_at_23976(tmp_path: Path) -> None:
    """Written right for Final Cut and Resolve; OTIO's own reader cannot check it (it truncates 23.976)."""
    rate = Fraction(24000, 1001)
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 10, 12), Shot("b.mov", 5, 12)], rate=rate)
    path = tmp_path / "cut.fcpxml"
    written = write_timeline(tl, "fcpx_xml", path, rate=rate, picture=Picture(1920, 1080, rate))
    assert written.error is None
    assert len(written.lost) == 1
    assert written.lost[0].startswith("not verified by reading back: line 5: FCPXML at 23.976 fps")
    root = ET.parse(path).getroot()
    assert root.find("library/event/project/sequence") is not None
    fmt = root.find("resources/format")
    assert fmt.get("frameDuration") == "1001/24000s" and fmt.get("name") == "FFVideoFormat1080p2398"
    start = Fraction(int(tl.global_start_time.value)) / rate  # FCPXML times are real seconds, frame-aligned
    assert root.find("library/event/project/sequence").get("tcStart") == f"{start.numerator}/{start.denominator}s"
    with pytest.raises(TimelineError, match="truncates this rate"):
        read_timeline(path)
    # At 24 fps the same cut reads back frame for frame.
    tl24 = build_cut(tmp_path / "media24", [Shot("a.mov", 10, 12), Shot("b.mov", 5, 12)], rate=Fraction(24))
    path24 = tmp_path / "cut24.fcpxml"
    picture = Picture(1920, 1080, Fraction(24))
    assert write_timeline(tl24, "fcpx_xml", path24, rate=Fraction(24), picture=picture).lost == []
    back = read_timeline(path24).timelines[0]
    assert [c.source_range for c in back.find_clips()] == [c.source_range for c in tl24.find_clips()]


def test_cdl_reaches_the_edl_as_asc_comments(tmp_path: Path) -> None:
    """The CDL path without the match processor: notes → clip metadata → EDL ASC_SOP/ASC_SAT → read back."""
    notes = {"1:match": {"cdl": {"slope": [1.1, 0.95, 0.9], "offset": [0.01, 0.0, -0.02], "power": [1.0, 1.0, 1.05],
                                 "saturation": 0.97}}}
    cdl = cdl_from_notes(notes)
    assert cdl == {"slope": [1.1, 0.95, 0.9], "offset": [0.01, 0.0, -0.02], "power": [1.0, 1.0, 1.05],
                   "saturation": 0.97}
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 10, 12)], rate=Fraction(24))
    clip = next(iter(tl.find_clips()))
    clip.metadata["cdl"] = {"asc_sop": {k: cdl[k] for k in ("slope", "offset", "power")}, "asc_sat": cdl["saturation"]}
    path = tmp_path / "cdl.edl"
    write_timeline(tl, "cmx_3600", path, rate=Fraction(24), picture=Picture(128, 72, Fraction(24)))
    text = path.read_text()
    assert "*ASC_SOP (1.1 0.95 0.9) (0.01 0.0 -0.02) (1.0 1.0 1.05)" in text and "*ASC_SAT 0.97" in text
    back = next(iter(read_timeline(path, rate=24).timelines[0].find_clips()))
    assert list(back.metadata["cdl"]["asc_sop"]["slope"]) == [1.1, 0.95, 0.9]
    assert back.metadata["cdl"]["asc_sat"] == 0.97
    assert describe_structure(read_timeline(path, rate=24).root)[0]["tracks"][0]["cdl"] == 1
