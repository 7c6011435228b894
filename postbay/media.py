"""Media engine on PyAV: probe, decode to RGB, encode presets, and what editors rely on.

Decoded pictures are 16-bit RGB (``uint16``, H×W×3) converted with the source's own matrix
and range, so 8-, 10- and 12-bit sources keep their precision; the pipeline turns them into
float32 on the array backend. Encoding converts RGB to YUV with the BT.709 matrix explicitly
and writes the colour tags (an RGB frame handed to an encoder naively gets BT.601).

Kept through a render: exact frame rate (24000/1001 stays a fraction), start timecode,
display aspect ratio, audio sync (the first video and audio samples line up as in the
source) and the reel name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import av.error
import numpy as np
import opentimelineio as otio
from av.subtitles.stream import SubtitleStream
from av.subtitles.subtitle import SubtitleSet

from postbay.errors import MediaError
from postbay.sequences import (
    find_sequence,
    image2_input,
    is_sequence_spec,
    linear_pixels,
    linear_to_display,
    sequence_rate,
)

__all__ = [
    "add_audio_stream",
    "add_video_stream",
    "disk_hint",
    "AudioInfo",
    "MediaInfo",
    "PRESETS",
    "Preset",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "AudioPlan",
    "AudioMode",
    "STILL_SUFFIXES",
    "frames_to_timecode",
    "read_pictures",
    "read_reference",
    "timecode_to_frames",
    "probe",
    "count_frames",
    "snap_rate",
    "SUBTITLE_CODECS",
    "MAX_PIXELS",
    "check_picture_size",
    "pixel_limit",
    "set_pixel_limit",
    "to_rgb8_scaled",
]

AudioMode = Literal["copy", "pcm", "aac", "none"]

# --------------------------------------------------------------------------------------------
# Presets


@dataclass(frozen=True)
class Preset:
    """An encode preset: codec, container, pixel format and encoder options."""

    name: str
    codec: str
    container: str
    pix_fmt: str
    containers: tuple[str, ...]
    options: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def audio_codec(self, container: str) -> str:
        """The audio codec this preset's container takes when audio is re-encoded."""
        return "aac" if container == "mp4" else "pcm_s24le"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("h264", "libx264", "mp4", "yuv420p", ("mp4", "mov", "mkv"),
               {"crf": "18", "preset": "fast"}, "H.264 4:2:0 8-bit, for review and the web"),
        Preset("hevc", "libx265", "mp4", "yuv420p10le", ("mp4", "mov", "mkv"),
               {"crf": "20", "preset": "fast", "x265-params": "log-level=error"},
               "HEVC Main10 4:2:0, for delivery"),
        Preset("prores_hq", "prores", "mov", "yuv422p10le", ("mov",),
               {"profile": "3", "vendor": "apl0"}, "Apple ProRes 422 HQ, 10-bit, the mastering default"),
        Preset("prores_4444", "prores", "mov", "yuv444p10le", ("mov",),
               {"profile": "4", "vendor": "apl0"}, "Apple ProRes 4444, 10-bit 4:4:4"),
        Preset("dnxhr_hq", "dnxhd", "mov", "yuv422p", ("mov", "mxf"),
               {"profile": "dnxhr_hq"}, "Avid DNxHR HQ, 8-bit 4:2:2"),
        Preset("dnxhr_hqx", "dnxhd", "mov", "yuv422p10le", ("mov", "mxf"),
               {"profile": "dnxhr_hqx"}, "Avid DNxHR HQX, 10-bit 4:2:2"),
        Preset("ffv1", "ffv1", "mkv", "yuv444p10le", ("mkv",),
               {"level": "3", "slices": "4", "slicecrc": "1", "g": "1"}, "FFV1 lossless, 10-bit 4:4:4 archive"),
    ]
}

_MUXERS = {"mp4": "mp4", "mov": "mov", "mxf": "mxf", "mkv": "matroska"}

#: The soft-subtitle codec each container takes (MXF takes none).
SUBTITLE_CODECS = {"mp4": "mov_text", "mov": "mov_text", "mkv": "subrip"}

_ASS_HEADER = (b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
               b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
               b"Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
               b"Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
               b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
               b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")

# --------------------------------------------------------------------------------------------
# Rates and timecode

_STANDARD_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                   Fraction(48000, 1001), Fraction(48), Fraction(50), Fraction(60000, 1001), Fraction(60),
                   Fraction(120000, 1001), Fraction(120), Fraction(15), Fraction(12), Fraction(100)]


def snap_rate(rate: Fraction | float | None) -> Fraction | None:
    """Snap a measured rate to the standard rate it stands for (23.976… → 24000/1001)."""
    if not rate:
        return None
    rate = Fraction(rate)
    for std in _STANDARD_RATES:
        if abs(rate - std) / std < Fraction(1, 2000):
            return std
    return rate.limit_denominator(1001)


def _otio_rate(rate: Fraction) -> float:
    return float(rate)


def timecode_to_frames(tc: str, rate: Fraction) -> int:
    """Frames since midnight for a SMPTE timecode at ``rate`` (drop-frame when written with ';')."""
    try:
        return int(otio.opentime.from_timecode(tc, _otio_rate(rate)).value)
    except Exception as exc:
        raise MediaError(f"not a valid timecode at {float(rate):.3f} fps: {tc!r}") from exc


