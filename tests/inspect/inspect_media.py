"""Clips with known defects for the inspect tests: natural photographs panned by a camera, then
given exactly the flaw a test measures (noise of a known σ, repeated or missing frames, jitter
of a known size, flicker, boiling texture, halos, upscaling, cuts), encoded with real codecs."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "processors"))

from media import RATE, compress, flicker, pan, photo, psnr

from postbay.synth import write_clip

__all__ = ["RATE", "Camera", "boil", "compress", "encode", "film", "flicker", "grey_noise", "jittered_pan", "pan",
           "photo", "psnr", "sharpen", "shaky_camera", "upscaled"]


def encode(path: Path, frames: list[np.ndarray], lossless: bool = True, **kwargs) -> Path:
    """Encode float RGB frames to H.264 (lossless by default: the measures see exactly the frames)."""
    h, w = frames[0].shape[:2]
    options = {"crf": "0"} if lossless else None
    return write_clip(path, frames=len(frames), width=w, height=h, pattern=lambda i, _w, _h: frames[i],
                      options=options, **kwargs)


def grey_noise(frames: list[np.ndarray], sigma: float, seed: int = 1) -> list[np.ndarray]:
    """White Gaussian noise of ``sigma`` on luma (the same in R, G and B, so luma carries exactly σ)."""
    rng = np.random.default_rng(seed)
    return [(f + rng.normal(0.0, sigma, f.shape[:2])[..., None]).astype(np.float32) for f in frames]


def jittered_pan(image: np.ndarray, frames: int, width: int, height: int, jitter: float,
                 velocity: tuple[float, float] = (0.3, 1.2), seed: int = 2) -> tuple[list[np.ndarray], np.ndarray]:
    """A pan with random camera shake: per-frame offsets of RMS ``jitter`` pixels (2-D) on a smooth path.

    Returns the frames and the offsets (n, 2) that were added.
    """
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0.0, jitter / np.sqrt(2), (frames, 2))
    out = []
    for i in range(frames):
        y0 = 40 + velocity[0] * i + offsets[i, 0]
        x0 = 40 + velocity[1] * i + offsets[i, 1]
        iy, ix = int(np.floor(y0)), int(np.floor(x0))
        crop = image[iy:iy + height + 4, ix:ix + width + 4]
        moved = scipy.ndimage.shift(crop, (iy - y0, ix - x0, 0), order=3, mode="nearest")
        out.append(np.clip(moved[:height, :width], 0, 1).astype(np.float32))
    return out, offsets


@dataclass(frozen=True)
class Camera:
    """A camera's poses over a photograph, one per frame: where the frame's centre looks (pixels of
    the photograph, (n,) complex x + iy), its roll (radians, clockwise as seen) and its zoom
    (magnification, 1: one photograph pixel per frame pixel)."""

    centre: np.ndarray
    roll: np.ndarray
    zoom: np.ndarray

    def zoomed(self, factor: float) -> Camera:
        return Camera(self.centre, self.roll, self.zoom * factor)


def film(image: np.ndarray, camera: Camera, width: int, height: int) -> list[np.ndarray]:
    """The frames ``camera`` sees of ``image`` (cubic resampling, as a sensor integrates)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    here = (xs - (width - 1) / 2) + 1j * (ys - (height - 1) / 2)
    out = []
    for c, roll, zoom in zip(camera.centre, camera.roll, camera.zoom, strict=True):
        seen = c + np.exp(1j * roll) * here / zoom
        coords = [seen.imag, seen.real]
        out.append(np.clip(np.stack([scipy.ndimage.map_coordinates(image[..., k], coords, order=3, mode="reflect")
                                     for k in range(3)], axis=-1), 0, 1).astype(np.float32))
    return out


def shaky_camera(frames: int, start: tuple[float, float], velocity: tuple[float, float] = (0.3, 1.2),
                 roll: float = 0.0, push: float = 0.0, shake: float = 3.0, shake_roll: float = 0.0,
                 shake_zoom: float = 0.0, seed: int = 2) -> tuple[Camera, Camera]:
    """A steady move (pan of ``velocity`` (dy, dx) pixels, ``roll`` degrees and ``push`` (log zoom)
    per frame, from ``start`` (y, x)) and the same move shaken: random offsets of RMS ``shake``
    pixels (2-D), ``shake_roll`` degrees and ``shake_zoom`` (log zoom) per frame.

    Returns the smooth camera and the shaky one.
    """
    rng = np.random.default_rng(seed)
    i = np.arange(frames, dtype=np.float64)
    smooth = Camera(start[1] + velocity[1] * i + 1j * (start[0] + velocity[0] * i),
                    np.radians(roll) * i, np.exp(push * i))
    offsets = rng.normal(0.0, shake / np.sqrt(2), (frames, 2))
    shaky = Camera(smooth.centre + offsets[:, 1] + 1j * offsets[:, 0],
                   smooth.roll + np.radians(shake_roll) * rng.normal(size=frames),
                   smooth.zoom * np.exp(shake_zoom * rng.normal(size=frames)))
    return smooth, shaky


def boil(frames: list[np.ndarray], amplitude: float, seed: int = 4) -> list[np.ndarray]:
    """AI texture "boiling": fine detail (blobs of about 2 px) that changes every frame where the
    picture itself stands still, of RMS ``amplitude`` on luma."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        blobs = scipy.ndimage.gaussian_filter(rng.normal(size=f.shape[:2]), 1.0)
        blobs *= amplitude / blobs.std()
        out.append((f + blobs[..., None]).astype(np.float32))
    return out


def sharpen(frames: list[np.ndarray], amount: float = 1.5, radius: float = 1.5) -> list[np.ndarray]:
    """An unsharp mask, as over-eager AI upscalers and "enhance" filters apply it (halos)."""
    return [np.clip(f + amount * (f - scipy.ndimage.gaussian_filter(f, (radius, radius, 0))), 0, 1)
            .astype(np.float32) for f in frames]


def upscaled(frames: list[np.ndarray], factor: int = 2) -> list[np.ndarray]:
    """Frames shrunk by ``factor`` (area) and enlarged back (cubic): a low-resolution render upscaled."""
    out = []
    for f in frames:
        h, w = f.shape[:2]
        small = f[:h // factor * factor, :w // factor * factor].reshape(h // factor, factor, w // factor, factor, 3)
        small = small.mean(axis=(1, 3))
        out.append(np.clip(scipy.ndimage.zoom(small, (factor, factor, 1), order=3), 0, 1).astype(np.float32))
    return out
