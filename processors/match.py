"""Match: shot-to-shot colour match to a reference, carried as an ASC CDL.

Shots generated one at a time never agree: one comes out warm, the next green and flat.
``match`` measures the colour of a shot and of a reference (the hero shot of the scene, a
still or a clip) and fits the one ASC CDL (slope, offset, power per channel, then saturation)
that makes the shot's colour statistics sit on the reference's. The fit compares
distributions, not pixels, so the two shots may frame different things of the same scene:

1. per channel, the shot's tonal distribution (2nd … 98th percentile) is mapped onto the
   reference's by slope/offset/power: this takes out casts, lifted blacks and flat contrast;
2. then the CDL is refined jointly on the percentiles of CIE Lab (lightness and both
   opponent axes) and the saturation set so the mean chroma matches: the fit is judged in
   a perceptual space, where a ΔE means the same thing everywhere.

One correction is measured per shot, from its first ``frames`` frames (a bounded lookahead),
and applied to every frame, so it cannot pump. Being a CDL, the correction goes into the
report (``notes["cdl"]``) and the conformed timeline, where an editor or colourist can adjust it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator
from scipy.optimize import least_squares

from postbay.backend import Backend, numpy_backend
from postbay.colour import D65_XYZ, REC709_TO_XYZ
from postbay.errors import PostbayError
from postbay.media import read_pictures, read_reference
from postbay.processors.grade import CDL, apply_cdl
from postbay.registry import ParamModel, processor

__all__ = ["MatchParams", "cdl_for_clip", "match", "match_cdl", "rgb_to_lab"]

_PERCENTILES = np.linspace(2, 98, 25)
_GAMMA = 2.4  # display Rec.709 → light


class MatchParams(ParamModel):
    reference: str | None = Field(default=None, description='a still or clip of the look to match, or "hero": in '
                                                            "a timeline, the shot marked hero/REF (else the first)")
    frames: int = Field(default=12, ge=1, le=96, description="frames at the head of the shot measured "
                                                            "(one correction for the whole shot)")
    strength: float = Field(default=1.0, ge=0.0, le=1.0, description="how much of the correction to apply")

    @field_validator("reference")
    @classmethod
    def _exists(cls, value: str | None) -> str | None:
        if value is None or value == "hero":
            return value
        path = Path(value).expanduser()
        if not path.is_file():
            raise ValueError(f"reference {value!r} not found (a still or a clip)")
        return str(path.resolve())


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Display Rec.709 (gamma 2.4) RGB → CIE Lab (D65), for (..., 3) arrays."""
    light = np.clip(rgb, 0.0, None) ** _GAMMA
    xyz = light @ REC709_TO_XYZ.T / D65_XYZ
    eps = 216 / 24389
    f = np.where(xyz > eps, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def _as_frames(reference: Any) -> np.ndarray:
    """A reference as (N, H, W, 3) float32 display RGB, from one picture or several."""
    arr = np.asarray(reference, dtype=np.float32)
    return arr[None] if arr.ndim == 3 else arr


def _thumbnail(frame: np.ndarray, width: int = 160) -> np.ndarray:
    step = max(1, frame.shape[1] // width)
    return frame[::step, ::step]


def _pixels(frames: Iterable[Any], backend: Backend) -> np.ndarray:
    """Pixels of a few thumbnails, (n, 3) float64 on the host."""
    thumbs = [np.asarray(backend.to_host(_thumbnail(f)), dtype=np.float64).reshape(-1, 3) for f in frames]
    if not thumbs:
        raise PostbayError("match has no frames to measure")
    return np.concatenate(thumbs)


def _sop(x: np.ndarray, slope: Any, offset: Any, power: Any) -> np.ndarray:
    v = x * slope + offset
    return np.where(v > 0, np.maximum(v, 0) ** power, v)


def _cdl_from(vec: np.ndarray) -> CDL:
    return CDL(slope=tuple(vec[0:3]), offset=tuple(vec[3:6]), power=tuple(vec[6:9]), sat=float(vec[9]))


def _chroma(lab: np.ndarray) -> float:
    return float(np.hypot(lab[:, 1], lab[:, 2]).mean())


def match_cdl(frames: Iterable[Any], reference: np.ndarray, strength: float = 1.0,
              backend: Backend | None = None) -> CDL:
    """The ASC CDL that brings the colour of ``frames`` onto ``reference`` (no rendering).

    ``frames`` are display RGB frames of the shot on ``backend`` (the host's NumPy unless
    given); ``reference`` is a host array (H, W, 3) or (N, H, W, 3)
    (:func:`postbay.media.read_reference` decodes a still or a clip). The timeline conform calls this
    to put a matching CDL on each shot of a scene.
    """
    shot = _pixels(frames, backend or numpy_backend())
    ref = _pixels(_as_frames(reference), numpy_backend())
    q_ref = np.percentile(ref, _PERCENTILES, axis=0)
    q_shot = np.percentile(shot, _PERCENTILES, axis=0)
    lo = np.array([0.25] * 3 + [-0.5] * 3 + [0.25] * 3 + [0.25])
    hi = np.array([4.0] * 3 + [0.5] * 3 + [4.0] * 3 + [2.0])

    # 1. Per channel: map the shot's tonal distribution onto the reference's.
    vec = np.array([1.0] * 3 + [0.0] * 3 + [1.0] * 3 + [1.0])
    for c in range(3):
        fit = least_squares(lambda p, c=c: _sop(q_shot[:, c], p[0], p[1], p[2]) - q_ref[:, c],
                            x0=[1.0, 0.0, 1.0], bounds=([lo[c], lo[3 + c], lo[6 + c]], [hi[c], hi[3 + c], hi[6 + c]]))
        vec[c], vec[3 + c], vec[6 + c] = fit.x

    # 2. Jointly, in Lab: percentiles of L, a, b, and the mean chroma (which saturation sets).
    rng = np.random.default_rng(0)
    sample = shot[rng.choice(len(shot), size=min(len(shot), 3000), replace=False)]
    lab_ref = rgb_to_lab(ref)
    ql_ref = np.percentile(lab_ref, _PERCENTILES, axis=0)
    c_ref = _chroma(lab_ref)

    def residual(p: np.ndarray) -> np.ndarray:
        out = apply_cdl(sample.astype(np.float32), _cdl_from(p))
        lab = rgb_to_lab(np.clip(out, 0.0, 1.0))
        ql = np.percentile(lab, _PERCENTILES, axis=0)
        return np.concatenate([(ql - ql_ref).ravel(), [2.0 * (_chroma(lab) - c_ref)]])

    vec = least_squares(residual, np.clip(vec, lo, hi), bounds=(lo, hi), diff_step=1e-3, max_nfev=15).x
    neutral = np.array([1.0] * 3 + [0.0] * 3 + [1.0] * 3 + [1.0])
    return _cdl_from(neutral + strength * (vec - neutral))


def cdl_for_clip(path: str | Path, reference: str | Path, *, start: int = 0, count: int | None = None,
                 frames: int = 12, strength: float = 1.0) -> CDL:
    """:func:`match_cdl` for frames ``[start, start + frames)`` of a clip on disk against a
    reference still or clip (the conform's view: a CDL without rendering anything)."""
    n = frames if count is None else min(frames, count)
    return match_cdl(read_pictures(path, start=start, count=n), read_reference(reference), strength)


@processor("match", params=MatchParams, kind="stream", window=lambda p: (0, p.frames), reads="reference")
def match(frames: Iterator[Any], ctx: Any, params: MatchParams) -> Iterator[Any]:
    """Match this shot's colour to a reference shot with one ASC CDL for the whole shot.

    Takes out the cast, black level and contrast differences between generations of the same
    scene so they cut together. ``reference`` is the shot to match (a still or clip; in a
    timeline, the hero shot); ``frames`` how many frames at the head of the shot are measured;
    ``strength`` how far to go (1 = all the way). The CDL lands in the report for the NLE.
    """
    if ctx.reference is None:
        raise PostbayError("match needs a reference", hint='set reference = "hero.mov" in the step, or run it in '
                                                          "a timeline, where reference = \"hero\" is its hero shot")
    head: list[Any] = []
    source = iter(frames)
    for frame in source:
        head.append(frame)
        if len(head) >= params.frames:
            break
    if not head:
        return
    cdl = match_cdl(head, ctx.reference, params.strength, ctx.backend)
    ctx.notes["cdl"] = cdl.model_dump()
    for frame in head:
        yield apply_cdl(frame, cdl, ctx.xp)
    for frame in source:
        yield apply_cdl(frame, cdl, ctx.xp)