def frames_to_timecode(frames: int, rate: Fraction, drop_frame: bool | None = None) -> str:
    """SMPTE timecode for a frame count; drop-frame by default at 29.97 and 59.94."""
    if drop_frame is None:
        drop_frame = rate.denominator == 1001 and rate.numerator in (30000, 60000)
    return otio.opentime.to_timecode(otio.opentime.RationalTime(frames, _otio_rate(rate)), _otio_rate(rate),
                                     bool(drop_frame))


# --------------------------------------------------------------------------------------------
# Probe

_PRIMARIES = {1: "bt709", 2: None, 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020",
              11: "smpte431", 12: "smpte432"}
_TRANSFER = {1: "bt709", 2: None, 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
             13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_MATRIX = {0: "rgb", 1: "bt709", 2: None, 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
           9: "bt2020nc", 10: "bt2020c"}
_RANGE = {0: None, 1: "limited", 2: "full"}


@dataclass
class VideoInfo:
    index: int
    codec: str
    width: int
    height: int
    sample_aspect_ratio: str
    display_aspect_ratio: str
    rate: str  # exact fraction as "24000/1001"
    fps: float
    frames: int
    duration: float
    pix_fmt: str
    bit_depth: int
    primaries: str | None
    transfer: str | None
    matrix: str | None
    range: str | None
    start_time: float

    @property
    def rate_fraction(self) -> Fraction:
        return Fraction(self.rate)

    @property
    def sar(self) -> Fraction:
        return Fraction(self.sample_aspect_ratio.replace(":", "/"))


@dataclass
class AudioInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    start_time: float
    duration: float


@dataclass
class MediaInfo:
    path: str
    container: str
    size_bytes: int
    duration: float
    video: VideoInfo | None
    audio: list[AudioInfo]
    timecode: str | None
    reel: str | None
    streams: int
    metadata: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def require_video(self) -> VideoInfo:
        if self.video is None:
            raise MediaError("has no video stream (audio-only or data file)", path=self.path,
                             hint="postbay finishes picture; drop a clip with video")
        return self.video


#: Pixels in one decoded frame unless ``[limits] max_pixels`` says otherwise: 8K × 8K. A movie of
#: 16000 × 16000 PNG frames is a few MB on disk and gigabytes once decoded.
MAX_PIXELS = 8192 * 8192
_pixel_limit = MAX_PIXELS


def set_pixel_limit(max_pixels: int) -> None:
    """Set this process's decode limit (the daemon, its workers, the API and the CLI do, from
    ``[limits] max_pixels``); every decoder opened afterwards refuses larger pictures."""
    global _pixel_limit
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, not {max_pixels}")
    _pixel_limit = int(max_pixels)


def pixel_limit() -> int:
    """The decode limit in pixels per frame (see :func:`set_pixel_limit`)."""
    return _pixel_limit


def check_picture_size(video: VideoInfo, path: str | Path) -> None:
    """Refuse pictures of more than :func:`pixel_limit` pixels before a frame is decoded."""
    limit = pixel_limit()
    if video.width * video.height > limit:
        raise MediaError(f"pictures are {video.width}×{video.height} ({video.width * video.height / 1e6:.0f} Mpx), "
                         f"more than the limit of {limit / 1e6:.0f} Mpx; refused", path=path,
                         hint="raise [limits] max_pixels in the config if this is real footage")


def _open(path: str | Path, rate: Fraction | None = None, **kwargs: Any) -> av.container.InputContainer:
    """Open media to read; a missing, empty or unreadable file is a :class:`MediaError` naming it.

    An image sequence (a folder of numbered frames, ``shot_%04d.png``) opens as FFmpeg's image2
    input at ``rate`` (default 24).
    """
    path = Path(path)
    if is_sequence_spec(path):
        pattern, options = image2_input(path, rate)
        try:
            return av.open(pattern, "r", format="image2", options=options)
        except av.error.FFmpegError as exc:
            raise MediaError(_describe_ffmpeg_error(exc), path=path) from exc
    if not path.exists():
        raise MediaError("file not found", path=path)
    if path.is_dir():
        raise MediaError("is a folder, not a media file", path=path)
    if path.stat().st_size == 0:
        raise MediaError("is empty (0 bytes): not copied yet or copy failed", path=path)
    # Codec option for every stream: reading the stream headers decodes a frame of some
    # formats (PNG, JPEG), and a bomb's frame must be refused there already.
    kwargs.setdefault("options", {"max_pixels": str(pixel_limit())})
    try:
        return av.open(str(path), "r", **kwargs)
    except av.error.FFmpegError as exc:
        raise MediaError(_describe_ffmpeg_error(exc), path=path) from exc


def _create(path: str | Path, **kwargs: Any) -> av.container.OutputContainer:
    """Open a file to write media into; FFmpeg's refusal is a :class:`MediaError` naming it."""
    try:
        return av.open(str(path), "w", **kwargs)
    except av.error.FFmpegError as exc:
        raise MediaError(_describe_ffmpeg_error(exc), path=Path(path)) from exc


def _time_base(stream: Any, path: Path) -> Fraction:
    """A stream's time base; FFmpeg gives every demuxed stream one, so None means a broken file."""
    if stream.time_base is None:
        raise MediaError("a stream has no time base (not a usable media file)", path=path)
    return Fraction(stream.time_base)


def add_video_stream(out: av.container.OutputContainer, codec: str, rate: Fraction) -> av.VideoStream:
    """A picture stream of ``codec`` in ``out`` (typed: PyAV gives a union for a codec named at run time)."""
    stream = out.add_stream(codec, rate=rate)
    if not isinstance(stream, av.VideoStream):
        raise MediaError(f"{codec} is not a video encoder", path=Path(out.name))
    return stream


def add_audio_stream(out: av.container.OutputContainer, codec: str, rate: int) -> av.AudioStream:
    """A sound stream of ``codec`` in ``out``."""
    stream = out.add_stream(codec, rate=rate)
    if not isinstance(stream, av.AudioStream):
        raise MediaError(f"{codec} is not an audio encoder", path=Path(out.name))
    return stream


def _describe_ffmpeg_error(exc: Exception) -> str:
    text = str(exc)
    if "Invalid data found" in text:
        return "not a readable media file (invalid data: corrupt, truncated or not video)"
    if "moov atom not found" in text:
        return "truncated: the file ends before its index (moov atom not found)"
    return f"cannot read: {text}"


def _ctx_attr(ctx: Any, name: str) -> int:
    try:
        return int(getattr(ctx, name))
    except Exception:
        return 2


def _video_rate(stream: av.video.stream.VideoStream) -> Fraction:
    for candidate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if candidate:
            rate = snap_rate(Fraction(candidate))
            if rate:
                return rate
    raise MediaError("has no frame rate", path=stream.container.name)


def count_frames(path: str | Path, stream_index: int | None = None) -> int:
    """Count video frames by demuxing packets (no decode): for containers that lie (MXF, MKV)."""
    with _open(path) as container:
        if not container.streams.video:
            return 0
        vs = container.streams.video[0] if stream_index is None else container.streams[stream_index]
        n = 0
        try:
            for packet in container.demux(vs):
                if packet.size:
                    n += 1
        except av.error.FFmpegError as exc:
            raise MediaError(f"demux failed after {n} frames: {exc}", path=path) from exc
        return n


def _timecode_of(container: av.container.Container) -> str | None:
    for source in [container.metadata] + [s.metadata for s in container.streams]:
        tc = source.get("timecode")
        if tc:
            return tc
    return None


def _reel_of(container: av.container.Container) -> str | None:
    for source in [container.metadata] + [s.metadata for s in container.streams]:
        for key in ("reel_name", "reel", "com.apple.quicktime.reel"):
            if source.get(key):
                return source[key]
    return None


def probe(path: str | Path, rate: Fraction | None = None) -> MediaInfo:
    """Describe a media file: streams, exact rate, frame count, colour tags, timecode, audio.

    An image sequence (a folder of numbered frames, ``shot_%04d.png``, ``shot_####.exr``) plays
    at ``rate`` (default 24) from the timecode of its first frame number.
    """
    path = Path(path)
    if is_sequence_spec(path):
        return _probe_sequence(path, rate)
    with _open(path) as container:
        video: VideoInfo | None = None
        audio: list[AudioInfo] = []
        fmt_name = container.format.name
        if container.streams.video:
            vs = container.streams.video[0]
            ctx = vs.codec_context
            if not ctx.width or not ctx.height:
                raise MediaError(f"video stream has no picture size within the limit of {pixel_limit() / 1e6:.0f} Mpx "
                                 "(a corrupt header, or pictures larger than [limits] max_pixels)", path=path)
            rate = _video_rate(vs)
            # The container's aspect (mov 'pasp') first: ProRes/DNxHR carry none in the bitstream.
            sar = Fraction(1)
            for candidate in (getattr(vs, "sample_aspect_ratio", None), ctx.sample_aspect_ratio):
                if candidate and Fraction(candidate) > 0:
                    sar = Fraction(candidate)
                    break
            dar = sar * Fraction(ctx.width, ctx.height)
            tb = vs.time_base or Fraction(1, 1)
            start = float(vs.start_time * tb) if vs.start_time is not None else 0.0
            frames = int(vs.frames or 0)
            unreliable = fmt_name.split(",")[0] in ("mxf", "matroska", "webm", "avi", "mpegts")
            if frames <= 0 or unreliable:
                frames = -1  # counted below, after the container is closed
            if vs.duration is not None:
                duration = float(vs.duration * tb)
            elif container.duration is not None:
                duration = container.duration / av.time_base
            else:
                duration = 0.0
            pix_fmt = ctx.format.name if ctx.format else (ctx.pix_fmt or "unknown")
            depth = max((c.bits for c in ctx.format.components), default=8) if ctx.format else 8
            video = VideoInfo(
                index=vs.index, codec=ctx.name, width=ctx.width, height=ctx.height,
                sample_aspect_ratio=f"{sar.numerator}:{sar.denominator}",
                display_aspect_ratio=f"{dar.numerator}:{dar.denominator}",
                rate=f"{rate.numerator}/{rate.denominator}", fps=float(rate), frames=frames,
                duration=duration, pix_fmt=pix_fmt, bit_depth=depth,
                primaries=_PRIMARIES.get(_ctx_attr(ctx, "color_primaries")),
                transfer=_TRANSFER.get(_ctx_attr(ctx, "color_trc")),
                matrix=_MATRIX.get(_ctx_attr(ctx, "colorspace")),
                range=_RANGE.get(_ctx_attr(ctx, "color_range")),
                start_time=start,
            )
            check_picture_size(video, path)
        for a in container.streams.audio:
            actx = a.codec_context
            tb = a.time_base or Fraction(1, actx.sample_rate or 1)
            audio.append(AudioInfo(
                index=a.index, codec=actx.name, sample_rate=actx.sample_rate, channels=actx.channels,
                layout=actx.layout.name if actx.layout else "",
                start_time=float(a.start_time * tb) if a.start_time is not None else 0.0,
                duration=float(a.duration * tb) if a.duration is not None else 0.0,
            ))
        info = MediaInfo(
            path=str(path), container=fmt_name, size_bytes=path.stat().st_size,
            duration=(container.duration / av.time_base) if container.duration else 0.0,
            video=video, audio=audio, timecode=_timecode_of(container), reel=_reel_of(container),
            streams=len(container.streams), metadata=dict(container.metadata),
        )
    if video is not None and video.frames < 0:
        video.frames = count_frames(path, video.index)
    if video is not None and not video.duration:
        video.duration = video.frames / video.fps
    return info


def _probe_sequence(path: Path, rate: Fraction | None) -> MediaInfo:
    seq = find_sequence(path)
    rate = sequence_rate(rate)
    with _open(path, rate=rate) as container:
        vs = container.streams.video[0]
        ctx = vs.codec_context
        pix_fmt = ctx.format.name if ctx.format else "unknown"
        depth = max((c.bits for c in ctx.format.components), default=8) if ctx.format else 8
        video = VideoInfo(index=vs.index, codec=ctx.name, width=ctx.width, height=ctx.height,
                          sample_aspect_ratio="1:1", display_aspect_ratio=f"{ctx.width}:{ctx.height}",
                          rate=f"{rate.numerator}/{rate.denominator}", fps=float(rate), frames=seq.span,
                          duration=seq.span / float(rate), pix_fmt=pix_fmt, bit_depth=depth,
                          primaries=None, transfer=None, matrix=None, range=None, start_time=0.0)
    size = sum(seq.path(n).stat().st_size for n in seq.numbers)
    return MediaInfo(path=str(path), container="image sequence", size_bytes=size, duration=video.duration,
                     video=video, audio=[], timecode=frames_to_timecode(seq.first, rate), reel=None, streams=1,
                     metadata={"sequence": seq.describe()})


# --------------------------------------------------------------------------------------------
# Decode

_AV_MATRIX = {"bt709": "ITU709", "bt470bg": "ITU601", "smpte170m": "ITU601", "fcc": "FCC",
              "smpte240m": "SMPTE240M", "bt2020nc": "BT2020", "bt2020c": "BT2020"}


def _frame_matrix(frame: av.VideoFrame) -> str:
    """The YUV matrix of a decoded frame: its tag, else the convention for its height."""
    name = _MATRIX.get(int(frame.colorspace))
    if name and name != "rgb":
        return _AV_MATRIX.get(name, "ITU709")
    return "ITU709" if frame.height >= 720 else "ITU601"


def _frame_range(frame: av.VideoFrame) -> str:
    value = int(frame.color_range)
    if value == 2 or frame.format.name.startswith("yuvj"):
        return "JPEG"
    return "MPEG"


def _is_rgb_format(name: str) -> bool:
    return name.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "rgba", "bgra", "pal8", "gray"))


