"""Every real NLE export in tests/data/nle that OTIO reads: conform it on stand-in media.

Each referenced file gets a small stand-in with the name, start timecode, rate and length the
timeline asks for (every frame shows its own number); the conform runs ``passthrough``; every
render must hold exactly the frames it names; the written timeline must read back with the
same structure, every conformed clip pointing at a rendered file that covers its range plus
handles.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest

from postbay.media import VideoReader, frames_to_timecode, probe, snap_rate
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline
from postbay.timeline.reader import read_timeline, timelines_of
from postbay.timeline.relink import MEDIA_SUFFIXES
from postbay.timeline.writeback import describe_structure

from .cuts import NLE_SAMPLES, recipe_with, stand_in

MARGIN = 15  # stand-in frames beyond what the cut uses, so handles (12) fit

SAMPLES = sorted(p for p in NLE_SAMPLES.glob("*/*") if p.suffix in (".xml", ".fcpxml", ".edl", ".aaf"))


def _media_name(clip: otio.schema.Clip) -> str:
    ref = clip.media_reference
    url = getattr(ref, "target_url", None)
    if url:
        path = unquote(urlparse(url).path) if url.lower().startswith("file:") else url
        name = PureWindowsPath(path).name if "\\" in path else Path(path).name
    else:
        name = clip.name
    stem = Path(name).stem if Path(name).suffix.lower() in MEDIA_SUFFIXES | {".exr"} else name
    return stem + ".mov"


def make_stand_ins(timeline_path: Path, folder: Path, rate: float | None = None) -> int:
    """Stand-in media for every clip's file: name, start timecode and rate as the timeline asks."""
    loaded = read_timeline(timeline_path, rate=rate)
    wanted: dict[str, list] = {}
    for tl in loaded.timelines:
        for clip in tl.find_clips():
            if isinstance(clip.media_reference, otio.schema.GeneratorReference) or clip.source_range is None:
                continue
            name = _media_name(clip)
            if name.strip("./") in ("", "mov"):
                continue
            avail = getattr(clip.media_reference, "available_range", None)
            clip_rate = avail.duration.rate if avail else clip.source_range.duration.rate
            media_rate = Fraction(snap_rate(Fraction(clip_rate)))
            r = float(media_rate)
            span = clip.visible_range()
            lo = math.floor(span.start_time.rescaled_to(r).value + 1e-6)
            hi = math.ceil(span.end_time_exclusive().rescaled_to(r).value - 1e-6)
            wanted.setdefault(name, []).append((media_rate, lo, hi, avail))
    for name, uses in wanted.items():
        media_rate = uses[0][0]
        lo = min(u[1] for u in uses) - MARGIN
        hi = max(u[2] for u in uses) + MARGIN
        avail = uses[0][3]
        if avail is not None:
            lo = max(lo, math.floor(avail.start_time.rescaled_to(float(media_rate)).value + 1e-6))
        lo = max(lo, 0)
        drop = media_rate == Fraction(30000, 1001) and "DFTC" in timeline_path.name
        stand_in(folder / name, frames=hi - lo, rate=media_rate, timecode=frames_to_timecode(lo, media_rate, drop),
                 width=128, height=16)  # wide enough for all 16 bits of the frame number
    return len(wanted)


