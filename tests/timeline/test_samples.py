"""Every real NLE export in ../shared/nle-samples that OTIO reads: conform it on stand-in media.

Each referenced file gets a small stand-in with the name, start timecode, rate and length the
timeline asks for; the conform runs ``passthrough``; the written timeline must read back with
the same structure, every conformed clip pointing at a rendered file that covers its range
plus handles.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote, urlparse

import opentimelineio as otio
import pytest

from postbay.media import frames_to_timecode, probe, snap_rate
from postbay.timeline.conform import conform_timeline
from postbay.timeline.reader import read_timeline, timelines_of
from postbay.timeline.relink import MEDIA_SUFFIXES
from postbay.timeline.writeback import describe_structure

from .cuts import NLE_SAMPLES, recipe_with, stand_in

MARGIN = 15  # stand-in frames beyond what the cut uses, so handles (12) fit

SAMPLES = sorted(p for p in NLE_SAMPLES.glob("*/*") if p.suffix in (".xml", ".fcpxml", ".edl", ".aaf")) \
    if NLE_SAMPLES.is_dir() else []
#: A representative set for the default run (one per writer application and format); all under -m slow.
DEFAULT = {"premiere_example.xml", "hiero_xml_export.xml", "fcpx_project.fcpxml", "25fps.edl", "dissolve_test.edl",
           "avid_example.edl", "transitions.aaf", "2997fps-DFTC.aaf"}

pytestmark = pytest.mark.skipif(not SAMPLES, reason=f"no NLE samples at {NLE_SAMPLES} (../shared beside the clone)")


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
                 width=64, height=36)
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
    original = describe_structure(read_timeline(path, rate=rate).root)
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


@pytest.mark.parametrize("path", [p for p in SAMPLES if p.name in DEFAULT], ids=lambda p: p.name)
def test_sample_conforms(path: Path, tmp_path: Path) -> None:
    _check(path, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SAMPLES if p.name not in DEFAULT], ids=lambda p: p.name)
def test_sample_conforms_all(path: Path, tmp_path: Path) -> None:
    _check(path, tmp_path)
