"""Scale-out on Ray: a real two-node cluster, loopback only.

The checks themselves are in ``ray_checks.py``; they run once, in a private network + pid
namespace (see ``ray_cluster.py``), and each test here reports one of them. Where no
namespace can be made (not root, no unshare) they skip with the reason.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ray_cluster import namespace_problem, run_in_namespace

from postbay.daemon.executor import JobSpec

HERE = Path(__file__).parent
CHECKS = [
    "test_twelve_clips_twelve_outputs_on_both_nodes",
    "test_cancel_reaches_the_task_on_the_worker_node",
    "test_a_daemon_restart_re_attaches_to_what_ray_runs",
    "test_a_job_on_a_node_that_dies_is_retried_on_the_head_once",
]


@pytest.fixture(scope="module")
def cluster_results(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """Inner test name → (outcome, detail), from one run of ray_checks.py in the namespace."""
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    report = tmp_path_factory.mktemp("ray-run") / "junit.xml"
    run = run_in_namespace([str(HERE / "ray_checks.py"), "-p", "no:cacheprovider", "-q", "-x", "-o", "addopts=",
                            f"--junitxml={report}", "--basetemp", str(report.parent / "tmp")],
                           cwd=HERE.parents[1], timeout=420)
    if not report.exists():
        pytest.fail(f"the Ray checks did not run (status {run.returncode}):\n"
                    f"{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        detail = next(iter(case), None)
        outcome = "passed" if detail is None else detail.tag
        results[case.get("name", "")] = (outcome, "" if detail is None else (detail.text or detail.get("message", "")))
    return results


@pytest.mark.parametrize("check", CHECKS)
def test_on_a_two_node_cluster(cluster_results: dict[str, tuple[str, str]], check: str):
    outcome, detail = cluster_results.get(check, ("not run", "an earlier check failed (-x)"))
    if outcome == "skipped":
        pytest.skip(detail)
    assert outcome == "passed", f"{check}: {outcome}\n{detail[-4000:]}"


def test_path_map_translates_shared_storage_both_ways():
    from postbay.daemon.ray_executor import PathMap
    from postbay.errors import ConfigError

    pm = PathMap.parse({"/srv/media": "/mnt/media", "/srv/media/out": "/mnt/out", "/srv": "/x"})
    assert pm.to_node("/srv/media/a.mov") == "/mnt/media/a.mov"
    assert pm.to_node("/srv/media/out/a.mov") == "/mnt/out/a.mov"  # the longest prefix wins
    assert pm.to_node("/srv/mediaX/a.mov") == "/x/mediaX/a.mov"  # whole folder names only
    assert pm.to_node("/elsewhere/a.mov") == "/elsewhere/a.mov"
    assert pm.to_head("/mnt/out/a.mov") == "/srv/media/out/a.mov"
    spec = pm.spec(JobSpec(job_id="j", source="/srv/media/a.mov", recipe="finish", output_dir="/srv/media/out",
                           media_roots=("/srv/media",), ocio_config="ocio://studio-config-latest"))
    assert (spec.source, spec.output_dir, spec.media_roots) == ("/mnt/media/a.mov", "/mnt/out", ("/mnt/media",))
    with pytest.raises(ConfigError, match="absolute"):
        PathMap.parse({"media": "/mnt/media"})
