"""The Ray executor on a real two-node cluster. Runs only inside the loopback namespace that
``test_ray_cluster.py`` makes (this file is not collected on its own: it starts Ray)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from itertools import groupby
from pathlib import Path

import opentimelineio as otio
import pytest
from daemon_harness import DaemonProcess, drop, wait_for, write_config
from ray_cluster import IN_NAMESPACE, LocalCluster

from postbay.daemon.executor import JobSpec, Outcome
from postbay.daemon.ledger import Job
from postbay.media import VideoReader
from postbay.publish import TEMP_MARK
from postbay.synth import read_frame_number, write_clip

if not os.environ.get(IN_NAMESPACE):
    pytest.skip("starts Ray: run through test_ray_cluster.py (a loopback-only namespace)", allow_module_level=True)

from postbay.daemon.ray_executor import RayExecutor


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("ray")).start(nodes=2, cpus=1)
    yield c
    c.stop()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Long enough (seconds) to be caught mid-render."""
    return write_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=240, width=480, height=272, audio=None)


def _spec(job_id: str, source: Path, out: Path) -> JobSpec:
    return JobSpec(job_id=job_id, source=str(source), recipe="passthrough", output_dir=str(out))


class Log:
    """Every outcome an executor reported, kept: waits look back before they poll."""

    def __init__(self, ex: RayExecutor):
        self.ex = ex
        self.seen: list[Outcome] = []

    def until(self, job_id: str, kinds: tuple[str, ...], timeout: float = 90.0, *,
              where: str | None = None, since: Outcome | None = None) -> Outcome:
        """The first outcome of ``job_id`` of one of ``kinds`` (on node ``where``; after ``since``)."""
        deadline = time.monotonic() + timeout
        checked = self.seen.index(since) + 1 if since is not None else 0
        while True:
            for o in self.seen[checked:]:
                if o.job_id == job_id and o.kind in kinds and (where is None or o.node == where):
                    return o
            checked = len(self.seen)
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id}: no {kinds} in {timeout} s; "
                                     f"saw {[(o.job_id, o.kind) for o in self.seen][-10:]}")
            self.seen += self.ex.poll(0.2)


def _temps(folder: Path) -> list[Path]:
    return list(folder.glob(f"*{TEMP_MARK}*"))


def _published(folder: Path) -> list[Path]:
    """Finished media in ``folder`` (not reports, not temp files)."""
    return [p for p in folder.glob("*") if p.suffix in (".mov", ".mp4") and TEMP_MARK not in p.name]


@pytest.fixture
def bay(cluster: LocalCluster, tmp_path: Path) -> Iterator[DaemonProcess]:
    """A real daemon (a child process) with ``[executor] kind = "ray"`` on the cluster; one
    CPU slot per node, so 2 jobs run at once."""
    folders = [{"path": str(tmp_path / "drop"), "recipe": "passthrough", "output": str(tmp_path / "out"),
                "settle_seconds": 0.3}]
    (tmp_path / "drop").mkdir()
    config = write_config(tmp_path / "postbay.toml", folders=folders, data_dir=tmp_path / "data",
                          workers={"retries": 2, "heartbeat_timeout": 60},
                          extra=f'[executor]\nkind = "ray"\naddress = "{cluster.address}"\n')
    daemon = DaemonProcess(config, tmp_path / "data").start()
    yield daemon
    daemon.stop()
    daemon.close()


def _running_on(bay: DaemonProcess, node: str, timeout: float = 60.0) -> Job:
    """A job the ledger says runs on ``node`` and is writing its temp file (caught mid-render)."""
    def find() -> Job | None:
        for job in bay.jobs("running"):
            if job.node == node and _temps(Path(job.output_dir)):
                return job
        return None
    return wait_for(find, timeout, 0.1, what=f"a job writing on {node}")


def test_twelve_clips_twelve_outputs_on_both_nodes(bay: DaemonProcess, tmp_path: Path):
    template = write_clip(tmp_path / "t.mp4", frames=8, width=160, height=96, audio=None)
    for i in range(12):
        drop(template, tmp_path / "drop", f"clip{i:02d}.mp4")
    jobs = bay.wait_jobs(12, "done", timeout=120)
    assert len(bay.jobs()) == 12
    assert [j.attempts for j in jobs] == [1] * 12  # the attempt that made each output, and no other
    outputs = [Path(p) for j in jobs for p in j.outputs]
    assert len(outputs) == len(set(outputs)) == 12 and all(p.is_file() for p in outputs)
    assert sorted(_published(tmp_path / "out")) == sorted(outputs)
    assert {j.node for j in jobs} == {"head", "worker-1"}, "the ledger says where each job ran"
    assert not _temps(tmp_path / "out")
    # what each job did came back through the job board, phase by phase, in order (the last ones of
    # a short job may reach the board after its result, and are then not recorded)
    order = ["probing", "rendering", "verifying", "publishing"]
    phases = [[step for step, _ in groupby(e.step for e in bay.ledger.job_events(j.id) if e.step in order)]
              for j in jobs]
    assert all(p == order[:len(p)] for p in phases) and any(phases), phases


