"""Inspect a clip: one streaming pass of measures, then the problems found and what would fix them.

Every frame is decoded and shrunk (by FFmpeg, area-averaged) to an analysis picture about
320 pixels wide: brightness (flicker, black), frame differences (duplicates, freezes), global
motion with roll and zoom (dropped frames, shake), shimmer and cuts are measured on all of them. The still-picture
measures (noise, blocking, sharpness, halos, effective resolution) need full resolution and
are read on a sample of frames, one every ``sample_seconds`` and at least four per clip, on
the central region of at most 960×540 pixels. Colour is read on every fourth analysis picture
and on each shot's first, shimmer on every third pair of frames in a shot's first second and on
every sixth after it. The frame's own planes are read where they can be (luma from the Y plane,
no RGB picture but the small one colour is read on), and each kind of shrinking keeps one scaler
for the whole clip. Only per-frame numbers and a few thumbnails per shot are kept, so memory
stays flat whatever the clip's length.
"""

from __future__ import annotations

import base64
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from scipy import ndimage

from postbay.backend import numpy_backend
from postbay.cuts import CutDetector
from postbay.inspect.motion import MotionTracker, Step, jitter, rms_radius
from postbay.inspect.picture import blockiness, ciede2000, effective_resolution, halo, lab, noise_sigma, sharpness
from postbay.inspect.sound import inspect_audio
from postbay.media import VideoReader, probe

__all__ = ["ANALYSIS_WIDTH", "Thresholds", "continuity", "decide", "inspect_clip", "luma_plane", "problems"]

#: Width of the analysis pictures every frame is shrunk to.
ANALYSIS_WIDTH = 320
#: Largest region the still-picture measures read (centre of the frame).
_REGION = (540, 960)
#: A global motion is trusted when its phase-correlation peak stands this many times above any rival
#: (photographs read 30 and more, noisy AI texture about 10, layers moving apart about 4).
_CERTAIN_MOTION = 6.0
#: Colour is read on every this many frames (and each shot's first), shimmer on every this many pairs
#: in a shot's first :data:`_SHIMMER_DENSE` pairs and on twice as few after them: its figure is a
#: median, which a short shot needs several samples for and a long one does not need forty a second of.
_COLOUR_EVERY = 4
_SHIMMER_EVERY = 3
_SHIMMER_DENSE = 24
#: Thumbnails kept per shot at most (evenly spread; the spacing doubles as a shot grows).
_THUMBS_PER_SHOT = 8
_THUMB_WIDTH = 160


@dataclass(frozen=True)
class Thresholds:
    """Where a measure becomes a problem (above what clean, steady footage shows)."""

    noise: float = 0.008  #: luma σ (0–1); 8-bit quantisation alone reads about 0.002
    blockiness: float = 0.1
    halo: float = 0.045
    flicker: float = 0.012  #: RMS frame-to-frame brightness swing (share of the level)
    shake: float = 1.0  #: RMS jitter of the camera path (position, roll and zoom), frame pixels
    shimmer: float = 0.01  #: RMS change of still fine texture, luma
    resolution: float = 0.75  #: effective share of the pixel size below which footage is upscaled
    black: float = 0.04  #: mean luma of a black frame at most
    freeze_seconds: float = 0.5
    continuity: float = 5.0  #: CIEDE2000 between adjacent shots' colour above which they do not match


@dataclass
class _Shot:
    first: int
    lab_sum: np.ndarray = field(default_factory=lambda: np.zeros(3))
    lab_square: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pixels: int = 0
    clipped_high: float = 0.0
    clipped_low: float = 0.0
    samples: int = 0
    thumbs: list[tuple[int, np.ndarray]] = field(default_factory=list)
    thumb_every: int = 1


