"""Scale-out on Ray: a real two-node cluster, loopback only.

The checks themselves are in ``ray_checks.py``; they run once, in a private network + pid
namespace (see ``ray_cluster.py``), and each test here reports one of them. Where no
namespace can be made (not root, no unshare) they skip with the reason. Together they take
about a minute on 2 cores (2.5 on a machine shared with other work), so they stay in the
default run.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
    "test_a_daemon_killed_while_its_job_runs_takes_the_result_after_restart",
    "test_a_timeline_fans_its_shots_out_over_both_nodes",
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


@pytest.mark.timeout(480)  # the first one waits for the whole run (1–2.5 min on 2 shared cores)
@pytest.mark.parametrize("check", CHECKS)
def test_on_a_two_node_cluster(cluster_results: dict[str, tuple[str, str]], check: str):
    outcome, detail = cluster_results.get(check, ("not run", "an earlier check failed (-x)"))
    if outcome == "skipped":
        pytest.skip(detail)
    assert outcome == "passed", f"{check}: {outcome}\n{detail[-4000:]}"


def test_path_map_translates_shared_storage_both_ways():
    from postbay.daemon.cluster import PathMap
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


def test_kind_ray_without_ray_is_a_config_error_naming_the_extra(tmp_path: Path):
    # a Python without Ray, as an install without the cluster extra: a finder that hides it
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, NoRay())\n")
    config = tmp_path / "postbay.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[executor]\nkind = "ray"\n[api]\nenabled = false\n')
    code = ("import sys; from postbay.config import load_config; from postbay.daemon.executor import make_executor;"
            "from postbay.errors import ConfigError\n"
            "try:\n    make_executor(load_config(sys.argv[1]))\nexcept ConfigError as exc:\n    print(exc)")
    env = dict(os.environ, PYTHONPATH=str(hide))
    out = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, env=env,
                         check=False, timeout=60)
    assert "executor.kind" in out.stdout and "postbay[cluster]" in out.stdout, out.stdout + out.stderr
    assert "postbay.toml" in out.stdout  # the file is named
    # the daemon refuses to start with the same words, before it touches anything
    run = subprocess.run([sys.executable, "-m", "postbay", "daemon", "--config", str(config)], capture_output=True,
                         text=True, env=env, check=False, timeout=60)
    assert run.returncode != 0 and "postbay[cluster]" in run.stdout + run.stderr
    assert not (tmp_path / "data" / "ledger.sqlite").exists()


def test_nothing_but_the_ray_executor_imports_ray():
    root = HERE.parents[1]
    folders = ("postbay", "processors", "daemon", "bridge", "timeline")
    importers = sorted(str(p.relative_to(root)) for folder in folders for p in (root / folder).rglob("*.py")
                       if any(line.strip().startswith(("import ray", "from ray"))
                              for line in p.read_text().splitlines()))
    assert importers == ["daemon/ray_executor.py"]


def test_an_old_ledger_gains_the_node_column(tmp_path: Path):
    import sqlite3

    from postbay.daemon.ledger import Ledger

    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        clip = tmp_path / "a.mov"
        clip.write_bytes(b"x" * 100)
        job, _ = ledger.submit(clip, "passthrough", tmp_path / "out")
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE jobs DROP COLUMN node")  # as a ledger written before the cluster executor
    db.commit()
    db.close()
    with Ledger(path) as ledger:
        assert ledger.get(job.id).node is None  # type: ignore[union-attr]
        ledger.claim(job.id)
        ledger.set_node(job.id, "render-7", 4242)
        again = ledger.get(job.id)
        assert again is not None and (again.node, again.worker_pid) == ("render-7", 4242)
