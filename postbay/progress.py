"""The progress bar of the command line and the demo: tqdm on stderr, quiet when it is not a terminal;
beside the count, what the render does now (``denoise 1/7``, ``verifying``: :mod:`postbay.activity`)."""

from __future__ import annotations

import sys
from typing import Any

from postbay.activity import ACTIVITY

__all__ = ["Progress"]


class Progress:
    """A progress bar on stderr (tqdm) that stays quiet when stderr is not a terminal."""

    def __init__(self, label: str, enabled: bool = True):
        self.label = label
        self.enabled = enabled
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.label, unit="f", leave=False, dynamic_ncols=True,
                            disable=not sys.stderr.isatty())
        self.bar.set_postfix_str(ACTIVITY.now() or "", refresh=False)  # shown with the update's own refresh
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