class VideoReader:
    """Decode the video of a file, from frame ``start`` for ``count`` frames (all by default).

    Iterating yields ``(index, picture)`` where ``picture`` is an (H, W, 3) ``uint16`` RGB
    array; :meth:`av_frames` yields the decoded :class:`av.VideoFrame` instead (the
    pipeline's pass-through path). ``index`` is the frame number in the file, from 0.
    Pictures over :func:`pixel_limit` are refused: by their stream's size here, and by the
    decoder for a frame that claims more than its stream does.
    """

    def __init__(self, path: str | Path, *, start: int = 0, count: int | None = None,
                 info: MediaInfo | None = None):
        self.path = Path(path)
        self.info = info or probe(path)
        self.video = self.info.require_video()
        check_picture_size(self.video, self.path)
        self.rate = self.video.rate_fraction
        self.start = max(0, int(start))
        available = max(0, self.video.frames - self.start)
        self.count = available if count is None else min(int(count), available)

    def av_frames(self) -> Iterator[tuple[int, av.VideoFrame]]:
        if self.count <= 0:
            return
        with _open(self.path, rate=self.rate) as container:
            vs = container.streams.video[0]
            vs.thread_type = "AUTO"
            tb = _time_base(vs, self.path)
            first_pts = vs.start_time or 0
            if self.start > 0:
                target = first_pts + int(round(self.start / self.rate / tb))
                container.seek(target, stream=vs, backward=True, any_frame=False)
            end = self.start + self.count
            sequential = None
            produced = 0
            try:
                for frame in container.decode(vs):
                    if frame.pts is not None:
                        index = int(round((frame.pts - first_pts) * tb * self.rate))
                    else:
                        sequential = self.start if sequential is None else sequential + 1
                        index = sequential
                    if index < self.start:
                        continue
                    if index >= end:
                        break
                    yield index, frame
                    produced += 1
            except av.error.FFmpegError as exc:
                raise MediaError(f"decode failed at frame {self.start + produced}: {exc}", path=self.path) from exc
            if produced < self.count:
                raise MediaError(
                    f"ended after {produced} of {self.count} frames from frame {self.start} "
                    "(truncated or corrupt)", path=self.path)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        for index, frame in self.av_frames():
            yield index, to_rgb16(frame)


