"""Conform an edit: finish only what the cut uses, hand the editor back the same timeline.

For each clip of the cut postbay finishes the used source range plus ``handles`` frames
each side (12 by default, clamped to the media), so the editor can still trim and
dissolve. Clips that use overlapping parts of one file render that union once. Each render
is a normal :func:`postbay.render.finish_clip` job (verified before it is published,
carrying the source timecode of its first frame), and the renders run in parallel.

The conformed timeline keeps its structure (tracks, order, transitions, markers, gaps,
start) and points every clip at its finished shot, written in the input's format and as
``.otio``; ``<name>.conform.json`` says clip by clip where the media was found, what was
rendered, what each written format lost, and how long it took.

This module holds the job (:func:`conform_timeline`, its options and :class:`ConformResult`);
its parts live beside it: :mod:`~postbay.timeline.plan` (clips, ranges, render jobs),
:mod:`~postbay.timeline.renders` (the parallel renders), :mod:`~postbay.timeline.conformed`
(the conformed copy and what each format lost of each clip) and
:mod:`~postbay.timeline.report` (the conform report).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from postbay.activity import ACTIVITY
from postbay.colour import DEFAULT_OCIO_CONFIG
from postbay.errors import PostbayError
from postbay.recipe import Recipe
from postbay.timeline.bundle import bundle_media
from postbay.timeline.conformed import clip_losses, conformed_copy
from postbay.timeline.nesting import flatten_nested
from postbay.timeline.plan import DEFAULT_HANDLES, ClipPlan, RenderJob, group_jobs, hero_clip, plan_clips, safe_name
from postbay.timeline.reader import LoadedTimeline, detect_format, read_timeline
from postbay.timeline.relink import Relinker
from postbay.timeline.renders import Progress, ShotPool, cdl_from_notes, match_step, reference_still, render_jobs
from postbay.timeline.report import write_report
from postbay.timeline.writeback import Picture, Written, write_all

__all__ = ["ConformResult", "conform_timeline", "media_rates_for", "plan_timeline"]


@dataclass
class ConformResult:
    """What a conform produced: the plan, the renders, the timelines written, the deliveries."""

    source: Path
    out_dir: Path
    loaded: LoadedTimeline
    clips: list[ClipPlan]
    jobs: list[RenderJob]
    written: list[Written] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    captions: dict[str, Any] | None = None  # the programme's captions (cues, sidecars, notes)
    timings: dict[str, float] = field(default_factory=dict)
    report_path: Path | None = None
    summary_path: Path | None = None
    status: str = "done"
    conformed: Any = None  # the conformed OTIO timeline (or collection)

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def outputs(self) -> list[Path]:
        """Every file the conform published: shots, timelines, caption sidecars, deliveries, report."""
        paths = [j.output for j in self.jobs if j.output] + [w.path for w in self.written if w.path]
        paths += [Path(p) for p in (self.captions or {}).get("sidecars", [])]
        paths += [Path(d["output"]) for d in self.deliveries if d.get("output")]
        return paths + [p for p in (self.report_path, self.summary_path) if p]


def media_rates_for(relinker: Relinker) -> Callable[[str], list[Fraction]]:
    """For EDL rate inference: the rates of media named in the list's clip-name comments."""

    def rates(text: str) -> list[Fraction]:
        found: list[Fraction] = []
        for m in re.finditer(r"^\*?\s*(?:FROM CLIP NAME|FROM CLIP|FROM FILE|SOURCE FILE)\s*:\s*(.+?)\s*$", text,
                             re.M | re.I):
            name = re.split(r"[\\/]", m.group(1))[-1]
            hit = relinker.index.find(name)
            info = relinker.probe(hit) if hit else None
            if info is not None and info.video is not None:
                found.append(info.video.rate_fraction)
        return found

    return rates


def _handles(value: Any, recipe: Recipe) -> int:
    if value is None:  # the recipe's value was validated when it was parsed
        return recipe.timeline.handles if recipe.timeline.handles is not None else DEFAULT_HANDLES
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PostbayError(f"handles = {value!r}: give a whole number of frames, 0 or more", path=recipe.source)
    return value


