"""The inspect report as one self-contained HTML file, and the contact sheet of variations.

Pictures are embedded as data URIs and plots are plain SVG, so the file can be mailed, archived
or opened from a job folder with nothing else beside it.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from postbay.colour import LUT_SUFFIXES, cpu_apply, file_processor
from postbay.errors import PostbayError
from postbay.inspect.picture import ciede2000, lab

__all__ = ["look_distance", "rank_variations", "reference_colour", "render_html", "write_html"]

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d1d1f;background:#fafafa}
h1{font-size:20px}h2{font-size:17px;margin-top:28px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f0f0f0}.high{color:#b00020;font-weight:600}.medium{color:#a15c00}.low{color:#555}
.strip{display:flex;gap:4px;flex-wrap:wrap}.strip figure{margin:0}.strip figcaption{font-size:11px;color:#666}
svg{background:#fff;border:1px solid #ddd}.ok{color:#1a7f37}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _plot(values: list[float], *, title: str, unit: str, x_label: str, xs: list[float] | None = None,
          limit: float | None = None, width: int = 640, height: int = 140) -> str:
    """A line plot as inline SVG (``limit`` is drawn as a dashed line)."""
    if not values:
        return ""
    ys = np.asarray(values, np.float64)
    finite = ys[np.isfinite(ys)]
    if finite.size == 0:
        return ""
    xv = np.asarray(xs if xs is not None else range(len(values)), np.float64)
    lo = float(min(finite.min(), limit if limit is not None else finite.min()))
    hi = float(max(finite.max(), limit if limit is not None else finite.max()))
    if hi - lo < 1e-9:
        hi = lo + 1.0
    x0, x1 = float(xv.min()), float(max(xv.max(), xv.min() + 1))
    pad = 30

    def px(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def py(y: float) -> float:
        return height - pad + (y - lo) / (hi - lo) * (2 * pad - height)

    step = max(1, len(ys) // 1000)  # a plot needs no more points than it has pixels
    points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xv[::step], ys[::step], strict=True)
                      if np.isfinite(y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<text x="{pad}" y="16" font-size="12">{_esc(title)} ({_esc(unit)})</text>',
             f'<polyline fill="none" stroke="#2060c0" stroke-width="1.2" points="{points}"/>',
             f'<text x="2" y="{py(hi) + 4:.0f}" font-size="10">{hi:.3g}</text>',
             f'<text x="2" y="{py(lo) + 4:.0f}" font-size="10">{lo:.3g}</text>',
             f'<text x="{width - pad - 60}" y="{height - 6}" font-size="10">{_esc(x_label)} {x1:.0f}</text>']
    if limit is not None:
        parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{py(limit):.1f}" y2="{py(limit):.1f}" '
                     'stroke="#b00020" stroke-dasharray="4 3"/>')
    parts.append("</svg>")
    return "".join(parts)


def _problems_table(report: dict[str, Any]) -> str:
    if not report["problems"]:
        return '<p class="ok">No problem found.</p>'
    rows = "".join(f'<tr><td class="{_esc(p["severity"])}">{_esc(p["severity"])}</td><td>{_esc(p["kind"])}</td>'
                   f'<td>{_esc(p["message"])}</td></tr>' for p in report["problems"])
    return f"<table><tr><th>severity</th><th>kind</th><th>what</th></tr>{rows}</table>"


def _recommend_list(report: dict[str, Any]) -> str:
    runs = ("<ol>" + "".join(f"<li><b>{_esc(s['processor'])}</b>: {_esc(s['reason'])}</li>"
                             for s in report["recommend"]) + "</ol>" if report["recommend"]
            else "<p>Nothing to fix: <code>auto</code> would run no processing step.</p>")
    skipped = "".join(f"<li>{_esc(s['reason'])}</li>" for s in report.get("not_needed", []))
    return runs + (f"<p>Left out:</p><ul class=\"low\">{skipped}</ul>" if skipped else "")


def _measures_table(report: dict[str, Any]) -> str:
    audio = report.get("audio") or {}
    rows = [
        ("noise σ (luma, 0–1)", report["noise"]["sigma"]),
        ("blockiness", report["blockiness"]), ("sharpness", report["sharpness"]), ("halo", report["halo"]),
        ("effective resolution", "{}×{} ({:.0%})".format(*report["resolution"]["effective"],
                                                          report["resolution"]["fraction"])),
        ("flicker index / swing", f"{report['flicker']['index']:.4f} / {report['flicker']['swing']:.1%}"
                                  + (" (flagged)" if report["flicker"]["flagged"] else "")),
        ("repeated frames", report["cadence"]["duplicates"] or "none"),
        ("dropped frames", report["cadence"]["drops"] or "none"),
        ("freezes", report["freeze"] or "none"), ("black", report["black"] or "none"),
        ("shake (px RMS)", report["shake"]["jitter"]), ("shimmer", report["shimmer"]["value"]),
        ("shots", report["shots"]),
        ("loudness (LUFS)", audio.get("loudness", "no audio")), ("true peak (dBTP)", audio.get("true_peak", "–")),
    ]
    body = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _colour_table(report: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{c['shot'][0]}–{c['shot'][1]}</td><td>{c['lab_mean']}</td><td>{c['lab_spread']}</td>"
        f"<td>{c['exposure']:.2f}</td><td>{c['clipped_highlights']:.1%}</td><td>{c['crushed_shadows']:.1%}</td></tr>"
        for i, c in enumerate(report["colour"]))
    jumps = "".join(f"<li class=\"{'medium' if j['flagged'] else 'ok'}\">{_esc(j['from'])} → {_esc(j['to'])}: "
                    f"ΔE2000 {j['delta_e']:.1f}</li>" for j in report.get("continuity", []))
    return ("<table><tr><th>shot</th><th>frames</th><th>L*a*b* mean</th><th>spread</th><th>exposure</th>"
            f"<th>clipped</th><th>crushed</th></tr>{rows}</table>" + (f"<ul>{jumps}</ul>" if jumps else ""))


def _strips(report: dict[str, Any]) -> str:
    out = []
    for i, (bounds, thumbs) in enumerate(zip(report["shots"], report.get("thumbnails", []), strict=False)):
        figures = "".join(f'<figure><img src="{t["image"]}" alt="frame {t["frame"]}">'
                          f'<figcaption>{t["frame"]}</figcaption></figure>' for t in thumbs)
        out.append(f"<h3>shot {i + 1}: frames {bounds[0]}–{bounds[1]}</h3><div class=\"strip\">{figures}</div>")
    return "".join(out)


def _clip_section(report: dict[str, Any]) -> str:
    fps = report["fps"] or 1.0
    audio = report.get("audio") or {}
    plots = [
        _plot(report["flicker"]["series"], title="brightness swing per frame", unit="share of level",
              x_label="frame"),
        _plot([v for _, v in report["noise"]["series"]], xs=[f for f, _ in report["noise"]["series"]],
              title="noise σ", unit="luma", x_label="frame", limit=None),
        _plot(audio.get("momentary", []), xs=[i * 0.5 for i in range(len(audio.get("momentary", [])))],
              title="momentary loudness", unit="LUFS", x_label="second"),
        _plot([v for _, v in report["shimmer"]["series"]], xs=[n for n, _ in report["shimmer"]["series"]],
              title="shimmer", unit="luma RMS", x_label="frame"),
    ]
    info = (f"{report['width']}×{report['height']}, {report['fps']} fps, {report['frames']} frames "
            f"({report['frames'] / fps:.1f} s)")
    speed = report.get("analysis", {})
    name = report.get("shot") or Path(report["file"]).name
    return (f"<h2>{_esc(name)}</h2><p>{_esc(info)}; inspected in {speed.get('seconds')} s "
            f"({speed.get('realtime')}× real time)</p>"
            f"<h3>Problems</h3>{_problems_table(report)}<h3>What <code>auto</code> would do</h3>"
            f"{_recommend_list(report)}<h3>Measures</h3>{_measures_table(report)}"
            f"<h3>Colour per shot</h3>{_colour_table(report)}<h3>Over time</h3>{''.join(plots)}"
            f"<h3>Shots</h3>{_strips(report)}")


def reference_colour(path: str | Path) -> dict[str, Any]:
    """The reference :func:`rank_variations` measures against: a still's mean and spread in
    CIELAB (PNG, JPEG, TIFF), or a look (a LUT file OpenColorIO reads), checked to load."""
    if Path(path).suffix.lower() in LUT_SUFFIXES:
        file_processor(str(path))  # a LUT OpenColorIO cannot read is refused here, by name
        return {"file": str(path), "look": str(path)}
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise PostbayError(f"cannot read the reference still: {exc}", path=path,
                           hint="give a PNG, JPEG or TIFF picture of the look to match, or a LUT "
                                f"({', '.join(LUT_SUFFIXES)})") from exc
    return {"file": str(path), **_lab_distribution(rgb[::4, ::4].reshape(-1, 3))}


def _lab_distribution(rgb: np.ndarray) -> dict[str, Any]:
    """Mean and spread in CIELAB of display-encoded pixels (N, 3) in [0, 1]."""
    values = lab(rgb)
    return {"lab_mean": values.mean(axis=0).round(2).tolist(), "lab_spread": values.std(axis=0).round(2).tolist()}


def _thumbnail_pixels(report: dict[str, Any]) -> np.ndarray:
    """The pixels of a report's thumbnails (every shot's, evenly spread over it) as (N, 3) floats:
    the sample of its colour a look is tried on."""
    from PIL import Image

    pixels = []
    for thumb in (t for shot in report.get("thumbnails", []) for t in shot):
        data = base64.b64decode(thumb["image"].split(",", 1)[1])
        with Image.open(io.BytesIO(data)) as image:
            pixels.append(np.asarray(image.convert("RGB"), np.float32).reshape(-1, 3) / 255.0)
    if not pixels:
        raise PostbayError("the inspection has no thumbnails to try the look on", path=report["file"],
                           hint="inspect the clip again with this version of postbay")
    return np.concatenate(pixels)


def look_distance(report: dict[str, Any], look: str | Path) -> float:
    """How far the look would move a variation's colour: CIEDE2000 between the colour distribution
    of its thumbnails and that of the same pixels through the look (see :func:`_distribution_delta`).
    Footage already in the look moves least: a look pulls colours towards its palette, and what is
    there already has least left to travel."""
    rgb = _thumbnail_pixels(report)
    moved = cpu_apply(file_processor(str(look)), rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    return _distribution_delta(_lab_distribution(rgb), _lab_distribution(moved))


def _distribution_delta(colour: dict[str, Any], reference: dict[str, Any]) -> float:
    """CIEDE2000 between two colour distributions: the mean of the differences at mean − spread,
    mean and mean + spread (about the 16th, 50th and 84th percentiles)."""
    a_mean, a_spread = np.array(colour["lab_mean"]), np.array(colour["lab_spread"])
    b_mean, b_spread = np.array(reference["lab_mean"]), np.array(reference["lab_spread"])
    points = [(a_mean + k * a_spread, b_mean + k * b_spread) for k in (-1.0, 0.0, 1.0)]
    return float(np.mean([ciede2000(a, b) for a, b in points]))


_SEVERITY = {"high": 3.0, "medium": 1.0, "low": 0.25}


def rank_variations(reports: list[dict[str, Any]], reference: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Order variations of one scene best first: problems by severity, shimmer (morphing texture),
    and, with a reference, the colour distance to it. Each entry says why it stands where it does."""
    ranked = []
    for report in reports:
        penalty = sum(_SEVERITY.get(p["severity"], 1.0) for p in report["problems"])
        why = [f"{len(report['problems'])} problem(s)"]
        penalty += 100.0 * report["shimmer"]["value"]
        why.append(f"shimmer {report['shimmer']['value']:.3f}")
        delta = None
        if reference is not None and "look" in reference:
            delta = look_distance(report, reference["look"])
            penalty += delta / 2.0
            why.append(f"the look would move its colour by ΔE2000 {delta:.1f}")
        elif reference is not None:
            weights = np.array([c["shot"][1] - c["shot"][0] + 1 for c in report["colour"]], np.float64)
            mean = np.average([c["lab_mean"] for c in report["colour"]], axis=0, weights=weights)
            spread = np.average([c["lab_spread"] for c in report["colour"]], axis=0, weights=weights)
            delta = _distribution_delta({"lab_mean": mean, "lab_spread": spread}, reference)
            penalty += delta / 2.0
            why.append(f"ΔE2000 {delta:.1f} from the reference")
        ranked.append({"file": report["file"], "score": round(penalty, 2), "delta_e": None if delta is None
                       else round(delta, 2), "why": ", ".join(why)})
    ranked.sort(key=lambda r: r["score"])
    for place, entry in enumerate(ranked, 1):
        entry["rank"] = place
    return ranked


