"""Test harness: a real two-node Ray cluster on this machine that only talks over loopback.

The Ray checks (``ray_checks.py``) run inside a private network namespace whose only
interface is ``lo`` (so Ray cannot reach, or be reached from, any network) and a private pid
namespace (so every process Ray starts dies with it, whatever a test leaves behind):
:func:`run_in_namespace` re-executes pytest there as root. Inside, ``postbay cluster``'s
:class:`LocalCluster` starts ``ray start --head --num-cpus 1`` and ``ray start --address …
--num-cpus 1`` (nodes ``head`` and ``worker-1``), each a process tree stopped by pid.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from postbay.daemon.cluster import LocalCluster, loopback_env, loopback_only, namespace_problem

__all__ = ["IN_NAMESPACE", "LocalCluster", "namespace_problem", "run_in_namespace"]

#: Set inside the namespace, so the checks know they may start Ray.
IN_NAMESPACE = "POSTBAY_RAY_NETNS"


def run_in_namespace(args: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` inside a fresh loopback-only namespace."""
    return subprocess.run(loopback_only([sys.executable, "-m", "pytest", *args]), env=loopback_env({IN_NAMESPACE: "1"}),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
