"""OTIO ImageSequenceReference in a timeline: the frames folder relinks and conforms frame for frame."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
from stills import numbered

from postbay.media import VideoReader, probe
from postbay.synth import read_frame_number
from postbay.timeline.conform import conform_timeline

from .cuts import RT, TR, recipe_with


def test_image_sequence_reference_conforms_frame_for_frame(tmp_path: Path) -> None:
    """A cut of ComfyUI frames 1001–1120 at 25 fps, using 1020–1029 and 1100–1104 (two renders, in two
    worker processes); the folder has moved under a media root."""
    numbered(tmp_path / "renders" / "comfy_out", range(1001, 1121), name="gen_")
    ref = otio.schema.ImageSequenceReference(target_url_base="file:///elsewhere/comfy_out/", name_prefix="gen_",
                                             name_suffix=".png", start_frame=1001, frame_step=1, rate=25,
                                             frame_zero_padding=4,
                                             available_range=TR(RT(1001, 25), RT(120, 25)))
    tl = otio.schema.Timeline(name="seq")
    track = otio.schema.Track(name="V1")
    track.append(otio.schema.Clip(name="gen", media_reference=ref, source_range=TR(RT(1020, 25), RT(10, 25))))
    track.append(otio.schema.Clip(name="gen", media_reference=ref.clone(), source_range=TR(RT(1100, 25), RT(5, 25))))
    tl.tracks.append(track)
    path = tmp_path / "seq.otio"
    otio.adapters.write_to_file(tl, str(path))
    result = conform_timeline(path, recipe_with(missing="fail"), tmp_path / "out", media_roots=[tmp_path / "renders"],
                              workers=2)
    assert result.ok
    assert [(p.status, p.relink.how) for p in result.clips] == [("conformed", "by folder name")] * 2
    first, second = result.jobs
    info = probe(first.output)
    assert info.video.rate == "25/1" and info.timecode == "00:00:40:08"  # frame 1008 = 1020 − 12 handles, at 25 fps
    assert [read_frame_number(p) for _, p in VideoReader(first.output)] == list(range(1008, 1042))
    assert [read_frame_number(p) for _, p in VideoReader(second.output)] == list(range(1088, 1117))
