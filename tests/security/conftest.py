"""Fixtures for the attack probes: the API on loopback over a real ledger, with chosen [api] settings."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from bridge.harness import Bay
from PIL import Image

from postbay.bridge.api import ApiServer
from postbay.config import ApiConfig, Config, LimitsConfig, WatchConfig
from postbay.daemon.ledger import Ledger
from postbay.media import MAX_PIXELS, set_pixel_limit


@pytest.fixture
def open_bay(tmp_path: Path) -> Iterator[Callable[..., Bay]]:
    """Factory: ``open_bay(**api_settings)`` → a started API (no token unless given) over a fresh ledger."""
    made: list[Bay] = []

    def make(limits: LimitsConfig | None = None, **api: Any) -> Bay:
        root = tmp_path / f"bay{len(made)}"
        media, hot = root / "media", root / "hot" / "review"
        for folder in (media, hot):
            folder.mkdir(parents=True)
        config = Config(data_dir=root / "data", media_roots=[media],
                        watch=[WatchConfig(path=hot, recipe="review", output=root / "hot-out")],
                        api=ApiConfig(**({"host": "127.0.0.1", "port": 0} | api)), limits=limits or LimitsConfig())
        ledger = Ledger(root / "data" / "ledger.sqlite", progress_interval=0.05)
        bay = Bay(root, media, hot, config, ledger, ApiServer(config, ledger).start(), api.get("token"))
        made.append(bay)
        return bay

    yield make
    for bay in made:
        bay.server.stop()
        bay.ledger.close()
    set_pixel_limit(MAX_PIXELS)  # the API set this process's limit from its config


@pytest.fixture
def pixel_bomb(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``pixel_bomb(name, side, stream_side)`` → a movie of three ``side``² PNG frames that is
    under 100 KB on disk; its stream header claims ``stream_side``² (default: the truth)."""

    def make(name: str = "bomb.mov", side: int = 16000, stream_side: int | None = None) -> Path:
        image = Image.new("1", (side, side), 0)  # 1 bit a pixel: 32 MB here, 1.5 GB once decoded to RGB
        png = io.BytesIO()
        image.save(png, format="PNG")
        path = tmp_path / name
        with av.open(str(path), "w") as out:
            stream = out.add_stream("png", rate=24)
            stream.width = stream.height = stream_side or side
            stream.pix_fmt = "monob"
            for i in range(3):
                packet = av.Packet(png.getvalue())
                packet.stream, packet.pts, packet.dts = stream, i, i
                packet.time_base, packet.is_keyframe = Fraction(1, 24), True
                out.mux(packet)
        return path

    return make
