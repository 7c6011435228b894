"""Bridge commands: ``postbay submit`` (through the API, or the hot folder) and
``postbay resolve install`` (the DaVinci Resolve scripts)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

from postbay.errors import PostbayError
from postbay.jsonout import print_json

__all__ = ["add_commands", "cmd_api", "cmd_resolve_install", "cmd_submit", "resolve_scripts_folder"]

RESOLVE_SCRIPTS = ("Send timeline to postbay.py", "Import finished postbay timelines.py")
RESOLVE_LIBRARY = "postbay_resolve.py"
#: Hidden folder beside the scripts: the shared code and settings (hidden, so Resolve's menu skips it).
RESOLVE_SUPPORT = ".postbay"


def _progress_line(job: dict[str, Any]) -> None:
    from postbay.daemon.ledger import pace

    if sys.stderr.isatty():
        print(f"\r\x1b[K{job['id']}  {job['state']:<9} {pace(job)}", end="", file=sys.stderr, flush=True)


def cmd_submit(args: argparse.Namespace) -> int:
    """Queue a file through the API; drop it into the recipe's hot folder when no API answers."""
    from postbay.bridge.client import ApiClient, ApiError, api_url, drop_into_hot_folder
    from postbay.config import load_config

    config = load_config(getattr(args, "config", None))
    path = Path(args.path).expanduser()
    if not path.is_file():
        raise PostbayError("no such file", path=path)
    url = args.url or os.environ.get("POSTBAY_URL") or api_url(config)
    client = ApiClient(url, token=args.token or os.environ.get("POSTBAY_TOKEN") or config.api.token)
    if not client.alive():
        target = drop_into_hot_folder(path, config, args.recipe)
        if args.json:
            print_json({"api": None, "dropped": str(target), "source": str(path), "recipe": args.recipe})
        else:
            print(f"no postbay API answered at {url}; dropped {path} into the hot folder: {target}")
        if args.wait:
            print("(--wait needs the API; follow it with `postbay jobs`)", file=sys.stderr)
        return 0
    try:
        job = client.upload(path, args.recipe) if args.upload else client.submit(path.resolve(), args.recipe, args.out)
    except ApiError as exc:
        if exc.status == 403 and not args.upload:
            raise PostbayError(str(exc), hint="the daemon only reads inside its roots: add the folder to "
                                              "media_roots, or send the file itself with --upload") from None
        raise
    if not args.json:
        print(f"job {job['id']} {job['state']}: {path.name} with {args.recipe} -> {job['output_dir']}")
    if args.wait:
        job = client.wait(job["id"], interval=0.5, timeout=args.timeout, on_progress=_progress_line)
        if sys.stderr.isatty():
            print(file=sys.stderr)
    if args.json:  # the job as the API gives it: queued, or (--wait) as it ended
        print_json(job)
    elif args.wait:
        _say_ended(job)
    return 1 if args.wait and job["state"] not in ("done", "skipped") else 0