def _check(path: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    rate = 25 if path.name == "25fps.edl" else None
    n = make_stand_ins(path, media, rate)
    media.mkdir(exist_ok=True)
    out = tmp_path / "out"
    recipe = recipe_with(missing="skip")
    result = conform_timeline(path, recipe, out, media_roots=[media], rate=rate, workers=2)
    conformed = [c for c in result.clips if c.status == "conformed" and c.track_label.startswith("V")]
    if n == 0:  # generators only (titles, colour mattes): nothing to render, all passed through
        assert result.clips and all(c.status == "passed through" for c in result.clips)
        assert not result.jobs
    else:
        assert conformed, [c.to_dict() for c in result.clips]
    # Every video clip whose media exists was conformed; what was not says why.
    for plan in result.clips:
        assert plan.status in ("conformed", "passed through", "missing", "failed"), plan.to_dict()
        if plan.status in ("missing", "failed"):
            assert plan.relink is not None and (plan.notes or plan.relink.tried)
    # The .otio written reads back with the input's structure.
    written = {w.format: w for w in result.written}
    assert written["otio_json"].lost == []
    assert written[result.loaded.format].error is None, written[result.loaded.format]
    assert written[result.loaded.format].path.is_file()
    back = otio.adapters.read_from_file(str(written["otio_json"].path))
    original = describe_structure(result.loaded.root)  # as read, nested sequences opened
    got = describe_structure(back)
    assert [[t["items"] for t in tl["tracks"]] for tl in got] == [[t["items"] for t in tl["tracks"]] for tl in original]
    assert [tl["start"] for tl in got] == [tl["start"] for tl in original]
    # Each conformed clip points at a rendered file holding its range plus the handles.
    plans = {p.key: p for p in result.clips}
    for tl in timelines_of(back):
        for clip in tl.find_clips():
            meta = clip.metadata.get("postbay", {})
            if meta.get("status") != "conformed" or "rendered" not in meta:
                continue
            ref = clip.media_reference
            file = Path(unquote(urlparse(ref.target_url).path))
            assert file.is_file() and file.parent == out
            info = probe(file)
            rate_f = float(Fraction(info.video.rate))
            assert info.video.frames == round(ref.available_range.duration.value)
            assert info.timecode == otio.opentime.to_timecode(ref.available_range.start_time, rate_f,
                                                                ";" in (info.timecode or ""))
            used = clip.visible_range()
            before = (used.start_time - ref.available_range.start_time).rescaled_to(rate_f).value
            after = (ref.available_range.end_time_exclusive() - used.end_time_exclusive()).rescaled_to(rate_f).value
            hb, ha = meta["handles"]["before"], meta["handles"]["after"]
            assert before >= hb - 1e-6 and after >= ha - 1e-6, (clip.name, before, after, meta)
            assert hb == 12 or hb == meta["source_range"]["start_frame"]
    assert result.report_path.is_file() and result.summary_path.is_file()
    assert plans
    # Frame for frame: each render holds exactly the stand-in frames its range names.
    for job in result.jobs:
        assert [read_frame_number(p) for _, p in VideoReader(job.output)] == \
            list(range(job.start, job.start + job.count)), job.name


#: Every sample runs in the default run: the longest (simple.aaf, multitrack.aaf) take ~9 s on 2 busy cores.
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_conforms(path: Path, tmp_path: Path) -> None:
    _check(path, tmp_path)


def test_premiere_project_with_sequences_in_bins(tmp_path: Path) -> None:
    """A project export: no top-level sequence, two sequences in nested bins, one also listed
    (as an empty reference, before its definition) in a second bin; each is read once and conformed."""
    premiere = ET.parse(NLE_SAMPLES / "premiere" / "premiere_example.xml").getroot().find("sequence")
    hiero = ET.parse(NLE_SAMPLES / "hiero" / "hiero_xml_export.xml").getroot().find("sequence")
    project = ET.fromstring('<xmeml version="4"><project><name>Job</name><children>'
                            '<bin><name>Review</name><children><sequence id="sequence-1"/></children></bin>'
                            '<bin><name>Cuts</name><children><bin><name>v2</name><children/></bin></children></bin>'
                            '</children></project></xmeml>')
    project.find(".//bin[name='v2']/children").extend([premiere, hiero])
    path = tmp_path / "job.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE xmeml>\n' + ET.tostring(project))
    loaded = read_timeline(path)
    assert [tl.name for tl in loaded.timelines] == [premiere.findtext("name"), "hiero_xml_export"]
    assert loaded.notes == [f"2 sequence(s) read from bins: Job/Review/{premiere.findtext('name')}, "
                            "Job/Cuts/v2/hiero_xml_export"]
    assert len(list(loaded.timelines[0].find_clips())) == len(list(read_timeline(
        NLE_SAMPLES / "premiere" / "premiere_example.xml").timelines[0].find_clips()))
    _check(path, tmp_path)
