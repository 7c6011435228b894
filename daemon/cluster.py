"""What a cluster needs besides Ray itself: the path map of shared storage, and a Ray cluster
on this one machine for a demo (``postbay cluster start|stop``), tests and benchmarks.

A real cluster is Ray's own (``ray start --head`` on the bay, ``ray start --address`` on each
render node; see docs/cluster.md): postbay does not start or manage machines. This helper
starts a head and ``nodes - 1`` more nodes here, each ``ray start --block`` in its own session,
so a node is one process tree and stopping it is killing that tree by pid (never a bare
``ray stop``, which would stop every Ray on the machine, other users' too). What it started
is written to ``<root>/cluster.json``. It runs ``ray`` as a command: it does not import Ray.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from postbay.errors import ConfigError, PostbayError

from .executor import JobSpec

__all__ = ["LEAN_NODE_ARGS", "LEAN_NODE_ENV", "LocalCluster", "PathMap", "loopback_env", "loopback_only",
           "namespace_problem", "process_tree",
           "ray_installed"]

_PROBE = ("import ray, sys; ray.init(sys.argv[1], logging_level='ERROR', log_to_driver=False); "
          "print(sum(1 for n in ray.nodes() if n['Alive']))")


@dataclass(frozen=True)
class PathMap:
    """Shared-storage paths as this machine sees them → as the render nodes see them.

    ``PathMap.parse({"/srv/media": "/mnt/media"})``: a job on ``/srv/media/a.mov`` renders
    ``/mnt/media/a.mov`` on the node, and its outputs come back as ``/srv/media/...``.
    The longest matching prefix wins; a path under no prefix is the same everywhere.
    """

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, mapping: dict[str, str]) -> PathMap:
        pairs = []
        for here, there in mapping.items():
            if not (Path(here).is_absolute() and Path(there).is_absolute()):
                raise ConfigError(f"executor.path_map: {here!r} = {there!r}: both sides must be absolute paths "
                                  '(path_map = { "/srv/media" = "/mnt/media" })')
            pairs.append((str(Path(here)), str(Path(there))))
        return cls(tuple(sorted(pairs, key=lambda p: -len(p[0]))))

    def _swap(self, path: str, *, to_node: bool) -> str:
        for here, there in self.pairs:
            src, dst = (here, there) if to_node else (there, here)
            if path == src or path.startswith(src + "/"):
                return dst + path[len(src):]
        return path

    def to_node(self, path: str) -> str:
        return self._swap(path, to_node=True)

    def to_head(self, path: str) -> str:
        return self._swap(path, to_node=False)

    def spec(self, spec: JobSpec) -> JobSpec:
        """The job as a node sees it."""
        if not self.pairs:
            return spec
        ocio = spec.ocio_config if spec.ocio_config.startswith("ocio://") else self.to_node(spec.ocio_config)
        return replace(spec, source=self.to_node(spec.source), output_dir=self.to_node(spec.output_dir),
                       recipe_dirs=tuple(map(self.to_node, spec.recipe_dirs)),
                       media_roots=tuple(map(self.to_node, spec.media_roots)), ocio_config=ocio)


#: A stopped node is declared dead in about a second, not Ray's default half a minute.
_QUICK_NODE_DEATH = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "300",
                     "RAY_health_check_timeout_ms": "300", "RAY_health_check_failure_threshold": "3"}


#: What a node leaves out that postbay has no use for (docs/cluster.md, "A lean node"): the log
#: monitor (it forwards workers' output to drivers, and postbay's driver takes none) and Ray's
#: metrics (nothing scrapes them without a Prometheus): on a small node their CPU is a render's.
LEAN_NODE_ARGS = ("--include-log-monitor=false",)
LEAN_NODE_ENV = {"RAY_enable_metrics_collection": "0"}


def ray_installed() -> bool:
    """Whether Ray can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def namespace_problem() -> str | None:
    """Why :func:`loopback_only` cannot work here (None: it can)."""
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare(1) and ip(8) (util-linux, iproute2)"
    if not ray_installed():
        return "Ray is not installed (pip install 'postbay[cluster]')"
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot make a private network namespace (root needed): {probe.stderr.strip()[:200]}"
    return None


def loopback_only(argv: list[str]) -> list[str]:
    """``argv`` run in a private network namespace whose only interface is ``lo`` (Ray there
    talks over 127.0.0.1 and nothing else) and a private pid namespace (whatever it starts
    dies when it ends). Needs root; :func:`namespace_problem` says when it cannot work."""
    inner = "ip link set lo up && exec " + " ".join(map(shlex.quote, argv))
    return ["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", inner]


