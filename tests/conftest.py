"""Shared fixtures: real media made with PyAV in temporary folders, and the array backend."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest
from parity import backend_named

from postbay.backend import Backend
from postbay.synth import write_clip

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def clip(tmp_path: Path):
    """Factory: ``clip(name, **write_clip kwargs)`` → path of a fresh synthetic clip."""

    def make(name: str = "clip.mp4", **kwargs):
        return write_clip(tmp_path / name, **kwargs)

    return make


@pytest.fixture(scope="session")
def shared_clip(tmp_path_factory) -> Path:
    """A small 24 fps H.264 clip with audio, made once per session (read-only)."""
    folder = tmp_path_factory.mktemp("shared")
    return write_clip(folder / "shared.mp4", frames=24, rate=Fraction(24), timecode="01:00:00:00")


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn: NumPy, then CuPy (a ``gpu`` test, skipped where CuPy has no CUDA device)."""
    return backend_named(request.param)