def to_rgb16(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) uint16 RGB of a decoded frame, with the frame's own matrix and range (a float
    frame, an EXR's, is scene-linear: converted to the display encoding through OCIO)."""
    if "f32" in frame.format.name or "f16" in frame.format.name:
        return linear_to_display(linear_pixels(frame))
    if _is_rgb_format(frame.format.name):
        return frame.to_ndarray(format="rgb48le")
    return frame.to_ndarray(format="rgb48le", src_colorspace=_frame_matrix(frame),
                            src_color_range=_frame_range(frame), dst_color_range="JPEG")


def to_rgb8_scaled(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """(height, width, 3) ``uint8`` RGB of a decoded frame, scaled by the decoder's scaler.

    The full-size RGB picture is never made: a preview of an 8K frame costs its small output."""
    if _is_rgb_format(frame.format.name):
        return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="LANCZOS")
    return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="LANCZOS",
                            src_colorspace=_frame_matrix(frame), src_color_range=_frame_range(frame),
                            dst_color_range="JPEG")


def source_is_bt709_limited(frame: av.VideoFrame) -> bool:
    """True when a decoded frame can go to a BT.709 limited-range YUV output without RGB."""
    if _is_rgb_format(frame.format.name):
        return False
    return _frame_matrix(frame) == "ITU709"


