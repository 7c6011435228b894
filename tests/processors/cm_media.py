"""Test media from natural photographs (scikit-image's bundled data): known clean versions."""

from __future__ import annotations

import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) ships the test photographs")

__all__ = ["photo", "pan_clip"]


def photo(name: str = "astronaut") -> np.ndarray:
    """A bundled photograph as float32 display RGB in [0, 1]."""
    img = getattr(skimage_data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return (img[..., :3] / 255.0).astype(np.float32)


def pan_clip(frames: int, width: int, height: int, speed: float, name: str = "astronaut",
             start: float = 0.0) -> list[np.ndarray]:
    """A horizontal pan across a photograph at ``speed`` pixels per frame (sub-pixel, bilinear)."""
    import scipy.ndimage as ndi

    img = photo(name)
    scale = height / img.shape[0] * 1.0
    big = np.stack([ndi.zoom(img[..., c], scale, order=3) for c in range(3)], axis=-1)
    out = []
    for i in range(frames):
        x0 = start + i * speed
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        coords = [ys, xs + x0]
        f = np.stack([ndi.map_coordinates(big[..., c], coords, order=3, mode="reflect") for c in range(3)], -1)
        out.append(np.clip(f, 0, 1).astype(np.float32))
    return out
