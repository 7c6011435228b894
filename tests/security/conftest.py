"""Fixtures for the attack probes: the API on loopback over a real ledger, with chosen [api] settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge.harness import Bay
from postbay.bridge.api import ApiServer
from postbay.daemon.ledger import Ledger

from postbay.config import ApiConfig, Config, WatchConfig


@pytest.fixture
def open_bay(tmp_path: Path) -> Iterator[Callable[..., Bay]]:
    """Factory: ``open_bay(**api_settings)`` → a started API (no token unless given) over a fresh ledger."""
    made: list[Bay] = []

    def make(**api: Any) -> Bay:
        root = tmp_path / f"bay{len(made)}"
        media, hot = root / "media", root / "hot" / "review"
        for folder in (media, hot):
            folder.mkdir(parents=True)
        config = Config(data_dir=root / "data", media_roots=[media],
                        watch=[WatchConfig(path=hot, recipe="review", output=root / "hot-out")],
                        api=ApiConfig(**({"host": "127.0.0.1", "port": 0} | api)))
        ledger = Ledger(root / "data" / "ledger.sqlite", progress_interval=0.05)
        bay = Bay(root, media, hot, config, ledger, ApiServer(config, ledger).start(), api.get("token"))
        made.append(bay)
        return bay

    yield make
    for bay in made:
        bay.server.stop()
        bay.ledger.close()
