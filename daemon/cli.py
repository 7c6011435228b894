"""Commands of the service: ``postbay daemon``, ``jobs``, ``retry``, ``cancel``, ``status``, ``service``,
``cluster``.

All but ``daemon`` only read (or, for retry/cancel, change one row of) the ledger of the
config given, so they work the same with or without a running daemon.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from postbay.config import Config, load_config

if TYPE_CHECKING:
    from .daemon import Service

__all__ = ["add_commands", "cmd_cancel", "cmd_cluster", "cmd_daemon", "cmd_jobs", "cmd_retry", "cmd_service",
           "cmd_status"]


def _config(args: argparse.Namespace) -> Config:
    from .settings import default_config

    return default_config(load_config(getattr(args, "config", None)))


def _ledger(config: Config) -> Any:
    from .ledger import Ledger
    from .settings import ledger_path

    return Ledger(ledger_path(config))


def cmd_daemon(args: argparse.Namespace, services: Sequence[Service] = ()) -> int:
    """Run the hot-folder daemon in the foreground until SIGTERM/SIGINT, with ``services``
    (the HTTP API, handed in by the command-line shell) beside it."""
    from .daemon import Daemon

    config_path = getattr(args, "config", None)
    config = load_config(config_path)
    daemon = Daemon(config, config_path=config_path, services=tuple(services))  # validates: a bad config stops here
    print(f"postbay daemon: config {daemon.config.source}, data in {daemon.config.data_dir}", flush=True)
    for w in daemon.config.watch:
        print(f"  drop files into {w.path}  -> {w.recipe} -> {w.output_dir()}", flush=True)
    print("  Ctrl-C stops (running jobs finish first); `postbay jobs` lists jobs", flush=True)
    return daemon.run()


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def cmd_jobs(args: argparse.Namespace) -> int:
    config = _config(args)
    with _ledger(config) as ledger:
        jobs = ledger.list(args.state)
    if args.json:
        print(json.dumps([j.to_dict() for j in jobs], indent=2))
        return 0
    if not jobs:
        print("no jobs" + (f" in state {args.state}" if args.state else ""))
        return 0
    for j in jobs:
        progress = f" {j.progress * 100:3.0f}%" if j.state == "running" else ""
        progress += f" on {j.node}" if j.node else ""
        print(f"{j.id}  {j.state:<9}{progress}  {j.recipe:<12} {j.source}  (attempts {j.attempts}, "
              f"{_when(j.updated)})")
        if j.error and j.state in ("failed", "queued"):
            print(f"    {j.error}")
        for out in j.outputs:
            print(f"    -> {out}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _ledger(_config(args)) as ledger:
        job = ledger.retry(args.job)
    print(f"job {job.id} queued again ({job.source})")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with _ledger(_config(args)) as ledger:
        job = ledger.cancel(args.job)
    print(f"job {job.id} cancelled ({job.source})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .ledger import pid_alive
    from .space import low_space

    config = _config(args)
    with _ledger(config) as ledger:
        counts = ledger.counts()
        state = ledger.daemon_state()
    alive = bool(state.get("running")) and pid_alive(state.get("pid")) and time.time() - state.get("beat", 0) < 30
    report = {"daemon": {"running": alive, "pid": state.get("pid") if alive else None,
                         "last_beat": state.get("beat"), "config": state.get("config", config.source)},
              "queue": counts, "workers": state.get("workers", []) if alive else [],
              "executor": state.get("executor", config.executor.kind),
              "cluster": state.get("cluster", []) if alive else [],
              "slots": state.get("slots", {"cpu": config.workers.cpu, "gpu": config.workers.gpu}),
              "folders": state.get("folders") if alive else
              [{"path": str(w.path), "recipe": w.recipe, "output": str(w.output_dir())} for w in config.watch],
              "ledger": str(config.data_dir / "ledger.sqlite"),
              # asked of the disks here too: a full disk may have kept the daemon from saying so
              "paused": low_space([config.data_dir, *(w.output_dir() for w in config.watch)],
                                  config.limits.min_free_mb) or (state.get("paused") if alive else None)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    d = report["daemon"]
    print(f"daemon: {'running, pid ' + str(d['pid']) if alive else 'not running'} (config {d['config']})")
    print("queue: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    slots = report["slots"]
    print(f"workers: {len(report['workers'])} busy of {slots.get('cpu', 0)} CPU + {slots.get('gpu', 0)} GPU slot(s)")
    for w in report["workers"]:
        where = f" on node {w['node']}" if w.get("node") else ""
        print(f"    job {w['job']} in pid {w['pid']}{where}{' (GPU)' if w.get('gpu') else ''}")
    if report["cluster"]:
        print(f"cluster ({report['executor']}):")
        for n in report["cluster"]:
            state_ = "" if n["alive"] else "  DOWN"
            print(f"    {n['node']:<16} {n['address']:<16} {n['cpus']:g} CPU, {n['gpus']:g} GPU, "
                  f"{len(n['jobs'])} job(s){state_}")
    print("folders:")
    for f in report["folders"] or []:
        print(f"    {f['path']} -> {f['recipe']} -> {f['output']}{'  [' + f['mode'] + ']' if 'mode' in f else ''}")
    print(f"ledger: {report['ledger']}")
    if report["paused"]:
        print(f"PAUSED: {report['paused']}")
    return 0


def cmd_service(args: argparse.Namespace) -> int:
    from .units import install, uninstall

    if args.action == "install":
        return install(config_path=getattr(args, "config", None), user=args.user, dry_run=args.dry_run)
    return uninstall(user=args.user, dry_run=args.dry_run)


def cmd_cluster(args: argparse.Namespace) -> int:
    """A Ray cluster on this machine for a demo of ``[executor] kind = "ray"`` (docs/cluster.md)."""
    from .cluster import LocalCluster

    config = _config(args)
    cluster = LocalCluster.load(config.data_dir / "cluster")
    if args.action == "stop":
        if not cluster.nodes:
            print("no cluster started by postbay is running here")
            return 0
        cluster.stop()
        print("cluster stopped")
        return 0
    cluster.start(nodes=args.nodes, cpus=args.cpus)
    print(f"Ray cluster of {args.nodes} node(s), {args.cpus} CPU(s) each, at {cluster.address}")
    print(f'  in the config: [executor] kind = "ray", address = "{cluster.address}"')
    print("  `postbay cluster stop` stops it")
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser("jobs", help="list jobs from the ledger")
    p.add_argument("--state", choices=["queued", "running", "done", "failed", "cancelled"], default=None)
    p.add_argument("--json", action="store_true", help="a JSON list of job objects")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("retry", help="queue a failed or cancelled job again")
    p.add_argument("job", help="job id (a unique prefix is enough)")
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("cancel", help="cancel a queued or running job")
    p.add_argument("job", help="job id (a unique prefix is enough)")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("status", help="queue, workers and folders of the daemon")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("cluster", help="start or stop a Ray cluster on this machine (a demo of the Ray executor)")
    p.add_argument("action", choices=["start", "stop"])
    p.add_argument("--nodes", type=int, default=2, help="Ray nodes to start here, the head included (default 2)")
    p.add_argument("--cpus", type=int, default=1, help="CPUs each node offers (default 1)")
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser("service", help="install or remove the systemd unit")
    p.add_argument("action", choices=["install", "uninstall"])
    p.add_argument("--user", action="store_true", help="a user unit (systemctl --user) instead of a system unit")
    p.add_argument("--dry-run", action="store_true", help="print what would be written, write nothing")
    p.set_defaults(func=cmd_service)

