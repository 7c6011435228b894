"""A job's inspection on disk: ``NAME.inspect.json`` (the measures) and ``NAME.inspect.html`` (the
self-contained report) beside the job's ``NAME.report.json`` (or a cut's ``NAME.conform.json``).

The JSON holds ``{"clips": [clip reports]}`` as :func:`postbay.inspect.inspect_clip` returns them,
thumbnails included (the contact sheet of a review picks its frames from them), and for a cut
``timeline``, ``continuity`` and ``problems`` as :func:`postbay.timeline.inspect_cut.inspect_timeline`
returns them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from postbay.errors import PostbayError
from postbay.inspect.html import write_html
from postbay.publish import write_json_atomic

__all__ = ["inspection_paths", "read_inspection", "write_inspection"]

_REPORT_SUFFIXES = (".report.json", ".conform.json", ".json")


def inspection_paths(report_path: str | Path) -> tuple[Path, Path]:
    """(``NAME.inspect.json``, ``NAME.inspect.html``) beside the job report ``report_path``."""
    report_path = Path(report_path)
    name = report_path.name
    stem = next((name[: -len(s)] for s in _REPORT_SUFFIXES if name.endswith(s)), report_path.stem)
    return report_path.with_name(f"{stem}.inspect.json"), report_path.with_name(f"{stem}.inspect.html")


def write_inspection(inspection: dict[str, Any], report_path: str | Path) -> dict[str, str]:
    """Write ``inspection`` (``{"clips": [...]}``, plus a cut's ``continuity``) as JSON and as the
    HTML report beside ``report_path``; returns the links the job report keeps, ``{"json", "html"}``."""
    json_path, html_path = inspection_paths(report_path)
    write_json_atomic(json_path, inspection)
    write_html(inspection["clips"], html_path, continuity=inspection.get("continuity") if "timeline" in inspection
               else None)
    return {"json": str(json_path), "html": str(html_path)}


def read_inspection(path: str | Path) -> dict[str, Any]:
    """An inspection written by :func:`write_inspection`; a clear error when it cannot be read."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PostbayError(f"cannot read the inspection: {exc}", path=path,
                           hint="inspect the clip again (postbay inspect CLIP --json)") from None
    if not isinstance(data, dict) or not isinstance(data.get("clips"), list):
        raise PostbayError("not an inspection (no \"clips\" list)", path=path)
    return data