def luma_plane(frame: av.VideoFrame, region: tuple[int, int] | None = None) -> np.ndarray:
    """Luma of a decoded frame as float32 in [0, 1] (full range), read from the Y plane itself
    where the frame is planar YUV; ``region`` (rows, columns) takes only a central part of it."""
    name = frame.format.name
    component = frame.format.components[0]
    planar_yuv = name.startswith(("yuv", "yuvj")) and not name.startswith(("yuyv", "yuva")) and component.bits <= 16
    if planar_yuv:
        bits = component.bits
        dtype = np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), dtype=dtype).reshape(-1, plane.line_size // dtype.itemsize)
        y = _central(rows[:frame.height, :frame.width], region).astype(np.float32)
        if name.startswith("yuvj") or frame.color_range == 2:  # full (JPEG) range
            return y / float((1 << bits) - 1)
        scale = float(1 << (bits - 8))
        return (y - 16.0 * scale) / (219.0 * scale)
    grey = _central(frame.reformat(format="gray16le").to_ndarray(), region)
    return grey.astype(np.float32) / 65535.0


def _central(picture: np.ndarray, region: tuple[int, int] | None) -> np.ndarray:
    if region is None:
        return picture
    h, w = picture.shape[:2]
    rh, rw = min(h, region[0]), min(w, region[1])
    top, left = (h - rh) // 2, (w - rw) // 2
    return picture[top:top + rh, left:left + rw]


def _ranges(frames: list[int], gap: int = 1) -> list[list[int]]:
    """Consecutive frame numbers grouped into [first, last] ranges (``gap`` joins near ones)."""
    out: list[list[int]] = []
    for n in frames:
        if out and n - out[-1][1] <= gap:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def _frames_text(first: int, last: int) -> str:
    return f"frame {first}" if first == last else f"frames {first}–{last}"


def inspect_clip(path: str | Path, *, start: int = 0, count: int | None = None,
                 thresholds: Thresholds | None = None, sample_seconds: float = 2.0,
                 delivery_height: int | None = 1080, loudness_target: float | None = -14.0,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Measure a clip (frames ``[start, start + count)``) and say what is wrong with it.

    Returns a JSON-ready dict: the measures (see the module and :class:`Thresholds`), ``shots``,
    ``problems`` (``{kind, frames, severity, message}``), ``recommend`` (the steps an ``auto``
    recipe would run, each with its parameters and the reason) and ``not_needed`` (the steps it
    would leave out, and why). Frame numbers count from ``start``.
    """
    path = Path(path)
    limits = thresholds or Thresholds()
    began = time.perf_counter()
    info = probe(path)
    video = info.require_video()
    reader = VideoReader(path, start=start, count=count, info=info)
    rate = float(video.rate_fraction)
    total = reader.count
    scale = max(1, math.ceil(video.width / ANALYSIS_WIDTH))
    small_w, small_h = max(16, video.width // scale // 2 * 2), max(16, video.height // scale // 2 * 2)
    thumb_h = max(2, round(_THUMB_WIDTH * video.height / max(1, video.width)) // 2 * 2)
    sample_every = max(1, min(total // 4, round(sample_seconds * rate)))

    detect = CutDetector(numpy_backend())
    tracker = MotionTracker()
    shots: list[_Shot] = []
    levels = np.zeros(total)
    steps: list[Step | None] = []
    stills: list[dict[str, float]] = []
    # one scaler per kind of picture, kept for the whole clip: a frame's own (frame.reformat) is
    # set up anew for every frame, which costs twice what the scaling does
    shrink, colour_scaler, thumb_scaler = VideoReformatter(), VideoReformatter(), VideoReformatter()
    for n, (_, frame) in enumerate(reader.av_frames()):
        # same-format area scaling, then the Y plane: a third of the cost of asking FFmpeg for grey
        small = luma_plane(shrink.reformat(frame, width=small_w, height=small_h, interpolation="AREA"))
        levels[n] = float(small.mean())
        if detect(small[..., None]) or n == 0:
            shots.append(_Shot(first=n))
            tracker.reset()
        shot = shots[-1]
        into = n - shot.first
        every = _SHIMMER_EVERY if into <= _SHIMMER_DENSE else 2 * _SHIMMER_EVERY
        steps.append(tracker(small, shimmer=into % every == 1, similarity=True))
        if n % sample_every == 0:
            stills.append(_still_measures(n, luma_plane(frame, _REGION)))
        if n == shot.first or n % _COLOUR_EVERY == 0:
            rgb = colour_scaler.reformat(frame, width=small_w, height=small_h, format="rgb24").to_ndarray()
            _add_colour(shot, rgb)
            if (n - shot.first) % shot.thumb_every == 0:
                thumb = thumb_scaler.reformat(frame, width=_THUMB_WIDTH, height=thumb_h, format="rgb24")
                _add_thumb(shot, n, thumb.to_ndarray())
        if progress is not None:
            progress(n + 1, total)

    bounds = [[s.first, (shots[i + 1].first - 1) if i + 1 < len(shots) else total - 1] for i, s in enumerate(shots)]
    report: dict[str, Any] = {
        "file": str(path), "start": start, "frames": total, "fps": round(rate, 3),
        "width": video.width, "height": video.height, "duration": round(total / rate, 3) if rate else 0.0,
    }
    report.update(_summarise_stills(stills, video.width, video.height))
    report["flicker"] = _flicker(levels, bounds, rate, limits)
    report.update(_cadence(steps, levels, bounds, rate, scale, rms_radius(small_h, small_w) * scale, limits))
    report["shots"] = bounds
    report["colour"] = [_colour_of(s, b) for s, b in zip(shots, bounds, strict=True)]
    report["continuity"] = continuity(report["colour"], [f"shot {i + 1}" for i in range(len(shots))], limits)
    report["audio"] = inspect_audio(path, start / rate, total / rate) if info.audio and rate else None
    report["problems"] = problems(report, limits)
    decisions = decide(report, limits, delivery_height=delivery_height, loudness_target=loudness_target)
    report["recommend"] = [{k: d[k] for k in ("processor", "params", "reason")} for d in decisions if d["run"]]
    report["not_needed"] = [{"processor": d["processor"], "reason": d["reason"]} for d in decisions if not d["run"]]
    elapsed = time.perf_counter() - began
    report["analysis"] = {"size": [small_w, small_h], "sampled_frames": [s["frame"] for s in stills],
                          "seconds": round(elapsed, 3),
                          "realtime": round(report["duration"] / elapsed, 2) if elapsed > 0 else None}
    report["thumbnails"] = [[{"frame": n, "image": _data_uri(t)} for n, t in s.thumbs] for s in shots]
    return report


def _data_uri(rgb: np.ndarray) -> str:
    """A JPEG data URI of a thumbnail (the HTML report embeds its pictures)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def continuity(colours: list[dict[str, Any]], names: list[str], limits: Thresholds) -> list[dict[str, Any]]:
    """CIEDE2000 between the mean colours of adjacent shots, ``flagged`` above ``limits.continuity``."""
    out = []
    for i in range(len(colours) - 1):
        delta = float(ciede2000(np.array(colours[i]["lab_mean"]), np.array(colours[i + 1]["lab_mean"])))
        out.append({"from": names[i], "to": names[i + 1], "delta_e": round(delta, 2),
                    "flagged": delta > limits.continuity})
    return out


def _still_measures(n: int, region: np.ndarray) -> dict[str, float]:
    sigma = noise_sigma(region)
    return {"frame": n, "noise": sigma, "blockiness": blockiness(region),
            "sharpness": sharpness(region), "halo": halo(region, noise=sigma),
            "resolution": effective_resolution(region)}


def _summarise_stills(stills: list[dict[str, float]], width: int, height: int) -> dict[str, Any]:
    def median(key: str) -> float:
        return float(np.median([s[key] for s in stills])) if stills else 0.0

    fraction = median("resolution")
    return {
        "noise": {"sigma": round(median("noise"), 5), "series": [[s["frame"], round(s["noise"], 5)] for s in stills]},
        "blockiness": round(median("blockiness"), 4),
        "sharpness": round(median("sharpness"), 4),
        "halo": round(median("halo"), 4),
        "resolution": {"effective": [round(width * fraction), round(height * fraction)],
                       "fraction": round(fraction, 3)},
    }


def _add_colour(shot: _Shot, rgb: np.ndarray) -> None:
    values = lab(rgb[::2, ::2].reshape(-1, 3).astype(np.float32) / 255.0)
    shot.lab_sum += values.sum(axis=0)
    shot.lab_square += (values ** 2).sum(axis=0)
    shot.pixels += values.shape[0]
    brightest = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])  # max(axis=2), at a tenth of its cost
    shot.clipped_high += float(np.mean(brightest >= 254))
    shot.clipped_low += float(np.mean(brightest <= 1))
    shot.samples += 1


