"""Where jobs run on a Ray cluster: the second :class:`~postbay.daemon.executor.Executor`.

The daemon (on the head machine) keeps the watcher, the ledger and the API; Ray runs the
renders on whichever node has room. Media, output folders and recipes live on storage that
every node reaches (NFS, SMB); :class:`PathMap` translates paths for nodes that mount it
elsewhere. This is the only module of postbay that imports Ray (``pip install 'postbay[cluster]'``).

How a job travels:

- One **job board** per ledger: a detached Ray actor pinned to the daemon's node. It submits
  each job as a Ray task, so the board, not the daemon process, owns the task. A restarted
  daemon finds its board by name and re-attaches to what the board still holds; only the
  ledger's other ``running`` jobs go back to the queue (never both).
- The task renders with the local worker's own body (:func:`render_job`); its progress goes
  to the board (that is its heartbeat) with the node and pid it runs on, and it returns the
  result. The daemon drains the board in :meth:`RayExecutor.poll`.
- Stop and cancel: ``ray.cancel`` raises KeyboardInterrupt in the task (the render removes its
  temp file on the way out); after :data:`STOP_GRACE` seconds the worker is killed.
- A lost node or worker: the task ends in a Ray error, the job is ``crashed`` and the daemon's
  retry (one ledger row, one more attempt) goes wherever Ray has room on a live node. Ray itself
  never retries (``max_retries=0``): the ledger is the only queue.
- Resources: a GPU job asks Ray for one GPU; a CPU job for ``workers.cpu_per_job`` CPUs. The
  daemon starts no more jobs than :meth:`RayExecutor.slots` says the live nodes hold, so jobs
  wait in the ledger (cancel and schedule windows keep working), not in Ray.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from postbay.errors import ConfigError

from .cluster import PathMap
from .executor import PROGRESS_KINDS, WITH_OUTPUTS, Executor, JobSpec, Outcome, render_job

__all__ = ["NAMESPACE", "PROGRESS_EVERY", "REDRAIN", "STOP_GRACE", "JobBoard", "RayExecutor", "RayShotPool",
           "board_name", "connect"]

#: Ray namespace of postbay's named actors (one job board per ledger).
NAMESPACE = "postbay"
#: Seconds a stopped task gets to clean up before its worker is killed.
STOP_GRACE = 3.0
_NODES_TTL = 2.0
#: A poll that would not wait, this soon after the board was last drained, does not ask it again:
#: the daemon polls twice a turn, and what arrives between the two comes with its next poll at once.
REDRAIN = 0.05


def board_name(data_dir: str | Path) -> str:
    """The job board's actor name for the ledger in ``data_dir`` (two bays, two boards)."""
    return "postbay-board-" + hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]


# -- on the cluster ----------------------------------------------------------------------------

def _this_node() -> tuple[str, int]:
    return ray.get_runtime_context().get_node_id(), os.getpid()


#: Seconds between a Ray task's progress messages: each is a call to the board over the network,
#: and the heartbeat only needs one in ``heartbeat_timeout`` (a local worker's pipe sends 4 a second).
PROGRESS_EVERY = 1.0
#: Ray's per-task event records (its state API and timeline) are off for postbay's tasks, their
#: shots and the board: the ledger is the record, and each event costs the worker, the raylet and
#: the GCS. (Given with ``options()`` at each call: Ray's type stubs do not know it in ``remote``.)
_QUIET: dict[str, Any] = {"enable_task_events": False}


@ray.remote(max_retries=0)
def _render_task(spec: JobSpec, board: Any, options: dict[str, Any]) -> tuple[Any, ...]:
    """One job on some node: the local worker's body, progress to the board; a timeline's
    shots fan out as tasks of their own, each asking what the job asked (``options``).
    Returns the result with the node and pid (the board's messages may arrive after it)."""
    node_id, pid = _this_node()
    board.begun.remote(spec.job_id, node_id, pid)
    job_id = spec.job_id

    first = [True]

    def send(message: tuple[str, float, str]) -> None:
        kind, fraction, step = message
        if first[0] and kind == "progress":  # the job's first word, its 0 %, is its "begun" above
            first[0] = False
            return
        board.progress.remote(job_id, fraction, step, kind)  # later 0 % ticks are a conform's heartbeat

    shots = RayShotPool(options) if spec.kind == "timeline" else None
    return render_job(spec, send, shots, every=PROGRESS_EVERY), node_id, pid


