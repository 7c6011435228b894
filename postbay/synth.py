"""Synthetic clips made with PyAV: the demo's "AI-looking" clip and the tests' media.

Everything here encodes real files with real codecs, so tests exercise the same decode
paths a user's clips do.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from postbay.media import add_audio_stream, add_video_stream

__all__ = ["ai_look_frame", "frame_number_pattern", "read_frame_number", "smooth_frame", "write_clip"]

Pattern = Callable[[int, int, int], np.ndarray]  # (index, width, height) -> float RGB (H, W, 3)


def smooth_frame(i: int, width: int, height: int) -> np.ndarray:
    """A smooth moving gradient scene (chroma-friendly: fidelity tests measure the codec path)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    r = 0.5 + 0.35 * np.sin(2 * np.pi * (x + i / 48))
    g = 0.15 + 0.7 * y
    b = 0.5 + 0.35 * np.cos(2 * np.pi * (x * 0.5 + y * 0.5 - i / 96))
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def ai_look_frame(i: int, width: int, height: int, seed: int = 7) -> np.ndarray:
    """A moving textured scene with what raw generations show: noise, flicker and a colour cast."""
    rng = np.random.default_rng(seed + i)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (x - i * width / 240) / width
    v = y / height
    scene = 0.45 + 0.2 * np.sin(12 * u) * np.cos(9 * v) + 0.15 * np.sin(40 * u + 25 * v)
    disc = ((u * width - width * 0.5) ** 2 + (v * height - height * 0.55) ** 2) < (height * 0.18) ** 2
    scene = np.where(disc, 0.8 - 0.1 * v, scene)
    rgb = np.stack([scene * 1.08, scene * 0.98, scene * 0.88], axis=-1)  # warm cast
    rgb *= 1.0 + 0.06 * np.sin(i * 1.7)  # frame-to-frame flicker
    rgb += rng.normal(0, 0.03, rgb.shape).astype(np.float32) * (1.2 - rgb)  # noise, heavier in shadows
    return np.clip(rgb, 0, 1).astype(np.float32)


_BITS = 16
_CELL = 8


