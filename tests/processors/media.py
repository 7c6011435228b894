"""Test media for the processors: natural photographs (scikit-image's bundled data) moved by a camera, then degraded.

Every clip has a known clean version. Pictures are float32 (H, W, 3) display-encoded RGB in
[0, 1], the form the pipeline hands a ``display`` processor. FFmpeg's own filters run on the
same frames through PyAV's filter graph, as the baseline each processor must beat.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import scipy.ndimage
from av.filter import Graph

from postbay.backend import numpy_backend
from postbay.colour import convert
from postbay.cuts import frame_cuts
from postbay.pipeline import windowed
from postbay.registry import FrameFormat, StepContext, default_registry

__all__ = ["photo", "pan", "pan_clip", "add_noise", "compress", "flicker", "psnr", "ffmpeg_filter", "run_processor",
           "to_linear", "to_display", "luma", "blockiness", "RATE"]

RATE = Fraction(24)


def photo(name: str = "astronaut") -> np.ndarray:
    """One of scikit-image's bundled photographs as float32 display RGB."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return img[..., :3].astype(np.float32) / 255.0


def pan(image: np.ndarray, frames: int, width: int = 256, height: int = 192,
        velocity: tuple[float, float] = (0.6, 1.7), start: tuple[float, float] = (8.0, 8.0)) -> list[np.ndarray]:
    """A camera pan across ``image``: ``frames`` crops moving ``velocity`` (dy, dx) pixels per frame.

    Sub-pixel positions are resampled with a cubic spline, as a real camera's would be
    integrated by its sensor, so the motion is not conveniently whole pixels.
    """
    out = []
    for i in range(frames):
        y0, x0 = start[0] + velocity[0] * i, start[1] + velocity[1] * i
        iy, ix = int(np.floor(y0)), int(np.floor(x0))
        crop = image[iy:iy + height + 4, ix:ix + width + 4]
        if crop.shape[0] < height + 4 or crop.shape[1] < width + 4:
            raise ValueError("pan leaves the photograph: use fewer frames or a slower pan")
        moved = scipy.ndimage.shift(crop, (iy - y0, ix - x0, 0), order=3, mode="nearest")
        out.append(np.clip(moved[:height, :width], 0.0, 1.0).astype(np.float32))
    return out


def pan_clip(frames: int, width: int, height: int, speed: float, name: str = "astronaut",
             start: float = 0.0) -> list[np.ndarray]:
    """A horizontal pan across a photograph scaled to ``height``, at ``speed`` pixels per frame (sub-pixel, cubic)."""
    img = photo(name)
    scale = height / img.shape[0]
    big = np.stack([scipy.ndimage.zoom(img[..., c], scale, order=3) for c in range(3)], axis=-1)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(frames):
        coords = [ys, xs + start + i * speed]
        f = np.stack([scipy.ndimage.map_coordinates(big[..., c], coords, order=3, mode="reflect")
                      for c in range(3)], -1)
        out.append(np.clip(f, 0, 1).astype(np.float32))
    return out


def add_noise(frames: list[np.ndarray], sigma: float = 0.04, seed: int = 1) -> list[np.ndarray]:
    """White Gaussian noise of ``sigma`` (display code values), independent per frame and channel."""
    rng = np.random.default_rng(seed)
    return [(f + rng.normal(0.0, sigma, f.shape)).astype(np.float32) for f in frames]


