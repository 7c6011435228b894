"""Stabilise: take the jitter out of AI camera moves (translation, roll and zoom), keep the move itself.

Generated camera moves wobble: the virtual camera's path carries a frame-to-frame tremble, in
position, roll and size, that no operator would. The global motion between frames is measured
as a similarity (translation, rotation and scale about the centre: the tracker ``postbay
inspect`` reads shake with, on a small copy of the picture) and chained into the camera path
of the shot. For each frame the path around it is taken relative to that frame and smoothed in
the similarity group's own coordinates (its logarithm, where a steady pan, roll or push is a
straight line): a straight line fitted with Gaussian weights over about a second of the same
shot, so an intended move is kept exactly, even at a shot's first and last frames, and the
jitter averages out. Each frame is moved onto the smooth path and zoomed about its centre just
enough to hide the borders the corrections uncover: each shot's zoom is set as it starts from
the corrections its first second needs (the look-ahead the step holds) with a margin, at most
``max_crop``; a later correction too large for it is eased until it fits. The path restarts
at every cut.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field

from postbay.colour import luma
from postbay.cuts import shot_windows
from postbay.inspect.motion import MotionTracker, rms_radius
from postbay.registry import ParamModel, StepContext, processor

__all__ = ["Similarity", "StabiliseParams", "smooth_similarity", "stabilise"]

#: Width of the picture the camera motion is measured on.
_ANALYSIS_WIDTH = 320
#: A shot's zoom covers this many times the largest correction its first second needs.
_MARGIN = 1.5
#: A move whose peak stands less than this above its rivals (a fade, black, layers moving apart)
#: is taken as no move: a guess would shake the picture.
_SURE_MOVE = 4.0

#: A similarity ``z ↦ m z + t`` on complex pixel positions ``x + iy`` (from the frame's centre).
Similarity = tuple[complex, complex]


class StabiliseParams(ParamModel):
    smoothing: int = Field(default=12, ge=2, le=60,
                           description="frames either side the camera path is smoothed over (12 is half a second "
                                       "at 24 fps): longer steadies slower wobble, shorter follows quick moves")
    max_crop: float = Field(default=0.1, ge=0.0, le=0.2,
                            description="most of the frame's width and height a shot may give up to hide the borders "
                                        "the corrections uncover (0.1: a zoom of up to 11 %); each shot takes only "
                                        "what its corrections need")


def _compose(after: Similarity, before: Similarity) -> Similarity:
    """``after ∘ before``."""
    return after[0] * before[0], after[0] * before[1] + after[1]


def _inverse(move: Similarity) -> Similarity:
    return 1 / move[0], -move[1] / move[0]


def _log(move: Similarity) -> tuple[complex, complex]:
    """The similarity's logarithm ``(a, b)``: its ``k``-th power is ``(k a, k b)``."""
    m, t = move
    a = complex(np.log(m))
    return a, (t * a / (m - 1) if abs(m - 1) > 1e-12 else t)


def _exp(a: complex, b: complex) -> Similarity:
    m = complex(np.exp(a))
    return m, (b * complex(np.expm1(a)) / a if abs(a) > 1e-12 else b)


def smooth_similarity(path: list[Similarity], centre: int, radius: int) -> Similarity:
    """Where the smooth camera puts frame ``centre`` of a run of camera poses of one shot.

    ``path[k]`` maps the shot's first frame to frame ``k``. The poses are taken relative to
    ``centre`` and a straight line is fitted, with Gaussian weights (σ = radius / 2), to their
    logarithms: a constant pan, roll or push is followed exactly, also where the run is one-sided
    at a shot's ends, and the jitter averages out. The answer maps frame ``centre`` (as it was
    shot) to where the smooth camera would have shown it: the correction (identity when steady).
    """
    n = len(path)
    if n < 3:
        return 1 + 0j, 0j
    back = _inverse(path[centre])
    logs = np.array([_log(_compose(pose, back)) for pose in path])
    t = np.arange(n, dtype=np.float64) - centre
    w = np.sqrt(np.exp(-0.5 * (t / max(1.0, radius / 2)) ** 2))
    design = np.stack([np.ones(n), t], axis=1) * w[:, None]
    coef, *_ = np.linalg.lstsq(design.astype(complex), logs * w[:, None], rcond=None)
    return _exp(complex(coef[0, 0]), complex(coef[0, 1]))


def _zoom_needed(correction: Similarity, height: int, width: int) -> float:
    """The zoom about the centre that hides every border ``correction`` uncovers (1: none).

    Output pixel ``p`` shows the input at ``correction⁻¹(p / zoom)``; each corner must land
    inside the frame, in x and in y (the corners take both signs, so the bound is exact).
    """
    m, t = _inverse(correction)
    half_w, half_h = (width - 1) / 2, (height - 1) / 2
    corners = np.array([half_w + 1j * half_h, half_w - 1j * half_h]) * m
    room_x, room_y = half_w - abs(t.real), half_h - abs(t.imag)
    if room_x <= 0 or room_y <= 0:
        return math.inf
    return float(max(1.0, np.abs(corners.real).max() / room_x, np.abs(corners.imag).max() / room_y))


