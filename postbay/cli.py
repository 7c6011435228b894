"""The `postbay` command line.

Each area adds its own subcommands through an ``add_commands(subparsers)`` function listed
in :data:`COMMAND_MODULES`; a command is a function ``(args) -> exit code``.
"""

from __future__ import annotations

import argparse
import glob
import importlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from postbay import __version__
from postbay.errors import PostbayError
from postbay.jsonout import error_document, human_to_stderr, print_json
from postbay.progress import Progress

__all__ = ["COMMAND_MODULES", "DEFAULT_RECIPE", "build_parser", "commands", "load_cli_config", "main",
           "run_timeline_cli"]

#: The recipe `postbay run` uses without -r.
DEFAULT_RECIPE = "finish"

#: Modules whose ``add_commands(subparsers)`` contribute subcommands, in help order.
COMMAND_MODULES = [
    "postbay.cli",
    "postbay.daemon.cli",
    "postbay.bridge.cli",
]


def load_cli_config(args: argparse.Namespace) -> Any:
    from postbay.config import load_config

    return load_config(getattr(args, "config", None))


def _expand_inputs(patterns: list[str]) -> list[Path]:
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise PostbayError("no file matches this pattern", path=pattern)
        paths.extend(Path(m) for m in matches)
    return paths


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_timeline_cli(src: Path, recipe: Any, out_dir: Path, args: argparse.Namespace, config: Any) -> None:
    """``postbay run EDIT.xml --recipe R --out DIR``: conform and print the summary."""
    from postbay.timeline.conform import conform_timeline

    bar = Progress(src.name, enabled=not args.quiet)
    try:
        result = conform_timeline(src, recipe, out_dir, media_roots=[Path(p) for p in args.media_root],
                                  handles=args.handles, rate=args.rate, progress=bar, config=config)
    finally:
        bar.close()
    if not args.quiet:
        assert result.summary_path is not None  # a finished conform always writes its summary
        print(result.summary_path.read_text(encoding="utf-8"), end="")
    else:
        print(f"done {src} -> {result.report_path}")
    if not result.ok:
        raise PostbayError(f"finished with problems ({result.status}); the rest is done", path=src,
                           hint=f"see {result.report_path}")


