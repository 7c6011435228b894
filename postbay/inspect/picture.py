"""Still-picture measures on luma: noise, blocking, sharpness, halos, effective resolution, colour.

Each function takes one frame's luma as a float32 (H, W) array in [0, 1] (or RGB for the colour
measures) and returns plain numbers, so ``postbay inspect`` can run them on the frames it
samples and tests can check them against pictures with known defects.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from postbay.colour import D65_XYZ, REC709_TO_XYZ

__all__ = ["MAD_TO_SIGMA", "blockiness", "ciede2000", "effective_resolution", "halo", "lab", "noise_sigma", "sharpness"]

#: MAD → standard deviation of a Gaussian.
MAD_TO_SIGMA = 1.4826


#: Side of the blocks the picture's texture is judged in, and the share of them (the flattest in
#: fine horizontal and vertical detail, clipping left out) σ is read on.
_BLOCK = 8
_FLAT_SHARE = 0.1


def noise_sigma(y: np.ndarray) -> float:
    """Standard deviation of white noise on luma (0–1 scale), robust to picture texture.

    The picture is split into 2×2 Haar bands. The finest diagonal detail (HH) of a natural
    picture holds little but noise; where it has edges and fine texture (fur, foliage, grain in
    the picture itself) it holds those too, and they show in the horizontal and vertical detail
    (HL, LH) beside it. So σ is read from HH only in the tenth of the picture's 8×8 blocks whose
    HL and LH energy is lowest: white noise in HL and LH is independent of that in HH, so
    choosing by them does not bias the reading. Blocks within 3σ of the picture's lowest or
    highest level are left out (noise clipped at black or white reads low), which takes a
    second look once a first reading gives σ. Donoho's median estimate (median |HH| × 1.4826)
    sets a 3σ trim, and σ is the RMS of the HH values inside it (corrected for the trim): the
    median alone moves in steps of the 8-bit code values, the trimmed RMS does not.
    """
    rows, cols = y.shape[0] // _BLOCK, y.shape[1] // _BLOCK
    cells = y[:rows * _BLOCK, :cols * _BLOCK].reshape(rows, _BLOCK // 2, 2, cols, _BLOCK // 2, 2)
    a, b, c, d = cells[:, :, 0, :, :, 0], cells[:, :, 0, :, :, 1], cells[:, :, 1, :, :, 0], cells[:, :, 1, :, :, 1]
    top, bottom = a - b, c - d
    diagonal = np.abs(top - bottom).transpose(0, 2, 1, 3).reshape(rows * cols, -1) * 0.5
    across, along = top + bottom, (a + b) - (c + d)
    energy = (across * across + along * along).sum(axis=(1, 3)).ravel()
    level = cells.mean(axis=(1, 2, 4, 5)).ravel()
    low, high = float(level.min()), float(level.max())
    sigma = 0.0
    for margin in (0.01, 0.0):
        if not margin:
            if 3 * sigma <= 0.01:
                break
            margin = 3 * sigma
        unclipped = np.nonzero((level > low + margin) & (level < high - margin))[0]
        if unclipped.size < 0.05 * level.size:  # a picture that is all near one level: read it all
            unclipped = np.arange(level.size)
        share = int(_FLAT_SHARE * (unclipped.size - 1))
        flat = unclipped[np.argpartition(energy[unclipped], share)[:share + 1]]
        sigma = _trimmed_rms(diagonal[flat].ravel())
    return sigma


def _trimmed_rms(detail: np.ndarray) -> float:
    """σ of Gaussian |values| with outliers (edges, texture left) trimmed at 3σ (see :func:`noise_sigma`)."""
    if not detail.size:
        return 0.0
    rough = MAD_TO_SIGMA * float(np.median(detail))
    trim = max(3.0 * rough, 2.0 / 255.0)
    kept = detail[detail <= trim]
    # a Gaussian trimmed at 3σ keeps 97.3 % of its variance
    correction = 0.9733 if trim == 3.0 * rough else 1.0
    return float(np.sqrt(np.mean(kept.astype(np.float64) ** 2) / correction)) if kept.size else 0.0


def blockiness(y: np.ndarray, block: int = 8) -> float:
    """Excess of the luma step across 8×8 block boundaries over the steps inside blocks (0: none).

    An over-quantised DCT codec leaves a grid whose edges step more than the picture around
    them; a clean picture scores about 0, visible blocking 0.3 and up.
    """
    dx = np.abs(np.diff(y, axis=1))
    dy = np.abs(np.diff(y, axis=0))
    on_x = (np.arange(dx.shape[1]) % block) == block - 1
    on_y = (np.arange(dy.shape[0]) % block) == block - 1
    at = (dx[:, on_x].sum() + dy[on_y].sum()) / max(1, dx[:, on_x].size + dy[on_y].size)
    off = (dx[:, ~on_x].sum() + dy[~on_y].sum()) / max(1, dx[:, ~on_x].size + dy[~on_y].size)
    return float(max(0.0, at / max(off, 1e-9) - 1.0))


def sharpness(y: np.ndarray) -> float:
    """Share of the picture's detail energy in the finest octave (0 soft … about 0.5 crisp).

    Energy of the difference of Gaussians σ 0.5–1 (the finest detail) over that of σ 0.5–2
    (fine and medium detail): independent of contrast and exposure, it falls as a picture is
    blurred or upscaled and rises with sharpening.
    """
    g05 = ndimage.gaussian_filter(y, 0.5)
    g1 = ndimage.gaussian_filter(y, 1.0)
    g2 = ndimage.gaussian_filter(y, 2.0)
    fine = float(np.mean((g05 - g1) ** 2))
    broad = float(np.mean((g05 - g2) ** 2))
    return fine / broad if broad > 1e-12 else 0.0


def halo(y: np.ndarray, noise: float = 0.0) -> float:
    """Over-sharpening outlines: overshoot beyond an edge's own levels, as a share of the edge's step.

    Near strong edges the picture is compared with the range a blurred copy spans around it
    (a blur never overshoots): sharpening rings past that range on both sides of the edge.
    The overshoot is averaged over the 5 % steepest edge pixels and divided by their step;
    ``noise`` (σ) is allowed for first. A clean or softly filtered picture scores under 0.03,
    an unsharp mask of amount 1 or more about 0.1 and up.
    """
    blurred = ndimage.gaussian_filter(y, 2.0, truncate=2.5)
    gy, gx = np.gradient(blurred)
    near = ndimage.maximum_filter(np.hypot(gx, gy), 7)
    edges = near >= np.partition(near.ravel(), int(0.95 * near.size))[int(0.95 * near.size)]
    # the blur's range and the overshoot are needed at the edge pixels only (a twentieth of them)
    hi = ndimage.maximum_filter(blurred, 7)[edges]
    lo = ndimage.minimum_filter(blurred, 7)[edges]
    step = float(np.mean(hi - lo))
    if step < 0.02:
        return 0.0
    at = y[edges]
    over = np.maximum(np.maximum(at - hi, 0.0) + np.maximum(lo - at, 0.0) - 2.0 * noise, 0.0)
    return float(np.mean(over) / step)


def _gradient_spectrum(y: np.ndarray, axis: int) -> np.ndarray:
    lines = np.moveaxis(y, axis, -1)
    n = lines.shape[-1]
    lines = (lines - lines.mean(axis=-1, keepdims=True)) * np.hanning(n).astype(np.float32)
    power = np.mean(np.abs(np.fft.rfft(lines, axis=-1)) ** 2, axis=tuple(range(lines.ndim - 1)))
    f = np.fft.rfftfreq(n)
    return np.asarray(power * f ** 2, np.float64)


def effective_resolution(y: np.ndarray, floor: float = 0.1) -> float:
    """The fraction of its pixel size the picture really resolves (1.0: full; 0.5: upscaled 2×).

    A natural picture's gradient spectrum (power × f²) is roughly flat up to the Nyquist
    frequency; a picture upscaled from a smaller one has none above the smaller one's Nyquist.
    The answer is the frequency, over both axes, at which the smoothed gradient spectrum first
    falls under ``floor`` of its level around a quarter of Nyquist, as a fraction of Nyquist (an
    encoder's dither leaves a spike at Nyquist itself, which the first fall is not fooled by).
    """
    fractions = []
    for axis in (0, 1):
        g = ndimage.uniform_filter1d(_gradient_spectrum(y, axis), 5)
        n = g.size
        lo, hi = int(0.15 * n), int(0.35 * n)
        reference = float(np.median(g[lo:hi]))
        if reference <= 0:
            continue
        below = np.nonzero(g[hi:] < floor * reference)[0]
        fractions.append((hi + below[0]) / n if below.size else 1.0)
    return float(max(fractions)) if fractions else 1.0


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of display-encoded Rec.709/sRGB pixels (..., 3) in [0, 1].

    The sRGB transfer curve is used to reach light: the one CIELAB references and image tools
    (and a colourist's scopes) agree on for ΔE figures.
    """
    c = np.clip(np.asarray(rgb, np.float64), 0.0, 1.0)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ REC709_TO_XYZ.T / D65_XYZ
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB colours (..., 3) (Sharma, Wu and Dalal's formulation)."""
    L1, a1, b1 = np.moveaxis(np.asarray(lab1, np.float64), -1, 0)
    L2, a2, b2 = np.moveaxis(np.asarray(lab2, np.float64), -1, 0)
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = L2 - L1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    l_bar = (L1 + L2) / 2
    cp_bar = (c1p + c2p) / 2
    h_sum = h1p + h2p
    hp_bar = np.where(c1p * c2p == 0, h_sum,
                      np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                               np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(hp_bar - 30)) + 0.24 * np.cos(np.radians(2 * hp_bar))
         + 0.32 * np.cos(np.radians(3 * hp_bar + 6)) - 0.20 * np.cos(np.radians(4 * hp_bar - 63)))
    d_theta = 30 * np.exp(-(((hp_bar - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cp_bar ** 7 / (cp_bar ** 7 + 25.0 ** 7))
    sl = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    sc = 1 + 0.045 * cp_bar
    sh = 1 + 0.015 * cp_bar * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.asarray(np.sqrt((dl / sl) ** 2 + (dc / sc) ** 2 + (dH / sh) ** 2 + rt * (dc / sc) * (dH / sh)))