def _say_ended(job: dict[str, Any]) -> None:
    from postbay.daemon.ledger import pace

    if job["state"] == "done":
        took = pace(job)
        print(f"done {job['id']}{' ' + took if took else ''}: " + ", ".join(job["outputs"]))
    elif job["state"] == "skipped":
        print(f"skipped {job['id']}: its output exists (existing_output = \"skip\"); kept {job['outputs'][0]}")
    else:
        print(f"{job['state'].upper()} {job['id']}: {job.get('error') or job['state']}", file=sys.stderr)


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the API and dashboard over the ledger without the daemon (which normally starts
    them): to look at the queue from a machine where the daemon does not run."""
    from postbay.bridge.api import serve
    from postbay.config import load_config
    from postbay.daemon.ledger import Ledger
    from postbay.daemon.settings import default_config, ledger_path

    config = default_config(load_config(getattr(args, "config", None)))
    if args.port is not None:
        config.api.port = args.port
    with Ledger(ledger_path(config)) as ledger:
        address = f"http://{config.api.host}:{config.api.port}"
        if args.json:  # one line, before serving: for whatever started it
            print_json({"api": address, "dashboard": f"{address}/", "ledger": str(ledger.path)}, indent=None)
        else:
            print(f"postbay API and dashboard on {address} (ledger {ledger.path}); "
                  "jobs wait in the queue until a daemon runs", flush=True)
        serve(config, ledger)
    return 0


def resolve_scripts_folder(system: str | None = None) -> Path:
    """Resolve's per-user Scripts folder for this system; scripts go in its ``Utility``
    subfolder, which Resolve lists under Workspace > Scripts on every page."""
    system = system or platform.system()
    home = Path.home()
    if system == "Darwin":
        base = home / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"
    elif system == "Windows":
        appdata = Path(os.environ.get("APPDATA", home / "AppData/Roaming"))
        base = appdata / "Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts"
    else:
        base = home / ".local/share/DaVinciResolve/Fusion/Scripts"
    return base / "Utility"


def cmd_resolve_install(args: argparse.Namespace) -> int:
    """Copy the two scripts (and their shared code and settings) into Resolve's Scripts folder."""
    from postbay.bridge.client import api_url
    from postbay.config import load_config

    config = load_config(getattr(args, "config", None))
    dest = Path(args.dest).expanduser() if args.dest else resolve_scripts_folder()
    source = Path(__file__).resolve().parent / "resolve"
    support = dest / RESOLVE_SUPPORT
    try:
        support.mkdir(parents=True, exist_ok=True)
        for name in RESOLVE_SCRIPTS:
            shutil.copyfile(source / name, dest / name)
        shutil.copyfile(source / RESOLVE_LIBRARY, support / RESOLVE_LIBRARY)
        settings = {
            "api_url": args.url or api_url(config),
            "token": config.api.token,
            "hot_folders": {w.recipe: {"path": str(w.path), "output": str(w.output_dir())} for w in config.watch},
            "default_recipe": args.recipe,
        }
        settings_path = support / "settings.json"
        settings_path.write_text(json.dumps(settings, indent=2) + "\n")
        settings_path.chmod(0o600)  # it may hold the API token
    except OSError as exc:
        raise PostbayError(f"cannot install the Resolve scripts: {exc.strerror}", path=dest,
                           hint="pass --dest with a folder you can write") from None
    if args.json:
        print_json({"installed": [str(dest / name) for name in RESOLVE_SCRIPTS],
                    "library": str(support / RESOLVE_LIBRARY), "settings": str(settings_path),
                    "api_url": settings["api_url"]})
        return 0
    print(f"installed the postbay scripts for DaVinci Resolve in {dest}:")
    for name in RESOLVE_SCRIPTS:
        print(f"    {dest / name}")
    print(f"    settings: {settings_path} (API {settings['api_url']})")
    print("In Resolve: Workspace > Scripts > Send timeline to postbay")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check this machine and config; exit 1 when something would make jobs fail."""
    from postbay.config import load_config

    from .doctor import diagnose

    checks = diagnose(load_config(getattr(args, "config", None)))
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        for check in checks:
            print(check.line())
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check Python, FFmpeg, OCIO, GPU, disk, folders and port: OK/WARN/FAIL")
    p.add_argument("--json", action="store_true", help="a JSON list of checks")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("submit", help="send a file or timeline to the daemon (API, else its hot folder)")
    p.add_argument("path", help="media file or timeline")
    p.add_argument("--recipe", "-r", required=True, help="recipe name")
    p.add_argument("--out", default=None, help="output folder inside the daemon's roots")
    p.add_argument("--wait", action="store_true", help="follow the job until it is done or failed")
    p.add_argument("--upload", action="store_true", help="send the file itself (the daemon cannot read its path)")
    p.add_argument("--url", default=None, help="API address (default: from the config, or $POSTBAY_URL)")
    p.add_argument("--token", default=None, help="API token (default: from the config, or $POSTBAY_TOKEN)")
    p.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")
    p.add_argument("--json", action="store_true", help="the job as JSON (with --wait: as it ended)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("api", help="serve the HTTP API and dashboard without the daemon")
    p.add_argument("--port", type=int, default=None, help="port (default: [api] port of the config)")
    p.add_argument("--json", action="store_true", help="one JSON line with the address before serving")
    p.set_defaults(func=cmd_api)

    p = sub.add_parser("resolve", help="DaVinci Resolve integration")
    rsub = p.add_subparsers(dest="resolve_command", metavar="ACTION", required=True)
    q = rsub.add_parser("install", help="copy the postbay scripts into Resolve's Scripts folder")
    q.add_argument("--dest", default=None, help="folder to install into (default: Resolve's user Scripts/Utility)")
    q.add_argument("--url", default=None, help="API address the scripts use (default: from the config)")
    q.add_argument("--recipe", default="finish", help="recipe the scripts offer first (default: finish)")
    q.add_argument("--config", "-c", default=argparse.SUPPRESS, help="config file")
    q.add_argument("--json", action="store_true", help="where the scripts and settings went, as JSON")
    q.set_defaults(func=cmd_resolve_install)