def _ease(correction: Similarity, zoom: float, height: int, width: int) -> Similarity:
    """The largest share of ``correction`` (the same move, scaled down in the similarity group)
    that ``zoom`` hides."""
    if _zoom_needed(correction, height, width) <= zoom:
        return correction
    a, b = _log(correction)
    low, high = 0.0, 1.0
    for _ in range(20):
        share = (low + high) / 2
        low, high = (share, high) if _zoom_needed(_exp(share * a, share * b), height, width) <= zoom else (low, share)
    return _exp(low * a, low * b)


def _analysis_picture(frame: Any, backend: Any) -> tuple[np.ndarray, int]:
    h, w = frame.shape[:2]
    s = max(1, math.ceil(w / _ANALYSIS_WIDTH))
    y = luma(frame)
    small = y[:h // s * s, :w // s * s].reshape(h // s, s, w // s, s).mean(axis=(1, 3))
    return np.asarray(backend.to_host(small), np.float32), s


def _warp(frame: Any, ctx: StepContext, correction: Similarity, zoom: float) -> Any:
    """``frame`` moved by ``correction`` and zoomed by ``zoom`` about its centre (bilinear)."""
    h, w = frame.shape[:2]
    # output pixel p (from the centre) shows input correction⁻¹(p / zoom) = u p + v
    m, t = correction
    u, v = 1 / (zoom * m), -t / m
    cy, cx = (h - 1) / 2, (w - 1) / 2
    matrix = ctx.xp.asarray(np.array([[u.real, u.imag], [-u.imag, u.real]]))
    offset = (cy + v.imag - u.real * cy - u.imag * cx, cx + v.real + u.imag * cy - u.real * cx)
    return ctx.xp.stack([ctx.backend.ndimage.affine_transform(frame[..., c], matrix, offset=offset, output=frame.dtype,
                                                              order=1, mode="nearest")
                         for c in range(frame.shape[2])], axis=-1)


@processor("stabilise", params=StabiliseParams, kind="stream", window=lambda p: (p.smoothing, p.smoothing),
           colourspace="display", needs_cuts=True)
def stabilise(frames: Iterator[Any], ctx: StepContext, params: StabiliseParams) -> Iterator[Any]:
    """Smooth the camera path of jittery AI moves (position, roll and zoom), keeping pans, rolls and
    pushes; each shot zooms in only as far as its corrections need.

    Reports in the notes each shot's crop (share of width and height given up), the largest,
    the jitter taken out (RMS pixels over the picture) and how many frames' corrections were
    eased to fit the crop. Holds ``smoothing + 1`` frames.
    """
    radius = int(params.smoothing)
    ceiling = 1.0 / (1.0 - float(params.max_crop))
    tracker = MotionTracker()
    moved: list[float] = []
    crops: list[list[float]] = []
    eased = 0
    camera: Similarity = (1 + 0j, 0j)  # the last frame measured, relative to its shot's first

    def track(n: int, frame: Any, starts_shot: bool) -> Similarity:
        nonlocal camera
        small, s = _analysis_picture(frame, ctx.backend)
        if starts_shot or n == 0:
            tracker.reset()
            camera = (1 + 0j, 0j)
        step = tracker(small, shimmer=False, similarity=True)
        if step is not None and step.confidence >= _SURE_MOVE:
            m, t = step.similarity()
            # analysis pixels about the small picture's centre → frame pixels about the frame's
            h, w = frame.shape[:2]
            shift = complex((s * (w // s) - w) / 2, (s * (h // s) - h) / 2)
            camera = _compose((m, s * t + shift * (1 - m)), camera)
        return camera

    zoom = 1.0
    for n, frame, path, i in shot_windows(frames, lambda n: n in ctx.cuts, radius, track):
        h, w = frame.shape[:2]
        if i == 0:  # a shot starts: its zoom, from the corrections its look-ahead needs
            needed = max(_zoom_needed(smooth_similarity(path, k, radius), h, w) for k in range(len(path)))
            zoom = min(ceiling, 1 + _MARGIN * (needed - 1))
            crops.append([n, round(1 - 1 / zoom, 4)])
        correction = smooth_similarity(path, i, radius)
        fitted = _ease(correction, zoom, h, w)
        eased += fitted is not correction
        moved.append(abs(fitted[1]) ** 2 + abs(fitted[0] - 1) ** 2 * rms_radius(h, w) ** 2)
        yield _warp(frame, ctx, fitted, zoom)
    ctx.notes["crops"] = crops
    ctx.notes["crop"] = max((c for _, c in crops), default=0.0)
    ctx.notes["correction_rms_px"] = round(math.sqrt(float(np.mean(moved))) if moved else 0.0, 2)
    ctx.notes["eased_frames"] = eased
