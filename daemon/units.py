"""systemd units for this installation: ``postbay service install [--user] [--config FILE]``.

The templates live in ``service/`` (``postbay.service`` for the machine, run as the
``postbay`` user with the file system read-only except the data dir and the configured
folders; ``postbay-user.service`` for ``systemctl --user`` on a workstation). Rendering fills
in the venv's ``postbay``, the config, and the folders the service may write.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from postbay.config import Config, load_config
from postbay.errors import PostbayError

from .settings import default_config

__all__ = ["UNIT_NAME", "install", "postbay_command", "render_unit", "uninstall", "unit_path"]

UNIT_NAME = "postbay.service"

def _templates() -> Path:
    """The unit templates: shipped in the package ``postbay.service`` (the top-level ``service/``)."""
    import postbay.service

    return Path(postbay.service.__file__).resolve().parent


_TEMPLATES = _templates()
_HOMES = ("/home", "/root", "/run/user")


def postbay_command() -> list[str]:
    """How to start this installation's postbay: the venv's script, else ``python -m postbay``."""
    script = Path(sys.executable).parent / "postbay"
    if script.exists():
        return [str(script.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "postbay"]


def _quote(path: Path | str) -> str:
    text = str(path)
    return f'"{text}"' if any(c in text for c in " \t\"'") else text


def _in_home(path: Path) -> bool:
    text = str(path)
    return any(text == h or text.startswith(h + "/") for h in _HOMES)


def _writable_paths(config: Config) -> list[Path]:
    paths = {config.data_dir}
    for w in config.watch:
        paths.add(w.path)
        paths.add(w.output_dir())
    if config.api.inbox is not None:
        paths.add(config.api.inbox)
    # a folder inside another one listed is covered by it
    ordered = sorted(paths, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for p in ordered:
        if not any(p.is_relative_to(k) for k in kept):
            kept.append(p)
    return kept


def render_unit(config_path: str | Path | None = None, *, user: bool = False) -> str:
    """The unit text for this installation (``config_path`` None: the embedded default,
    run in ``/var/lib/postbay`` or, for a user unit, ``~/postbay``)."""
    template = _TEMPLATES / ("postbay-user.service" if user else "postbay.service")
    if not template.exists():
        raise PostbayError("the unit template is missing from this installation", path=template)
    command = postbay_command() + ["daemon"]
    if config_path is not None:
        config_path = Path(config_path).expanduser().resolve()
        config = load_config(config_path)
        command += ["--config", str(config_path)]
        working = config_path.parent
    else:
        working = Path.home() / "postbay" if user else Path("/var/lib/postbay")
        config = load_config(None, base=working)
    config = default_config(config)
    writable = _writable_paths(config)
    read_only = [Path(command[0]), *([Path(config_path)] if config_path else [])]
    if any(_in_home(p) for p in writable):
        protect_home = "read-only"  # the writable folders below are opened up again
    elif any(_in_home(p) for p in read_only):
        protect_home = "read-only"
    else:
        protect_home = "yes"
    # "-" lets the unit start before a folder exists (the daemon creates it)
    rw = " ".join("-" + _quote(p) for p in writable)
    exec_start = " ".join(shlex.quote(c) if " " not in c else _quote(c) for c in command)
    return template.read_text().format(exec_start=exec_start, working_directory=_quote(working),
                                       read_write_paths=rw, protect_home=protect_home,
                                       stop_timeout=int(config.workers.grace_seconds) + 30)


def unit_path(user: bool) -> Path:
    if user:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        return base / "systemd" / "user" / UNIT_NAME
    return Path("/etc/systemd/system") / UNIT_NAME


def _commands(user: bool) -> list[str]:
    ctl = "systemctl --user" if user else "sudo systemctl"
    journal = "journalctl --user -u postbay -f" if user else "journalctl -u postbay -f"
    cmds = [f"{ctl} daemon-reload", f"{ctl} enable --now postbay", f"{ctl} status postbay", journal,
            f"{ctl} reload postbay    # re-read the config (SIGHUP)"]
    if not user:
        cmds.insert(0, "sudo useradd --system --home /var/lib/postbay --shell /usr/sbin/nologin postbay"
                       "    # once, if the user does not exist")
    else:
        cmds.append("loginctl enable-linger $USER    # keep it running when you log out")
    return cmds


def install(config_path: str | Path | None = None, *, user: bool = False, dry_run: bool = False) -> int:
    text = render_unit(config_path, user=user)
    target = unit_path(user)
    if dry_run:
        print(f"# would write {target}\n{text}")
    else:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        except OSError as exc:
            raise PostbayError(f"cannot write the unit: {exc.strerror}", path=target,
                               hint="run as root for a system unit, or use --user") from None
        print(f"wrote {target}")
        analyze = shutil.which("systemd-analyze")
        if analyze:
            check = subprocess.run([analyze, *(["--user"] if user else []), "verify", str(target)],
                                   capture_output=True, text=True)
            if check.returncode != 0:
                print(f"systemd-analyze verify says:\n{check.stderr.strip()}", file=sys.stderr)
    print("next:")
    for cmd in _commands(user):
        print(f"  {cmd}")
    return 0


def uninstall(*, user: bool = False, dry_run: bool = False) -> int:
    target = unit_path(user)
    ctl = ["systemctl", *(["--user"] if user else [])]
    if not target.exists():
        print(f"no unit at {target}; nothing to remove")
        return 0
    if dry_run:
        print(f"would run: {' '.join(ctl)} disable --now postbay\nwould remove {target}")
        return 0
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        # stop it and drop the enable links while the unit file still exists
        subprocess.run([*ctl, "disable", "--now", "postbay"], check=False)
    try:
        target.unlink()
    except OSError as exc:
        raise PostbayError(f"cannot remove the unit: {exc.strerror}", path=target,
                           hint="run as root for a system unit") from None
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        subprocess.run([*ctl, "daemon-reload"], check=False)
    print(f"removed {target}")
    return 0
