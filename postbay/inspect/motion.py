"""Frame-to-frame measures on small luma pictures: global motion (translation, rotation, scale),
its jitter, and texture shimmer.

``postbay inspect`` shrinks every frame to an analysis picture about 320 pixels wide; these
functions work on those, so a 1080p clip costs little more than its decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from postbay.inspect.picture import MAD_TO_SIGMA, noise_sigma

__all__ = ["MotionTracker", "Step", "jitter", "path_high_pass", "rms_radius"]


def _texture_share_of_noise() -> float:
    field = np.random.default_rng(0).normal(size=(256, 256))
    band = ndimage.gaussian_filter(field, 0.8) - ndimage.gaussian_filter(field, 2.5)
    return float(band[16:-16, 16:-16].var())


#: Spread (cycles per pixel) of the Gaussian taper on the phase-correlation spectrum.
_TAPER = 0.12

#: Share of white noise's variance that :func:`_texture` passes.
_NOISE_IN_TEXTURE = _texture_share_of_noise()

#: Side of the tiles whose own moves give rotation and scale, and their grid (rows, columns).
_TILE = 64
_TILE_GRID = (3, 4)
#: A tile's move counts when its peak stands this many times above any rival (flat sky does not).
_TILE_CONFIDENCE = 2.0
#: Tiles needed for a rotation and scale fit (a similarity has four unknowns; the rest outvote outliers).
_TILES_NEEDED = 5


@dataclass(frozen=True)
class Step:
    """What changed from the previous analysis picture to this one."""

    dy: float  #: global motion, analysis pixels (content moved down by dy)
    dx: float  #: global motion, analysis pixels (content moved right by dx)
    confidence: float  #: the peak over the next-highest one away from it: about 1 when the motion is ambiguous
    difference: float  #: mean absolute luma difference, no compensation
    shimmer: float | None  #: RMS change of fine texture in still regions after compensation (noise allowed for)
    rotation: float = 0.0  #: roll about the picture's centre, radians (from +x towards +y: clockwise as seen)
    zoom: float = 0.0  #: log of the scale change about the centre (0.01: content 1 % larger)

    def similarity(self) -> tuple[complex, complex]:
        """The move as ``(m, t)``: a point at ``z = x + iy`` (analysis pixels from the picture's
        centre) in the previous picture is at ``m z + t`` in this one."""
        return complex(np.exp(complex(self.zoom, self.rotation))), complex(self.dx, self.dy)


class MotionTracker:
    """Fed analysis pictures in order, measures each one against the one before.

    Global motion is phase correlation (a Hann window), its whitened spectrum tapered by a
    Gaussian so that the finest frequencies, where resampling and noise scramble the phase,
    count less; the tapered peak is a Gaussian, so a Gaussian through three samples finds it
    to a few hundredths of a pixel. Rotation and scale (``similarity=True``): a grid of 12 tiles
    of 64 pixels, each matched the same way against the previous picture moved by the global
    motion, gives 12 local moves; a similarity (translation, rotation, scale about the centre)
    is fitted to them by least squares, twice more without the tiles it does not explain (an
    object moving on its own, a repeating pattern), so the far tiles' lever arm reads a roll of
    a hundredth of a degree. Shimmer compares the fine texture (the picture less its 3×3 mean) of this picture
    with the previous one moved by the measured motion (a Fourier shift, so sub-pixel moves
    leave no interpolation blur), in the regions whose coarse picture matches (the parts that
    do not move on their own); the change that noise alone would make is taken off.
    """

    def __init__(self) -> None:
        self._previous: tuple[np.ndarray, np.ndarray] | None = None
        self._window = self._taper = np.zeros((0, 0), np.float32)
        tile = np.hanning(_TILE)
        self._tile_window = np.outer(tile, tile).astype(np.float32)
        self._tile_taper = _taper((_TILE, _TILE))

    def reset(self) -> None:
        """Forget the previous picture (at a cut)."""
        self._previous = None

    def __call__(self, small: np.ndarray, shimmer: bool = True, similarity: bool = False) -> Step | None:
        """Measure ``small`` against the previous picture (None for the first after a reset);
        ``shimmer=False`` leaves the costlier shimmer out, ``similarity=True`` adds rotation and scale."""
        if self._window.shape != small.shape:
            self._window = np.outer(np.hanning(small.shape[0]), np.hanning(small.shape[1])).astype(np.float32)
            self._taper = _taper(small.shape)
            self._previous = None
        spectrum = scipy.fft.rfft2((small - small.mean()) * self._window)
        previous = self._previous
        self._previous = (small, spectrum)
        if previous is None:
            return None
        before, before_spectrum = previous
        (dy,), (dx,), (confidence,) = _phase_peaks(spectrum[None], before_spectrum[None], self._taper, small.shape)
        difference = float(np.mean(np.abs(small - before)))
        rotation = zoom = 0.0
        if similarity:
            fit = self._similarity(small, before, dy, dx)
            if fit is not None:
                (m, t), sure = fit
                rotation, zoom = float(np.angle(m)), float(np.log(abs(m)))
                dy, dx = t.imag, t.real
                # a roll or a zoom blurs the whole picture's peak, not the tiles' that agree on it
                confidence = max(confidence, sure)
        return Step(float(dy), float(dx), float(confidence), difference,
                    _shimmer(small, before, dy, dx) if shimmer else None, rotation, zoom)

    def _similarity(self, small: np.ndarray, before: np.ndarray, dy: float,
                    dx: float) -> tuple[tuple[complex, complex], float] | None:
        """The similarity ``(m, t)`` (see :meth:`Step.similarity`) the tiles' own moves agree on and
        the median confidence of those tiles; None where the picture is too small, the move too
        large, or fewer than half the tiles are sure and agree (no one camera move)."""
        h, w = small.shape
        gy, gx = int(round(dy)), int(round(dx))
        top, bottom = max(0, gy), min(h, h + gy) - _TILE
        left, right = max(0, gx), min(w, w + gx) - _TILE
        if bottom - top < _TILE // 2 or right - left < _TILE:
            return None
        tops = np.linspace(top, bottom, _TILE_GRID[0]).round().astype(int)
        lefts = np.linspace(left, right, _TILE_GRID[1]).round().astype(int)
        corners = (tops[:, None], lefts[None, :])
        now = sliding_window_view(small, (_TILE, _TILE))[corners].reshape(-1, _TILE, _TILE)
        then = sliding_window_view(before, (_TILE, _TILE))[corners[0] - gy, corners[1] - gx].reshape(-1, _TILE, _TILE)
        spectra = [scipy.fft.rfft2((t - t.mean(axis=(1, 2), keepdims=True)) * self._tile_window, axes=(1, 2))
                   for t in (now, then)]
        ry, rx, confidence = _phase_peaks(spectra[0], spectra[1], self._tile_taper, (_TILE, _TILE))
        centre = complex((w - 1) / 2, (h - 1) / 2)
        here = (lefts[None, :] + (_TILE - 1) / 2 + 1j * (tops[:, None] + (_TILE - 1) / 2)).ravel() - centre
        there = here - (gx + rx) - 1j * (gy + ry)
        sure = confidence >= _TILE_CONFIDENCE
        fit = _fit_similarity(there[sure], here[sure])
        if fit is None or fit[1].sum() < here.size / 2:
            return None
        return fit[0], float(np.median(confidence[sure][fit[1]]))


def _taper(shape: tuple[int, ...]) -> np.ndarray:
    """The Gaussian taper of a whitened rfft2 spectrum of ``shape`` (see :class:`MotionTracker`)."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    return np.exp(-(fy ** 2 + fx ** 2) / (2 * _TAPER ** 2)).astype(np.float32)