def frame_number_pattern(i: int, width: int, height: int) -> np.ndarray:
    """A frame whose number is written as binary blocks on the top row (frame-accuracy tests)."""
    rgb = np.full((height, width, 3), 0.25, np.float32)
    cell = max(_CELL, width // (_BITS * 2))
    for bit in range(_BITS):
        value = 0.9 if (i >> bit) & 1 else 0.05
        rgb[0:cell, bit * cell:(bit + 1) * cell, :] = value
    return rgb


def read_frame_number(rgb: np.ndarray) -> int:
    """Read back the number :func:`frame_number_pattern` wrote, from float or uint16 RGB."""
    img = rgb.astype(np.float32)
    if rgb.dtype == np.uint16:
        img /= 65535.0
    elif rgb.dtype == np.uint8:
        img /= 255.0
    width = img.shape[1]
    cell = max(_CELL, width // (_BITS * 2))
    n = 0
    for bit in range(_BITS):
        block = img[cell // 4: 3 * cell // 4, bit * cell + cell // 4: (bit + 1) * cell - cell // 4]
        if block.mean() > 0.5:
            n |= 1 << bit
    return n


def write_clip(path: str | Path, *, frames: int = 48, width: int = 320, height: int = 180,
               rate: Fraction | int | str = 24, codec: str = "libx264", pix_fmt: str = "yuv420p",
               container: str | None = None, matrix: str = "ITU709", color_range: str = "MPEG",
               pattern: Pattern = smooth_frame, timecode: str | None = None,
               sample_aspect_ratio: Fraction | None = None, audio: str | None = "tone",
               audio_rate: int = 48000, click_frame: int | None = None, audio_codec: str | None = None,
               options: dict[str, str] | None = None, tag_colour: bool = True, reel: str | None = None) -> Path:
    """Encode a synthetic clip. ``audio``: None, ``"tone"`` (1 kHz) or ``"silence"``;
    ``click_frame`` puts a one-frame click at that frame's time."""
    path = Path(path)
    rate = Fraction(rate)
    fmt = container or {".mov": "mov", ".mp4": "mp4", ".mkv": "matroska", ".mxf": "mxf"}.get(path.suffix, None)
    out = av.open(str(path), "w", format=fmt)
    if timecode:
        out.metadata["timecode"] = timecode
    if reel:
        out.metadata["reel_name"] = reel
    vs = add_video_stream(out, codec, rate)
    vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
    vs.time_base = 1 / rate
    vs.codec_context.time_base = 1 / rate
    if sample_aspect_ratio:
        vs.codec_context.sample_aspect_ratio = Fraction(sample_aspect_ratio)
    if tag_colour:
        ctx = vs.codec_context
        ctx.colorspace = {"ITU709": 1, "ITU601": 6}.get(matrix, 1)
        ctx.color_primaries = {"ITU709": 1, "ITU601": 6}.get(matrix, 1)
        ctx.color_trc = {"ITU709": 1, "ITU601": 6}.get(matrix, 1)
        ctx.color_range = {"MPEG": 1, "JPEG": 2}[color_range]
    if timecode:
        vs.metadata["timecode"] = timecode
    if reel:
        vs.metadata["reel_name"] = reel  # QuickTime writes it into the timecode track
    opts: dict[str, object] = {"preset": "ultrafast", "crf": "10"} if codec == "libx264" else {}
    if codec == "prores":
        opts = {"profile": "3"}
    opts.update(options or {})
    vs.options = opts
    astream: av.AudioStream | None = None
    if audio:
        acodec = audio_codec or ("aac" if path.suffix == ".mp4" else "pcm_s16le")
        astream = add_audio_stream(out, acodec, audio_rate)
        astream.layout = "stereo"
    samples_per_frame = audio_rate / rate
    total_samples = int(round(frames * samples_per_frame))
    written = 0
    for i in range(frames):
        rgb = pattern(i, width, height)
        u16 = (np.clip(rgb, 0, 1) * 65535 + 0.5).astype(np.uint16)
        vf = av.VideoFrame.from_ndarray(u16, format="rgb48le")
        if pix_fmt.startswith(("rgb", "gbr", "bgr")):
            vf = vf.reformat(format=pix_fmt)
        else:
            vf = vf.reformat(format=pix_fmt, src_colorspace=matrix, dst_colorspace=matrix,
                             src_color_range="JPEG", dst_color_range=color_range)
        vf.pts = i
        out.mux(vs.encode(vf))
        if astream is not None:
            end = int(round((i + 1) * samples_per_frame)) if i < frames - 1 else total_samples
            n = end - written
            t = (np.arange(written, end) / audio_rate).astype(np.float64)
            sig = 0.0 * t if audio == "silence" else 0.2 * np.sin(2 * np.pi * 1000 * t)
            if click_frame is not None and i == click_frame:
                sig = np.zeros_like(t)
                sig[: max(1, n // 4)] = 0.9
            elif click_frame is not None:
                sig = np.zeros_like(t)
            pcm = (sig * 32767).astype(np.int16)
            fmt_name = astream.codec_context.format.name
            arr: np.ndarray
            if fmt_name == "fltp":
                arr = np.stack([sig, sig]).astype(np.float32)
            elif fmt_name == "s16p":
                arr = np.stack([pcm, pcm])
            else:
                arr = np.stack([pcm, pcm], axis=-1).reshape(1, -1)
            af = av.AudioFrame.from_ndarray(arr, format=fmt_name, layout="stereo")
            af.sample_rate = audio_rate
            af.pts = written
            af.time_base = Fraction(1, audio_rate)
            written = end
            out.mux(astream.encode(af))
    out.mux(vs.encode(None))
    if astream is not None:
        out.mux(astream.encode(None))
    out.close()
    return path
