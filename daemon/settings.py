"""The daemon's settings beyond what the config file says: where its ledger lives, the
embedded default folders, and the checks pydantic cannot make alone.

The daemon, its commands and the bridge (API, submit client) all read these, so they live
apart from the service loop: the bridge imports this module, never the daemon itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from postbay.config import Config, WatchConfig
from postbay.errors import ConfigError, PostbayError
from postbay.recipe import find_recipes, load_recipe

from .schedule import cron_trigger, parse_window

__all__ = ["check_config", "default_config", "ledger_path"]


def ledger_path(config: Config) -> Path:
    """The SQLite ledger of the jobs, in the config's data folder."""
    return config.data_dir / "ledger.sqlite"


def default_config(config: Config) -> Config:
    """The embedded default: ``<data_dir>/watch/<recipe>`` for every known recipe, outputs
    in ``<data_dir>/out/<recipe>``, when the config names no folder."""
    if config.watch:
        return config
    config = config.model_copy(deep=True)
    for name in sorted(find_recipes(config.recipes)):
        config.watch.append(WatchConfig(path=config.data_dir / "watch" / name, recipe=name,
                                        output=config.data_dir / "out" / name, create=True))
    return config


def check_config(config: Config) -> None:
    """What pydantic cannot check alone: recipes exist, windows and crons parse, folders do
    not overlap, some worker slot exists. Raises :class:`ConfigError` naming the key."""
    src = config.source
    problems: list[str] = []
    if config.gpu == "required":
        from postbay.backend import cupy_available

        if config.workers.gpu == 0 or not cupy_available():
            problems.append("gpu: \"required\" but no CUDA device is usable here, or workers.gpu is 0 "
                            "(set gpu = \"auto\" to fall back to the CPU)")
    if config.executor.kind == "ray":
        from .cluster import PathMap, ray_installed

        if not ray_installed():
            problems.append('executor.kind: "ray" needs Ray, which is not installed here '
                            "(pip install 'postbay[cluster]', or set kind = \"local\")")
        try:
            PathMap.parse(config.executor.path_map)
        except ConfigError as exc:
            problems.append(exc.message)
    if config.workers.cpu + config.workers.gpu == 0:
        problems.append("workers.cpu: 0 with workers.gpu 0 leaves no worker slot (set workers.cpu = 1 or more)")
    seen: dict[Path, int] = {}
    for i, w in enumerate(config.watch):
        key = f"watch[{i}]"
        try:
            load_recipe(w.recipe, search_dirs=config.recipes)
        except PostbayError as exc:
            problems.append(f"{key}.recipe: {exc} (use a built-in name from `postbay recipes` or a .toml path)")
        if not w.create and not w.path.is_dir():
            # a NAS that is not mounted must not be replaced by an empty local folder
            problems.append(f"{key}.path: {w.path} does not exist (a share that is not mounted?) "
                            "(mount it, create it, or set create = true to have the daemon make it)")
        if w.path in seen:
            problems.append(f"{key}.path: {w.path} is also watch[{seen[w.path]}].path (one recipe per folder)")
        seen[w.path] = i
        out = w.output_dir()
        if out == w.path:
            problems.append(f"{key}.output: the output folder is the drop folder itself (set output to another folder)")
        if w.cron is not None:
            _parses(problems, f"{key}.cron", cron_trigger, w.cron)
    for a, wa in enumerate(config.watch):
        for b, wb in enumerate(config.watch):
            if a != b and wa.recursive and wb.path != wa.path and wb.path.is_relative_to(wa.path):
                problems.append(f"watch[{b}].path: inside watch[{a}].path, which is recursive "
                                f"(set watch[{a}].recursive = false or move the folder)")
    for i, s in enumerate(config.schedule):
        key = f"schedule[{i}]"
        if s.window is None and s.cron is None:
            problems.append(f"{key}: needs window = \"mon-fri 20:00-06:00\" or cron = \"0 2 * * *\"")
        if s.window is not None:
            _parses(problems, f"{key}.window", parse_window, s.window)
        if s.cron is not None:
            _parses(problems, f"{key}.cron", cron_trigger, s.cron)
    if problems:
        raise ConfigError("; ".join(problems), path=src)


def _parses(problems: list[str], key: str, parse: Callable[[str], object], value: str) -> None:
    """Note ``key: why`` in ``problems`` when ``parse`` refuses ``value`` (a window, a cron line)."""
    try:
        parse(value)
    except ValueError as exc:
        problems.append(f"{key}: {exc}")
