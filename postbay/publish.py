"""Publishing: a file appears under its name only once it is whole and, for media, verified.

Everything postbay delivers (finished clips, timeline deliveries, reports, summaries,
caption sidecars) is written under a temporary dot-name in the destination folder, checked,
then renamed into place atomically, so a watcher, an NLE or a person never sees half a file.
Temporary names carry :data:`TEMP_MARK` and the writer's process id, which is how the
daemon's clean-up recognises the leftovers of a process that died.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from postbay.errors import VerifyError
from postbay.verify import Expectation, Verification, verify_output

__all__ = ["TEMP_MARK", "PublishError", "publish_verified", "temp_path", "write_json_atomic", "write_text_atomic"]

#: Marks postbay's temporary files (dot-names, so watchers and NLEs ignore them).
TEMP_MARK = ".postbay-tmp"


class PublishError(VerifyError):
    """A written file failed its verification and was not published; carries the verification."""

    def __init__(self, verification: Verification, path: Path):
        super().__init__("verification failed: " + "; ".join(verification.problems), path=path)
        self.verification = verification


def temp_path(path: Path) -> Path:
    """The dot-name ``path`` is written under before it is published (suffix kept for the muxer)."""
    return path.with_name(f".{path.stem}{TEMP_MARK}-{os.getpid()}{path.suffix}")


def publish_verified(tmp: Path, path: Path, expect: Expectation | None = None) -> Verification | None:
    """Verify the written ``tmp`` against ``expect`` (media), then rename it to ``path`` atomically.

    Returns the verification (None for files with nothing to verify). A file that fails is
    removed and :class:`PublishError` raised naming ``path`` (with the verification, for the
    report), so nothing half-right is ever published.
    """
    try:
        verification = verify_output(tmp, expect) if expect is not None else None
        if verification is not None and not verification.ok:
            raise PublishError(verification, path)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return verification


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file under its temporary name, then rename it into place."""
    tmp = temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    publish_verified(tmp, path)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")