# --------------------------------------------------------------------------------------------
# Audio


@dataclass(frozen=True)
class AudioPlan:
    """Where the output's audio comes from: the source's audio over the rendered range."""

    source: Path
    mode: AudioMode
    start_seconds: float  # source time of the first output video frame
    duration: float  # seconds of audio to write
    samples: np.ndarray | None = None  # processed audio (channels, n) float32, replaces the source's
    sample_rate: int | None = None


@dataclass(frozen=True)
class AudioTarget:
    """The sample format audio is decoded or encoded to."""

    rate: int
    format: str
    layout: str
    channels: int

    @classmethod
    def of(cls, stream: Any) -> AudioTarget:
        ctx = stream.codec_context
        return cls(ctx.sample_rate, ctx.format.name, ctx.layout.name, ctx.layout.nb_channels)


def _audio_sources(plan: AudioPlan, target: AudioTarget | None) -> Iterator[tuple[float, Any]]:
    """Yield (output time in seconds, packet or frame) for the planned audio, in order.

    ``target`` (the encoder's format) is None only when packets are copied.
    """
    if plan.samples is not None:
        assert target is not None, "samples are always encoded"
        yield from _frames_from_samples(plan.samples, plan.sample_rate or 48000, target)
        return
    with _open(plan.source) as container:
        if not container.streams.audio:
            return
        ast = container.streams.audio[0]
        tb = _time_base(ast, Path(plan.source))
        if plan.mode == "copy":
            offset = int(round(plan.start_seconds / tb))
            end = plan.start_seconds + plan.duration
            if plan.start_seconds > 0:
                container.seek(offset, stream=ast, backward=True)
            for packet in container.demux(ast):
                if packet.pts is None or packet.size == 0:
                    continue
                t = float(packet.pts * tb)
                dur = float((packet.duration or 0) * tb)
                if t + dur <= plan.start_seconds:
                    continue
                if t >= end:
                    break
                packet.pts -= offset
                if packet.dts is not None:
                    packet.dts -= offset
                yield t - plan.start_seconds, packet
            return
        # Re-encode: decode, resample to the encoder's format, trim sample-accurately.
        assert target is not None, "re-encoded audio has an encoder format"
        rate = target.rate
        resampler = av.AudioResampler(format=target.format, layout=target.layout, rate=rate)
        first = int(round(plan.start_seconds * rate))
        total = int(round(plan.duration * rate))
        if plan.start_seconds > 1:
            container.seek(int((plan.start_seconds - 1) / tb), stream=ast, backward=True)
        start_time = float(ast.start_time * tb) if ast.start_time is not None else 0.0
        position: int | None = None  # source sample index of the next resampled sample
        written = 0  # output samples yielded so far
        for frame in _decode_audio(container, ast, plan.source):
            if position is None:
                t = float(frame.pts * tb) if frame.pts is not None else start_time
                position = int(round(t * rate))
                if position > first:  # audio starts after the picture: pad with silence
                    gap = min(position - first, total)
                    yield from _frames_from_samples(np.zeros((target.channels, gap)), rate, target,
                                                    scaled=True, offset=written)
                    written += gap
                    position = first
            for rf in resampler.resample(frame):
                data = _planar(rf.to_ndarray(), target.channels)
                n = data.shape[-1]
                lo = max(0, first - position)
                position += n
                if lo >= n:
                    continue
                part = data[:, lo:lo + total - written]
                yield from _frames_from_samples(part, rate, target, scaled=True, offset=written)
                written += part.shape[-1]
            if written >= total:
                return
        if written < total:  # audio ends before the picture: pad with silence
            yield from _frames_from_samples(np.zeros((target.channels, total - written)), rate, target,
                                            scaled=True, offset=written)


