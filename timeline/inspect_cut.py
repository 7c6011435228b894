"""Inspect a cut: every video clip of a timeline measured over the range the edit uses, and the
colour continuity between adjacent shots, by their names in the edit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from postbay.inspect import Thresholds, inspect_clip
from postbay.inspect.clip import continuity
from postbay.processors.captions import add_speech
from postbay.timeline.conform import media_rates_for
from postbay.timeline.plan import ClipPlan, plan_clips
from postbay.timeline.reader import read_timeline
from postbay.timeline.relink import Relinker

__all__ = ["inspect_timeline"]


def _cut_plans(path: str | Path, *, media_roots: tuple[Path, ...] | list[Path] = (), rate: Any = None
                  ) -> list[ClipPlan]:
    """Read and relink a timeline without rendering anything: every clip's plan, no handles."""
    relinker = Relinker(Path(path), [Path(r) for r in media_roots])
    loaded = read_timeline(path, rate=rate, media_rates=media_rates_for(relinker))
    plans, _ = plan_clips(loaded, relinker, 0)
    return plans


def inspect_timeline(path: str | Path, *, media_roots: tuple[Path, ...] | list[Path] = (), rate: Any = None,
                     thresholds: Thresholds | None = None, speech: bool = True,
                     progress: Callable[[str], Callable[[int, int], None] | None] | None = None) -> dict[str, Any]:
    """Measure each video clip of the timeline at ``path`` (the frames the cut shows) and compare
    adjacent shots' colour (CIEDE2000 of their mean CIELAB, flagged above ``thresholds.continuity``);
    with ``speech``, Whisper listens to each shot that has sound (see :func:`add_speech`).

    Returns ``{"timeline", "clips": [clip reports with "shot" = its name in the edit], "continuity",
    "problems", "missing"}``; ``progress(name)`` may return a per-clip progress callback.
    """
    limits = thresholds or Thresholds()
    plans = _cut_plans(path, media_roots=media_roots, rate=rate)
    reports: list[dict[str, Any]] = []
    missing = [f"{p.key} {p.name!r}: {p.status}" for p in plans if p.status in ("missing", "failed")]
    for plan in plans:
        if plan.status != "planned" or plan.track_label[0] != "V" or plan.relink is None or plan.relink.path is None:
            continue
        name = f"{plan.key} {plan.name}".strip()
        report = inspect_clip(plan.relink.path, start=plan.used[0], count=plan.used[1] - plan.used[0],
                              thresholds=limits, progress=progress(name) if progress else None)
        report["shot"] = name
        if speech:
            add_speech(report, plan.relink.path)
        reports.append(report)
    colours = []
    for report in reports:
        weights = np.array([c["shot"][1] - c["shot"][0] + 1 for c in report["colour"]], np.float64)
        colours.append({"lab_mean": np.average([c["lab_mean"] for c in report["colour"]], axis=0,
                                               weights=weights).round(2).tolist()})
    jumps = continuity(colours, [r["shot"] for r in reports], limits)
    problems = [{"kind": "continuity", "shots": [j["from"], j["to"]], "severity": "medium",
                 "message": f"colour jumps from {j['from']} to {j['to']} (ΔE2000 {j['delta_e']:.1f})"}
                for j in jumps if j["flagged"]]
    problems += [{"kind": "missing media", "shots": [m.split(":")[0]], "severity": "high", "message": m}
                 for m in missing]
    return {"timeline": str(path), "clips": reports, "continuity": jumps, "problems": problems, "missing": missing}
