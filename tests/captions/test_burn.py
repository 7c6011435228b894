"""Burn-in: captions land inside the title-safe area of each delivery's aspect, and read clearly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from postbay.backend import numpy_backend
from postbay.errors import PostbayError
from postbay.processors import captions as captions_mod
from postbay.processors.captions import BurnParams, burn_cues, safe_area
from postbay.subtitles import Cue

CUE = Cue(0.0, 2.0, ("Maria Lopez walked to the station", "because the train was late,"))


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of display-referred sRGB/Rec.709 values in [0, 1]."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def burned(width: int, height: int, background: float, style: str) -> tuple[np.ndarray, np.ndarray]:
    frame = np.full((height, width, 3), background, np.float32)
    out = burn_cues(frame.copy(), [CUE], 10, Fraction(24), BurnParams(style=style), numpy_backend(), {})
    return frame, out


@pytest.mark.parametrize("style", ["box", "outline"])
@pytest.mark.parametrize("width,height", [(640, 360), (1280, 720), (360, 640), (540, 960)])
def test_captions_sit_inside_the_title_safe_area(width: int, height: int, style: str) -> None:
    frame, out = burned(width, height, 0.5, style)
    ys, xs = np.nonzero(np.abs(out - frame).max(axis=-1) > 1e-3)
    assert ys.size, "nothing was drawn"
    x0, y0, x1, y1 = safe_area(width, height)
    assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
    assert abs((xs.min() + xs.max()) / 2 - width / 2) <= 2  # centred
    if height > width:  # 9:16: raised clear of the bottom fifth where the apps put their UI
        assert ys.max() < 0.80 * height
        assert ys.max() > 0.70 * height
    else:  # 16:9: bottom of the title-safe area
        assert ys.max() > 0.90 * height
        assert ys.min() > 0.70 * height


@pytest.mark.parametrize("style", ["box", "outline"])
@pytest.mark.parametrize("background", [0.0, 0.5, 1.0])
def test_caption_text_contrasts_with_what_is_behind_it(style: str, background: float) -> None:
    """WCAG contrast between the letters and their box (or outline) is at least 7:1 on any background."""
    frame, out = burned(640, 360, background, style)
    ys, xs = np.nonzero(np.abs(out - frame).max(axis=-1) > 1e-3)
    patch = relative_luminance(out[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
    text, ground = np.percentile(patch, 99), np.percentile(patch, 5 if style == "outline" else 50)
    contrast = (text + 0.05) / (ground + 0.05)
    assert contrast >= 7.0, contrast
    if style == "box":  # the box covers the text's whole extent and is dark on any picture
        assert np.percentile(patch, 50) < 0.05 + 0.3 * relative_luminance(np.full(3, background))


def test_text_size_follows_the_frame_height() -> None:
    def text_height(width: int, height: int) -> int:
        frame, out = burned(width, height, 0.5, "outline")
        ys, _ = np.nonzero(np.abs(out - frame).max(axis=-1) > 1e-3)
        return int(ys.max() - ys.min())

    assert 1.8 < text_height(1280, 720) / text_height(640, 360) < 2.2


def test_no_cue_no_change(backend) -> None:
    frame = np.full((90, 160, 3), 0.3, np.float32)
    out = backend.to_host(burn_cues(backend.asarray(frame.copy()), [CUE], 60, Fraction(24), BurnParams(), backend, {}))
    assert np.array_equal(out, frame)


def test_missing_font_names_the_package(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(captions_mod, "FONT_DIRS", (str(tmp_path),))
    captions_mod.find_font.cache_clear()
    try:
        with pytest.raises(PostbayError, match="fonts-dejavu-core"):
            captions_mod.find_font()
        with pytest.raises(ValueError, match="fonts-dejavu-core"):  # a recipe asking for burn-in fails at load
            captions_mod.CaptionsParams(burn=True)
        assert captions_mod.CaptionsParams(burn=False).burn is False
    finally:
        captions_mod.find_font.cache_clear()


def test_scene_cut_detector_finds_the_cut_and_nothing_else(clip) -> None:
    from postbay.cuts import clip_cuts
    from postbay.synth import ai_look_frame, smooth_frame

    def edit(i: int, width: int, height: int) -> np.ndarray:  # a moving shot, then a hard cut to another
        return smooth_frame(i, width, height) if i < 29 else ai_look_frame(i, width, height)

    source = clip("cut.mp4", frames=48, width=160, height=90, pattern=edit, audio=None)
    assert clip_cuts(source, 0, 48) == [29]
    assert clip_cuts(source, 10, 30) == [19]  # frames from the range start
    smooth = clip("smooth.mp4", frames=48, width=160, height=90, audio=None)
    assert clip_cuts(smooth, 0, 48) == []
