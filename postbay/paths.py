"""File URLs as edit lists write them: one parser for the conform, the programme, the
watcher and the API."""

from __future__ import annotations

import re
from pathlib import Path, PureWindowsPath
from urllib.parse import unquote, urlparse

__all__ = ["url_to_path"]


def url_to_path(url: str, base: Path) -> tuple[Path | None, str]:
    """(a local path for ``url`` or None, the file name it names) as written in a timeline."""
    if not url:
        return None, ""
    text = url.strip()
    if text.lower().startswith("file:"):
        parsed = urlparse(text)
        local = unquote(parsed.path)
        host = parsed.netloc
        if re.match(r"^/[A-Za-z]:[/\\]", local):  # file:///D:/… from Windows
            return None, PureWindowsPath(local[1:]).name
        if host and host != "localhost":  # file://server/share/… (UNC): not here
            return None, Path(local).name
        return Path(local), Path(local).name
    if re.match(r"^[A-Za-z]:[\\/]", text) or text.startswith("\\\\") or ("\\" in text and "/" not in text):
        return None, PureWindowsPath(text).name
    if "://" in text:
        return None, Path(urlparse(text).path).name
    path = Path(text).expanduser()
    return (path if path.is_absolute() else base / path), path.name