@ray.remote
def _warm() -> None:
    """Import the render engine into a node's idle worker before the first job needs it."""
    for module in ("postbay.render", "postbay.recipe", "postbay.processors"):
        importlib.import_module(module)


@ray.remote(max_retries=0)
def _shot_task(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, str]:
    return fn(*args), _this_node()[0]


def _lost(exc: BaseException) -> str:
    """What a Ray error says happened to the worker, in one line."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


class _JobBoard:
    """The daemon's agent on the cluster: owns the job tasks, collects their events."""

    def __init__(self) -> None:
        self._tasks: dict[str, Any] = {}
        self._specs: dict[str, JobSpec] = {}
        self._events: list[tuple[str, tuple[Any, ...]]] = []
        self._arrived = asyncio.Event()

    def _push(self, job_id: str, event: tuple[Any, ...]) -> None:
        self._events.append((job_id, event))
        self._arrived.set()

    async def start(self, spec: JobSpec, options: dict[str, Any]) -> None:
        me = ray.get_runtime_context().current_actor
        ref = _render_task.options(name=f"postbay-job-{spec.job_id}", **options).remote(spec, me, options)
        self._tasks[spec.job_id] = ref
        self._specs[spec.job_id] = spec
        asyncio.get_running_loop().create_task(self._follow(spec.job_id, ref))

    async def _follow(self, job_id: str, ref: Any) -> None:
        try:
            outcome, node_id, pid = await ref
            result = ("result", outcome, node_id, pid)
        except ray.exceptions.TaskCancelledError:
            result = ("result", ("crashed", "stopped", None), None, None)
        except ray.exceptions.RayError as exc:  # worker or node lost, or killed after a stop
            result = ("result", ("lost", _lost(exc), None), None, None)
        self._tasks.pop(job_id, None)  # its spec stays until the daemon has taken the result
        self._push(job_id, result)

    async def begun(self, job_id: str, node_id: str, pid: int) -> None:
        self._push(job_id, ("begun", node_id, pid))

    async def progress(self, job_id: str, fraction: float, step: str | None = None, kind: str = "progress") -> None:
        self._push(job_id, (kind, fraction, step))

    async def drain(self, timeout: float) -> list[tuple[str, tuple[Any, ...]]]:
        """Events since the last drain (waits up to ``timeout`` for the first)."""
        if not self._events and timeout > 0:
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                pass
        events, self._events = self._events, []
        self._arrived.clear()
        for job_id, event in events:
            if event[0] not in ("begun", *PROGRESS_KINDS):
                self._specs.pop(job_id, None)
        return events

    async def stop(self, job_id: str) -> None:
        ref = self._tasks.get(job_id)
        if ref is None:
            return
        ray.cancel(ref)
        await asyncio.sleep(STOP_GRACE)
        if self._tasks.get(job_id) is ref:
            ray.cancel(ref, force=True)  # deaf to KeyboardInterrupt (native code): kill the worker

    async def running(self) -> list[JobSpec]:
        """Jobs running, or finished with a result no daemon has taken yet (it died meanwhile)."""
        return list(self._specs.values())


#: A Ray actor: never restarted (its node is the daemon's; the ledger requeues what it held).
JobBoard = ray.remote(num_cpus=0, max_restarts=0)(_JobBoard)


# -- on the daemon's side ----------------------------------------------------------------------

@dataclass
class _Remote:
    spec: JobSpec
    started: float
    beat: float
    node: str | None = None
    pid: int | None = None
    stop_reason: str | None = None


@dataclass
class _NodeNames:
    """Node id → the name a user reads (``ray start --node-name``, else its address)."""

    names: dict[str, str] = field(default_factory=dict)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    read: float = 0.0

    def refresh(self, force: bool = False) -> list[dict[str, Any]]:
        if force or time.monotonic() - self.read > _NODES_TTL:
            self.nodes = ray.nodes()
            self.read = time.monotonic()
            plain = [n.get("NodeName") or n["NodeManagerAddress"] for n in self.nodes]
            for n, name in zip(self.nodes, plain):
                # two nodes of one address (a demo on one machine) get their id's start too
                self.names[n["NodeID"]] = name if plain.count(name) == 1 else f"{name}#{n['NodeID'][:6]}"
        return self.nodes

    def __call__(self, node_id: str) -> str:
        if node_id not in self.names:
            self.refresh(force=True)
        return self.names.get(node_id, node_id[:12])


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``auto``: ``RAY_ADDRESS`` or the one on this machine)."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING, log_to_driver=False,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"executor.address: no Ray cluster at {address!r}: {str(exc).splitlines()[0]}",
                          hint="start one (`ray start --head`, or `postbay cluster start` for a demo on this "
                               "machine) or fix the address") from None


