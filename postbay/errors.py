"""Errors a user can cause. Each names the file (or field) and the cause, in one line."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PostbayError", "MediaError", "RecipeError", "ConfigError", "VerifyError", "did_you_mean",
           "plain_message"]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'finish'? "`` for a near miss among ``known``, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def plain_message(msg: str) -> str:
    """A pydantic message without its ``Value error, `` / ``Assertion failed, `` prefix."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


class PostbayError(Exception):
    """Base of every error postbay reports to a user.

    ``path`` is the file the error is about; ``hint`` says how to fix it.
    ``str(err)`` is the one-line message the CLI prints.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class MediaError(PostbayError):
    """A media file cannot be read or written: corrupt, truncated, not media, no video."""


class RecipeError(PostbayError):
    """A recipe is unknown or invalid."""


class ConfigError(PostbayError):
    """A configuration file or value is invalid."""


class VerifyError(PostbayError):
    """A rendered output does not match what the recipe promised; nothing was published."""