def _add_thumb(shot: _Shot, n: int, thumb: np.ndarray) -> None:
    shot.thumbs.append((n, thumb))
    if len(shot.thumbs) > 2 * _THUMBS_PER_SHOT:
        shot.thumbs = shot.thumbs[::2]
        shot.thumb_every *= 2


def _colour_of(shot: _Shot, bounds: list[int]) -> dict[str, Any]:
    mean = shot.lab_sum / max(1, shot.pixels)
    spread = np.sqrt(np.maximum(shot.lab_square / max(1, shot.pixels) - mean ** 2, 0.0))
    return {"shot": bounds, "lab_mean": [round(float(v), 2) for v in mean],
            "lab_spread": [round(float(v), 2) for v in spread],
            "exposure": round(float(mean[0]) / 100.0, 3),
            "clipped_highlights": round(shot.clipped_high / max(1, shot.samples), 4),
            "crushed_shadows": round(shot.clipped_low / max(1, shot.samples), 4)}


def _flicker(levels: np.ndarray, bounds: list[list[int]], rate: float, limits: Thresholds) -> dict[str, Any]:
    """Brightness swing of each frame against its shot's smooth level (a running median, so a
    fade or a light change is followed and only the frame-to-frame pumping is left)."""
    swing = np.zeros_like(levels)
    window = max(5, round(rate / 3) | 1)
    for first, last in bounds:
        run = levels[first:last + 1]
        if run.size < 5:
            continue
        smooth = ndimage.median_filter(run, size=min(window, run.size - 1 + run.size % 2), mode="nearest")
        smooth = ndimage.uniform_filter1d(smooth, 3, mode="nearest")
        swing[first:last + 1] = (run - smooth) / np.maximum(smooth, 0.02)
    index = float(np.sqrt(np.mean(swing ** 2))) if swing.size else 0.0
    local = (np.sqrt(ndimage.uniform_filter1d(swing ** 2, max(3, round(rate / 4)), mode="nearest"))
             if swing.size else swing)
    flagged_frames = [int(n) for n in np.nonzero(local > limits.flicker)[0]]
    return {"index": round(index, 5), "swing": round(float(np.percentile(np.abs(swing), 95)) if swing.size else 0.0, 4),
            "flagged": index > limits.flicker, "ranges": _ranges(flagged_frames, gap=int(rate)),
            "series": [round(float(v), 5) for v in swing]}