def _contact_sheet(reports: list[dict[str, Any]], ranking: list[dict[str, Any]],
                   reference: dict[str, Any] | None) -> str:
    by_file = {r["file"]: r for r in reports}
    rows = []
    for entry in ranking:
        report = by_file[entry["file"]]
        thumbs = [t for shot in report.get("thumbnails", []) for t in shot]
        picks = [thumbs[0], thumbs[len(thumbs) // 2], thumbs[-1]] if thumbs else []
        images = "".join(f'<img src="{t["image"]}" alt="frame {t["frame"]}" title="frame {t["frame"]}">'
                         for t in picks)
        rows.append(f"<tr><td>{entry['rank']}</td><td>{_esc(Path(entry['file']).name)}</td>"
                    f"<td class=\"strip\">{images}</td><td>{report['noise']['sigma']:.3f}</td>"
                    f"<td>{report['flicker']['index']:.3f}</td><td>{report['shimmer']['value']:.3f}</td>"
                    f"<td>{'' if entry['delta_e'] is None else entry['delta_e']}</td><td>{entry['score']}</td>"
                    f"<td>{_esc(entry['why'])}</td></tr>")
    ref = "" if reference is None else (
        f"<p>Reference look: {_esc(Path(reference['file']).name)} (ΔE2000: how far the look would move each "
        "variation's colour)</p>" if "look" in reference else f"<p>Reference: {_esc(Path(reference['file']).name)}</p>")
    return ("<h2>Variations, best first</h2>" + ref + "<table><tr><th>rank</th><th>clip</th>"
            "<th>first / middle / last</th><th>noise σ</th><th>flicker</th><th>shimmer</th><th>ΔE2000 to "
            "reference</th><th>score</th><th>why</th></tr>" + "".join(rows) + "</table>")


def _continuity_section(jumps: list[dict[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{_esc(j['from'])}</td><td>{_esc(j['to'])}</td>"
                   f"<td class=\"{'medium' if j['flagged'] else 'ok'}\">{j['delta_e']:.1f}</td></tr>" for j in jumps)
    return ("<h2>Shot to shot</h2><table><tr><th>from</th><th>to</th><th>ΔE2000 of the mean colour</th></tr>"
            f"{rows}</table>")


def render_html(reports: list[dict[str, Any]], reference: dict[str, Any] | None = None,
                continuity: list[dict[str, Any]] | None = None) -> str:
    """The report of one clip, the ranked contact sheet and reports of several variations, or
    (with ``continuity``) the shots of a cut and how their colour follows on."""
    if continuity is not None:
        title = f"cut of {len(reports)} shots"
        sheet = _continuity_section(continuity)
    else:
        title = Path(reports[0]["file"]).name if len(reports) == 1 else f"{len(reports)} variations"
        sheet = _contact_sheet(reports, rank_variations(reports, reference), reference) if len(reports) > 1 else ""
    sections = "".join(_clip_section(r) for r in reports)
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>postbay inspect: "
            f"{_esc(title)}</title><style>{_STYLE}</style></head><body><h1>postbay inspect: {_esc(title)}</h1>"
            f"{sheet}{sections}</body></html>")


def write_html(reports: list[dict[str, Any]], path: str | Path, reference: dict[str, Any] | None = None,
               continuity: list[dict[str, Any]] | None = None) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.write_text(render_html(reports, reference, continuity), encoding="utf-8")
    return path
