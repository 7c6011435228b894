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
from collections import deque
from collections.abc import Iterator
from typing import Any

import numpy as np
from pydantic import Field

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
    y = frame[..., 0] * 0.2126 + frame[..., 1] * 0.7152 + frame[..., 2] * 0.0722
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
    pending: deque[tuple[int, Any]] = deque()
    position: dict[int, np.ndarray] = {}  # camera position (frame pixels) of each held frame
    shot_of: dict[int, int] = {}
    shot = 0
    corrections: list[float] = []

    def steady(n: int, frame: Any, last: int) -> Any:
        same = [k for k in range(n - radius, min(n + radius, last) + 1) if k in position and shot_of[k] == shot_of[n]]
        target = smooth_path(np.stack([position[k] for k in same]), same.index(n), radius)
        h, w = frame.shape[:2]
        limit = np.array([h, w]) * (1 - 1 / zoom) / 2
        move = np.clip(target - position[n], -limit, limit)  # where the content must go
        corrections.append(float(np.hypot(*move)))
        centre = np.array([(h - 1) / 2, (w - 1) / 2])
        # output pixel p shows input pixel centre + (p - centre) / zoom - move
        offset = centre - centre / zoom - move
        matrix = np.array([1 / zoom, 1 / zoom])
        return ctx.xp.stack([ndimage.affine_transform(frame[..., c], matrix, offset=offset, order=1, mode="nearest")
                             for c in range(frame.shape[2])], axis=-1).astype(frame.dtype)

    n = -1
    for n, frame in enumerate(frames):
        small, s = _analysis_picture(frame, ctx.backend)
        if n > 0 and n in ctx.cuts:  # ctx.cuts grows as the pipeline's detector sees frames
            shot += 1
            tracker.reset()
        step = tracker(small, shimmer=False)
        previous = position.get(n - 1, np.zeros(2))
        position[n] = previous if step is None else previous + np.array([step.dy, step.dx]) * s
        shot_of[n] = shot
        pending.append((n, frame))
        while pending and pending[0][0] + radius <= n:
            k, f = pending.popleft()
            yield steady(k, f, n)
            for old in [j for j in position if j < k - radius]:
                del position[old], shot_of[old]
    while pending:
        k, f = pending.popleft()
        yield steady(k, f, n)
    ctx.notes["crop"] = round(float(params.crop), 3)
    ctx.notes["correction_rms_px"] = round(float(np.sqrt(np.mean(np.square(corrections)))) if corrections else 0.0, 2)
