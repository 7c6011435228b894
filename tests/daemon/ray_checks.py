"""The Ray executor on a real two-node cluster. Runs only inside the loopback namespace that
``test_ray_cluster.py`` makes (this file is not collected on its own: it starts Ray)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ray_cluster import IN_NAMESPACE, LocalCluster

from postbay.daemon.executor import JobSpec, Outcome
from postbay.render import TEMP_MARK
from postbay.synth import write_clip

if not os.environ.get(IN_NAMESPACE):
    pytest.skip("starts Ray: run through test_ray_cluster.py (a loopback-only namespace)", allow_module_level=True)

from postbay.daemon.ray_executor import RayExecutor


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("ray")).start(nodes=2, cpus=1)
    yield c
    c.close()


@pytest.fixture
def executor(cluster: LocalCluster, tmp_path: Path) -> Iterator[RayExecutor]:
    ex = RayExecutor(data_dir=tmp_path / "data", address=cluster.address, heartbeat_timeout=60)
    ex.warm()
    yield ex
    ex.shutdown()


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

    def writing(self, folder: Path, timeout: float = 60.0) -> None:
        """Poll until a render is writing its temp file in ``folder`` (caught mid-render)."""
        deadline = time.monotonic() + timeout
        while not _temps(folder):
            assert time.monotonic() < deadline, f"nothing is rendering into {folder}"
            self.seen += self.ex.poll(0.1)

    def after(self, outcome: Outcome) -> list[Outcome]:
        return self.seen[self.seen.index(outcome) + 1:]


def _temps(folder: Path) -> list[Path]:
    return list(folder.glob(f"*{TEMP_MARK}*"))


def _published(folder: Path) -> list[Path]:
    """Finished media in ``folder`` (not reports, not temp files)."""
    return [p for p in folder.glob("*") if p.suffix in (".mov", ".mp4") and TEMP_MARK not in p.name]


def test_twelve_clips_twelve_outputs_on_both_nodes(executor: RayExecutor, tmp_path: Path):
    template = write_clip(tmp_path / "t.mp4", frames=8, width=160, height=96, audio=None)
    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    clips = []
    for i in range(12):
        clips.append(drop / f"clip{i:02d}.mp4")
        clips[-1].write_bytes(template.read_bytes())
    assert executor.slots() == (2, 0)
    queue = [_spec(f"c{i:02d}", c, out) for i, c in enumerate(clips)]
    finals: dict[str, Outcome] = {}
    deadline = time.monotonic() + 120
    while len(finals) < 12 and time.monotonic() < deadline:
        while queue and len(executor.running()) < executor.slots()[0]:  # jobs wait here, not in Ray
            executor.start(queue.pop(0))
        for o in executor.poll(0.2):
            if o.kind != "progress":
                assert o.job_id not in finals, f"{o.job_id} finished twice"
                finals[o.job_id] = o
    assert sorted(finals) == [f"c{i:02d}" for i in range(12)]
    assert {o.kind for o in finals.values()} == {"done"}, [o.error for o in finals.values() if o.error]
    outputs = [Path(p) for o in finals.values() for p in o.outputs]
    assert len(outputs) == len(set(outputs)) == 12 and all(p.is_file() for p in outputs)
    assert sorted(_published(out)) == sorted(outputs)
    assert {o.node for o in finals.values()} == {"head", "worker-1"}
    assert not _temps(out)


def test_cancel_reaches_the_task_on_the_worker_node(executor: RayExecutor, long_clip: Path, tmp_path: Path):
    out = tmp_path / "out"
    for i in range(2):
        executor.start(_spec(f"long{i}", long_clip.parent / long_clip.name, out / str(i)))
    log = Log(executor)
    first = log.until("long0", ("progress",), 60)
    remote = "long0" if first.node == "worker-1" else "long1"
    log.until(remote, ("progress",), 60, where="worker-1")
    log.writing(out / remote[-1])
    other = "long1" if remote == "long0" else "long0"
    t0 = time.monotonic()
    executor.stop(remote, "cancelled")
    stopped = log.until(remote, ("crashed", "done", "failed"), timeout=30)
    assert stopped.kind == "crashed" and stopped.error == "cancelled"
    assert time.monotonic() - t0 < 10
    log.until(other, ("done",), timeout=120)
    assert not [o for o in log.after(stopped) if o.job_id == remote], "the cancelled job kept reporting"
    folder = out / remote[-1]
    assert not _published(folder) and not _temps(folder)  # stopped before publishing, temp file removed


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


def test_a_job_on_a_node_that_dies_is_retried_on_the_head_once(executor: RayExecutor, cluster: LocalCluster,
                                                               long_clip: Path, tmp_path: Path):
    out = tmp_path / "out"
    for i in range(2):
        executor.start(_spec(f"n{i}", long_clip, out / str(i)))
    log = Log(executor)
    first = log.until("n0", ("progress",), 60)
    lost = "n0" if first.node == "worker-1" else "n1"
    log.until(lost, ("progress",), 60, where="worker-1")
    folder = out / lost[-1]
    log.writing(folder)
    cluster.stop_node("worker-1")  # last test: the cluster is the head alone from here
    crashed = log.until(lost, ("crashed", "done", "failed"), timeout=60)
    assert crashed.kind == "crashed" and "worker-1" in (crashed.error or ""), crashed.error
    # the daemon's part: the temp file of the lost worker goes, the job is queued once more
    for p in _temps(folder):
        assert f"-{crashed.pid}" in p.name
        p.unlink()
    wait = time.monotonic() + 30
    while executor.slots()[0] != 1 and time.monotonic() < wait:
        time.sleep(0.2)
    assert executor.slots() == (1, 0)
    executor.start(_spec(lost, long_clip, folder))
    other = log.until("n1" if lost == "n0" else "n0", ("done", "crashed", "failed"), 120)
    retried = log.until(lost, ("done", "crashed", "failed"), 120, since=crashed)
    assert (other.kind, other.node, retried.kind, retried.node) == ("done", "head", "done", "head"), retried.error
    assert [o for o in log.seen if o.job_id == lost and o.kind != "progress"] == [crashed, retried]  # once each
    assert len(_published(folder)) == 1 and not _temps(folder)
