"""Errors a user can cause. Each names the file (or field) and the cause, in one line."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PostbayError", "MediaError", "RecipeError", "ConfigError", "VerifyError"]


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
