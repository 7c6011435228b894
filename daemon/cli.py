"""Commands of the service: ``postbay daemon``, ``jobs``, ``retry``, ``cancel``, ``status``, ``service``,
``cluster``.

All but ``daemon`` only read (or, for retry/cancel, change one row of) the ledger: that of
``--config`` when given, else that of the daemon running for this user (found through its
state file, :mod:`.state`), so they work from any folder; they never create a ledger.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from postbay.config import Config, load_config
from postbay.jsonout import human_to_stderr, print_json

from .ledger import STATES

if TYPE_CHECKING:
    from .daemon import Service

__all__ = ["add_commands", "cmd_cancel", "cmd_cluster", "cmd_daemon", "cmd_jobs", "cmd_retry", "cmd_service",
           "cmd_status"]


def _config(args: argparse.Namespace) -> Config:
    return _located(args)[0]


def _located(args: argparse.Namespace) -> tuple[Config, dict[str, Any] | None]:
    """The config whose ledger a command reads: ``--config`` when given, else that of the
    daemon running for this user (its state file), else the embedded defaults here."""
    from postbay.errors import PostbayError

    from .settings import default_config
    from .state import running_daemons, state_dir

    path = getattr(args, "config", None)
    if path:
        return default_config(load_config(path)), None
    daemons = running_daemons()
    if len(daemons) > 1:
        listing = ", ".join(f"pid {d['pid']} ({d.get('config') or 'embedded defaults'})" for d in daemons)
        raise PostbayError(f"{len(daemons)} postbay daemons are running: {listing}", path=state_dir(),
                           hint="pass --config to say which one")
    if not daemons:
        return default_config(load_config(None)), None
    info = daemons[0]
    config = load_config(info.get("config"))
    return default_config(config.model_copy(update={"data_dir": Path(info["data_dir"])})), info


def _ledger(config: Config) -> Any:
    """The ledger of ``config``; a command that only reads or changes jobs never creates one."""
    from postbay.errors import PostbayError

    from .ledger import Ledger
    from .settings import ledger_path
    from .state import state_dir

    path = ledger_path(config)
    if not path.exists():
        raise PostbayError(f"no job ledger here, and no running daemon found in {state_dir()}", path=path,
                           hint="start one with `postbay daemon` (or `make run`), or pass --config CONFIG")
    return Ledger(path)


def cmd_daemon(args: argparse.Namespace, services: Sequence[Service] = ()) -> int:
    """Run the hot-folder daemon in the foreground until SIGTERM/SIGINT, with ``services``
    (the HTTP API, handed in by the command-line shell) beside it."""
    from .daemon import Daemon

    config_path = getattr(args, "config", None)
    config = load_config(config_path)
    daemon = Daemon(config, config_path=config_path, services=tuple(services))  # validates: a bad config stops here
    cfg = daemon.config
    if getattr(args, "json", False):  # one line once ready, for whatever started it; the log is on stderr
        daemon.on_ready = lambda url: print_json({
            "pid": os.getpid(), "config": cfg.source, "data_dir": str(cfg.data_dir),
            "folders": [{"path": str(w.path), "recipe": w.recipe, "output": str(w.output_dir())} for w in cfg.watch],
            "dashboard": f"{url}/" if url else None}, indent=None)
        return daemon.run()
    print(f"postbay daemon: config {cfg.source}, data in {cfg.data_dir}", flush=True)
    for w in cfg.watch:
        print(f"  drop files into {w.path}  -> {w.recipe} -> {w.output_dir()}", flush=True)
    print("  Ctrl-C stops (running jobs finish first); `postbay jobs` lists jobs", flush=True)
    return daemon.run()


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _times(job: Any) -> str:
    """When a job was queued, or started and (once ended) finished, by the wall clock."""
    if job.state == "queued" or job.started is None:
        return f"queued {_when(job.created)}"
    ended = f", finished {_when(job.finished)}" if job.state != "running" and job.finished else ""
    return f"started {_when(job.started)}{ended}"


def _pace(job: Any) -> str:
    """`` 42% denoise 1/7, 0:31 elapsed, ETA 0:43`` for a running job; `` in 1:02`` for an ended one."""
    text = job.pace()
    return f" {text}" if text else ""


def cmd_jobs(args: argparse.Namespace) -> int:
    config = _config(args)
    with _ledger(config) as ledger:
        jobs = ledger.list(args.state)
    if args.json:
        print_json([j.to_dict() | j.timing() for j in jobs])
        return 0
    if not jobs:
        print("no jobs" + (f" in state {args.state}" if args.state else ""))
        return 0
    for j in jobs:
        node = f" on {j.node}" if j.node else ""
        print(f"{j.id}  {j.state:<9}{_pace(j)}{node}  {j.recipe:<12} {j.source}  (attempts {j.attempts}, "
              f"{_times(j)})")
        if j.error and j.state in ("failed", "queued"):
            print(f"    {j.error}")
        for out in j.outputs:
            print(f"    {'kept (it existed)' if j.state == 'skipped' else '->'} {out}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _ledger(_config(args)) as ledger:
        job = ledger.retry(args.job)
    if args.json:
        print_json(job.to_dict())
    else:
        print(f"job {job.id} queued again ({job.source})")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with _ledger(_config(args)) as ledger:
        job = ledger.cancel(args.job)
    if args.json:
        print_json(job.to_dict())
    else:
        print(f"job {job.id} cancelled ({job.source})")
    return 0


def _gpu_slots(config: Config) -> int:
    """GPU worker slots this config gets on this machine (none without a CUDA device)."""
    if config.gpu == "off" or config.workers.gpu == 0:
        return 0
    from postbay.backend import cupy_available

    return config.workers.gpu if cupy_available() else 0


def cmd_status(args: argparse.Namespace) -> int:
    from .ledger import pid_alive
    from .settings import ledger_path
    from .space import low_space
    from .state import state_dir

    config, info = _located(args)
    path = ledger_path(config)
    counts: dict[str, int] = {}
    state: dict[str, Any] = {}
    if path.exists():
        with _ledger(config) as ledger:
            counts = ledger.counts()
            state = ledger.daemon_state()
    alive = bool(state.get("running")) and pid_alive(state.get("pid")) and time.time() - state.get("beat", 0) < 30
    workers = state.get("workers", []) if alive else []
    running = {}
    if workers:
        with _ledger(config) as ledger:
            running = {j.id: j for j in ledger.list("running")}
    for w in workers:  # what each busy worker's job is doing, and its pace
        job = running.get(w["job"])
        if job is not None:
            w.update(source=job.source, progress=job.progress, step=job.step, started=job.started, **job.timing())
    report = {"daemon": {"running": alive, "pid": state.get("pid") if alive else None,
                         "last_beat": state.get("beat"), "config": state.get("config", config.source),
                         "api": info.get("api") if info else None},
              "queue": counts, "workers": workers,
              "executor": state.get("executor", config.executor.kind),
              "cluster": state.get("cluster", []) if alive else [],
              "slots": state.get("slots") if alive else {"cpu": config.workers.cpu, "gpu": _gpu_slots(config)},
              "folders": state.get("folders") if alive else
              [{"path": str(w.path), "recipe": w.recipe, "output": str(w.output_dir())} for w in config.watch],
              "ledger": str(path) if path.exists() else None,
              "looked_in": [str(state_dir()), str(path)],
              # asked of the disks here too: a full disk may have kept the daemon from saying so
              "paused": low_space([config.data_dir, *(w.output_dir() for w in config.watch)],
                                  config.limits.min_free_mb) or (state.get("paused") if alive else None)}
    if args.json:
        print_json(report)
        return 0
    d = report["daemon"]
    print(f"daemon: {'running, pid ' + str(d['pid']) if alive else 'not running'} (config {d['config']})")
    if not alive:
        print(f"    looked for a running daemon in {state_dir()} and for a ledger at {path}")
    if d["api"]:
        print(f"dashboard: {d['api']}")
    if counts:
        print("queue: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    slots = report["slots"]
    gpu = f" + {slots['gpu']} GPU" if slots.get("gpu") else ""
    print(f"workers: {len(report['workers'])} busy of {slots.get('cpu', 0)} CPU{gpu} slot(s)")
    for w in report["workers"]:
        job = running.get(w["job"])
        pace = f":{_pace(job)}  {Path(job.source).name}" if job else ""
        where = f" on node {w['node']}" if w.get("node") else ""
        print(f"    job {w['job']} in pid {w['pid']}{where}{' (GPU)' if w.get('gpu') else ''}{pace}")
    if report["cluster"]:
        print(f"cluster ({report['executor']}):")
        for n in report["cluster"]:
            state_ = "" if n["alive"] else "  DOWN"
            print(f"    {n['node']:<16} {n['address']:<16} {n['cpus']:g} CPU, {n['gpus']:g} GPU, "
                  f"{len(n['jobs'])} job(s){state_}")
    print("folders:")
    for f in report["folders"] or []:
        print(f"    {f['path']} -> {f['recipe']} -> {f['output']}{'  [' + f['mode'] + ']' if 'mode' in f else ''}")
    print(f"ledger: {report['ledger'] or 'none yet'}")
    if report["paused"]:
        print(f"PAUSED: {report['paused']}")
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    from .units import install, render_unit, uninstall, unit_path

    config_path = getattr(args, "config", None)
    target = unit_path(args.user)
    existed = target.exists()
    with human_to_stderr(args.json):
        if args.action == "install":
            status = install(config_path=config_path, user=args.user, dry_run=args.dry_run)
        else:
            status = uninstall(user=args.user, dry_run=args.dry_run)
    if args.json:
        document: dict[str, Any] = {"action": args.action, "unit": str(target), "dry_run": args.dry_run}
        if args.action == "install":
            document.update(written=not args.dry_run, text=render_unit(config_path, user=args.user))
        else:
            document["removed"] = existed and not args.dry_run and not target.exists()
        print_json(document)
    return status


def cmd_cluster(args: argparse.Namespace) -> int:
    """A Ray cluster on this machine for a demo of ``[executor] kind = "ray"`` (docs/cluster.md)."""
    from .cluster import LocalCluster

    config = _config(args)
    cluster = LocalCluster.load(config.data_dir / "cluster")
    if args.action == "stop":
        running = bool(cluster.nodes)
        if running:
            cluster.stop()
        if args.json:
            print_json({"action": "stop", "stopped": running})
        else:
            print("cluster stopped" if running else "no cluster started by postbay is running here")
        return 0
    cluster.start(nodes=args.nodes, cpus=args.cpus)
    if args.json:
        print_json({"action": "start", "address": cluster.address, "nodes": args.nodes, "cpus": args.cpus})
        return 0
    print(f"Ray cluster of {args.nodes} node(s), {args.cpus} CPU(s) each, at {cluster.address}")
    print(f'  in the config: [executor] kind = "ray", address = "{cluster.address}"')
    print("  `postbay cluster stop` stops it")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("jobs", help="list jobs from the ledger")
    p.add_argument("--state", choices=STATES, default=None)
    p.add_argument("--json", action="store_true", help="a JSON list of job objects")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("retry", help="queue a failed or cancelled job again")
    p.add_argument("job", help="job id (a unique prefix is enough)")
    p.add_argument("--json", action="store_true", help="the job as JSON")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("cancel", help="cancel a queued or running job")
    p.add_argument("job", help="job id (a unique prefix is enough)")
    p.add_argument("--json", action="store_true", help="the job as JSON")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("status", help="queue, workers and folders of the daemon")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cluster", help="start or stop a Ray cluster on this machine (a demo of the Ray executor)")
    p.add_argument("action", choices=["start", "stop"])
    p.add_argument("--nodes", type=int, default=2, help="Ray nodes to start here, the head included (default 2)")
    p.add_argument("--cpus", type=int, default=1, help="CPUs each node offers (default 1)")
    p.add_argument("--json", action="store_true", help="the cluster's address (start) or whether one stopped")
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("service", help="install or remove the systemd unit")
    p.add_argument("action", choices=["install", "uninstall"])
    p.add_argument("--user", action="store_true", help="a user unit (systemctl --user) instead of a system unit")
    p.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    p.add_argument("--json", action="store_true", help="the unit's path and text (install) or whether it went")
    p.set_defaults(func=cmd_service)