def _board_of(data_dir: str | Path) -> Any:
    """This ledger's job board: the running one (a daemon restart), else a new one on this node."""
    here = ray.get_runtime_context().get_node_id()
    return JobBoard.options(name=board_name(data_dir), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False), **_QUIET).remote()


class RayExecutor(Executor):
    """Jobs as Ray tasks on the cluster at ``address``, owned by this ledger's job board.

    ``job_timeout`` and ``heartbeat_timeout`` mean what they mean locally; a job that Ray has
    not yet placed counts as silent, so a task stuck waiting for a lost node is retried too.
    """

    def __init__(self, *, data_dir: str | Path, address: str = "auto", path_map: PathMap | None = None,
                 cpu_per_job: int = 1, use_gpu: bool = True, job_timeout: float = 7200.0,
                 heartbeat_timeout: float = 120.0):
        connect(address)
        self.path_map = path_map or PathMap()
        self.cpu_per_job = cpu_per_job
        self.use_gpu = use_gpu
        self.job_timeout = job_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self._names = _NodeNames()
        self._board = _board_of(data_dir)
        now = time.monotonic()
        self._jobs = {s.job_id: _Remote(s, now, now) for s in ray.get(self._board.running.remote())}
        self._attached = list(self._jobs)
        self._drained = 0.0

    def attached(self) -> list[str]:
        """Jobs the board was already running when this executor joined it (a daemon restart):
        they stay ``running`` in the ledger and report here; the rest go back to the queue."""
        return list(self._attached)

    def warm(self) -> None:
        """An idle worker on every live node imports the render engine now, not with the first job."""
        for n in self._names.refresh(force=True):
            if n["Alive"]:
                _warm.options(num_cpus=0,  # the worker it starts is the one the node's first job reuses
                              scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=True),
                              **_QUIET).remote()

    def slots(self, cpu: int = 0, gpu: int = 0) -> tuple[int, int]:
        """(CPU jobs, GPU jobs) the live nodes hold at once (the config's local slots do not count)."""
        cpus = gpus = 0
        for n in self._names.refresh():
            if n["Alive"]:
                cpus += int(n["Resources"].get("CPU", 0) // self.cpu_per_job)
                gpus += int(n["Resources"].get("GPU", 0))
        return cpus, gpus if self.use_gpu else 0

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster as the dashboard shows it: each node, its CPUs/GPUs, the jobs on it."""
        on: dict[str, list[str]] = {}
        for job_id, run in self._jobs.items():
            if run.node:
                on.setdefault(run.node, []).append(job_id)
        out = []
        for n in self._names.refresh():
            name = self._names(n["NodeID"])
            out.append({"node": name, "address": n["NodeManagerAddress"], "alive": bool(n["Alive"]),
                        "cpus": n["Resources"].get("CPU", 0), "gpus": n["Resources"].get("GPU", 0),
                        "head": "node:__internal_head__" in n["Resources"], "jobs": on.get(name, [])})
        return out

    def node(self, job_id: str) -> str | None:
        run = self._jobs.get(job_id)
        return run.node if run else None

    def pid(self, job_id: str) -> int | None:
        run = self._jobs.get(job_id)
        return run.pid if run else None

    def running(self) -> list[str]:
        return list(self._jobs)

    def start(self, spec: JobSpec) -> int | None:
        # SPREAD: a render is coarse work, so every node with room takes one, not the local one first
        options: dict[str, Any] = {"num_cpus": self.cpu_per_job, "scheduling_strategy": "SPREAD", **_QUIET}
        if spec.gpu != "off":  # a GPU slot, as locally: the GPU, not a CPU slot
            options = {"num_cpus": 0, "num_gpus": 1, "scheduling_strategy": "SPREAD", **_QUIET}
        ray.get(self._board.start.remote(self.path_map.spec(spec), options))
        now = time.monotonic()
        self._jobs[spec.job_id] = _Remote(spec, now, now)
        return None  # the pid arrives with the job's first event, from its node

    def stop(self, job_id: str, reason: str) -> None:
        run = self._jobs.get(job_id)
        if run is None or run.stop_reason is not None:
            return
        run.stop_reason = reason
        self._board.stop.remote(job_id)

    def poll(self, timeout: float = 0.0) -> list[Outcome]:
        events: list[tuple[str, tuple[Any, ...]]] = []
        if timeout > 0 or time.monotonic() - self._drained >= REDRAIN:
            try:
                events = ray.get(self._board.drain.remote(timeout), timeout=timeout + 60)
            except ray.exceptions.RayActorError as exc:  # the board's node (this one) lost its Ray
                events = [(job_id, ("lost", _lost(exc), None)) for job_id in self._jobs]
            self._drained = time.monotonic()
        outcomes = [o for o in (self._event(job_id, event) for job_id, event in events) if o is not None]
        now = time.monotonic()
        for job_id, run in self._jobs.items():
            if run.stop_reason is not None:
                continue
            if now - run.started > self.job_timeout:
                self.stop(job_id, f"timed out after {self.job_timeout:.0f} s (job_timeout)")
            elif now - run.beat > self.heartbeat_timeout:
                where = f"on node {run.node}" if run.node else "waiting for a node"
                self.stop(job_id, f"no progress for {self.heartbeat_timeout:.0f} s {where}: stopped")
        return outcomes

    def _event(self, job_id: str, event: tuple[Any, ...]) -> Outcome | None:
        run = self._jobs.get(job_id)
        if run is None:
            return None  # a job this daemon stopped following (its outcome was delivered)
        run.beat = time.monotonic()
        kind = event[0]
        if kind == "begun":
            run.node, run.pid = self._names(event[1]), int(event[2])
            return Outcome(job_id, "progress", 0.0, node=run.node, pid=run.pid)
        if kind in PROGRESS_KINDS:
            return Outcome(job_id, kind, float(event[1]), step=event[2] if len(event) > 2 else None, node=run.node,
                           pid=run.pid)
        del self._jobs[job_id]
        (kind, detail, report), node_id, pid = event[1:]  # ("done", outputs, report) | (kind, reason, None)
        if node_id is not None:  # the task's own word: its messages to the board may come later
            run.node, run.pid = self._names(node_id), int(pid)
        # the worker process lives on for the next job unless it was lost: only then its pid,
        # whose temp files the daemon may remove
        gone = run.pid if kind == "lost" else None
        if run.stop_reason is not None:
            return Outcome(job_id, "crashed", error=run.stop_reason, node=run.node, pid=gone)
        if kind in WITH_OUTPUTS:
            return Outcome(job_id, kind, 1.0, outputs=[self.path_map.to_head(p) for p in detail],
                           report=self.path_map.to_head(report) if report else None, node=run.node)
        if kind == "lost":
            where = f"on node {run.node}" if run.node else "before it reached a node"
            return Outcome(job_id, "crashed", error=f"{run.spec.source}: the Ray worker {where} was lost ({detail})",
                           node=run.node, pid=gone)
        return Outcome(job_id, kind, error=detail, node=run.node)

    def shutdown(self) -> None:
        super().shutdown()
        if not self._jobs:  # nothing left to re-attach to: the board goes too
            ray.kill(self._board)
        ray.shutdown()


class RayShotPool:
    """A conform's shots as Ray tasks over the cluster, each asking for ``options`` (CPUs or a
    GPU, as its job did). Called from inside the conform's own task, it waits with ``ray.wait``,
    so Ray lends the job's CPU to its shots meanwhile."""

    def __init__(self, options: dict[str, Any]):
        self.options = options
        self._names = _NodeNames()

    @property
    def workers(self) -> int:
        """Shots that can render at once: the live nodes' room for one."""
        key, need = ("GPU", 1.0) if self.options.get("num_gpus") else ("CPU", float(self.options.get("num_cpus", 1)))
        return max(1, sum(int(n["Resources"].get(key, 0) // need) for n in self._names.refresh() if n["Alive"]))

    def map(self, fn: Callable[..., Any], arglists: Iterable[tuple[Any, ...]],
            tick: Callable[[], None] | None = None) -> Iterator[tuple[int, Any, str | None]]:
        """``(index, fn(*args) or the exception that lost it, node)`` for each shot, as they finish;
        ``tick()`` every second while none does (the job's heartbeat)."""
        refs = {_shot_task.options(**self.options).remote(fn, args): i for i, args in enumerate(arglists)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            if not ready and tick is not None:
                tick()
            for ref in ready:
                try:
                    result, node_id = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    yield refs[ref], RuntimeError(f"the Ray worker was lost ({_lost(exc)})"), None
                    continue
                yield refs[ref], result, self._names(node_id)
