"""Masters carry their colour: primaries, transfer and matrix in every output (the mov ``colr``
atom), the same colours as the source on a colour chart (ΔE2000), and a ProRes 4444 source
stays 4:4:4 with its alpha."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from postbay.media import VideoReader, probe
from postbay.recipe import load_recipe, parse_recipe
from postbay.render import finish_clip
from postbay.synth import write_clip

skimage_color = pytest.importorskip("skimage.color")

#: The 24 patches of the X-Rite ColorChecker (2005 sRGB values, D65), row by row.
CHART = np.array([
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177), (103, 189, 170),
    (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108), (157, 188, 64), (224, 163, 46),
    (56, 61, 150), (70, 148, 73), (175, 54, 60), (231, 199, 31), (187, 86, 149), (8, 133, 161),
    (243, 243, 242), (200, 200, 200), (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52)],
    np.float32) / 255.0
PATCH = 32


def chart(i: int, width: int, height: int) -> np.ndarray:
    rgb = np.zeros((height, width, 3), np.float32)
    for k, colour in enumerate(CHART):
        y, x = divmod(k, 6)
        rgb[y * PATCH:(y + 1) * PATCH, x * PATCH:(x + 1) * PATCH] = colour
    return rgb


def patch_colours(path: Path) -> np.ndarray:
    """The mean RGB (0–1) of each patch's middle, first frame."""
    _, picture = next(iter(VideoReader(path, count=1)))
    img = picture.astype(np.float64) / 65535.0
    m = PATCH // 4
    return np.array([img[y * PATCH + m:(y + 1) * PATCH - m, x * PATCH + m:(x + 1) * PATCH - m].mean(axis=(0, 1))
                     for y, x in (divmod(k, 6) for k in range(24))])


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return skimage_color.deltaE_ciede2000(skimage_color.rgb2lab(a[None]), skimage_color.rgb2lab(b[None]))[0]


def colr_atom(path: Path) -> tuple[int, int, int] | None:
    """(primaries, transfer, matrix) of the first ``colr`` nclc/nclx atom in a QuickTime file."""
    data = path.read_bytes()
    at = data.find(b"colr")
    if at < 0:
        return None
    body = data[at + 8: at + 14]
    return tuple(int.from_bytes(body[i:i + 2], "big") for i in (0, 2, 4))  # type: ignore[return-value]


SOURCES = {
    "untagged RGB FFV1": dict(name="rgb.mkv", codec="ffv1", pix_fmt="gbrp10le", tag_colour=False),
    "untagged ProRes 4444": dict(name="p4444.mov", codec="prores_ks", pix_fmt="yuva444p10le", tag_colour=False,
                                 options={"profile": "4"}),
    "tagged BT.709 H.264": dict(name="h264.mp4", codec="libx264", pix_fmt="yuv420p", tag_colour=True,
                                options={"crf": "4"}),
}


@pytest.mark.parametrize("kind", list(SOURCES))
def test_passthrough_master_is_tagged_and_keeps_the_chart(tmp_path: Path, kind: str) -> None:
    spec = dict(SOURCES[kind])
    source = tmp_path / spec.pop("name")
    write_clip(source, frames=3, width=6 * PATCH, height=4 * PATCH, pattern=chart, audio=None, **spec)
    result = finish_clip(source, load_recipe("passthrough"), tmp_path / "out")
    out = Path(result.report["output"])
    video = probe(out).video
    assert (video.primaries, video.transfer, video.matrix) == ("bt709", "bt709", "bt709")
    assert colr_atom(out) == (1, 1, 1)
    de = delta_e(patch_colours(source), patch_colours(out))
    assert de.max() <= 1.02 and de.mean() <= 0.6, (kind, de.max(), de.mean())


def test_report_says_what_was_assumed(tmp_path: Path) -> None:
    untagged = write_clip(tmp_path / "rgb.mkv", frames=2, width=64, height=32, codec="ffv1", pix_fmt="gbrp10le",
                          tag_colour=False, audio=None)
    report = finish_clip(untagged, load_recipe("passthrough"), tmp_path / "out").report["colour"]
    assert report["assumed"] == "untagged source (primaries, transfer not set): BT.709 assumed (SD; postbay " \
                                "masters are BT.709)"
    assert report["written"] == {"primaries": "bt709", "transfer": "bt709", "matrix": "bt709"}
    tagged = write_clip(tmp_path / "tagged.mp4", frames=2, width=1280, height=720, audio=None)
    assert "assumed" not in finish_clip(tagged, load_recipe("passthrough"), tmp_path / "out").report["colour"]


def _prores_4444_with_alpha(path: Path, width: int = 64, height: int = 32) -> np.ndarray:
    """An untagged ProRes 4444 whose alpha is a horizontal ramp; returns the RGBA it was made from."""
    rgba = np.zeros((height, width, 4), np.uint16)
    rgba[..., :3] = (chart(0, width, height)[:height, :width] * 65535).astype(np.uint16)
    rgba[..., 3] = np.linspace(0, 65535, width, dtype=np.float64).astype(np.uint16)[None, :]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("prores_ks", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuva444p10le"
        stream.options = {"profile": "4", "alpha_bits": "16"}
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba64le").reformat(format="yuva444p10le",
                                                                                 dst_colorspace="ITU709")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return rgba


def _alpha(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgba64le")[..., 3].astype(np.float64) / 65535


def test_prores_4444_passthrough_keeps_444_and_alpha(tmp_path: Path) -> None:
    source = tmp_path / "key.mov"
    rgba = _prores_4444_with_alpha(source)
    result = finish_clip(source, load_recipe("passthrough"), tmp_path / "out")
    out = Path(result.report["output"])
    video = probe(out).video
    assert video.codec == "prores" and video.pix_fmt.startswith("yuva444"), video.pix_fmt
    assert result.report["colour"]["master"].startswith("ProRes 4444 source with alpha: master kept ProRes 4444")
    assert np.abs(_alpha(out) - rgba[..., 3] / 65535).max() < 2e-3
    assert colr_atom(out) == (1, 1, 1)


def test_prores_4444_processed_stays_444_and_says_alpha_is_dropped(tmp_path: Path) -> None:
    source = tmp_path / "key.mov"
    _prores_4444_with_alpha(source)
    recipe = parse_recipe({"name": "soft", "output": {"codec": "prores_hq"},
                           "steps": [{"processor": "soften", "amount": 0.1}]})
    result = finish_clip(source, recipe, tmp_path / "out")
    assert probe(Path(result.report["output"])).video.pix_fmt.startswith("yuv444")
    assert result.report["colour"]["master"] == ("ProRes 4444 source: master kept ProRes 4444 (4:4:4, not 4:2:2 HQ); "
                                                 "its alpha is dropped because the recipe processes the picture")