def _read_and_plan(path: Path, recipe: Recipe, out_dir: Path, roots: list[Path], handles: int, rate: Any,
                   timings: dict[str, float], *, config: Any = None,
                   confine: bool = False) -> tuple[Relinker, LoadedTimeline, list[ClipPlan], dict[str, Any]]:
    """Index the media, read the edit, relink and plan every clip (nothing written but a
    bundle's media, extracted once into the data dir)."""
    t0 = time.perf_counter()
    bundle = bundle_media(path, detect_format(path), Path(getattr(config, "data_dir", None) or "postbay-data"))
    if bundle:  # media beside the bundle still links by name
        roots.append(path.resolve().parent)
    relinker = Relinker(path, roots, exclude=[out_dir], base=bundle.folder if bundle else None, confine=confine)
    timings["index media"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = read_timeline(path, rate=rate, recipe_rate=recipe.timeline.rate, media_rates=media_rates_for(relinker))
    if bundle:
        loaded.notes.append(bundle.note)
    loaded.notes += flatten_nested(loaded.root)
    timings["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    plans, items = plan_clips(loaded, relinker, handles)
    timings["relink and plan"] = time.perf_counter() - t0
    return relinker, loaded, plans, items


def plan_timeline(path: str | Path, recipe: Recipe, out_dir: str | Path, *,
                  media_roots: tuple[Path, ...] | list[Path] = (), handles: int | None = None, rate: Any = None,
                  config: Any = None) -> tuple[list[ClipPlan], list[RenderJob]]:
    """What :func:`conform_timeline` would do, without rendering or writing anything: each
    clip's plan (relinked media, used range with handles, or why it is missing) and the
    renders that would be made (``postbay run --dry-run``)."""
    path, out_dir = Path(path), Path(out_dir)
    roots = [Path(r) for r in media_roots] + [Path(r) for r in getattr(config, "media_roots", []) or []]
    _, loaded, plans, _ = _read_and_plan(path, recipe, out_dir, roots, _handles(handles, recipe), rate, {},
                                         config=config)
    return plans, group_jobs(plans, safe_name(loaded.name, 40))


def conform_timeline(path: str | Path, recipe: Recipe, out_dir: str | Path, *,
                     media_roots: tuple[Path, ...] | list[Path] = (), handles: int | None = None,
                     rate: Any = None, workers: int | None = None,
                     progress: Progress | None = None, config: Any = None, missing: str | None = None,
                     gpu: str | None = None, shot_pool: ShotPool | None = None,
                     confine: bool = False) -> ConformResult:
    """Conform the timeline at ``path`` with ``recipe`` into ``out_dir``.

    ``shot_pool``: where the shots render instead of processes on this machine (the Ray
    executor's: shots fan out over a cluster, and the report names each shot's node).

    Reads and relinks everything before writing anything: a timeline that cannot be read,
    or (with ``missing = "fail"``) a clip whose media cannot be found, raises
    :class:`PostbayError` and leaves ``out_dir`` untouched (a missing-media failure writes
    only the conform report that lists what is missing). ``confine`` (the daemon's jobs):
    clips open only files under the timeline's folder or a media root, symlinks followed.
    """
    t_total = time.perf_counter()
    timings: dict[str, float] = {}
    path = Path(path)
    out_dir = Path(out_dir)
    roots = [Path(r) for r in media_roots] + [Path(r) for r in getattr(config, "media_roots", []) or []]
    handles = _handles(handles, recipe)
    policy = missing or recipe.timeline.missing or "fail"
    gpu = gpu or getattr(config, "gpu", None) or "auto"
    ocio_config = getattr(config, "ocio_config", None) or DEFAULT_OCIO_CONFIG

    ACTIVITY.begin("relinking")
    relinker, loaded, plans, items = _read_and_plan(path, recipe, out_dir, roots, handles, rate, timings,
                                                    config=config, confine=confine)
    name = loaded.name
    missing_plans = [p for p in plans if p.status in ("missing", "failed")]
    result = ConformResult(source=path, out_dir=out_dir, loaded=loaded, clips=plans, jobs=[], timings=timings)
    if missing_plans and policy == "fail":
        result.status = "failed"
        lines = [f"{p.key} {p.name!r}: {p.relink.written if p.relink else ''} ({'; '.join(p.notes) or p.status})"
                 for p in missing_plans]
        write_report(result, recipe, handles, policy, error=f"{len(missing_plans)} clip(s) without usable media")
        raise PostbayError(f"{len(missing_plans)} clip(s) without usable media: " + "; ".join(lines[:5])
                           + (" …" if len(lines) > 5 else ""), path=path,
                           hint=f"add --media-root, or set missing = \"skip\" in the recipe (report: "
                                f"{result.report_path})")

    jobs = group_jobs(plans, safe_name(name, 40))
    result.jobs = jobs
    reference: np.ndarray | None = None
    step = match_step(recipe)
    # A match step without its own reference (or with reference = "hero") matches the cut to its hero.
    if step is not None and getattr(step.params, "reference", None) in (None, "hero"):
        hero = hero_clip([p for p in plans if p.status == "planned"], items)
        if hero is not None:
            reference = reference_still(hero)
            hero.notes.append("hero shot: the cut is colour-matched to it")
    workers = workers if workers is not None else max(1, min(len(jobs), os.cpu_count() or 1))
    workers = shot_pool.workers if shot_pool is not None else workers
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    # The captions step captions the programme (whole sentences across cuts, record timing), not
    # each shot: a shot alone would cut sentences at its edges and burn text into the editor's media.
    captions_step = next((s for s in recipe.steps if s.name == "captions"), None)
    captioning = {s.index for s in recipe.steps if s.name == "captions"}
    shot_recipe = replace(recipe, steps=[s for s in recipe.steps
                                         if s.index not in captioning and s.added_by not in captioning])
    render_jobs(jobs, shot_recipe, out_dir, workers=workers, reference=reference, gpu=gpu, ocio_config=ocio_config,
                progress=progress, shot_pool=shot_pool)
    ACTIVITY.in_shot(None)
    ACTIVITY.begin("writing timelines")
    timings["render (wall)"] = time.perf_counter() - t0
    timings["render (sum of shots)"] = sum(j.seconds for j in jobs)
    timings["workers"] = workers
    for plan in plans:
        if plan.job is None:
            continue
        if plan.job.error:
            plan.status = "failed"
            plan.notes.append(plan.job.error)
        else:
            plan.status = "conformed"
            plan.cdl = cdl_from_notes(plan.job.report.get("notes", {}))

    t0 = time.perf_counter()
    conformed, picture = conformed_copy(loaded, plans, recipe, handles)
    result.conformed = conformed
    picture = picture or Picture(1920, 1080, loaded.rate)
    result.written = write_all(conformed, loaded.format, out_dir, name, rate=loaded.rate, picture=picture,
                               bundle=recipe.timeline.bundle)
    for written in result.written:
        for plan in plans:
            plan.lost += clip_losses(plan, written)
    timings["write timelines"] = time.perf_counter() - t0

    programme_captions = None
    if captions_step is not None or any(d.captions for d in recipe.deliveries):
        from postbay.timeline.programme import caption_programme

        t0 = time.perf_counter()
        ACTIVITY.begin("captions")
        programme_captions = caption_programme(conformed, captions_step.params if captions_step else None, out_dir,
                                               name, rate=loaded.rate, relinker=relinker)
        result.captions = programme_captions.report
        if captions_step is None:
            result.captions["settings"] = "a delivery asks for captions: the captions step's defaults"
        timings["captions"] = time.perf_counter() - t0

    if recipe.deliveries:
        from postbay.timeline.programme import render_deliveries

        t0 = time.perf_counter()
        ACTIVITY.begin("deliveries")
        result.deliveries = render_deliveries(conformed, recipe, out_dir, name, rate=loaded.rate,
                                              picture=picture, relinker=relinker, captions=programme_captions)
        timings["deliveries"] = time.perf_counter() - t0

    failed = [p for p in plans if p.status == "failed"]
    if failed or any(d.get("error") for d in result.deliveries):
        result.status = "failed" if policy == "fail" else "done with problems"
    timings["total"] = time.perf_counter() - t_total
    write_report(result, recipe, handles, policy)
    if result.status == "failed":
        raise PostbayError(f"{len(failed)} shot(s) failed to render: " + "; ".join(
            f"{p.key}: {p.notes[-1]}" for p in failed[:3]), path=path, hint=f"see {result.report_path}")
    return result
