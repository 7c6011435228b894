"""Test harness: a real two-node Ray cluster on this machine that only talks over loopback.

The Ray checks (``ray_checks.py``) run inside a private network namespace whose only
interface is ``lo`` (so Ray cannot reach, or be reached from, any network) and a private pid
namespace (so every process Ray starts dies with it, whatever a test leaves behind):
:func:`run_in_namespace` re-executes pytest there as root. Inside, :class:`RayCluster` starts
``ray start --head --num-cpus 1`` and ``ray start --address … --num-cpus 1`` (two nodes, one
CPU each, named ``head`` and ``worker``), each in the foreground (``--block``) so that a node
is its process tree and stopping it is killing that tree by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["IN_NAMESPACE", "RayCluster", "namespace_problem", "run_in_namespace"]

#: Set inside the namespace, so the checks know they may start Ray.
IN_NAMESPACE = "POSTBAY_RAY_NETNS"


#: A stopped node is declared dead in about a second, not Ray's default half a minute.
_QUICK_NODE_DEATH = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "300",
                     "RAY_health_check_timeout_ms": "300", "RAY_health_check_failure_threshold": "3"}


def namespace_problem() -> str | None:
    """Why a loopback-only namespace cannot be made here (None: it can)."""
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare(1) and ip(8) (util-linux, iproute2)"
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install 'postbay[cluster]')"
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"cannot make a private network namespace (root needed): {probe.stderr.strip()[:200]}"
    return None


def run_in_namespace(args: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` inside a fresh net + pid namespace with only ``lo`` up."""
    env = dict(os.environ, **{IN_NAMESPACE: "1", "RAY_USAGE_STATS_ENABLED": "0"}, **_QUICK_NODE_DEATH)
    env.pop("RAY_ADDRESS", None)
    inner = " ".join(["ip link set lo up &&", sys.executable, "-m", "pytest", *map(_quote, args)])
    return subprocess.run(["unshare", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", inner],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def _tree(root: int) -> list[int]:
    """``root`` and every process below it (from /proc: parent pids)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from ray.scripts.scripts import main; main()", "start", "--block",
            "--disable-usage-stats", *args]


class RayCluster:
    """``head`` and ``worker``: two one-CPU Ray nodes on 127.0.0.1, started in ``temp``."""

    def __init__(self, temp: Path):
        self.temp = temp
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, args: list[str], want: int) -> None:
        with open(self.temp / f"ray-{name}.log", "wb") as log:  # the child keeps its own copy
            self.nodes[name] = subprocess.Popen(_ray_command("--num-cpus", "1", "--node-name", name, *args),
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_nodes(want, name)

    def _wait_nodes(self, want: int, name: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        probe = ("import ray, sys; ray.init(sys.argv[1], logging_level='ERROR', log_to_driver=False); "
                 "print(sum(1 for n in ray.nodes() if n['Alive']))")
        while time.monotonic() < deadline:
            if self.nodes[name].poll() is not None:
                raise RuntimeError(f"ray node {name} exited: {(self.temp / f'ray-{name}.log').read_text()[-2000:]}")
            out = subprocess.run([sys.executable, "-c", probe, self.address], capture_output=True, text=True,
                                 check=False)
            if out.returncode == 0 and out.stdout.strip().isdigit() and int(out.stdout.strip()) >= want:
                return
            time.sleep(1.0)
        raise RuntimeError(f"ray node {name} did not join in {timeout:.0f} s")

    def start(self) -> RayCluster:
        self._start("head", ["--head", "--port", str(self.port), "--include-dashboard=false",
                             "--temp-dir", str(self.temp / "ray")], 1)
        self._start("worker", ["--address", self.address], 2)
        return self

    def stop_node(self, name: str) -> None:
        """Kill one node: its ``ray start`` and every process under it (raylet, workers), by pid."""
        proc = self.nodes.pop(name, None)
        if proc is None:
            return
        for pid in _tree(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def close(self) -> None:
        for name in ["worker", "head"]:
            self.stop_node(name)
