"""Where a running daemon can be found from any folder: one small JSON file per daemon.

``postbay status`` and ``postbay jobs`` without ``--config`` must find the daemon the user
started, wherever they run from. So each daemon, once ready, records its pid, config, data
dir, ledger and API address in ``$XDG_RUNTIME_DIR/postbay/daemon-PID.json`` (or, without a
runtime dir, ``$XDG_STATE_HOME/postbay/`` = ``~/.local/state/postbay/``) and removes it when
it stops. Readers skip files whose pid is gone (a daemon killed with -9).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from postbay.publish import write_json_atomic

from .ledger import pid_alive

__all__ = ["publish_state", "running_daemons", "state_dir", "withdraw_state"]


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user folder of daemon state files."""
    env = os.environ if environ is None else environ
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "postbay"
    state_home = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(state_home) / "postbay"


def publish_state(info: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Path | None:
    """Record this daemon (``info``: pid, config, data_dir, ledger, api); ``None`` when the
    folder cannot be written (the daemon runs on, only harder to find)."""
    folder = state_dir(environ)
    path = folder / f"daemon-{os.getpid()}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_json_atomic(path, {"pid": os.getpid(), **info})
    except OSError:
        return None
    return path


def withdraw_state(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def running_daemons(environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """State of the daemons of this user that are alive, newest first."""
    found = []
    for path in state_dir(environ).glob("daemon-*.json"):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and pid_alive(info.get("pid")):
            found.append(info | {"state_file": str(path)})
    return sorted(found, key=lambda i: i.get("started", 0), reverse=True)
