"""``--json`` on every command: one JSON document on stdout, errors included.

With ``--json`` a command prints exactly one JSON document on stdout (a script reads it whole);
what it would say to a person goes to stderr instead (:func:`human_to_stderr`). An error is a
JSON object too, ``{"error": "...", "path": ..., "hint": ...}``, with a non-zero exit status.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

__all__ = ["error_document", "human_to_stderr", "print_json"]


def print_json(document: Any, *, indent: int | None = 2) -> None:
    """The command's one document, on stdout (flushed: a long-running command's reader waits for
    it; ``indent=None`` puts it on one line, for ``readline``)."""
    print(json.dumps(document, indent=indent, default=str), flush=True)


def error_document(message: str, *, path: str | None = None, hint: str | None = None) -> dict[str, Any]:
    """``{"error": the one-line message, "path": the file it is about, "hint": the fix}``."""
    return {"error": message, "path": path, "hint": hint}


@contextmanager
def human_to_stderr(as_json: bool) -> Iterator[None]:
    """Under ``--json``, what a command prints for a person goes to stderr, leaving stdout to
    the document; otherwise nothing changes."""
    if not as_json:
        yield
        return
    with redirect_stdout(sys.stderr):
        yield
