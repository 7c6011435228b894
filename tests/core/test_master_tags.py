"""Masters carry their colour: primaries, transfer and matrix in every output (the mov ``colr``
atom), the same colours as the source on a colour chart (ΔE2000), and a ProRes 4444 source
stays 4:4:4 with its alpha."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from postbay.media import VideoReader, probe
from postbay.recipe import load_recipe
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
