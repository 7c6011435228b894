"""The conform report: ``<name>.conform.json`` for machines and ``<name>.conform.txt`` for editors.

Clip by clip: where the media was found, what was rendered, what each written format lost,
and how long it took.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postbay import __version__
from postbay.publish import write_json_atomic, write_text_atomic
from postbay.recipe import Recipe
from postbay.timeline.reader import FORMATS

if TYPE_CHECKING:
    from postbay.timeline.conform import ConformResult

__all__ = ["summary_text", "write_report"]


def write_report(result: ConformResult, recipe: Recipe, handles: int, policy: str, error: str | None = None) -> None:
    """Write the conform report and its summary beside the conformed timeline; set their paths on ``result``."""
    result.out_dir.mkdir(parents=True, exist_ok=True)
    loaded = result.loaded
    name = loaded.name
    rate = loaded.rate
    counts: dict[str, int] = {}
    for plan in result.clips:
        counts[plan.status] = counts.get(plan.status, 0) + 1
    render_wall = result.timings.get("render (wall)", 0.0)
    total = result.timings.get("total", 0.0)
    report = {
        "postbay": __version__, "status": result.status, "error": error, "timeline": str(result.source),
        "format": loaded.format, "format_label": FORMATS[loaded.format][1],
        "rate": f"{rate.numerator}/{rate.denominator}", "rate_from": loaded.rate_source, "read_notes": loaded.notes,
        "recipe": recipe.describe(), "handles": handles, "missing": policy, "counts": counts,
        "clips": [p.to_dict() for p in result.clips], "renders": [j.to_dict() for j in result.jobs],
        "written": [w.to_dict() for w in result.written], "deliveries": result.deliveries,
        "captions": result.captions,
        "timings": {k: round(v, 3) if isinstance(v, float) else v for k, v in result.timings.items()},
        "overhead_share": round(max(0.0, total - result.timings.get("render (sum of shots)", 0.0)) / total, 4)
        if total and result.timings.get("workers") == 1 else None,
        "render_wall_share": round(render_wall / total, 4) if total else None,
    }
    result.report_path = result.out_dir / f"{name}.conform.json"
    write_json_atomic(result.report_path, report)
    result.summary_path = result.out_dir / f"{name}.conform.txt"
    write_text_atomic(result.summary_path, summary_text(report))


def summary_text(report: dict[str, Any]) -> str:
    """The conform report as an editor reads it."""
    lines = [f"postbay conform: {report['timeline']}",
             f"  {report['format_label']}, {float(Fraction(report['rate'])):.3f} fps ({report['rate_from']}), "
             f"recipe {report['recipe']['name']}, handles {report['handles']}, missing media: {report['missing']}",
             f"  status: {report['status']}" + (f" ({report['error']})" if report.get("error") else ""),
             "  clips: " + ", ".join(f"{n} {k}" for k, n in sorted(report["counts"].items())), ""]
    for clip in report["clips"]:
        head = f"  {clip['clip']:<12} {clip['name'][:32]:<32} {clip['status']}"
        if clip.get("range"):
            r = clip["range"]
            head += f"  {r['start_tc']}–{r['end_tc']} ({r['frames']} f, handles {clip['handles']['before']}/" \
                    f"{clip['handles']['after']}) → {Path(clip['output']).name if clip.get('output') else '-'}"
        lines.append(head)
        if clip.get("relink"):
            rl = clip["relink"]
            where = f" {rl['path']}" if rl["path"] else f" (tried: {'; '.join(rl['tried'])})"
            lines.append(f"      media: {rl['how']}{where}")
        for note in clip.get("notes", []):
            lines.append(f"      note: {note}")
        if clip.get("lost"):
            lines.append(f"      lost: {'; '.join(clip['lost'])}")
        for eff in clip.get("effects", []):
            lines.append(f"      effect: {eff['kind']} {eff['effect']} kept {eff['kept']}")
        if clip.get("cdl"):
            c = clip["cdl"]
            lines.append(f"      CDL: slope {c['slope']} offset {c['offset']} power {c['power']} sat {c['saturation']}")
    lines.append("")
    for w in report["written"]:
        if w["error"]:
            lines.append(f"  NOT WRITTEN {w['label']}: {w['error']}")
        else:
            lost = f"  (lost: {'; '.join(w['lost'])})" if w["lost"] else "  (nothing lost)"
            lines.append(f"  wrote {w['path']}{lost}")
    if report.get("captions"):
        c = report["captions"]
        where = f" → {', '.join(c['sidecars'])}" if c.get("sidecars") else f" ({c.get('note', 'none')})"
        lines.append(f"  captions: {c.get('cues', 0)} cue(s){where}")
    for d in report["deliveries"]:
        lines.append(f"  delivery {d['name']}: {d.get('output') or d.get('error')}"
                     + (f"  [{'; '.join(d.get('notes', []))}]" if d.get("notes") else ""))
    t = report["timings"]
    lines.append(f"  time: {t.get('total', 0)} s total, renders {t.get('render (wall)', 0)} s wall on "
                 f"{t.get('workers', '-')} worker(s)")
    return "\n".join(lines) + "\n"
