"""Fixtures for the bridge tests (the helpers live in ``harness``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Bay, make_bay


@pytest.fixture
def bay(tmp_path: Path) -> Iterator[Bay]:
    """The HTTP API in this process on a free loopback port over a fresh ledger; stopped afterwards."""
    b = make_bay(tmp_path)
    yield b
    b.server.stop()
    b.ledger.close()