def _phase_peaks(spectrum: np.ndarray, before: np.ndarray, taper: np.ndarray,
                 shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phase correlation of a stack of (k, …) rfft2 spectra against the previous ones: each
    picture's move ``dy``, ``dx`` (pixels, sub-pixel) and its peak's confidence (peak over the
    highest rival away from it: about 1 when the move is ambiguous), as (k,) arrays."""
    cross = spectrum * np.conj(before)
    surface = scipy.fft.irfft2(cross / np.maximum(np.abs(cross), np.float32(1e-12)) * taper, s=shape, axes=(-2, -1))
    k = surface.shape[0]
    h, w = shape
    stack = np.arange(k)
    py, px = np.unravel_index(surface.reshape(k, -1).argmax(axis=1), shape)
    peak = surface[stack, py, px]
    # one camera move makes one peak; layers moving apart (or no texture) make rivals
    rival = surface.copy()
    near = np.arange(-3, 4)
    around_y, around_x = (py[:, None] + near) % h, (px[:, None] + near) % w
    rival[stack[:, None, None], around_y[:, :, None], around_x[:, None, :]] = -np.inf
    confidence = peak / np.maximum(rival.reshape(k, -1).max(axis=1), 1e-9)
    dy = py + _gaussian_peak(surface[stack, (py - 1) % h, px], peak, surface[stack, (py + 1) % h, px])
    dx = px + _gaussian_peak(surface[stack, py, (px - 1) % w], peak, surface[stack, py, (px + 1) % w])
    return np.where(dy > h / 2, dy - h, dy), np.where(dx > w / 2, dx - w, dx), confidence


def _fit_similarity(before: np.ndarray, after: np.ndarray) -> tuple[tuple[complex, complex], np.ndarray] | None:
    """The similarity ``after ≈ m before + t`` (complex points) by least squares, refitted twice
    without the points it leaves more than three robust spreads (and a quarter pixel) out; with
    the points it keeps."""
    kept = np.ones(before.size, bool)
    for _ in range(3):
        if kept.sum() < _TILES_NEEDED:
            return None
        b, a = before[kept], after[kept]
        b_mean, a_mean = b.mean(), a.mean()
        spread = float(np.sum(np.abs(b - b_mean) ** 2))
        if spread <= 0:
            return None
        m = complex(np.sum((a - a_mean) * np.conj(b - b_mean)) / spread)
        t = complex(a_mean - m * b_mean)
        miss = np.abs(after - (m * before + t))
        kept = miss <= max(3 * MAD_TO_SIGMA * float(np.median(miss[kept])), 0.25)
    return (m, t), kept


def _gaussian_peak(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Offset of a Gaussian's top from its highest sample (exact for the tapered surface's peak);
    a parabola where a sample is not positive."""
    positive = np.minimum(np.minimum(left, centre), right) > 0
    tiny = np.finfo(np.float64).tiny
    a, b, c = (np.where(positive, np.log(np.maximum(v, tiny)), v) for v in (left, centre, right))
    denominator = a - 2 * b + c
    safe = np.abs(denominator) > 1e-12
    return np.where(safe, 0.5 * (a - c) / np.where(safe, denominator, 1.0), 0.0)


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


def rms_radius(height: float, width: float) -> float:
    """RMS distance of a picture's pixels from its centre: a roll of θ radians (or a zoom of
    log-scale θ) moves them by θ times this, RMS."""
    return float(np.sqrt((height ** 2 + width ** 2) / 12))


def path_high_pass(steps: np.ndarray, rate: float) -> np.ndarray:
    """The jitter of a camera path: (n, k) per-frame moves in, (n + 1, k) high-frequency offsets out.

    The path (the running sum of the moves: dy and dx, and rotation and zoom where given) less its
    straight-line trend is smoothed by a Gaussian of an eighth of a second (σ: 3 frames at
    24 fps); what the smoothing takes away (above about 1.3 Hz) is the shake, what stays (a pan,
    a slow curve, a push in or a roll) is the intended move.
    """
    path = np.concatenate([np.zeros((1, steps.shape[1])), np.cumsum(steps, axis=0)])
    n = path.shape[0]
    t = np.arange(n, dtype=np.float64)
    trend = np.zeros_like(path)
    if n >= 2:
        for axis in range(path.shape[1]):
            trend[:, axis] = np.polyval(np.polyfit(t, path[:, axis], 1), t)
    residual = path - trend
    return np.asarray(residual - ndimage.gaussian_filter1d(residual, max(1.0, rate / 8), axis=0, mode="reflect"))


def jitter(steps: np.ndarray, rate: float, radius: float = 0.0) -> float:
    """RMS camera shake of (n, 2) moves (dy, dx) or (n, 4) (dy, dx, rotation, zoom): the RMS over
    the frames of :func:`path_high_pass`, rotation and zoom counted as the RMS move they give the
    pixels of a picture of :func:`rms_radius` ``radius`` (same units as ``steps``)."""
    if steps.shape[0] < 3:
        return 0.0
    offsets = path_high_pass(steps, rate)
    offsets[:, 2:] *= radius
    return float(np.sqrt(np.mean(np.sum(offsets ** 2, axis=1))))
