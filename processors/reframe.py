"""Reframe: subject-aware crop to another aspect (9:16, 1:1, 4:5, 16:9), or letterbox/pillarbox.

Cutting a 16:9 generation down to a 9:16 social version is a camera operator's job: find
what the shot is about and keep it in frame without the crop twitching. ``reframe`` scores
each frame for what draws the eye (what moves against the rest of the frame, local
contrast, and skin tones), finds where a crop of the new aspect holds the most of it, and
then drives the crop like an operator on a fluid head: it looks ahead a few frames to
anticipate, holds still while the subject stays near the middle, and accelerates and brakes
within limits, so the move reads as a pan, never a jump. ``mode = "fit"`` instead scales the
whole picture into the new frame with black bars.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from postbay.colour import REC709_TO_YCBCR, luma
from postbay.processors.resample import resize
from postbay.registry import FrameFormat, ParamModel, even_size, processor

__all__ = ["CameraOperator", "ReframeParams", "crop_geometry", "reframe", "reframe_format", "saliency"]

ASPECTS = {"9:16": Fraction(9, 16), "1:1": Fraction(1), "4:5": Fraction(4, 5), "16:9": Fraction(16, 9)}



class ReframeParams(ParamModel):
    aspect: Literal["9:16", "1:1", "4:5", "16:9"] = Field(default="9:16", description="aspect of the new frame")
    width: int | None = Field(default=None, gt=0, le=8192, description="output width (from height and aspect if "
                                                                       "omitted; the crop's own size if both are)")
    height: int | None = Field(default=None, gt=0, le=8192, description="output height (from width and aspect "
                                                                         "if omitted)")
    mode: Literal["crop", "fit"] = Field(default="crop", description="crop: follow the subject; fit: the whole "
                                                                    "picture with black bars (letterbox/pillarbox)")
    smoothing: float = Field(default=0.5, ge=0.0, le=1.0, description="how calm the virtual operator is: 0 follows "
                                                                     "briskly, 1 moves slowly and holds longer")
    lookahead: int = Field(default=24, ge=1, le=96, description="frames the operator sees coming (memory grows "
                                                               "with it)")

    @model_validator(mode="after")
    def _size_matches_aspect(self) -> ReframeParams:
        if self.width and self.height:
            ratio = Fraction(self.width, self.height)
            if abs(ratio / ASPECTS[self.aspect] - 1) > 0.01:
                raise ValueError(f"width x height {self.width}x{self.height} is not {self.aspect}; give one of them "
                                 "or a size of that aspect")
        return self

    @property
    def ratio(self) -> Fraction:
        return ASPECTS[self.aspect]


def crop_geometry(params: ReframeParams, fmt: FrameFormat) -> tuple[int, int, int]:
    """(crop width, crop height, moving axis) in source pixels: the largest crop of the aspect.

    The axis is 1 when the crop slides left–right, 0 when it slides up–down.
    """
    src = fmt.display_aspect_ratio
    if src >= params.ratio:
        h = fmt.height
        w = min(fmt.width, even_size(h * params.ratio / fmt.sample_aspect_ratio))
        return w, h, 1
    w = fmt.width
    h = min(fmt.height, even_size(w * fmt.sample_aspect_ratio / params.ratio))
    return w, h, 0


def reframe_format(params: ReframeParams, fmt: FrameFormat) -> FrameFormat:
    if params.width and params.height:
        w, h = params.width, params.height
    elif params.width:
        w, h = params.width, even_size(params.width / params.ratio)
    elif params.height:
        w, h = even_size(params.height * params.ratio), params.height
    elif params.mode == "crop":
        cw, ch, _ = crop_geometry(params, fmt)
        w, h = cw, even_size(cw / params.ratio)
    elif fmt.display_aspect_ratio >= params.ratio:
        w, h = fmt.width, even_size(fmt.width / params.ratio)
    else:
        w, h = even_size(fmt.height * params.ratio), fmt.height
    return fmt.with_size(w, h, keep_display_aspect=False)


# Saliency -------------------------------------------------------------------------------------

def _thumb(frame: Any, width: int = 160) -> Any:
    step = max(1, frame.shape[1] // width)
    return frame[::step, ::step], step


def saliency(frame: Any, previous: Any | None, xp: Any, nd: Any) -> Any:
    """What draws the eye, per pixel of a thumbnail: motion, local contrast, skin tones.

    Returns ``(saliency, grey)``; pass ``grey`` back as ``previous`` with the next frame.

    Motion is measured against the frame's typical change, so a camera move does not make
    everything salient; each cue is normalised by its own high percentile, and motion counts
    double (a subject is usually what moves).
    """
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    y = luma(frame)
    mean = nd.gaussian_filter(y, 2.0)
    contrast = xp.sqrt(xp.maximum(nd.gaussian_filter(y * y, 2.0) - mean * mean, 0.0))
    (kb_r, kb_g, kb_b), (kr_r, kr_g, kr_b) = REC709_TO_YCBCR[1], REC709_TO_YCBCR[2]
    cb = kb_r * r + kb_g * g + kb_b * b
    cr = kr_r * r + kr_g * g + kr_b * b
    skin = xp.exp(-((cr - 0.10) / 0.05) ** 2 - ((cb + 0.09) / 0.06) ** 2) * (y > 0.15) * (y < 0.95)
    cues = [(contrast, 1.0), (skin, 1.0)]
    if previous is not None:
        change = nd.gaussian_filter(xp.abs(y - previous), 2.0)
        cues.append((xp.maximum(change - xp.median(change), 0.0), 2.0))
    total = xp.zeros_like(y)
    for cue, weight in cues:
        scale = float(xp.percentile(cue, 99.5))
        if scale > 1e-6:
            total = total + weight * xp.minimum(cue / scale, 1.0)
    return total, y


def _best_centre(sal: Any, axis: int, window: float, xp: Any) -> float:
    """Centre (in thumbnail pixels along ``axis``) of the crop window holding the most saliency."""
    profile = (sal ** 2).sum(axis=1 - axis)
    n = profile.shape[0]
    win = max(1, min(n, int(round(window))))
    csum = xp.concatenate([xp.zeros(1, dtype=profile.dtype), xp.cumsum(profile)])
    sums = csum[win:] - csum[:-win]
    best = float(xp.argmax(sums))
    return best + win / 2.0


# The operator ---------------------------------------------------------------------------------

class CameraOperator:
    """A crop position driven like a fluid head: dead zone, velocity and acceleration limits.

    ``position`` is the crop centre in source pixels along the moving axis; ``low``/``high``
    bound it so the crop stays inside the picture.
    """

    def __init__(self, low: float, high: float, span: float, smoothing: float, crop: float = 0.0):
        self.low, self.high = low, high
        self.safe = crop * 0.3  # how far off-centre the subject may drift before the operator hurries
        self.v_max = span * (0.05 - 0.03 * smoothing)
        self.a_max = span * (0.005 - 0.003 * smoothing)
        self.dead_zone = span * (0.02 + 0.04 * smoothing)
        self.position: float | None = None
        self.velocity = 0.0

    def step(self, target: float, subject: float | None = None) -> float:
        """Move toward ``target`` (the anticipated framing); ``subject`` is where it is now."""
        target = min(max(target, self.low), self.high)
        if self.position is None:
            self.position = target
            return target
        v_max = self.v_max
        if subject is not None and abs(subject - self.position) > self.safe:
            # The subject is about to leave frame: follow it, faster than the usual top speed
            # (the acceleration limit still holds, so the move stays smooth).
            target = min(max(subject, self.low), self.high)
            v_max = max(v_max, abs(self.velocity) + self.a_max)
        error = target - self.position
        distance = abs(error) - self.dead_zone
        # Brake so as to stop at the target: v² = 2·a·d.
        wanted = 0.0 if distance <= 0 else np.sign(error) * min(v_max, np.sqrt(2 * self.a_max * distance))
        self.velocity += float(np.clip(wanted - self.velocity, -self.a_max, self.a_max))
        nxt = self.position + self.velocity
        if not self.low <= nxt <= self.high:  # the picture's edge: stop there, as smoothly as allowed
            nxt = min(max(nxt, self.low), self.high)
            self.velocity = nxt - self.position
        self.position = nxt
        return nxt


# The processor --------------------------------------------------------------------------------

def _fit(frame: Any, width: int, height: int, sar: Fraction, xp: Any) -> Any:
    h, w = frame.shape[:2]
    display_w = w * sar
    scale = min(Fraction(width) / display_w, Fraction(height, h))
    new_w = max(2, min(width, even_size(display_w * scale)))
    new_h = max(2, min(height, even_size(h * scale)))
    pic = resize(frame, new_w, new_h, "lanczos", xp)
    out = xp.zeros((height, width, 3), dtype=xp.float32)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top:top + new_h, left:left + new_w] = pic
    return out


@processor("reframe", params=ReframeParams, kind="stream", window=lambda p: (0, p.lookahead),
           output_format=reframe_format, changes_size=True)
def reframe(frames: Iterator[Any], ctx: Any, params: ReframeParams) -> Iterator[Any]:
    """Reframe to 9:16, 1:1, 4:5 or 16:9, following the subject like a camera operator.

    Fixes the vertical and square versions of a widescreen generation: ``aspect`` is the new
    frame, ``width``/``height`` its size; the crop follows what moves, has contrast or is skin,
    looking ``lookahead`` frames ahead; ``smoothing`` trades responsiveness for calm (dead
    zone, slower top speed, gentler acceleration). ``mode = "fit"`` letterboxes or
    pillarboxes the whole picture instead. The crop path lands in the report.
    """
    xp, nd = ctx.xp, ctx.backend.ndimage
    out_w, out_h = ctx.fmt_out.width, ctx.fmt_out.height
    if params.mode == "fit":
        for frame in frames:
            yield _fit(frame, out_w, out_h, ctx.fmt_in.sample_aspect_ratio, xp)
        return
    cw, ch, axis = crop_geometry(params, ctx.fmt_in)
    size = (ctx.fmt_in.height, ctx.fmt_in.width)[axis]
    crop = (ch, cw)[axis]
    operator = CameraOperator(crop / 2, size - crop / 2, size, params.smoothing, crop)
    path: list[float] = ctx.notes.setdefault("crop_path", [])
    ctx.notes["crop"] = {"width": cw, "height": ch, "axis": "x" if axis == 1 else "y"}
    pending: deque[tuple[Any, float]] = deque()
    previous = None

    def emit() -> Any:
        frame, _ = pending[0]
        # Anticipate: aim for where the subject will be, weighted toward the near future.
        targets = np.array([t for _, t in pending])
        weights = np.exp(-np.arange(len(targets)) / max(1.0, params.lookahead / 3))
        centre = operator.step(float((targets * weights).sum() / weights.sum()), float(targets[0]))
        path.append(round(centre, 2))
        start = int(round(centre - crop / 2))
        start = min(max(start, 0), size - crop)
        cut = frame[:, start:start + cw] if axis == 1 else frame[start:start + ch, :]
        pending.popleft()
        if cut.shape[1] == out_w and cut.shape[0] == out_h:
            return cut
        return resize(cut, out_w, out_h, "lanczos", xp)

    for frame in frames:
        thumb, step = _thumb(frame)
        sal, grey = saliency(thumb, previous, xp, nd)
        previous = grey
        pending.append((frame, _best_centre(sal, axis, crop / step, xp) * step))
        if len(pending) > params.lookahead:
            yield emit()
    while pending:
        yield emit()