def _cadence(steps: list[Step | None], levels: np.ndarray, bounds: list[list[int]], rate: float, scale: int,
             radius: float, limits: Thresholds) -> dict[str, Any]:
    """Duplicates, drops, freezes, black frames, shake and shimmer from the per-frame steps.

    Shake counts roll and zoom as the RMS move they give the frame's pixels (``radius``: their
    RMS distance from the centre, frame pixels), and is given apart as translation, roll and zoom.
    """
    n = len(steps)
    diff = np.array([s.difference if s else np.nan for s in steps])
    move = np.array([math.hypot(s.dy, s.dx) if s else np.nan for s in steps])
    duplicates: list[int] = []
    drops: list[int] = []
    jitters: list[np.ndarray] = []  # per shot: all, translation, roll, zoom, times the shot's length
    shimmer = [s.shimmer for s in steps if s and s.shimmer is not None]
    for first, last in bounds:
        if last - first < 3:
            continue
        d = diff[first + 1:last + 1]
        repeat = d < max(0.0015, 0.1 * float(np.median(d)))
        duplicates += [first + 1 + int(i) for i in np.nonzero(repeat)[0]]
        vectors = np.array([[s.dy, s.dx] if s else [0.0, 0.0] for s in steps[first + 1:last + 1]])
        certain = np.array([s is not None and s.confidence >= _CERTAIN_MOTION for s in steps[first + 1:last + 1]])
        if certain.mean() < 0.5:
            continue  # no one camera move to speak of (layers moving apart, no texture): no drops, no shake
        # the frame after a repeat catches up by two frames' motion: that is the repeat, not a drop
        after_repeat = np.concatenate([[False], repeat[:-1]])
        normal = ~repeat & ~after_repeat & certain
        missing = _drops(vectors, normal) & normal
        drops += [first + 1 + int(i) for i in np.nonzero(missing)[0]]
        # the camera path without the repairs' jumps: a repeat or a drop is not shake
        steady = normal & ~missing
        if steady.sum() >= 3:
            moves = np.array([[s.dy * scale, s.dx * scale, s.rotation, s.zoom] if s else [0.0] * 4
                              for s in steps[first + 1:last + 1]])
            path = np.where(steady[:, None], moves, np.median(moves[steady], axis=0))
            parts = [jitter(path, rate, radius), jitter(path[:, :2], rate), jitter(path[:, 2:3], rate),
                     jitter(path[:, 3:4], rate)]
            jitters.append(np.array(parts) * (last - first))
    freeze_min = max(2, round(limits.freeze_seconds * rate))
    freezes = [r for r in _ranges(duplicates) if r[1] - r[0] + 2 >= freeze_min]
    frozen = {f for a, b in freezes for f in range(a, b + 1)}
    black = _ranges([int(i) for i in np.nonzero(levels < limits.black)[0]])
    frames_moving = max(1, sum(b - a for a, b in bounds))
    shake, translation, roll, zoom = sum(jitters, np.zeros(4)) / frames_moving
    shimmer_value = float(np.median(shimmer)) if shimmer else 0.0
    return {
        "cadence": {"duplicates": [f for f in duplicates if f not in frozen], "drops": drops},
        "freeze": [[a - 1, b] for a, b in freezes],
        "black": black,
        "shake": {"jitter": round(float(shake), 3), "translation": round(float(translation), 3),
                  "roll_degrees": round(float(np.degrees(roll)), 4), "zoom_percent": round(float(zoom) * 100, 4),
                  "flagged": bool(shake > limits.shake),
                  "series": [[round(s.dx * scale, 3), round(s.dy * scale, 3)] if s else [0.0, 0.0] for s in steps]},
        "shimmer": {"value": round(shimmer_value, 5), "flagged": shimmer_value > limits.shimmer,
                    "series": [[n, round(s.shimmer, 5)] for n, s in enumerate(steps)
                               if s and s.shimmer is not None]},
        "motion": {"median": round(float(np.nanmedian(move)) * scale, 3) if n > 1 and not np.all(np.isnan(move))
                   else 0.0},
    }


