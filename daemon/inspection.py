"""The inspection every job gets: its source (a clip, or each shot of a timeline) measured once the
render is done, ``NAME.inspect.json`` and ``NAME.inspect.html`` written beside the job report and
linked from it as ``inspection`` (``[inspect] every_job``; see docs/inspect.md).

An ``auto`` job has inspected its clip already to decide its steps: that inspection is the one
kept, nothing is measured twice (only the speech is added to it). An inspection that fails
leaves the job done, with the reason in ``inspection.error``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from postbay.errors import PostbayError
from postbay.inspect import inspect_clip
from postbay.inspect.files import read_inspection, write_inspection
from postbay.processors.captions import add_speech
from postbay.publish import write_json_atomic
from postbay.timeline.inspect_cut import inspect_timeline

__all__ = ["attach_inspection", "inspect_source"]

log = logging.getLogger("postbay.daemon")


def inspect_source(source: str | Path, kind: str, *, report: dict[str, Any] | None = None,
                   media_roots: tuple[str, ...] | list[str] = (), speech: bool = True,
                   beat: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The inspection of a job's source (``{"clips": [...]}``, a cut's with ``continuity``): a clip
    over the range its ``report`` rendered, or a timeline's shots over the frames the cut uses."""
    if kind == "timeline":
        def shot_beat(_name: str) -> Callable[[int, int], None] | None:
            if beat is not None:
                beat(0, 0)  # each shot's opening (relink, probe, first decode) counts as a beat too
            return beat

        return inspect_timeline(source, media_roots=[Path(r) for r in media_roots], speech=speech,
                                progress=shot_beat)
    span = (report or {}).get("range") or {}
    clip = inspect_clip(source, start=span.get("start", 0), count=span.get("frames"), progress=beat)
    if speech:
        add_speech(clip, source)
    return {"clips": [clip]}


def attach_inspection(report_path: str | Path, source: str | Path, kind: str, *,
                      media_roots: tuple[str, ...] | list[str] = (), speech: bool = True,
                      beat: Callable[[int, int], None] | None = None) -> dict[str, str]:
    """Inspect a finished job's source (unless its ``auto`` recipe did), write the inspection
    beside ``report_path`` and link it from the report; returns the links (or ``{"error"}``)."""
    report_path = Path(report_path)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    kept = report.get("inspection") or {}
    if kept.get("error") or (kept and not speech):
        return dict(kept)
    try:
        if kept:  # an auto clip inspected itself before it rendered: only the listening is left to do
            inspection = read_inspection(kept["json"])
            for clip in inspection["clips"]:
                add_speech(clip, source)
        else:
            inspection = inspect_source(source, kind, report=report, media_roots=media_roots, speech=speech,
                                        beat=beat)
        links = write_inspection(inspection, report_path)
    except (PostbayError, OSError, ValueError) as exc:
        log.warning("%s: the inspection failed: %s", source, exc)
        links = {"error": str(exc)}
    report["inspection"] = links
    write_json_atomic(report_path, report)
    return links
