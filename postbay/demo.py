"""`postbay demo`: a synthetic "AI-looking" clip, finished with the default recipe."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

from postbay.errors import PostbayError
from postbay.jsonout import error_document, human_to_stderr, print_json
from postbay.progress import Progress
from postbay.recipe import find_recipes, load_recipe
from postbay.render import finish_clip
from postbay.synth import ai_look_frame, write_clip

__all__ = ["run_demo", "make_demo_clip"]


def make_demo_clip(path: Path, frames: int = 72) -> Path:
    """1280x720 at 24 fps: a moving textured scene with noise, flicker, a warm cast and a tone."""
    return write_clip(path, frames=frames, width=1280, height=720, rate=Fraction(24), pattern=ai_look_frame,
                      audio="tone", timecode="01:00:00:00", options={"crf": "18", "preset": "veryfast"})


def run_demo(out: Path, *, recipe: str | None = None, frames: int = 72, quiet: bool = False,
             as_json: bool = False) -> int:
    """Make the clip in ``out`` and finish it; ``as_json``: the result (or the error) as one JSON
    document on stdout, the rest on stderr."""
    with human_to_stderr(as_json):
        status, document = _demo(out, recipe, frames, quiet)
    if as_json:
        print_json(document)
    return status


def _demo(out: Path, recipe: str | None, frames: int, quiet: bool) -> tuple[int, dict[str, object]]:
    out.mkdir(parents=True, exist_ok=True)
    source = out / "demo-ai-clip.mp4"
    print(f"postbay demo: writing a synthetic AI-looking clip to {source}")
    make_demo_clip(source, frames)
    name = recipe or ("finish" if "finish" in find_recipes() else "passthrough")
    chosen = load_recipe(name)
    finished = out / "finished"
    bar = Progress(f"{name}", enabled=not quiet)
    try:
        result = finish_clip(source, chosen, finished, progress=bar)
    except PostbayError as exc:
        bar.close()
        print(f"postbay demo: FAILED {exc}", file=sys.stderr)
        return 1, error_document(str(exc), path=exc.path, hint=exc.hint)
    bar.close()
    print(f"postbay demo: finished with recipe {name!r}")
    print(f"  source : {source}")
    print(f"  output : {result.output}")
    print(f"  report : {result.report_path}")
    print(f"  ({result.report['frames']} frames at {result.report['fps']} fps on {result.report['backend']})")
    return 0, {"recipe": name, "source": str(source), "output": str(result.output), "report": str(result.report_path),
               "frames": result.report["frames"], "fps": result.report["fps"], "backend": result.report["backend"]}