def compress(frames: list[np.ndarray], path: Path, qscale: int = 18, codec: str = "mpeg4") -> list[np.ndarray]:
    """Encode with an old block-DCT codec at a fixed high quantiser, decode again: 8×8 blocking."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=RATE)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.qscale = qscale
        stream.codec_context.flags |= av.codec.context.Flags.qscale
        stream.codec_context.options = {"qmin": str(qscale), "qmax": str(qscale)}
        for f in frames:
            frame = av.VideoFrame.from_ndarray((np.clip(f, 0, 1) * 65535 + 0.5).astype(np.uint16), format="rgb48le")
            frame = frame.reformat(format="yuv420p", dst_colorspace="ITU709")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rgb = frame.reformat(format="rgb48le", src_colorspace="ITU709").to_ndarray()
            out.append(rgb.astype(np.float32) / 65535.0)
    return out


def flicker(frames: list[np.ndarray], amplitude: float = 0.08, seed: int = 3,
            colour: float = 0.02) -> tuple[list[np.ndarray], np.ndarray]:
    """Frame-to-frame exposure pumping: a random gain per frame (and a little per channel)."""
    rng = np.random.default_rng(seed)
    gains = 1.0 + rng.uniform(-amplitude, amplitude, (len(frames), 1)) + rng.uniform(-colour, colour, (len(frames), 3))
    return [(f * g.astype(np.float32)).astype(np.float32) for f, g in zip(frames, gains)], gains


def psnr(a: Any, b: Any, border: int = 0) -> float:
    """PSNR in dB of ``a`` against the reference ``b`` (both [0, 1]), clipped like an encoder would."""
    a = np.clip(np.asarray(a, np.float64), 0, 1)
    b = np.clip(np.asarray(b, np.float64), 0, 1)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def luma(x: np.ndarray) -> np.ndarray:
    return x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722


def blockiness(x: np.ndarray, block: int = 8) -> float:
    """Excess of the luma step across block boundaries over the steps inside blocks (0: none).

    Mean absolute horizontal and vertical differences at multiples of ``block`` divided by
    the mean elsewhere, minus one. A clean picture scores about 0; an over-quantised DCT
    codec leaves a visible grid that scores well above.
    """
    y = luma(np.asarray(x, np.float64))
    dx = np.abs(np.diff(y, axis=1))
    dy = np.abs(np.diff(y, axis=0))
    on_x = (np.arange(dx.shape[1]) % block) == block - 1
    on_y = (np.arange(dy.shape[0]) % block) == block - 1
    at = np.concatenate([dx[:, on_x].ravel(), dy[on_y].ravel()]).mean()
    off = np.concatenate([dx[:, ~on_x].ravel(), dy[~on_y].ravel()]).mean()
    return float(at / off - 1.0)


def ffmpeg_filter(frames: list[np.ndarray], spec: str) -> list[np.ndarray]:
    """Run an FFmpeg filter chain (``"scale=…,cas=…"``) over the frames as 16-bit RGB, in one graph."""
    h, w = frames[0].shape[:2]
    graph = Graph()
    node = graph.add_buffer(width=w, height=h, format="rgb48le", time_base=Fraction(1, 24))
    for part in spec.split(","):
        name, _, args = part.partition("=")
        nxt = graph.add(name, args) if args else graph.add(name)
        node.link_to(nxt)
        node = nxt
    fmt = graph.add("format", "rgb48le")
    node.link_to(fmt)
    sink = graph.add("buffersink")
    fmt.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            out.append(frame.to_ndarray().astype(np.float32) / 65535.0)

    for i, f in enumerate(frames):
        frame = av.VideoFrame.from_ndarray((np.clip(f, 0, 1) * 65535 + 0.5).astype(np.uint16), format="rgb48le")
        frame.pts = i
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    return out


def to_linear(x: np.ndarray) -> np.ndarray:
    return convert(np.ascontiguousarray(x, np.float32), "display", "linear", numpy_backend())


def to_display(x: np.ndarray) -> np.ndarray:
    return convert(np.ascontiguousarray(x, np.float32), "linear", "display", numpy_backend())


def run_processor(name: str, frames: list[np.ndarray], backend: Any = None, **params: Any) -> list[np.ndarray]:
    """Run one registered processor over display frames the way the pipeline does (window,
    colour space, stream or frame kind) and return display frames; sizes may change."""
    backend = backend or numpy_backend()
    proc = default_registry(plugins=False).get(name)
    p = proc.params(**params)
    h, w = frames[0].shape[:2]
    fmt_in = FrameFormat(w, h, RATE, len(frames))
    fmt_out = proc.output_format(p, fmt_in)
    ctx = StepContext(backend=backend, fmt_in=fmt_in, fmt_out=fmt_out, window=proc.window_for(p))
    space = proc.colourspace
    stream = [backend.asarray(f if space == "display" else to_linear(f)) for f in frames]
    if proc.needs_cuts:  # as the pipeline does on the way in
        ctx.cuts = tuple(frame_cuts(stream, backend))
    if proc.kind == "stream":
        results = list(proc.function(iter(stream), ctx, p))
    else:
        results = []
        for n, window in enumerate(windowed(stream, *ctx.window)):
            ctx.frame_index = n
            results.append(proc.function(window, ctx, p))
    results = [np.asarray(backend.to_host(r), dtype=np.float32) for r in results]
    return results if space == "display" else [to_display(r) for r in results]