def test_cancel_reaches_the_task_on_the_worker_node(bay: DaemonProcess, long_clip: Path, tmp_path: Path):
    for i in range(2):
        drop(long_clip, tmp_path / "drop", f"long{i}.mp4")
    remote = _running_on(bay, "worker-1")
    t0 = time.monotonic()
    bay.ledger.cancel(remote.id)  # what `postbay cancel` and the API do
    wait_for(lambda: not _temps(tmp_path / "out") or len(bay.jobs("done")) == 2, 15, 0.1,
             what="the cancelled render to stop")
    assert time.monotonic() - t0 < 10
    other = bay.wait_jobs(1, "done", timeout=120)[0]
    assert other.id != remote.id
    assert bay.ledger.get(remote.id).state == "cancelled"  # type: ignore[union-attr]
    assert [p.name for p in _published(tmp_path / "out")] == [Path(other.outputs[0]).name]
    assert f"job {remote.id} cancelled" in bay.log()


def test_a_daemon_restart_re_attaches_to_what_ray_runs(cluster: LocalCluster, long_clip: Path, tmp_path: Path):
    import ray

    data = tmp_path / "data"
    first = RayExecutor(data_dir=data, address=cluster.address, heartbeat_timeout=60)
    first.start(_spec("again", long_clip, tmp_path / "out"))
    Log(first).until("again", ("progress",))
    ray.shutdown()  # the daemon is gone without an orderly stop: its board and the task live on
    second = RayExecutor(data_dir=data, address=cluster.address, heartbeat_timeout=60)
    assert second.attached() == ["again"] and second.running() == ["again"]
    done = Log(second).until("again", ("done", "crashed", "failed"), timeout=120)
    assert done.kind == "done", done.error
    assert len(_published(tmp_path / "out")) == 1
    second.shutdown()


def test_a_daemon_killed_while_its_job_runs_takes_the_result_after_restart(bay: DaemonProcess, long_clip: Path,
                                                                          tmp_path: Path):
    drop(long_clip, tmp_path / "drop", "long0.mp4")
    job = wait_for(lambda: next((j for j in bay.jobs("running") if j.node and _temps(tmp_path / "out")), None), 60,
                   0.1, what="a job rendering on the cluster")
    bay.kill()  # kill -9: no orderly stop, the ledger still says running
    wait_for(lambda: _published(tmp_path / "out"), 120, 0.2, what="the render to finish while the daemon is down")
    bay.start()
    done = bay.wait_jobs(1, "done", timeout=60)[0]
    assert (done.id, done.attempts) == (job.id, 1), "re-attached, not queued again: one attempt"
    assert f"job {job.id} is still running on the cluster" in bay.log()
    assert len(_published(tmp_path / "out")) == 1 and not _temps(tmp_path / "out")


def _timeline_helpers():
    """tests/timeline/cuts.py (stand-in media that carry their frame numbers, cuts built in OTIO)."""
    spec = importlib.util.spec_from_file_location("timeline_cuts", Path(__file__).parents[1] / "timeline" / "cuts.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


def test_a_timeline_fans_its_shots_out_over_both_nodes(cluster: LocalCluster, tmp_path: Path):
    cuts = _timeline_helpers()
    shots = [cuts.Shot(f"s{i}.mov", 14 + i, 6 + i % 3) for i in range(6)]
    source = tmp_path / "cut.otio"
    otio.adapters.write_to_file(cuts.build_cut(tmp_path / "media", shots, rate=Fraction(24), media_frames=48),
                                str(source))
    recipe = tmp_path / "shots.toml"
    recipe.write_text('name = "shots"\n[output]\ncodec = "prores_hq"\naudio = "pcm"\n'
                      '[[deliveries]]\nname = "master"\ncodec = "ffv1"\naudio = "none"\n')
    out = tmp_path / "out"
    ex = RayExecutor(data_dir=tmp_path / "data", address=cluster.address, heartbeat_timeout=60)
    ex.start(JobSpec(job_id="cut", source=str(source), recipe=str(recipe), output_dir=str(out), kind="timeline"))
    done = Log(ex).until("cut", ("done", "failed", "crashed"), timeout=180)
    ex.shutdown()
    assert done.kind == "done", done.error
    report = json.loads((out / "cut.conform.json").read_text())
    renders = report["renders"]
    assert len(renders) == 6
    assert {r["node"] for r in renders} == {"head", "worker-1"}, [r["node"] for r in renders]
    for r in renders:  # every shot is its used range plus handles, frame for frame
        numbers = [read_frame_number(p) for _, p in VideoReader(r["output"])]
        assert numbers == list(range(r["start"], r["start"] + r["frames"])), r["name"]
    programme = [read_frame_number(p) for _, p in VideoReader(report["deliveries"][0]["output"])]
    assert programme == [shot.src_in + k for shot in shots for k in range(shot.length)]


def test_a_job_on_a_node_that_dies_is_retried_on_the_head_once(bay: DaemonProcess, cluster: LocalCluster,
                                                               long_clip: Path, tmp_path: Path):
    for i in range(2):
        drop(long_clip, tmp_path / "drop", f"long{i}.mp4")
    lost = _running_on(bay, "worker-1")
    cluster.stop_node("worker-1")  # last check: the cluster is the head alone from here
    jobs = {j.id: j for j in bay.wait_jobs(2, "done", timeout=180)}
    assert len(bay.jobs()) == 2, "one ledger row per clip"
    again = jobs[lost.id]
    assert (again.attempts, again.node) == (2, "head")  # the lost attempt and the one that finished
    assert "worker-1" in bay.log() and "retrying" in bay.log()
    outputs = sorted(Path(p) for j in jobs.values() for p in j.outputs)
    assert sorted(_published(tmp_path / "out")) == outputs and len(outputs) == 2  # once each
    assert not _temps(tmp_path / "out"), "the lost worker's temp file is gone"