def loopback_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for :func:`loopback_only`: no usage reports, quick node-death detection."""
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", **_QUICK_NODE_DEATH, **(extra or {}))
    env.pop("RAY_ADDRESS", None)
    return env


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it (parent pids read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _exited(pid: int) -> bool:
    """Whether ``pid`` has ended (reaped here when it is our child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == pid
    except ChildProcessError:  # not ours (a cluster started by another command): is it there?
        return not os.path.exists(f"/proc/{pid}")


def _is_ray_start(pid: int) -> bool:
    try:
        return b"ray.scripts" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalCluster:
    """Nodes ``head``, ``worker-1`` … on this machine, ``cpus`` CPUs each; state in ``root``."""

    root: Path
    address: str = ""
    nodes: dict[str, int] = field(default_factory=dict)  # node name -> pid of its `ray start --block`
    temp: str = ""  # Ray's session folder (sockets, its logs)

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @classmethod
    def load(cls, root: Path) -> LocalCluster:
        path = root / "cluster.json"
        if not path.exists():
            return cls(root)
        data = json.loads(path.read_text())
        return cls(root, data["address"], data["nodes"], data.get("temp", ""))

    def _save(self) -> None:
        self.state_file.write_text(json.dumps({"address": self.address, "nodes": self.nodes, "temp": self.temp},
                                              indent=2))

    def _ray_start(self, name: str, cpus: int, args: list[str]) -> None:
        cmd = [sys.executable, "-c", "from ray.scripts.scripts import main; main()", "start", "--block",
               "--disable-usage-stats", *LEAN_NODE_ARGS, "--num-cpus", str(cpus), "--node-name", name, *args]
        with open(self.root / f"ray-{name}.log", "wb") as log:  # the node keeps its own copy
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                    env=dict(os.environ, **LEAN_NODE_ENV))
        self.nodes[name] = proc.pid
        self._save()

    def alive_nodes(self) -> int:
        """Nodes the head counts alive (0 while it is not answering yet)."""
        host, port = self.address.rsplit(":", 1)
        try:  # the head's port first: a Ray client started too early waits a long time
            socket.create_connection((host, int(port)), timeout=2).close()
            out = subprocess.run([sys.executable, "-c", _PROBE, self.address], capture_output=True, text=True,
                                 check=False, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return 0
        return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else 0

    def _wait(self, name: str, want: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        log = self.root / f"ray-{name}.log"
        while time.monotonic() < deadline:
            if _exited(self.nodes[name]):
                raise PostbayError(f"Ray node {name} exited while starting:\n"
                                   f"{log.read_text(errors='replace')[-1500:]}", path=log)
            # `ray start` says so once its node runs; only then ask the head (a Ray client costs seconds)
            if b"Ray runtime started" in log.read_bytes() and self.alive_nodes() >= want:
                return
            time.sleep(0.5)
        raise PostbayError(f"Ray node {name} did not join in {timeout:.0f} s", path=self.root / f"ray-{name}.log")

    def start(self, nodes: int = 2, cpus: int = 1, *, port: int | None = None, timeout: float = 120.0) -> LocalCluster:
        """Start the head and ``nodes - 1`` more nodes; returns when all have joined."""
        if self.nodes:
            raise PostbayError(f"a cluster started here is running at {self.address}", path=self.state_file,
                               hint="`postbay cluster stop` first")
        self.root.mkdir(parents=True, exist_ok=True)
        port = port or _free_port()
        self.address = f"127.0.0.1:{port}"
        try:
            # Ray's sockets live in its temp dir, and a socket path has at most 107 bytes
            self.temp = tempfile.mkdtemp(prefix="postbay-ray-", dir="/tmp")
            self._save()
            self._ray_start("head", cpus, ["--head", "--port", str(port), "--node-ip-address", "127.0.0.1",
                                           "--include-dashboard=false", "--temp-dir", self.temp])
            self._wait("head", 1, timeout)
            for i in range(1, nodes):
                self._ray_start(f"worker-{i}", cpus, ["--address", self.address, "--node-ip-address", "127.0.0.1"])
                self._wait(f"worker-{i}", i + 1, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop_node(self, name: str) -> None:
        """Kill one node (its ``ray start`` and everything under it: raylet, workers), by pid."""
        pid = self.nodes.pop(name, None)
        if pid is None or not _is_ray_start(pid):  # gone already (its pid may be another program's now)
            self._save()
            return
        for p in process_tree(pid):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(pid, 0)  # ours: reap it; another process's: it is gone anyway
        except ChildProcessError:
            pass
        self._save()

    def stop(self) -> None:
        """Stop every node this cluster started, workers first."""
        for name in sorted(self.nodes, key=lambda n: n == "head"):
            self.stop_node(name)
        if self.temp:
            shutil.rmtree(self.temp, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)