def _drops(vectors: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Frames whose global motion is about twice their neighbours' while the neighbours move
    steadily (a missing frame in a smooth camera move)."""
    missing = np.zeros(len(vectors), bool)
    for i in range(len(vectors)):
        lo, hi = max(0, i - 4), min(len(vectors), i + 5)
        around = [j for j in range(lo, hi) if j != i and normal[j]]
        if len(around) < 3:
            continue
        typical = np.median(vectors[around], axis=0)
        speed = float(np.hypot(*typical))
        if speed < 0.3:
            continue
        steadiness = float(np.median(np.hypot(*(vectors[around] - typical).T)))
        if steadiness < 0.25 * speed and float(np.hypot(*(vectors[i] - 2 * typical))) < 0.35 * speed:
            missing[i] = True
    return missing


def problems(report: dict[str, Any], limits: Thresholds) -> list[dict[str, Any]]:
    """The problems a report's measures show, in plain words (``{kind, frames, severity, message}``)."""
    out: list[dict[str, Any]] = []
    last = max(0, report["frames"] - 1)

    def add(kind: str, frames: list[int], severity: str, message: str) -> None:
        out.append({"kind": kind, "frames": frames, "severity": severity, "message": message})

    sigma = report["noise"]["sigma"]
    if sigma > limits.noise:
        add("noise", [0, last], "high" if sigma > 3 * limits.noise else "medium",
            f"picture noise σ {sigma:.3f} (on a 0–1 luma scale; clean footage reads under {limits.noise})")
    if report["blockiness"] > limits.blockiness:
        add("blocking", [0, last], "high" if report["blockiness"] > 2 * limits.blockiness else "medium",
            f"8×8 compression blocks: edges step {report['blockiness'] * 100:.0f} % more across block "
            "boundaries than inside them")
    if report["halo"] > limits.halo:
        add("halo", [0, last], "medium",
            f"over-sharpening halos: edges overshoot by about {report['halo'] * 100:.0f} % of their step")
    res = report["resolution"]
    if res["fraction"] < limits.resolution:
        add("soft", [0, last], "medium",
            f"the picture resolves about {res['effective'][0]}×{res['effective'][1]}, not "
            f"{report['width']}×{report['height']}: upscaled or soft footage")
    flicker = report["flicker"]
    for a, b in flicker["ranges"] if flicker["flagged"] else []:
        add("flicker", [a, b], "high" if flicker["swing"] > 0.05 else "medium",
            f"flicker in {_frames_text(a, b)}, about {flicker['swing'] * 100:.0f} % brightness swing")
    for a, b in _ranges(report["cadence"]["duplicates"]):
        add("duplicate", [a, b], "medium", f"{_frames_text(a, b)} repeat{'s' if a == b else ''} the previous frame")
    for f in report["cadence"]["drops"]:
        add("drop", [f, f], "medium", f"motion jumps about two frames at frame {f}: a frame is missing")
    for a, b in report["freeze"]:
        add("freeze", [a, b], "high", f"picture frozen in {_frames_text(a, b)} ({(b - a + 1) / report['fps']:.1f} s)")
    for a, b in report["black"]:
        add("black", [a, b], "medium" if a == 0 or b == last else "high", f"black in {_frames_text(a, b)}")
    if report["shake"]["flagged"]:
        add("shake", [0, last], "medium",
            f"camera shake: the motion path jitters by {report['shake']['jitter']:.1f} px RMS "
            f"({report['shake']['translation']:.1f} px of position, {report['shake']['roll_degrees']:.2f}° of roll, "
            f"{report['shake']['zoom_percent']:.2f} % of zoom)")
    if report["shimmer"]["flagged"]:
        add("shimmer", [0, last], "medium",
            f"texture shimmers (boils) where the picture is still: {report['shimmer']['value'] * 100:.1f} % RMS")
    for colour in report["colour"]:
        a, b = colour["shot"]
        if colour["clipped_highlights"] > 0.02:
            add("clipping", [a, b], "medium",
                f"{colour['clipped_highlights'] * 100:.0f} % of the picture is clipped white in {_frames_text(a, b)}")
    for jump, after in zip(report["continuity"], report["colour"][1:], strict=True):
        if jump["flagged"]:
            a = after["shot"][0]
            add("continuity", [a, a], "medium",
                f"colour jumps between {jump['from']} and {jump['to']} (ΔE2000 {jump['delta_e']:.1f})")
    audio = report.get("audio")
    if audio:
        out.extend(audio["problems"])
    return out


def decide(report: dict[str, Any], limits: Thresholds, *, delivery_height: int | None = 1080,
           loudness_target: float | None = -14.0) -> list[dict[str, Any]]:
    """Every step ``auto`` considers for this report, ``{processor, params, run, reason}``: the
    reason says what was measured and why the step runs, or why it does not. A ``None``
    delivery height keeps the clip's size; a ``None`` loudness target leaves the sound alone."""
    out: list[dict[str, Any]] = []

    def step(processor: str, run: bool, params: dict[str, Any], reason: str) -> None:
        out.append({"processor": processor, "params": params if run else {}, "run": run, "reason": reason})

    sigma = report["noise"]["sigma"]
    strength = round(min(1.0, max(0.2, sigma / 0.05)), 2)
    step("denoise", sigma > limits.noise, {"strength": strength},
         f"denoise strength {strength}: noise σ {sigma:.3f}" if sigma > limits.noise
         else f"no denoise: noise σ {sigma:.3f} is under {limits.noise}")
    blocks = report["blockiness"]
    strength = round(min(1.0, max(0.3, blocks)), 2)
    step("deblock", blocks > limits.blockiness, {"strength": strength},
         f"deblock strength {strength}: blockiness {blocks:.2f}" if blocks > limits.blockiness
         else f"no deblock: blockiness {blocks:.2f} is under {limits.blockiness}")
    flicker = report["flicker"]
    step("deflicker", flicker["flagged"], {"strength": 1.0},
         f"deflicker: flicker index {flicker['index']:.3f}, {flicker['swing'] * 100:.0f} % swing" if flicker["flagged"]
         else f"no deflicker: flicker index {flicker['index']:.3f} is what a steady shot shows "
              f"(under {limits.flicker})")
    cadence = report["cadence"]
    broken = bool(cadence["duplicates"] or cadence["drops"])
    step("retime", broken, {"fps": str(report["fps"]), "repair": True},
         f"retime repair: {len(cadence['duplicates'])} repeated and {len(cadence['drops'])} missing frames"
         if broken else "no retime: no repeated or missing frame")
    shake = report["shake"]
    step("stabilise", shake["flagged"], {},
         f"stabilise: the camera path jitters {shake['jitter']:.1f} px RMS" if shake["flagged"]
         else f"no stabilise: camera jitter {shake['jitter']:.2f} px is under {limits.shake} px")
    small = delivery_height is not None and report["height"] < delivery_height
    step("upscale", small, {"height": delivery_height},
         f"upscale to {delivery_height} lines: the clip has {report['height']}" if small
         else f"no upscale: the clip has {report['height']} lines, the delivery {delivery_height or 'its size'}")
    overshoot = report["halo"]
    amount = round(min(0.6, max(0.2, 2 * overshoot)), 2)
    step("soften", overshoot > limits.halo, {"amount": amount},
         f"soften amount {amount}: halos {overshoot:.2f}" if overshoot > limits.halo
         else f"no soften: halos {overshoot:.2f} are under {limits.halo}")
    audio = report.get("audio")
    if audio and audio["loudness"] is not None and loudness_target is not None:
        off = abs(audio["loudness"] - loudness_target) > 1.0 or audio["true_peak"] > -1.0
        step("loudness", off, {"target": loudness_target},
             f"loudness to {loudness_target:g} LUFS: measured {audio['loudness']:.1f} LUFS, true peak "
             f"{audio['true_peak']:.1f} dBTP" if off
             else f"no loudness: {audio['loudness']:.1f} LUFS is within 1 LU of {loudness_target:g}")
    return out

