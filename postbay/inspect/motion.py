"""Frame-to-frame measures on small luma pictures: global motion, its jitter, and texture shimmer.

``postbay inspect`` shrinks every frame to an analysis picture about 320 pixels wide; these
functions work on those, so a 1080p clip costs little more than its decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from scipy import ndimage

from postbay.inspect.picture import noise_sigma

__all__ = ["MotionTracker", "Step", "jitter", "path_high_pass"]


def _texture_share_of_noise() -> float:
    field = np.random.default_rng(0).normal(size=(256, 256))
    band = ndimage.gaussian_filter(field, 0.8) - ndimage.gaussian_filter(field, 2.5)
    return float(band[16:-16, 16:-16].var())


#: Spread (cycles per pixel) of the Gaussian taper on the phase-correlation spectrum.
_TAPER = 0.12

#: Share of white noise's variance that :func:`_texture` passes.
_NOISE_IN_TEXTURE = _texture_share_of_noise()


@dataclass(frozen=True)
class Step:
    """What changed from the previous analysis picture to this one."""

    dy: float  #: global motion, analysis pixels (content moved down by dy)
    dx: float  #: global motion, analysis pixels (content moved right by dx)
    confidence: float  #: the peak over the next-highest one away from it: about 1 when the motion is ambiguous
    difference: float  #: mean absolute luma difference, no compensation
    shimmer: float | None  #: RMS change of fine texture in still regions after compensation (noise allowed for)


class MotionTracker:
    """Fed analysis pictures in order, measures each one against the one before.

    Global motion is phase correlation (a Hann window), its whitened spectrum tapered by a
    Gaussian so that the finest frequencies, where resampling and noise scramble the phase,
    count less; the tapered peak is a Gaussian, so a Gaussian through three samples finds it
    to a few hundredths of a pixel. Shimmer compares the fine texture (the picture less its 3×3 mean) of this picture
    with the previous one moved by the measured motion (a Fourier shift, so sub-pixel moves
    leave no interpolation blur), in the regions whose coarse picture matches (the parts that
    do not move on their own); the change that noise alone would make is taken off.
    """

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._window: np.ndarray | None = None
        self._taper: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous picture (at a cut)."""
        self._previous = None

    def __call__(self, small: np.ndarray, shimmer: bool = True) -> Step | None:
        """Measure ``small`` against the previous picture (None for the first after a reset);
        ``shimmer=False`` leaves the costlier shimmer out."""
        if self._window is None or self._window.shape != small.shape:
            self._window = np.outer(np.hanning(small.shape[0]), np.hanning(small.shape[1])).astype(np.float32)
            fy = np.fft.fftfreq(small.shape[0])[:, None]
            fx = np.fft.rfftfreq(small.shape[1])[None, :]
            self._taper = np.exp(-(fy ** 2 + fx ** 2) / (2 * _TAPER ** 2))
            self._previous = None
        spectrum = scipy.fft.rfft2((small - small.mean()) * self._window)
        previous = self._previous
        self._previous = (small, spectrum)
        if previous is None:
            return None
        before, before_spectrum = previous
        cross = spectrum * np.conj(before_spectrum)
        surface = scipy.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-12) * self._taper, s=small.shape)
        py, px = np.unravel_index(int(np.argmax(surface)), surface.shape)
        h, w = surface.shape
        peak = float(surface[py, px])
        # one camera move makes one peak; layers moving apart (or no texture) make rivals
        rival = surface.copy()
        rival[np.ix_(np.arange(py - 3, py + 4) % h, np.arange(px - 3, px + 4) % w)] = -np.inf
        confidence = peak / max(float(rival.max()), 1e-9)
        dy = py + _gaussian_peak(surface[(py - 1) % h, px], peak, surface[(py + 1) % h, px])
        dx = px + _gaussian_peak(surface[py, (px - 1) % w], peak, surface[py, (px + 1) % w])
        dy = dy - h if dy > h / 2 else dy
        dx = dx - w if dx > w / 2 else dx
        difference = float(np.mean(np.abs(small - before)))
        return Step(float(dy), float(dx), confidence, difference,
                    _shimmer(small, before, dy, dx) if shimmer else None)


def _gaussian_peak(left: float, centre: float, right: float) -> float:
    """Offset of a Gaussian's top from its highest sample (exact for the tapered surface's peak)."""
    if min(left, centre, right) <= 0:
        denominator = left - 2 * centre + right
        return float(0.5 * (left - right) / denominator) if abs(denominator) > 1e-12 else 0.0
    a, b, c = np.log(left), np.log(centre), np.log(right)
    denominator = a - 2 * b + c
    return float(0.5 * (a - c) / denominator) if abs(denominator) > 1e-12 else 0.0


def _shimmer(small: np.ndarray, before: np.ndarray, dy: float, dx: float) -> float:
    h, w = small.shape
    # the Fourier shift's phase ramp is separable: two 1-D ramps, not a 2-D complex exponential
    ramp = np.outer(np.exp(-2j * np.pi * np.fft.fftfreq(h) * dy), np.exp(-2j * np.pi * np.fft.rfftfreq(w) * dx))
    moved = scipy.fft.irfft2(scipy.fft.rfft2(before) * ramp, s=small.shape)
    margin = int(np.ceil(max(abs(dy), abs(dx)))) + 3
    if 2 * margin >= min(h, w) - 8:
        return 0.0
    inner = (slice(margin, h - margin), slice(margin, w - margin))
    now = small[inner]
    # the filters are linear: one pass over the difference, not one over each picture
    difference = now - moved[inner].astype(np.float32)
    still = np.abs(ndimage.gaussian_filter(difference, 4.0)) < 0.02  # the coarse picture matches
    if still.mean() < 0.05:
        return 0.0
    change = float(np.mean(_texture(difference)[still] ** 2))
    noise = noise_sigma(now)
    # two frames' white noise differ by 2σ² times the share of it the texture band passes
    return float(np.sqrt(max(0.0, change - 2 * _NOISE_IN_TEXTURE * noise ** 2)))


def _texture(small: np.ndarray) -> np.ndarray:
    """The middle-fine detail where AI texture boils (blobs of 2–6 pixels): a difference of
    Gaussians, which passes little of the finest pixel-level noise and resampling error."""
    return np.asarray(ndimage.gaussian_filter(small, 0.8) - ndimage.gaussian_filter(small, 2.5))


def path_high_pass(steps: np.ndarray, rate: float) -> np.ndarray:
    """The jitter of a camera path: (n, 2) per-frame moves in, (n + 1, 2) high-frequency offsets out.

    The path (the running sum of the moves) less its straight-line trend is smoothed by a Gaussian
    of an eighth of a second (σ: 3 frames at 24 fps); what the smoothing takes away (above about
    1.3 Hz) is the shake, what stays (a pan, a slow curve or push) is the intended move.
    """
    path = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    n = path.shape[0]
    t = np.arange(n, dtype=np.float64)
    trend = np.zeros_like(path)
    if n >= 2:
        for axis in range(2):
            trend[:, axis] = np.polyval(np.polyfit(t, path[:, axis], 1), t)
    residual = path - trend
    return np.asarray(residual - ndimage.gaussian_filter1d(residual, max(1.0, rate / 8), axis=0, mode="reflect"))


def jitter(steps: np.ndarray, rate: float) -> float:
    """RMS of :func:`path_high_pass` (same units as ``steps``)."""
    if steps.shape[0] < 3:
        return 0.0
    offsets = path_high_pass(steps, rate)
    return float(np.sqrt(np.mean(np.sum(offsets ** 2, axis=1))))
