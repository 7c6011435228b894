"""Retime: frame-rate conform with motion-compensated in-betweens, and stutter repair.

AI generators deliver odd rates (16, 25, 30 fps) and, now and then, a frame shown twice in
place of one that never came. ``retime`` conforms the clip to the timeline's rate: each new
frame sits at its exact time between two source frames and is built from both, moved along a
dense optical flow (pyramidal Lucas–Kanade on ``xp``) so a pan stays a pan instead of a
double exposure. Where the flow cannot be trusted (forward and backward flow disagree, or
the two moved pictures do not match: an occlusion, a cut), it falls back to a plain blend.
A duplicated frame is detected against the motion around it and rebuilt from its neighbours.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from postbay.backend import cpu_pool, in_bands
from postbay.colour import REC709_LUMA
from postbay.media import snap_rate
from postbay.processors import cpu_kernels, cpu_kernels_motion
from postbay.registry import FrameFormat, ParamModel, processor

__all__ = ["RetimeParams", "interpolate", "optical_flow", "retime", "retime_format", "splines"]


class RetimeParams(ParamModel):
    fps: str = Field(description='target frame rate: 24, "24000/1001", 23.976, 30…')
    method: Literal["motion", "blend", "drop"] = Field(
        default="motion", description="motion: optical-flow in-betweens; blend: cross-fade neighbours; "
                                      "drop: nearest frame (repeat or skip)")
    repair: bool = Field(default=True, description="find frames the generator duplicated and rebuild them")

    @field_validator("fps", mode="before")
    @classmethod
    def _rate(cls, value: Any) -> str:
        try:
            rate = snap_rate(Fraction(str(value)) if isinstance(value, str) else Fraction(value))
        except (ValueError, ZeroDivisionError, TypeError):
            raise ValueError(f"fps {value!r} is not a frame rate (use 24, 25, \"24000/1001\"…)") from None
        if rate is None or not 1 <= rate <= 240:
            raise ValueError(f"fps {value!r} must be between 1 and 240")
        return f"{rate.numerator}/{rate.denominator}"

    @property
    def rate(self) -> Fraction:
        return Fraction(self.fps)


def retime_format(params: RetimeParams, fmt: FrameFormat) -> FrameFormat:
    """Same duration at the new rate: ``frames × new_rate / old_rate`` frames."""
    frames = max(1, round(fmt.frames * params.rate / fmt.rate))
    return FrameFormat(fmt.width, fmt.height, params.rate, frames, fmt.sample_aspect_ratio)


# Optical flow ---------------------------------------------------------------------------------

def _grey(frame: Any, xp: Any) -> Any:
    return frame @ xp.asarray(REC709_LUMA, dtype=xp.float32)


def _half(img: Any) -> Any:
    """Half size over the last two axes (the picture's), 2×2 means."""
    h, w = (img.shape[-2] // 2) * 2, (img.shape[-1] // 2) * 2
    i = img[..., :h, :w]
    return 0.25 * (i[..., 0::2, 0::2] + i[..., 1::2, 0::2] + i[..., 0::2, 1::2] + i[..., 1::2, 1::2])


def _resize_flow(f: Any, shape: tuple[int, int], xp: Any, nd: Any) -> Any:
    if cpu_kernels.enabled(xp):
        return cpu_kernels_motion.resize_linear(f, shape[0], shape[1])
    zoom = (shape[0] / f.shape[0], shape[1] / f.shape[1])
    out = nd.zoom(f, zoom, order=1, mode="nearest", grid_mode=True)
    return out[: shape[0], : shape[1]]


def _warp(img: Any, u: Any, v: Any, xp: Any, nd: Any) -> Any:
    """A grey ``img`` sampled bilinearly at (x + u, y + v), edges held."""
    h, w = img.shape[:2]
    yy, xx = xp.mgrid[0:h, 0:w].astype(xp.float32)
    return nd.map_coordinates(img, xp.stack([yy + v, xx + u]), order=1, mode="nearest")


def _flow_terms(la: Any, lb: Any, u: Any, v: Any, xp: Any, nd: Any) -> Any:
    """The five Lucas–Kanade products (ix², iy², ix·iy, ix·it, iy·it) of ``la`` against ``lb``
    moved by (u, v), stacked (5, h, w)."""
    if cpu_kernels.enabled(xp):
        return cpu_kernels_motion.flow_terms(la, lb, u, v)
    bw = _warp(lb, u, v, xp, nd)
    iy, ix = xp.gradient(0.5 * (la + bw))
    it = bw - la
    return xp.stack([ix * ix, iy * iy, ix * iy, ix * it, iy * it])


def _flow_update(terms: Any, sigma: float, xp: Any, nd: Any) -> tuple[Any, Any]:
    """The Lucas–Kanade step (du, dv) from the products summed over a Gaussian window.

    The window (σ of 6 px) is wide and smooth: on a large level its sums are taken on a
    half-size grid (σ/2 there, an eighth of the work) and the step scaled back up, which
    scores the same in-between PSNR as summing at full size. A small regulariser keeps flat
    areas (no gradient to lock onto) on the coarser estimate.
    """
    shape = terms.shape[1:]
    coarse = min(shape) >= 96
    if coarse:
        terms, sigma = _half(terms), sigma / 2
    jxx, jyy, jxy, jxt, jyt = nd.gaussian_filter(terms, (0, sigma, sigma))
    jxx += 1e-5
    jyy += 1e-5
    det = jxx * jyy - jxy * jxy
    du = (jyy * jxt - jxy * jyt) / det
    dv = (jxx * jyt - jxy * jxt) / det
    if coarse:
        du, dv = _resize_flow(du, shape, xp, nd), _resize_flow(dv, shape, xp, nd)
    return du, dv


def _median3(f: Any, xp: Any, nd: Any) -> Any:
    if cpu_kernels.enabled(xp):
        return cpu_kernels_motion.median3(f)
    return nd.median_filter(f, size=3)


def optical_flow(a: Any, b: Any, xp: Any, nd: Any, *, iterations: int = 1, sigma: float = 6.0) -> tuple[Any, Any]:
    """Dense flow (u, v) in pixels with ``a(x, y) ≈ b(x + u, y + v)``, for grey images.

    Coarse-to-fine Lucas–Kanade: each pyramid level starts from the level above, warps ``b``
    toward ``a`` and solves the local 2×2 system over a Gaussian window (``iterations`` times:
    once per level scores best on the benchmark's pans), then a 3×3 median removes outliers.
    """
    pyramid = [(a, b)]
    while min(pyramid[-1][0].shape) >= 48:
        pa, pb = pyramid[-1]
        pyramid.append((_half(pa), _half(pb)))
    u = v = None
    for la, lb in reversed(pyramid):
        if u is None:
            u = xp.zeros_like(la)
            v = xp.zeros_like(la)
        else:
            u = _resize_flow(u, la.shape, xp, nd) * 2.0
            v = _resize_flow(v, la.shape, xp, nd) * 2.0
        for _ in range(iterations):
            du, dv = _flow_update(_flow_terms(la, lb, u, v, xp, nd), sigma, xp, nd)
            u = u - du
            v = v - dv
        u = _median3(u, xp, nd)
        v = _median3(v, xp, nd)
    return u, v


def _flow_pair(a: Any, b: Any, xp: Any, nd: Any) -> tuple[Any, Any, Any, int]:
    """Symmetric flow (u, v) from ``a`` to ``b``, how far it can be trusted (0 … 1), and the
    scale of the picture to the flow (a power of two).

    Flow is estimated both ways at ≤ 960 px wide (for speed; motion is smooth at that scale;
    the picture's in-betweens scale it up); trust falls where the forward and backward flows
    disagree by over a pixel. On the CPU the two directions run on two worker threads.
    """
    ga, gb = _grey(a, xp), _grey(b, xp)
    scale = 1
    while ga.shape[1] > 960:
        ga, gb, scale = _half(ga), _half(gb), scale * 2
    if cpu_kernels.enabled(xp):
        backward = cpu_pool().submit(optical_flow, gb, ga, xp, nd)
        fu, fv = optical_flow(ga, gb, xp, nd)
        bu, bv = backward.result()
    else:
        fu, fv = optical_flow(ga, gb, xp, nd)
        bu, bv = optical_flow(gb, ga, xp, nd)
    su, sv = 0.5 * (fu - bu), 0.5 * (fv - bv)
    trust = xp.exp(-(xp.hypot(fu + bu, fv + bv) * scale) ** 2).astype(xp.float32)
    if scale > 1 and not cpu_kernels.enabled(xp):
        # The array path moves pictures by a full-size flow: enlarge it once per pair, not once
        # per in-between (the CPU kernel reads the small flow and scales as it goes).
        h, w = a.shape[:2]
        su, sv = (_resize_flow(f, (h, w), xp, nd) * scale for f in (su, sv))
        trust, scale = _resize_flow(trust, (h, w), xp, nd), 1
    return su, sv, trust, scale


def splines(frame: Any, xp: Any, nd: Any) -> Any:
    """Cubic B-spline coefficients of an (H, W, 3) frame for :func:`interpolate`, edge-padded by
    ``SPLINE_PAD`` (SciPy's prefilter for ``mode="nearest"``); made once per source frame."""
    if cpu_kernels.enabled(xp):
        return cpu_kernels_motion.spline_coefficients(np.ascontiguousarray(frame, np.float32))
    pad = cpu_kernels_motion.SPLINE_PAD
    padded = xp.pad(frame.astype(xp.float32), ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    for axis in (0, 1):
        padded = nd.spline_filter1d(padded, 3, axis=axis, output=xp.float32, mode="nearest")
    return padded


def _warp_spline(coeffs: Any, u: Any, v: Any, xp: Any, nd: Any) -> Any:
    """The frame whose :func:`splines` are ``coeffs`` sampled at (x + u, y + v), edges held."""
    pad = cpu_kernels_motion.SPLINE_PAD
    h, w = coeffs.shape[0] - 2 * pad, coeffs.shape[1] - 2 * pad
    yy, xx = xp.mgrid[pad:h + pad, pad:w + pad].astype(xp.float32)
    coords = xp.stack([yy + v, xx + u])
    return xp.stack([nd.map_coordinates(coeffs[..., c], coords, order=3, mode="nearest", prefilter=False)
                     for c in range(coeffs.shape[2])], axis=-1)


def interpolate(a: Any, b: Any, t: float, xp: Any, nd: Any, flows: tuple[Any, Any, Any, int] | None = None,
                coeffs: tuple[Any, Any] | None = None) -> Any:
    """The picture at fraction ``t`` of the way from ``a`` to ``b``, motion compensated.

    Both frames are moved to time ``t`` along the symmetric flow and mixed by distance in time;
    where flow is unreliable (forward–backward mismatch over a pixel, or the two moved pictures
    disagree: an occlusion, a cut) the result eases back to a cross-fade. ``flows`` (from one
    pair, for all its in-betweens) and ``coeffs`` (each frame's :func:`splines`) are computed
    here when not given. On the CPU the picture is made in bands on the worker threads.
    """
    su, sv, trust, scale = flows if flows is not None else _flow_pair(a, b, xp, nd)
    ca, cb = coeffs if coeffs is not None else (splines(a, xp, nd), splines(b, xp, nd))
    t = float(t)
    if cpu_kernels.enabled(xp):
        a, b = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)
        moved, trusted = np.empty_like(a), np.empty(a.shape[:2], np.float32)
        in_bands(a.shape[0], lambda y0, y1: cpu_kernels_motion.motion_blend(
            a, b, ca, cb, su, sv, trust, float(scale), t, moved, trusted, y0, y1))
        smooth = nd.gaussian_filter(trusted, 2.0)
        in_bands(a.shape[0], lambda y0, y1: cpu_kernels_motion.mix_trusted(
            a[y0:y1], b[y0:y1], t, moved[y0:y1], smooth[y0:y1]))
        return moved
    h, w = a.shape[:2]  # the flow is full size here (_flow_pair)
    from_a = _warp_spline(ca, -t * su, -t * sv, xp, nd)
    from_b = _warp_spline(cb, (1 - t) * su, (1 - t) * sv, xp, nd)
    # A pixel that comes from outside one frame (the edge a pan uncovers) is taken from the other.
    yy, xx = xp.mgrid[0:h, 0:w].astype(xp.float32)

    def inside(du: Any, dv: Any) -> Any:
        x, y = xx + du, yy + dv
        return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).astype(xp.float32)

    wa = (1 - t) * inside(-t * su, -t * sv)
    wb = t * inside((1 - t) * su, (1 - t) * sv)
    both = wa * wb > 0
    total = wa + wb
    wa = xp.where(total > 0, wa / xp.maximum(total, 1e-6), 1 - t)[..., None]
    moved = wa * from_a + (1 - wa) * from_b
    blend = (1 - t) * a + t * b
    mismatch = xp.where(both, xp.abs(from_a - from_b).mean(axis=-1), 0.0)
    trust = trust * xp.exp(-(mismatch / 0.08) ** 2)
    trust = nd.gaussian_filter(trust.astype(xp.float32), 2.0)[..., None]
    return (blend + trust * (moved - blend)).astype(xp.float32)


# Stutter repair ---------------------------------------------------------------------------

def _activity(frame: Any, xp: Any) -> Any:
    """A small grey thumbnail for cheap frame-to-frame comparison."""
    g = _grey(frame, xp)
    while g.shape[1] > 160:
        g = _half(g)
    return g


def _speed(a: Any, b: Any, xp: Any, nd: Any) -> float:
    """Typical motion between two thumbnails, in thumbnail pixels (median flow magnitude)."""
    u, v = optical_flow(a, b, xp, nd, iterations=2, sigma=4.0)
    return float(xp.median(xp.hypot(u, v)))


def _repaired(frames: Iterator[Any], ctx: Any) -> Iterator[Any]:
    """Find duplicated frames and rebuild them from their neighbours (lookahead of 3 frames).

    A duplicate is a frame that barely differs from the one before while the shot moves. If
    the jump before the pair is the larger, the generator dropped a frame and then repeated:
    the first of the pair is rebuilt halfway back; otherwise the repeat stands in for a
    missing frame and is rebuilt halfway to the next. A jump of about twice the shot's usual
    motion with no repeat beside it is a dropped frame; the frame count is fixed, so it is
    reported (``notes["suspected_drops"]``, the frame after the gap) rather than rebuilt.
    """
    xp, nd = ctx.xp, ctx.backend.ndimage
    buf: deque[list[Any]] = deque()  # [frame, thumbnail, index]
    diffs: deque[float] = deque(maxlen=12)
    speeds: deque[float] = deque(maxlen=12)
    repaired: list[int] = ctx.notes.setdefault("repaired_frames", [])
    drops: list[int] = ctx.notes.setdefault("suspected_drops", [])
    index = 0

    def diff(i: int, j: int) -> float:
        return float(xp.abs(buf[i][1] - buf[j][1]).mean())

    for frame in frames:
        buf.append([frame, _activity(frame, xp), index])
        index += 1
        if len(buf) >= 4:
            # Pair (P, Q) = buf[1], buf[2]; neighbours buf[0] and buf[3].
            d_pq = diff(1, 2)
            typical = float(np.median(diffs)) if len(diffs) >= 3 else None

            def held(d: float, typical: float | None = typical) -> bool:
                return typical is not None and typical > 2e-3 and d < 0.25 * typical

            if held(d_pq):
                before, after = diff(0, 1), diff(2, 3)
                if before > after:
                    buf[1][0] = interpolate(buf[0][0], buf[1][0], 0.5, xp, nd)
                    buf[1][1] = _activity(buf[1][0], xp)
                    repaired.append(buf[1][2])
                else:
                    buf[2][0] = interpolate(buf[2][0], buf[3][0], 0.5, xp, nd)
                    buf[2][1] = _activity(buf[2][0], xp)
                    repaired.append(buf[2][2])
            else:
                diffs.append(d_pq)
                speed = _speed(buf[1][1], buf[2][1], xp, nd)
                usual = float(np.median(speeds)) if len(speeds) >= 3 else 0.0
                if usual > 0.5 and speed > 1.7 * usual and not (held(diff(0, 1)) or held(diff(2, 3))):
                    drops.append(buf[2][2])
                else:
                    speeds.append(speed)
            yield buf.popleft()[0]
    while buf:
        yield buf.popleft()[0]


# The processor ----------------------------------------------------------------------------

@processor("retime", params=RetimeParams, kind="stream", window=(1, 3), output_format=retime_format,
           changes_rate=True)
def retime(frames: Iterator[Any], ctx: Any, params: RetimeParams) -> Iterator[Any]:
    """Conform the frame rate, building in-between frames along the motion; repair stutters.

    ``fps`` is the rate to deliver at (the clip's duration is kept, so 24 → 48 doubles the
    frames). ``method = "motion"`` builds each new frame from its two neighbours moved along
    the optical flow, falling back to a cross-fade where the motion cannot be trusted;
    ``"blend"`` cross-fades; ``"drop"`` repeats or skips whole frames, as a telecine would.
    ``repair`` rebuilds frames the generator duplicated (the stutter of a held frame).
    """
    xp, nd = ctx.xp, ctx.backend.ndimage
    source = _repaired(frames, ctx) if params.repair else iter(frames)
    step = Fraction(ctx.fmt_in.rate) / params.rate  # source frames per output frame
    last_source = ctx.fmt_in.frames - 1
    held: dict[int, Any] = {}
    flows: dict[tuple[int, int], Any] = {}
    coeffs: dict[int, Any] = {}  # each source frame's splines, shared by the pairs either side
    next_index = 0
    exhausted = False

    def have(i: int) -> Any:
        nonlocal next_index, exhausted
        while i not in held and not exhausted:
            try:
                held[next_index] = next(source)
            except StopIteration:
                exhausted = True
                break
            next_index += 1
        return held.get(i, held[max(held)])

    for k in range(ctx.fmt_out.frames):
        pos = min(k * step, Fraction(last_source))
        i = int(pos)
        t = float(pos - i)
        if params.method == "drop":  # the nearest whole frame
            i, t = min(int(pos + Fraction(1, 2)), last_source), 0.0
        a = have(i)
        for old in [j for j in held if j < i]:
            del held[old]
            coeffs.pop(old, None)
        flows = {key: f for key, f in flows.items() if key[0] >= i}
        if t < 1e-6:
            yield a
            continue
        b = have(i + 1)
        if params.method == "blend":
            yield ((1 - t) * a + t * b).astype(xp.float32)
            continue
        if (i, i + 1) not in flows:
            flows[(i, i + 1)] = _flow_pair(a, b, xp, nd)
        for j, frame in ((i, a), (i + 1, b)):
            if j not in coeffs:
                coeffs[j] = splines(frame, xp, nd)
        yield interpolate(a, b, t, xp, nd, flows[(i, i + 1)], (coeffs[i], coeffs[i + 1]))
