"""Stabilise: take the jitter out of AI camera moves, keep the move itself.

Generated camera moves wobble: the virtual camera's path carries a frame-to-frame tremble that
no operator would. The global motion between frames is measured (phase correlation on a small
copy of the picture, the same tracker ``postbay inspect`` reads shake with), the camera path is
smoothed by a straight line fitted, with Gaussian weights, over about a second of the same shot
(so a steady pan or tilt is kept exactly, even at a shot's first and last frames), and each
frame is moved onto the smooth path. A fixed ``crop`` (zoom about the centre) hides the borders
the moves uncover; a correction is never larger than the crop allows. The path restarts at
every cut. Translation only: rotation and zoom wobble are left as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field

from postbay.colour import luma
from postbay.cuts import shot_windows
from postbay.inspect.motion import MotionTracker
from postbay.registry import ParamModel, StepContext, processor

__all__ = ["StabiliseParams", "smooth_path", "stabilise"]

#: Width of the picture the camera motion is measured on.
_ANALYSIS_WIDTH = 320


class StabiliseParams(ParamModel):
    smoothing: int = Field(default=12, ge=2, le=60,
                           description="frames either side the camera path is smoothed over (12 is half a second "
                                       "at 24 fps): longer steadies slower wobble, shorter follows quick moves")
    crop: float = Field(default=0.06, ge=0.0, le=0.2,
                        description="share of the frame's width and height given up to hide the borders the "
                                    "corrections uncover (0.06 zooms in 6 %); corrections never exceed it")


def smooth_path(path: np.ndarray, centre: int, radius: int) -> np.ndarray:
    """The smooth camera position at ``centre`` of a run of (n, 2) positions from one shot.

    A straight line fitted with Gaussian weights (σ = radius / 2) around the centre: a constant
    move is followed exactly, also where the run is one-sided at a shot's ends, and the jitter
    averages out.
    """
    n = path.shape[0]
    if n < 3:
        return np.asarray(path.mean(axis=0))
    t = np.arange(n, dtype=np.float64) - centre
    w = np.exp(-0.5 * (t / max(1.0, radius / 2)) ** 2)
    a = np.stack([np.ones(n), t], axis=1) * np.sqrt(w)[:, None]
    coef, *_ = np.linalg.lstsq(a, path * np.sqrt(w)[:, None], rcond=None)
    return np.asarray(coef[0])


def _analysis_picture(frame: Any, backend: Any) -> tuple[np.ndarray, int]:
    h, w = frame.shape[:2]
    s = max(1, math.ceil(w / _ANALYSIS_WIDTH))
    y = luma(frame)
    small = y[:h // s * s, :w // s * s].reshape(h // s, s, w // s, s).mean(axis=(1, 3))
    return np.asarray(backend.to_host(small), np.float32), s


@processor("stabilise", params=StabiliseParams, kind="stream", window=lambda p: (p.smoothing, p.smoothing),
           colourspace="display", backends=("cpu",), needs_cuts=True)
def stabilise(frames: Iterator[Any], ctx: StepContext, params: StabiliseParams) -> Iterator[Any]:
    """Smooth the camera path of jittery AI moves, keeping pans and tilts; a fixed crop hides the borders.

    Reports the crop and the jitter taken out (RMS pixels) in the notes. Holds ``smoothing + 1``
    frames.
    """
    ndimage = ctx.backend.ndimage
    radius = int(params.smoothing)
    zoom = 1.0 / (1.0 - float(params.crop))
    tracker = MotionTracker()
    corrections: list[float] = []
    camera = np.zeros(2)  # the camera position (frame pixels) of the last frame measured

    def track(n: int, frame: Any, starts_shot: bool) -> np.ndarray:
        nonlocal camera
        small, s = _analysis_picture(frame, ctx.backend)
        if starts_shot:
            tracker.reset()
        step = tracker(small, shimmer=False)
        if step is not None:
            camera = camera + np.array([step.dy, step.dx]) * s
        return camera

    for _, frame, path, i in shot_windows(frames, lambda n: n in ctx.cuts, radius, track):
        target = smooth_path(np.stack(path), i, radius)
        h, w = frame.shape[:2]
        limit = np.array([h, w]) * (1 - 1 / zoom) / 2
        move = np.clip(target - path[i], -limit, limit)  # where the content must go
        corrections.append(float(np.hypot(*move)))
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        # output pixel p shows input pixel centre + (p - centre) / zoom - move
        offset = centre - centre / zoom - move
        matrix = np.array([1 / zoom, 1 / zoom])
        yield ctx.xp.stack([ndimage.affine_transform(frame[..., c], matrix, offset=offset, order=1, mode="nearest")
                            for c in range(frame.shape[2])], axis=-1).astype(frame.dtype)
    ctx.notes["crop"] = round(float(params.crop), 3)
    ctx.notes["correction_rms_px"] = round(float(np.sqrt(np.mean(np.square(corrections)))) if corrections else 0.0, 2)
