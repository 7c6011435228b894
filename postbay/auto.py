"""The ``auto`` recipe: inspect the clip first, then run only the steps it needs, as hard as it needs.

A recipe with an ``[auto]`` table is resolved per clip before it renders: ``postbay inspect``
measures the rendered range, and the steps its measures call for (denoise by the measured
noise σ, deblock by blockiness, deflicker where flicker is flagged, retime repair where frames
repeat or go missing, stabilise where the camera shakes, upscale when the clip is smaller than
the delivery, soften on halos, loudness when the sound is off its target) go first, then the
recipe's own ``[[steps]]`` (grain and a grade, say), then its output. A clip with nothing wrong
gets no processing step at all. The job report keeps what was measured and why each step ran
or did not.

```toml
name = "auto"
[auto]
height = 1080      # delivery lines: upscale only a clip that has fewer (omit to keep the size)
loudness = -14.0   # LUFS: normalise only sound that is off it by more than 1 LU (omit to leave it)
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from postbay.inspect import Thresholds, inspect_clip
from postbay.recipe import AutoOptions, Recipe, Step
from postbay.registry import Registry

__all__ = ["AutoPlan", "resolve_auto"]


@dataclass(frozen=True)
class AutoPlan:
    """What ``auto`` made of a clip: the concrete recipe, the report's ``auto`` section, and the
    inspection it was decided on (for the HTML report beside the job's)."""

    recipe: Recipe
    summary: dict[str, Any]
    inspection: dict[str, Any]


def resolve_auto(recipe: Recipe, source: str | Path, registry: Registry, *, start: int = 0,
                 count: int | None = None, thresholds: Thresholds | None = None) -> AutoPlan:
    """The concrete recipe ``recipe`` (which has ``auto`` options) makes for this clip, with the
    report's ``auto`` section: the measures, the problems, each step run and each left out, with
    its reason."""
    options = recipe.auto or AutoOptions()
    report = inspect_clip(source, start=start, count=count, thresholds=thresholds,
                          delivery_height=options.height, loudness_target=options.loudness)
    chosen = report["recommend"]
    steps = []
    for index, spec in enumerate(chosen, start=1):
        proc = registry.get(spec["processor"])
        steps.append(Step(index, proc, proc.params(**spec["params"])))
    offset = len(steps)
    steps += [dataclasses.replace(s, index=s.index + offset,
                                  added_by=None if s.added_by is None else s.added_by + offset) for s in recipe.steps]
    summary = {
        "measured": {"noise_sigma": report["noise"]["sigma"], "blockiness": report["blockiness"],
                     "halo": report["halo"], "flicker": report["flicker"]["index"],
                     "duplicates": report["cadence"]["duplicates"], "drops": report["cadence"]["drops"],
                     "shake": report["shake"]["jitter"], "resolution": report["resolution"],
                     "loudness": (report["audio"] or {}).get("loudness"), "height": report["height"]},
        "problems": report["problems"],
        "ran": [{"processor": s["processor"], "params": s["params"], "reason": s["reason"]} for s in chosen]
               + [{"processor": s.name, "params": s.params.model_dump(mode="json"), "reason": "set in the recipe"}
                  for s in recipe.steps],
        "not_needed": report["not_needed"],
        "inspect_seconds": report["analysis"]["seconds"],
    }
    return AutoPlan(dataclasses.replace(recipe, steps=steps), summary, report)
