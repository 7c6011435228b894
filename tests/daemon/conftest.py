"""Fixtures for the daemon tests: a real daemon process factory and real clips."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_harness import DaemonProcess, write_config

from postbay.synth import write_clip


@pytest.fixture
def bay(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Factory: ``bay(folders=[...], workers={...}, extra="toml", env={...})`` → a started daemon
    with its config in ``tmp_path``; drop folders default to ``tmp_path/drop`` → ``tmp_path/out``."""
    made: list[DaemonProcess] = []

    def make(folders: list[dict[str, Any]] | None = None, *, workers: dict[str, Any] | None = None, extra: str = "",
             env: dict[str, str] | None = None, start: bool = True) -> DaemonProcess:
        folders = folders or [{"path": str(tmp_path / "drop"), "recipe": "passthrough",
                               "output": str(tmp_path / "out"), "settle_seconds": 0.5}]
        data = tmp_path / "data"
        config = write_config(tmp_path / "postbay.toml", folders=folders, data_dir=data, workers=workers, extra=extra)
        daemon = DaemonProcess(config, data, env)
        made.append(daemon)
        for f in folders:
            Path(f["path"]).mkdir(parents=True, exist_ok=True)
        return daemon.start() if start else daemon

    yield make
    for d in made:
        d.close()


@pytest.fixture(scope="session")
def tiny_clips(tmp_path_factory) -> Callable[[int], list[Path]]:
    """``tiny_clips(n)`` → n distinct tiny H.264 clips (160×90, 6–10 frames) in a fresh folder."""
    base = tmp_path_factory.mktemp("tiny")
    template = write_clip(base / "template.mp4", frames=8, width=160, height=96, audio=None)
    counter = [0]

    def make(n: int) -> list[Path]:
        counter[0] += 1
        folder = base / f"set{counter[0]}"
        folder.mkdir()
        paths = []
        for i in range(n):
            # one encode, n copies with distinct mtimes: distinct fingerprints, cheap to make
            p = folder / f"clip{i:03d}.mp4"
            shutil.copyfile(template, p)
            os.utime(p, ns=(1_700_000_000_000_000_000 + i * 1_000_000, 1_700_000_000_000_000_000 + i * 1_000_000))
            paths.append(p)
        return paths

    return make


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory) -> Path:
    """A clip that takes a few seconds to finish with passthrough on 2 cores (kill tests)."""
    return write_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=240, width=480, height=272, audio=None)


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("small") / "small.mp4", frames=24, width=320, height=180, audio="tone")