def cmd_run(args: argparse.Namespace) -> int:
    # a service manager's or a shell's `kill` stops a render like Ctrl-C does: temp file removed
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    from postbay.media import probe, set_pixel_limit
    from postbay.naming import ExistingOutput, place_output
    from postbay.recipe import load_recipe
    from postbay.registry import default_registry
    from postbay.render import finish_clip, output_paths
    from postbay.timeline.reader import parse_rate

    config = load_cli_config(args)
    set_pixel_limit(config.limits.max_pixels)
    registry = default_registry(allow_override=config.allow_plugin_override)
    if args.recipe is None and not args.quiet:
        print(f"recipe: {DEFAULT_RECIPE} (the default; -r NAME picks another, `postbay recipes` lists them)",
              file=sys.stderr)
    recipe = load_recipe(args.recipe or DEFAULT_RECIPE, search_dirs=config.recipes, registry=registry)
    inputs = _expand_inputs(args.inputs)
    out_dir = Path(args.out)
    existing: ExistingOutput = ("overwrite" if args.overwrite else "skip" if args.skip_existing
                                else config.existing_output)
    from postbay.timeline import TIMELINE_SUFFIXES

    targets: dict[Path, Path] = {}
    from postbay.sequences import is_sequence_spec, sequence_name

    names = {src: sequence_name(src) for src in inputs if is_sequence_spec(src)}  # frames: named by their prefix
    plan: list[dict[str, Any]] = []
    for src in inputs:
        if src.suffix.lower() in TIMELINE_SUFFIXES:
            plan.append({"source": str(src), "kind": "timeline", "output_dir": str(out_dir),
                         **(_conform_plan(src, recipe, out_dir, args, config) if args.dry_run else {})})
            continue
        out_path, _ = output_paths(src, recipe, out_dir, names.get(src))
        if out_path in targets:
            raise PostbayError(f"{src} and {targets[out_path]} would both write {out_path.name}", path=src,
                               hint="finish them into different --out folders")
        targets[out_path] = src
        placed = place_output(out_path, existing, folder=bool(recipe.output.sequence))
        plan.append({"source": str(src), "kind": "media", "output": str(placed) if placed else None,
                     "exists": out_path.exists(), "skip": placed is None})
    if args.dry_run:
        return _print_plan(recipe, plan, existing, as_json=args.json)

    failures: list[str] = []
    results: list[dict[str, Any]] = []
    for src, planned in zip(inputs, plan, strict=True):
        if planned["kind"] == "timeline":
            try:
                with human_to_stderr(args.json):  # the conform's summary is for a person
                    run_timeline_cli(src, recipe, out_dir, args, config)
                results.append({"source": str(src), "status": "done"})
            except PostbayError as exc:
                failures.append(str(exc))
                results.append({"source": str(src), "status": "failed", "error": str(exc)})
                print(f"FAILED {exc}", file=sys.stderr)
            continue
        if planned["skip"]:
            print(f"skipped {src}: its output exists (--overwrite replaces it)", file=sys.stderr)
            results.append({"source": str(src), "status": "skipped"})
            continue
        bar = Progress(src.name, enabled=not args.quiet)
        try:
            # An image sequence plays at --rate (else 24); a movie carries its own rate.
            info = probe(src, rate=parse_rate(args.rate) if args.rate else None) if src in names else None
            result = finish_clip(src, recipe, out_dir, gpu=config.gpu, ocio_config=config.ocio_config,
                                 progress=bar, protected=inputs, name=names.get(src), info=info, existing=existing)
            bar.close()
            rep = result.report
            if planned["exists"] and existing == "version":
                print(f"{src}: an output of this name exists; this one is {planned['output']}", file=sys.stderr)
            results.append({"source": str(src), "status": "done", "output": str(result.output),
                            "report": str(result.report_path), "frames": rep["frames"], "fps": rep["fps"]})
            if not args.json:
                print(f"done {src} -> {result.output} ({rep['frames']} frames, {rep['fps']} fps, report "
                      f"{result.report_path})")
        except PostbayError as exc:
            bar.close()
            failures.append(str(exc))
            results.append({"source": str(src), "status": "failed", "error": str(exc)})
            print(f"FAILED {exc}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    if len(inputs) > 1 or failures:
        print(f"{len(inputs) - len(failures)} done, {len(failures)} failed", file=sys.stderr)
    return 1 if failures else 0


def _conform_plan(src: Path, recipe: Any, out_dir: Path, args: argparse.Namespace, config: Any) -> dict[str, Any]:
    """The conform plan of an edit list: every clip relinked (or why not) and the renders."""
    from postbay.timeline.conform import plan_timeline

    clips, renders = plan_timeline(src, recipe, out_dir, media_roots=[Path(p) for p in args.media_root],
                                   handles=args.handles, rate=args.rate, config=config)
    return {"clips": [{"key": c.key, "name": c.name, "status": c.status,
                       "media": str(c.relink.path) if c.relink and c.relink.path else None,
                       "used": list(c.used), "handles": list(c.handles), "notes": c.notes} for c in clips],
            "renders": [{"name": r.name, "media": str(r.media), "start": r.start, "count": r.count,
                         "clips": r.clips} for r in renders]}


def _print_plan(recipe: Any, plan: list[dict[str, Any]], existing: str, *, as_json: bool) -> int:
    """``postbay run --dry-run``: the recipe, its steps and where each input would go."""
    steps = [s.name for s in recipe.steps]
    if as_json:
        print(json.dumps({"recipe": recipe.name, "steps": steps, "codec": recipe.output.codec,
                          "existing_output": existing, "inputs": plan}, indent=2))
        return 0
    print(f"recipe {recipe.name}: {' -> '.join(steps) or '(no steps)'} -> {recipe.output.codec}")
    for item in plan:
        if item["kind"] == "timeline":
            print(f"  {item['source']}: edit list, {len(item['clips'])} clip(s), {len(item['renders'])} render(s) "
                  f"into {item['output_dir']}")
            for clip in item["clips"]:
                where = clip["media"] or "; ".join(clip["notes"]) or "media not found"
                print(f"    {clip['key']} {clip['name']!r}: {clip['status']} ({where})")
            for render in item["renders"]:
                print(f"    render {render['name']}: frames {render['start']}-{render['start'] + render['count'] - 1} "
                      f"of {render['media']}")
        elif item["skip"]:
            print(f"  {item['source']}: skipped (its output exists)")
        else:
            note = " (a versioned name: the plain one exists)" if item["exists"] and existing == "version" else ""
            note = " (replaces the existing file)" if item["exists"] and existing == "overwrite" else note
            print(f"  {item['source']} -> {item['output']}{note}")
    print("dry run: nothing rendered")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from postbay.media import probe

    described = [probe(path).to_dict() for path in args.files]
    if args.json:  # one document: the file's, or a list of them
        print_json(described[0] if len(described) == 1 else described)
        return 0
    for info in described:
        print(json.dumps(info, indent=2))
    return 0


def cmd_processors(args: argparse.Namespace) -> int:
    from postbay.registry import default_registry

    config = load_cli_config(args)
    registry = default_registry(allow_override=config.allow_plugin_override)
    if args.json:
        print(json.dumps({"processors": [p.describe() for p in registry],
                          "problems": [vars(p) for p in registry.problems]}, indent=2))
    else:
        for proc in registry:
            d = proc.describe()
            print(f"{proc.name}  [{proc.kind}, {proc.colourspace}, {proc.origin} {proc.version}]  {proc.summary}")
            for pname, spec in d["parameters"].items():
                default = "required" if spec["required"] else f"default {spec['default']!r}"
                print(f"    {pname}: {spec['type']} ({default}) {spec['description']}")
        for problem in registry.problems:
            print(f"PLUGIN FAILED {problem.entry_point}: {problem.error}", file=sys.stderr)
    return 1 if registry.problems else 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from postbay.recipe import find_recipes, load_recipe

    config = load_cli_config(args)
    status = 0
    listing: list[dict[str, Any]] = []
    for name, path in sorted(find_recipes(config.recipes).items()):
        try:
            recipe = load_recipe(path)
        except PostbayError as exc:
            status = 1
            listing.append({"name": name, "path": str(path), "error": str(exc)})
            print(f"{name}: INVALID {exc}", file=sys.stderr)
            continue
        listing.append({"name": name, "path": str(path), "description": recipe.description,
                        "steps": [s.name for s in recipe.steps], "codec": recipe.output.codec})
        if not args.json:
            steps = " → ".join(s.name for s in recipe.steps) or "(no steps)"
            print(f"{name}: {recipe.description}\n    {steps} → {recipe.output.codec}   [{path}]")
    if args.json:
        print(json.dumps(listing, indent=2))
    return status


def cmd_presets(args: argparse.Namespace) -> int:
    from postbay.media import PRESETS

    if args.json:
        print(json.dumps([{"name": p.name, "description": p.description, "codec": p.codec, "pix_fmt": p.pix_fmt,
                           "containers": list(p.containers)} for p in PRESETS.values()], indent=2))
        return 0
    for p in PRESETS.values():
        print(f"{p.name}: {p.description} [{p.codec}, {p.pix_fmt}, {'/'.join(p.containers)}]")
    return 0


def _inspect_summary(report: dict[str, Any]) -> str:
    lines = [(f"{report.get('shot', report['file'])}: {report['width']}x{report['height']}, "
              f"{report['frames']} frames, {len(report['shots'])} shot(s), inspected at "
              f"{report['analysis']['realtime']}x real time")]
    lines += [f"  {p['severity']:>6}  {p['message']}" for p in report["problems"]] or ["  no problem found"]
    lines += [f"  auto: {s['reason']}" for s in report["recommend"]] or ["  auto: no processing step"]
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    from postbay.inspect import inspect_clip
    from postbay.inspect.html import rank_variations, reference_colour, write_html
    from postbay.timeline import TIMELINE_SUFFIXES

    inputs = _expand_inputs(args.inputs)
    reference = reference_colour(args.reference) if args.reference else None
    reports: list[dict[str, Any]] = []
    cuts: list[dict[str, Any]] = []
    for src in inputs:
        if src.suffix.lower() in TIMELINE_SUFFIXES:
            from postbay.timeline.inspect_cut import inspect_timeline

            cut = inspect_timeline(src, media_roots=[Path(r) for r in args.media_root], rate=args.rate,
                                   speech=args.speech)
            cuts.append(cut)
            reports.extend(cut["clips"])
            continue
        bar = Progress(src.name, enabled=not args.json)
        report = inspect_clip(src, progress=bar)
        bar.close()
        if args.speech:
            from postbay.processors.captions import add_speech

            add_speech(report, src)
        reports.append(report)
    continuity = [j for cut in cuts for j in cut["continuity"]]
    if args.html:
        write_html(reports, args.html, reference, continuity=continuity if cuts else None)
    plain = [{k: v for k, v in r.items() if k != "thumbnails"} for r in reports]
    if args.json:
        out: Any = plain[0] if len(plain) == 1 and not cuts else {"clips": plain}
        if cuts:
            out.update(continuity=continuity, problems=[p for cut in cuts for p in cut["problems"]])
        elif len(plain) > 1:
            out["ranking"] = rank_variations(reports, reference)
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(_inspect_summary(r) for r in reports))
        for problem in (p for cut in cuts for p in cut["problems"]):
            print(f"{problem['severity']:>8}  {problem['message']}")
        if len(reports) > 1 and not cuts:
            for entry in rank_variations(reports, reference):
                print(f"{entry['rank']}. {entry['file']} ({entry['why']})")
        if args.html:
            print(f"report {args.html}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from postbay.demo import run_demo

    return run_demo(Path(args.out), recipe=args.recipe, frames=args.frames, quiet=args.quiet, as_json=args.json)


def cmd_daemon(args: argparse.Namespace) -> int:
    """The hot-folder daemon with the HTTP API and dashboard beside it. The shell joins the
    two: the daemon does not import the bridge, it is handed the API as a service."""
    from postbay.bridge.api import api_service
    from postbay.daemon.cli import cmd_daemon as run_daemon

    return run_daemon(args, services=[api_service])


def cmd_start(args: argparse.Namespace) -> int:
    """The main job on its embedded defaults: the hot-folder daemon (what `make run` starts)."""
    return cmd_daemon(args)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("run", help="finish clips (or timelines) with a recipe")
    p.add_argument("inputs", nargs="+", help="media files, globs, or edit lists")
    p.add_argument("--recipe", "-r", default=None,
                   help=f"built-in recipe name or a recipe .toml (default: {DEFAULT_RECIPE})")
    p.add_argument("--out", "-o", default="out", help="output folder (default: ./out)")
    p.add_argument("--media-root", action="append", default=[], help="where to look for a timeline's media")
    p.add_argument("--handles", type=int, default=None, help="frames of handle each side of a used range")
    p.add_argument("--rate", default=None, help="frame rate of an EDL or an image sequence (e.g. 25, 24000/1001; "
                                                "a sequence defaults to 24)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true", help="print the plan (recipe, steps, outputs), render nothing")
    p.add_argument("--json", action="store_true", help="results (or the --dry-run plan) as JSON on stdout")
    exists = p.add_mutually_exclusive_group()
    exists.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    exists.add_argument("--skip-existing", action="store_true", help="leave inputs whose output exists")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("probe", help="describe media files as JSON")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON document (a list for several files)")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("processors", help="list processors and their parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_processors)

    p = sub.add_parser("recipes", help="list recipes")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_recipes)

    p = sub.add_parser("presets", help="list encode presets")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("inspect", help="measure what is wrong with clips and say what would fix it")
    p.add_argument("inputs", nargs="+", help="media files or globs (several: variations of one scene, ranked)")
    p.add_argument("--json", action="store_true", help="print the measures as JSON")
    p.add_argument("--html", default=None, metavar="REPORT.html", help="write a self-contained HTML report")
    p.add_argument("--reference", default=None, metavar="STILL|LOOK",
                   help="rank variations by their colour distance to this still (PNG, JPEG, TIFF), or by how "
                        "far this look (a .cube or other LUT) would move their colour")
    p.add_argument("--media-root", action="append", default=[], help="where to look for a timeline's media")
    p.add_argument("--rate", default=None, help="frame rate of an EDL (e.g. 25, 24000/1001)")
    p.add_argument("--speech", action=argparse.BooleanOptionalAction, default=True,
                   help="listen with Whisper to each clip or shot that has sound: is there speech, and can it be "
                        "transcribed with confidence (default: on; ~0.1 s a clip with no voice, ~2 s with one)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("demo", help="make a synthetic AI-looking clip and finish it")
    p.add_argument("--out", "-o", default="postbay-demo")
    p.add_argument("--recipe", "-r", default=None, help="recipe to run (default: finish, else passthrough)")
    p.add_argument("--frames", type=int, default=72)
    p.add_argument("--quiet", "-q", action="store_true")
    p.add_argument("--json", action="store_true", help="the source, output and report as JSON")
    p.set_defaults(func=cmd_demo)

    ready = "once ready, one JSON line (pid, config, data, folders, dashboard); the log stays on stderr"
    p = sub.add_parser("daemon", help="run the hot-folder daemon in the foreground")
    p.add_argument("--json", action="store_true", help=ready)
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("start", help="start postbay's main job on its embedded defaults")
    p.add_argument("--json", action="store_true", help=ready)
    p.set_defaults(func=cmd_start)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, except that a usage mistake under ``--json`` is a JSON document too."""

    json_errors = False  # set on every parser of a command line that asks for --json

    def error(self, message: str) -> NoReturn:
        if self.json_errors:
            raise _UsageError(f"{self.prog}: {message}")
        super().error(message)


class _UsageError(Exception):
    pass


def _parsers(parser: argparse.ArgumentParser,
             path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``parser`` and all its subcommands' parsers, each with its words (``("resolve", "install")``)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield from _parsers(subparser, (*path, name))


def commands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command a user runs, as ``("resolve install", its parser)`` (not ``resolve`` alone)."""
    for path, command in _parsers(parser):
        if path and not any(isinstance(a, argparse._SubParsersAction) for a in command._actions):
            yield " ".join(path), command


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="postbay", description="Finishing service for AI-generated video.")
    parser.add_argument("--version", action="version", version=f"postbay {__version__}")
    parser.add_argument("--config", "-c", default=None, help="config file (default: embedded defaults)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    for subparser in sub.choices.values():  # `postbay jobs --config X` as well as `postbay --config X jobs`
        if not any("--config" in a.option_strings for a in subparser._actions):
            subparser.add_argument("--config", "-c", default=argparse.SUPPRESS, help="config file")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    words = sys.argv[1:] if argv is None else argv
    as_json = "--json" in words
    for _, command in _parsers(parser):
        command.json_errors = as_json  # type: ignore[attr-defined]
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print_json(error_document(str(exc), hint="postbay COMMAND --help lists its options"))
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        # `postbay status --json | head`: the reader has what it wanted; nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except PostbayError as exc:
        if as_json:
            print_json(error_document(str(exc), path=exc.path, hint=exc.hint))
        else:
            print(f"postbay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if as_json:
            print_json(error_document("interrupted"))
        else:
            print("postbay: interrupted", file=sys.stderr)
        return 130
