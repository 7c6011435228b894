"""publish_verified: nothing is published unverified, and every temporary name is one the clean-up finds."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from postbay.publish import TEMP_MARK, PublishError, publish_verified, temp_path, write_text_atomic
from postbay.synth import write_clip
from postbay.verify import Expectation


def test_a_file_that_fails_verification_is_never_published(tmp_path: Path) -> None:
    out = tmp_path / "shot.mov"
    tmp = temp_path(out)
    write_clip(tmp, frames=12, width=64, height=36, codec="prores", pix_fmt="yuv422p10le", audio=None)
    with pytest.raises(PublishError, match="verification failed") as caught:
        publish_verified(tmp, out, Expectation(width=64, height=36, rate=Fraction(24), frames=24, audio=False))
    assert not caught.value.verification.ok and not out.exists() and not tmp.exists()
    write_clip(tmp, frames=12, width=64, height=36, codec="prores", pix_fmt="yuv422p10le", audio=None)
    check = publish_verified(tmp, out, Expectation(width=64, height=36, rate=Fraction(24), frames=12, audio=False))
    assert check is not None and check.ok and out.is_file() and not tmp.exists()


def test_temporary_names_are_ones_the_stale_clean_up_finds(tmp_path: Path) -> None:
    summary = tmp_path / "cut.conform.txt"
    assert list(tmp_path.glob(f".*{TEMP_MARK}-*")) == []
    tmp = temp_path(summary)
    assert tmp.parent == tmp_path and tmp.name.startswith(".") and tmp.suffix == ".txt"
    tmp.write_text("half")
    assert list(tmp_path.glob(f".*{TEMP_MARK}-*")) == [tmp]  # the daemon's clean-up pattern
    tmp.unlink()
    write_text_atomic(summary, "whole\n")
    assert summary.read_text() == "whole\n" and sorted(p.name for p in tmp_path.iterdir()) == [summary.name]