def _decode_audio(container: av.container.InputContainer, stream: Any, path: Path) -> Iterator[av.AudioFrame]:
    try:
        yield from container.decode(stream)
    except av.error.FFmpegError as exc:
        raise MediaError(f"audio decode failed: {exc}", path=path) from exc


def _planar(data: np.ndarray, channels: int) -> np.ndarray:
    """Resampled samples as (channels, n), whatever the format's packing."""
    if data.shape[0] == 1 and channels > 1:  # packed: (1, n*channels)
        return data.reshape(-1, channels).T.astype(np.float64)
    return data.astype(np.float64)


def _frames_from_samples(samples: np.ndarray, rate: int, target: AudioTarget, scaled: bool = False,
                         block: int = 1024, offset: int = 0) -> Iterator[tuple[float, av.AudioFrame]]:
    """Cut (channels, n) samples into AudioFrames in the target's format.

    ``scaled`` samples are already in the format's integer scale; otherwise they are float
    in [-1, 1]. ``offset`` is the output sample index of the first sample.
    """
    fmt = av.AudioFormat(target.format)
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[None, :]
    if samples.shape[0] != target.channels:
        samples = (np.repeat(samples[:1], target.channels, axis=0) if samples.shape[0] == 1
                   else samples[:target.channels])
    dtype = np.dtype({"s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}[fmt.packed.name])
    if not scaled and dtype.kind == "i":
        samples = np.clip(samples, -1.0, 1.0) * np.iinfo(dtype.type).max
    n = samples.shape[-1]
    for start in range(0, n, block):
        part = samples[:, start:start + block]
        if fmt.is_planar:
            arr = np.ascontiguousarray(part.astype(dtype))
        else:
            arr = np.ascontiguousarray(part.T.reshape(1, -1).astype(dtype))
        frame = av.AudioFrame.from_ndarray(arr, format=fmt.name, layout=target.layout)
        frame.sample_rate = rate
        frame.pts = offset + start
        frame.time_base = Fraction(1, rate)
        yield (offset + start) / rate, frame


# --------------------------------------------------------------------------------------------
# Encode


class VideoWriter:
    """Write a video (and its audio) with a preset, keeping rate, timecode, aspect and sync.

    ``write()`` takes an (H, W, 3) uint16 RGB array (converted to YUV with BT.709 explicitly)
    or a decoded BT.709 :class:`av.VideoFrame` (pass-through path, no RGB round trip).
    """

    def __init__(self, path: str | Path, *, preset: str | Preset, width: int, height: int,
                 rate: Fraction, container: str | None = None, sample_aspect_ratio: Fraction = Fraction(1),
                 timecode: str | None = None, reel: str | None = None, audio: AudioPlan | None = None,
                 metadata: dict[str, str] | None = None, subtitles: list[Any] | None = None,
                 subtitle_language: str | None = None):
        self.preset = PRESETS[preset] if isinstance(preset, str) else preset
        self.container_kind = container or self.preset.container
        if self.container_kind not in self.preset.containers:
            raise MediaError(f"preset {self.preset.name} cannot be written in {self.container_kind}",
                             path=path, hint=f"use one of {', '.join(self.preset.containers)}")
        self.path = Path(path)
        self.rate = Fraction(rate)
        self.width, self.height = int(width), int(height)
        if self.preset.pix_fmt.startswith(("yuv420", "yuv422")) and (self.width % 2 or self.height % 2):
            raise MediaError(f"{self.width}x{self.height} is odd; {self.preset.name} needs even sizes", path=path)
        self.frames_written = 0
        # mp4 keeps custom keys (reel_name) only as QuickTime metadata tags.
        options = {"movflags": "use_metadata_tags"} if self.container_kind == "mp4" else {}
        self.output = _create(self.path, format=_MUXERS[self.container_kind], options=options)
        try:
            self._setup(sample_aspect_ratio, timecode, reel, audio, metadata or {})
            self._setup_subtitles(subtitles, subtitle_language)
        except Exception:
            self.output.close()
            raise

    def _setup(self, sar: Fraction, timecode: str | None, reel: str | None, audio: AudioPlan | None,
               metadata: dict[str, str]) -> None:
        out = self.output
        for key, value in metadata.items():
            out.metadata[key] = value
        if timecode:
            out.metadata["timecode"] = timecode
        if reel:
            out.metadata["reel_name"] = reel
        vs = add_video_stream(out, self.preset.codec, self.rate)
        vs.width, vs.height = self.width, self.height
        vs.pix_fmt = self.preset.pix_fmt
        vs.time_base = 1 / self.rate
        vs.codec_context.time_base = 1 / self.rate
        ctx = vs.codec_context
        ctx.sample_aspect_ratio = Fraction(sar)
        ctx.color_primaries = 1
        ctx.color_trc = 1
        ctx.colorspace = 1
        ctx.color_range = 1
        vs.options = dict(self.preset.options)
        if self.preset.codec == "libx265" and self.container_kind in ("mp4", "mov"):
            ctx.codec_tag = "hvc1"
        if timecode:
            vs.metadata["timecode"] = timecode
        if reel:
            vs.metadata["reel_name"] = reel  # QuickTime writes it into the timecode track
        self.vstream = vs
        self.audio_plan = audio if audio and audio.mode != "none" else None
        self.astream: av.AudioStream | None = None
        self._audio_iter: Iterator[tuple[float, Any]] | None = None
        self._audio_pending: tuple[float, Any] | None = None
        if self.audio_plan is not None:
            self._setup_audio(self.audio_plan)

    def _setup_audio(self, plan: AudioPlan) -> None:
        src_info = None
        if plan.samples is None:
            with _open(plan.source) as src:
                if not src.streams.audio:
                    self.audio_plan = None
                    return
                template = src.streams.audio[0]
                src_info = (template.codec_context.name, template.codec_context.sample_rate,
                            template.codec_context.layout.name)
                if plan.mode == "copy" and _can_copy(template.codec_context.name, self.container_kind):
                    self.astream = self.output.add_stream_from_template(template)
                    self.audio_mode = "copy"
                    self._audio_iter = _audio_sources(plan, None)
                    return
        codec = self.preset.audio_codec(self.container_kind) if plan.mode in ("copy", "pcm") else "aac"
        if plan.mode == "pcm" and self.container_kind == "mp4":
            codec = "aac"  # mp4 takes no PCM
        rate = plan.sample_rate or (src_info[1] if src_info else 48000)
        stereo = plan.samples is None or plan.samples.shape[0] == 2
        layout = src_info[2] if src_info else ("stereo" if stereo else "mono")
        if plan.samples is not None:
            layout = {1: "mono", 2: "stereo", 6: "5.1"}.get(plan.samples.shape[0], "stereo")
        if self.container_kind == "mxf":
            rate = 48000
        astream = add_audio_stream(self.output, codec, rate)
        astream.layout = layout
        if codec == "aac":
            astream.bit_rate = 256000
        self.astream = astream
        self.audio_mode = codec
        self._audio_iter = _audio_sources(plan, AudioTarget.of(astream))

    def _setup_subtitles(self, cues: list[Any] | None, language: str | None) -> None:
        """A soft subtitle track from cues (``.start``, ``.end`` seconds and ``.text``)."""
        self.sstream: SubtitleStream | None = None
        self._subtitles: list[Any] = sorted(cues or [], key=lambda c: c.start)
        if not self._subtitles:
            return
        codec = SUBTITLE_CODECS.get(self.container_kind)
        if codec is None:
            raise MediaError(f"{self.container_kind} cannot carry a soft subtitle track", path=self.path,
                             hint="use mp4, mov or mkv, or rely on the .srt/.vtt sidecars")
        sstream = self.output.add_stream(codec)
        assert isinstance(sstream, SubtitleStream), codec
        # the text encoders take their style from an ASS header, even for plain text
        sstream.codec_context.subtitle_header = _ASS_HEADER
        sstream.time_base = Fraction(1, 1000)
        if language:
            sstream.metadata["language"] = language
        self.sstream = sstream

    def _mux_subtitles_until(self, t: float | Fraction | None) -> None:
        if self.sstream is None:
            return
        while self._subtitles and (t is None or self._subtitles[0].start <= t):
            cue = self._subtitles.pop(0)
            start, end = int(round(cue.start * 1000)), int(round(cue.end * 1000))
            text = cue.text.replace("\n", "\\N")
            packet = self.sstream.codec_context.encode_subtitle(
                SubtitleSet.create(f"0,0,Default,,0,0,0,,{text}".encode(), start=0, end=end - start, pts=0))
            packet.stream = self.sstream
            packet.time_base = Fraction(1, 1000)
            packet.pts = packet.dts = start
            packet.duration = end - start
            self.output.mux(packet)

    def _mux_audio_until(self, t: float | Fraction | None) -> None:
        if self._audio_iter is None:
            return
        while True:
            if self._audio_pending is None:
                try:
                    self._audio_pending = next(self._audio_iter)
                except StopIteration:
                    self._audio_iter = None
                    return
            at, item = self._audio_pending
            if t is not None and at > t:
                return
            self._audio_pending = None
            assert self.astream is not None, "audio is planned only with a stream"
            if isinstance(item, av.Packet):
                item.stream = self.astream
                self.output.mux(item)
            else:
                self.output.mux(self.astream.encode(item))

    def write(self, picture: np.ndarray | av.VideoFrame) -> None:
        """Encode one picture as the next frame."""
        if isinstance(picture, av.VideoFrame):
            frame = picture.reformat(format=self.preset.pix_fmt, src_colorspace=_frame_matrix(picture),
                                     dst_colorspace="ITU709", src_color_range=_frame_range(picture),
                                     dst_color_range="MPEG")
        else:
            if picture.shape[0] != self.height or picture.shape[1] != self.width:
                raise MediaError(f"picture is {picture.shape[1]}x{picture.shape[0]}, stream is "
                                 f"{self.width}x{self.height}", path=self.path)
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb48le")
            frame = rgb.reformat(format=self.preset.pix_fmt, src_colorspace="ITU709", dst_colorspace="ITU709",
                                 src_color_range="JPEG", dst_color_range="MPEG")
        frame.pts = self.frames_written
        frame.time_base = 1 / self.rate
        self._mux_audio_until((self.frames_written + 1) / self.rate)
        self._mux_subtitles_until((self.frames_written + 1) / self.rate)
        try:
            self.output.mux(self.vstream.encode(frame))
        except av.error.FFmpegError as exc:
            raise MediaError(f"encode failed at frame {self.frames_written}: {disk_hint(exc)}",
                             path=self.path) from exc
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        try:
            self.output.mux(self.vstream.encode(None))
            self._mux_audio_until(None)
            self._mux_subtitles_until(None)
            if self.astream is not None and self.audio_mode != "copy":
                self.output.mux(self.astream.encode(None))
        except av.error.FFmpegError as exc:
            raise MediaError(f"finishing the file failed: {disk_hint(exc)}", path=self.path) from exc
        finally:
            try:
                self.output.close()
            except av.error.FFmpegError as exc:
                raise MediaError(f"closing the file failed: {disk_hint(exc)}", path=self.path) from exc

    def abort(self) -> None:
        """Close without flushing (after an error); the caller removes the file."""
        try:
            self.output.close()
        except Exception:
            pass


def disk_hint(exc: Exception) -> str:
    """An encoder error in a user's words: ``disk full`` when it is one, else its own text."""
    text = str(exc)
    if "No space left" in text or getattr(exc, "errno", None) == 28:
        return "disk full (no space left on device)"
    return text


def _can_copy(codec: str, container: str) -> bool:
    if container == "mp4":
        return codec in ("aac", "mp3", "ac3", "eac3", "alac", "opus", "flac")
    if container == "mxf":
        return codec in ("pcm_s16le", "pcm_s24le")
    return True


#: Still-picture file suffixes a reference may be given as (anything else is read as a clip).
STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".exr")


def read_pictures(path: str | Path, start: int = 0, count: int | None = None) -> np.ndarray:
    """Frames ``[start, start + count)`` of a clip as (N, H, W, 3) float32 display RGB in [0, 1]."""
    pictures = [p for _, p in VideoReader(path, start=start, count=count)]
    if not pictures:
        raise MediaError(f"no frames to read from frame {start}", path=path)
    return np.stack(pictures).astype(np.float32) / np.float32(65535.0)


def read_reference(path: str | Path, frames: int = 12) -> np.ndarray:
    """A still, or ``frames`` frames spread over a clip, as (N, H, W, 3) float32 display RGB.

    What a colour-match reference is decoded to, by the render, for the step that names it.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise MediaError("reference not found", path=path, hint="give a still or a clip")
    if path.suffix.lower() in STILL_SUFFIXES:
        from PIL import Image

        try:
            with Image.open(path) as img:
                rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
        except OSError as exc:
            raise MediaError(f"cannot read the reference still: {exc}", path=path) from None
        return rgb[None]
    reader = VideoReader(path)
    wanted = set(np.linspace(0, max(reader.count - 1, 0), min(frames, max(reader.count, 1))).astype(int).tolist())
    pictures = [p for i, p in reader if i in wanted]
    if not pictures:
        raise MediaError("the reference clip has no frames", path=path)
    return np.stack(pictures).astype(np.float32) / np.float32(65535.0)


def read_audio(path: str | Path, start_seconds: float = 0.0, duration: float | None = None,
               rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream to (channels, n) float32 in [-1, 1], sample-accurately
    trimmed to ``[start_seconds, start_seconds + duration)``; silence pads a late start."""
    with _open(path) as container:
        if not container.streams.audio:
            raise MediaError("has no audio stream", path=path)
        ast = container.streams.audio[0]
        rate = rate or ast.codec_context.sample_rate
        channels = ast.codec_context.channels
        layout = ast.codec_context.layout.name
    if duration is None:
        info = probe(path)
        duration = max(0.0, max((a.duration for a in info.audio), default=info.duration) - start_seconds)

    target = AudioTarget(rate, "fltp", layout, channels)
    plan = AudioPlan(source=Path(path), mode="pcm", start_seconds=start_seconds, duration=duration)
    parts = [frame.to_ndarray() for _, frame in _audio_sources(plan, target)]
    samples = np.concatenate(parts, axis=-1) if parts else np.zeros((target.channels, 0), np.float32)
    return samples.astype(np.float32), rate
