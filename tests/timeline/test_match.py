"""Colour match across a cut: every shot matched to the hero, the CDLs written into the timeline."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from postbay.media import VideoReader
from postbay.synth import smooth_frame, write_clip
from postbay.timeline.conform import conform_timeline

from .cuts import RT, TR, recipe_with

CASTS = {"hero.mov": (1.0, 1.0, 1.0), "warm.mov": (1.15, 1.0, 0.8), "cool.mov": (0.85, 0.97, 1.2),
         "green.mov": (0.9, 1.12, 0.9)}


def _cast(gains):
    """One scene (a still gradient, as generations of one prompt share) under a colour cast."""
    def pattern(i: int, w: int, h: int) -> np.ndarray:
        return np.clip(smooth_frame(0, w, h) * np.array(gains, np.float32), 0, 1)
    return pattern


def _lab_error(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(deltaE_ciede2000(rgb2lab(a), rgb2lab(b)).mean())


@pytest.mark.parametrize("step", [{"processor": "match"}, {"processor": "match", "reference": "hero"}],
                         ids=["implicit", "reference=hero"])
def test_cut_matches_its_hero(tmp_path: Path, step: dict) -> None:
    import PyOpenColorIO as ocio

    rate = Fraction(24)
    tl = otio.schema.Timeline(name="cast")
    tl.global_start_time = RT(86400, 24)
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    for name, gains in CASTS.items():
        media = write_clip(tmp_path / name, frames=36, width=160, height=90, rate=rate, pattern=_cast(gains),
                           timecode="01:00:00:00", audio=None)
        clip = otio.schema.Clip(name=Path(name).stem, source_range=TR(RT(86412, 24), RT(12, 24)),
                                media_reference=otio.schema.ExternalReference(target_url=media.as_uri()))
        if name == "hero.mov":
            clip.markers.append(otio.schema.Marker(name="hero", marked_range=TR(RT(86414, 24), RT(0, 24))))
        track.append(clip)
    track.append(track.pop(0))  # the hero is not the first clip: it is found by its marker
    src = tmp_path / "cast.otio"
    otio.adapters.write_to_file(tl, str(src))
    recipe = recipe_with(steps=[step])
    result = conform_timeline(src, recipe, tmp_path / "out", workers=2)
    assert result.ok
    hero = next(p for p in result.clips if p.name == "hero")
    assert "hero shot" in " ".join(hero.notes)

    def middle(path: Path, start: int) -> np.ndarray:
        return next(iter(VideoReader(path, start=start, count=1)))[1].astype(np.float32) / 65535

    ref = middle(tmp_path / "hero.mov", 18)
    cfg = ocio.Config.CreateRaw()
    back = otio.adapters.read_from_file(str(tmp_path / "out" / "cast.postbay.otio"))
    for clip in back.find_clips():
        if clip.name == "hero":
            continue
        meta = clip.metadata["postbay"]
        before = middle(tmp_path / f"{clip.name}.mov", 18)
        job_start = meta["rendered_range"]["start_frame"]
        after = middle(Path(meta["rendered"]), 18 - job_start)
        e0, e1 = _lab_error(before, ref), _lab_error(after, ref)
        print(f"match {clip.name}: mean ΔE2000 to the hero {e0:.2f} → {e1:.2f}")
        assert e1 <= 0.25 * e0, (clip.name, e0, e1)
        # The CDL in the timeline reproduces the render through OCIO.
        cdl = meta["cdl"]
        proc = cfg.getProcessor(ocio.CDLTransform(slope=cdl["slope"], offset=cdl["offset"], power=cdl["power"],
                                                  sat=cdl["saturation"])).getDefaultCPUProcessor()
        graded = np.ascontiguousarray(before.copy())
        proc.applyRGB(graded)
        assert np.abs(np.clip(graded, 0, 1) - after).mean() < 0.01
        assert clip.metadata["cdl"]["asc_sat"] == pytest.approx(cdl["saturation"])
