"""Where jobs run: a small executor interface and the local one, a process per job.

Each job runs in its own process (``forkserver`` context, with the render engine preloaded
so a job starts in milliseconds rather than re-importing PyAV and NumPy), so a crash, a
leak or an out-of-memory in one clip cannot take the daemon down. The process reports back
over a pipe: progress (which is also its heartbeat), then one result. The daemon's main loop
calls :meth:`Executor.poll` and gets :class:`Outcome` records; it never waits on a job.

:class:`~postbay.daemon.ray_executor.RayExecutor` (``[executor] kind = "ray"``) implements the
same methods over a Ray cluster; the watcher and the ledger do not change.
"""

from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing as mp
import signal
import threading
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Literal

from postbay.config import DEFAULT_OCIO_CONFIG
from postbay.naming import ExistingOutput, OutputExists

__all__ = ["PROGRESS_KINDS", "WITH_OUTPUTS", "Executor", "JobSpec", "LocalProcessExecutor", "Outcome", "make_executor",
           "render_job", "run_job"]


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to render one job (picklable; no ledger, no config object)."""

    job_id: str
    source: str
    recipe: str
    output_dir: str
    kind: Literal["media", "timeline"] = "media"
    recipe_dirs: tuple[str, ...] = ()
    gpu: str = "off"
    ocio_config: str = DEFAULT_OCIO_CONFIG
    media_roots: tuple[str, ...] = ()
    allow_plugin_override: bool = False
    #: The output's stem (None: the source's), chosen by the daemon so that no two jobs share a file.
    output_name: str | None = None
    #: Pixels a decoded frame may have (``[limits] max_pixels``).
    max_pixels: int = 8192 * 8192
    existing: ExistingOutput = "version"  # an output of the same name is never replaced silently
    #: ``[inspect]``: inspect the source once rendered (an ``auto`` job's own is kept); listen for speech.
    inspect: bool = True
    inspect_speech: bool = True
    #: The watch folder's ``rate`` (image sequences, EDLs), over the recipe's.
    rate: str | None = None


#: Messages of a running job: ``(kind, fraction, step)``; a ``step`` message is a phase change
#: (``verifying``…), worth writing at once; ``progress`` is the frames' pace, throttled.
PROGRESS_KINDS = ("progress", "step")
#: Results that carry outputs: the job rendered them, or found them there and kept them.
WITH_OUTPUTS = ("done", "skipped")


@dataclass
class Outcome:
    """What became of a job: ``progress`` or ``step`` (fraction, and what it does now), ``done``,
    ``skipped`` (its output existed and ``existing_output = "skip"`` kept it: ``outputs``),
    ``failed`` (the job's own fault, not worth retrying: corrupt media, bad recipe, disk full)
    or ``crashed`` (the worker died, hung or timed out: worth another attempt)."""

    job_id: str
    kind: Literal["progress", "step", "done", "skipped", "failed", "crashed"]
    fraction: float = 0.0
    step: str | None = None  # "denoise 1/7", "verifying": see postbay.activity
    outputs: list[str] = field(default_factory=list)
    report: str | None = None
    error: str | None = None
    node: str | None = None  # the machine that runs it, where the executor has several
    # The worker's pid there (its temp files carry it). A cluster reuses worker processes, so its
    # final outcomes carry a pid only when that worker is gone and its temp files may be removed.
    pid: int | None = None


class Executor(ABC):
    """Runs jobs somewhere and reports what became of them."""

    @abstractmethod
    def start(self, spec: JobSpec) -> int | None:
        """Start a job; returns the worker's pid where there is one."""

    @abstractmethod
    def poll(self, timeout: float = 0.0) -> list[Outcome]:
        """Progress and results since the last call (waits up to ``timeout`` for the first)."""

    @abstractmethod
    def stop(self, job_id: str, reason: str) -> None:
        """Stop a running job; its outcome arrives through :meth:`poll` as ``crashed`` with ``reason``."""

    @abstractmethod
    def running(self) -> list[str]:
        """Ids of the jobs running now."""

    def apply_limits(self, *, job_timeout: float, heartbeat_timeout: float) -> None:
        """Take the limits of a (re)loaded config: ``job_timeout``, the wall-clock limit of one
        attempt; ``heartbeat_timeout``, how long a job may stay silent before it counts as hung."""
        self.job_timeout = job_timeout
        self.heartbeat_timeout = heartbeat_timeout

    def warm(self) -> None:
        """Get workers ready before the first job arrives (nothing to do by default)."""
        return None

    def pid(self, job_id: str) -> int | None:
        """The process id of a job's worker where it runs on this machine (None elsewhere)."""
        return None

    def attached(self) -> list[str]:
        """Jobs this executor found still running when it started (a cluster outlives a daemon
        restart): they stay ``running`` in the ledger; every other ``running`` job is requeued."""
        return []

    def slots(self, cpu: int, gpu: int) -> tuple[int, int]:
        """(CPU jobs, GPU jobs) that may run at once, given the config's ``cpu`` and ``gpu`` slots
        (a cluster counts its live nodes instead)."""
        return cpu, gpu

    def node(self, job_id: str) -> str | None:
        """The machine a running job is on, where the executor has several."""
        return None

    def nodes(self) -> list[dict[str, Any]]:
        """A cluster's nodes (name, address, CPUs, GPUs, running jobs); none for one machine."""
        return []

    def shutdown(self) -> None:
        """Release the workers (jobs still running are stopped)."""
        for job_id in self.running():
            self.stop(job_id, "the daemon is stopping")
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            self.poll(0.1)


# -- the worker side ---------------------------------------------------------------------------

def _die_with_parent() -> None:
    # Linux: if the process that started us dies (kill -9 of the daemon), so do we, so an
    # orphan never keeps rendering next to the restarted daemon's retry.
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _noop() -> None:
    pass


def _interrupt(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_job(spec: JobSpec, conn: Connection) -> None:
    """Worker process body: render one job, report progress and one result over ``conn``."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle (grace period)
    signal.signal(signal.SIGTERM, _interrupt)  # stop: finish_clip removes its temp file on the way out
    try:
        conn.send(render_job(spec, conn.send))
    finally:
        conn.close()


def render_job(spec: JobSpec, send: Any, shots: Any = None, every: float = 0.25) -> tuple[Any, ...]:
    """Render one job wherever it runs (a local worker process, a Ray task): progress goes to
    ``send((kind, fraction, step))`` (see :data:`PROGRESS_KINDS`), frame progress at most once in
    ``every`` seconds, phases as they change; returns the result,
    ``("done" | "skipped", outputs, report)`` or ``("failed" | "crashed", reason, None)``.
    ``shots``: a timeline's shot pool (a cluster's; None renders the shots in processes here)."""
    from postbay.activity import ACTIVITY
    from postbay.errors import PostbayError
    from postbay.media import set_pixel_limit

    set_pixel_limit(spec.max_pixels)
    last = [0.0]
    fraction = [0.0]
    sending = threading.Lock()  # frames report from the encoder's thread, phases from this one

    def say(kind: str) -> None:
        with sending:
            send((kind, fraction[0], ACTIVITY.now()))

    def beat(force: bool = False) -> None:
        now = time.monotonic()
        if force or now - last[0] >= every:
            last[0] = now
            say("progress")

    def progress(done: int, total: int) -> None:
        fraction[0] = done / total if total else 0.0
        beat(done == total)

    def inspecting(done: int = 0, total: int = 0) -> None:
        beat()  # rendered: the fraction stays full, the heartbeat goes on

    try:
        with ACTIVITY.watch(lambda: say("step")):
            say("progress")
            if spec.kind == "timeline":
                outputs, report = _conform(spec, progress, shots)
            else:
                outputs, report = _finish(spec, progress)
            if spec.inspect and report:  # the source's inspection beside the report (postbay.daemon.inspection)
                from postbay.daemon.inspection import attach_inspection

                fraction[0] = 1.0
                ACTIVITY.begin("inspecting")
                attach_inspection(report, spec.source, spec.kind, media_roots=spec.media_roots,
                                  speech=spec.inspect_speech, beat=inspecting)
        return ("done", outputs, report)
    except OutputExists as exc:
        return ("skipped", [str(exc.output)], None)
    except PostbayError as exc:
        return ("failed", str(exc), None)
    except MemoryError:
        return ("crashed", f"{spec.source}: out of memory", None)
    except Exception as exc:  # an unexpected bug in a step: report it, let the daemon decide
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return ("crashed", f"{spec.source}: {tb}", None)


def _recipe(spec: JobSpec) -> Any:
    from postbay.recipe import load_recipe
    from postbay.registry import default_registry

    registry = default_registry(allow_override=spec.allow_plugin_override)
    recipe = load_recipe(spec.recipe, search_dirs=[Path(p) for p in spec.recipe_dirs], registry=registry)
    if spec.rate:  # the folder knows what its tool writes
        recipe = dataclasses.replace(recipe, timeline=recipe.timeline.model_copy(update={"rate": spec.rate}))
    return recipe


def _finish(spec: JobSpec, progress: Any) -> tuple[list[str], str | None]:
    from postbay.render import finish_clip

    result = finish_clip(spec.source, _recipe(spec), spec.output_dir, gpu=spec.gpu, ocio_config=spec.ocio_config,
                         progress=progress, name=spec.output_name, existing=spec.existing)
    return [str(result.output)], str(result.report_path)


def _conform(spec: JobSpec, progress: Any, shots: Any = None) -> tuple[list[str], str | None]:
    from postbay.config import load_config
    from postbay.errors import PostbayError
    from postbay.timeline.conform import conform_timeline

    config = load_config(None)
    config.ocio_config = spec.ocio_config
    result = conform_timeline(spec.source, _recipe(spec), spec.output_dir,
                              media_roots=[Path(p) for p in spec.media_roots],
                              progress=progress, config=config, gpu=spec.gpu, shot_pool=shots, confine=True)
    if not result.ok:  # missing = "skip": the rest is published, the job still says what went wrong
        raise PostbayError(f"finished with problems ({result.status}); the rest is done", path=spec.source,
                           hint=f"see {result.report_path}")
    return [str(p) for p in result.outputs], str(result.report_path)


# -- the daemon side ---------------------------------------------------------------------------

@dataclass
class _Running:
    spec: JobSpec
    process: Any
    conn: Connection
    started: float
    beat: float
    stop_reason: str | None = None
    stop_sent: float = 0.0
    result: tuple[Any, ...] | None = None


class LocalProcessExecutor(Executor):
    """One process per job on this machine.

    ``job_timeout``: wall-clock limit of one attempt; ``heartbeat_timeout``: how long a job
    may stay silent (no progress) before it counts as hung. Both end in ``crashed``.
    """

    def __init__(self, *, job_timeout: float = 7200.0, heartbeat_timeout: float = 120.0,
                 start_method: str = "forkserver"):
        self.job_timeout = job_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self._ctx: Any = mp.get_context(start_method)  # a start method's context (Process, Pipe)
        if start_method == "forkserver":
            self._ctx.set_forkserver_preload(["postbay.daemon.executor", "postbay.render", "postbay.recipe",
                                             "postbay.processors", "postbay.daemon.inspection"])
        self._jobs: dict[str, _Running] = {}

    def running(self) -> list[str]:
        return list(self._jobs)

    def warm(self) -> None:
        """Start the fork server now, in the background: its imports (PyAV, NumPy, OCIO) take
        seconds that the first dropped file should not wait for."""
        if self._ctx.get_start_method() == "forkserver":
            threading.Thread(target=self._warm, name="postbay-forkserver-warm", daemon=True).start()

    def _warm(self) -> None:
        probe = self._ctx.Process(target=_noop, name="postbay-warm")
        probe.start()
        probe.join()

    def pid(self, job_id: str) -> int | None:
        run = self._jobs.get(job_id)
        return run.process.pid if run else None

    def start(self, spec: JobSpec) -> int | None:
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=run_job, args=(spec, send), name=f"postbay-job-{spec.job_id}",
                                    daemon=False)
        process.start()
        send.close()  # the child holds the only write end: EOF on ours means it is gone
        now = time.monotonic()
        self._jobs[spec.job_id] = _Running(spec, process, receive, now, now)
        return process.pid

    def stop(self, job_id: str, reason: str) -> None:
        run = self._jobs.get(job_id)
        if run is None or run.stop_reason is not None:
            return
        run.stop_reason = reason
        run.stop_sent = time.monotonic()
        if run.process.is_alive():
            run.process.terminate()  # SIGTERM: the worker cleans its temp file and exits

    def poll(self, timeout: float = 0.0) -> list[Outcome]:
        outcomes: list[Outcome] = []
        conns: dict[Any, str] = {run.conn: job_id for job_id, run in self._jobs.items()}
        ready: list[Any]
        if conns and timeout > 0:
            ready = wait(list(conns), timeout=timeout)
        else:
            if timeout > 0:
                time.sleep(timeout)  # nothing running: the main loop's tick
            ready = list(conns)
        now = time.monotonic()
        for ready_conn in ready:
            job_id = conns[ready_conn]
            run = self._jobs[job_id]
            try:
                while run.conn.poll():
                    msg = run.conn.recv()
                    run.beat = now
                    if msg[0] in PROGRESS_KINDS:
                        outcomes.append(Outcome(job_id, msg[0], fraction=float(msg[1]), step=msg[2]))
                    else:
                        run.result = msg
            except (EOFError, OSError):
                pass  # the child is gone; reaped below
        for job_id, run in list(self._jobs.items()):
            if run.stop_reason is None:
                if now - run.started > self.job_timeout:
                    self.stop(job_id, f"timed out after {self.job_timeout:.0f} s (job_timeout)")
                elif now - run.beat > self.heartbeat_timeout:
                    self.stop(job_id, f"no progress for {self.heartbeat_timeout:.0f} s: the worker hung and was killed")
            elif run.process.is_alive() and now - run.stop_sent > 3:
                run.process.kill()  # ignored SIGTERM (stuck in native code): no more waiting
            if run.process.is_alive():
                continue
            run.process.join(timeout=0)
            try:  # a result sent just before exiting
                while run.conn.poll():
                    msg = run.conn.recv()
                    if msg[0] not in PROGRESS_KINDS:
                        run.result = msg
            except (EOFError, OSError):
                pass
            run.conn.close()
            del self._jobs[job_id]
            outcomes.append(self._outcome(job_id, run))
        return outcomes

    def _outcome(self, job_id: str, run: _Running) -> Outcome:
        if run.stop_reason is not None:
            return Outcome(job_id, "crashed", error=run.stop_reason)
        if run.result is not None:
            kind = run.result[0]
            if kind in WITH_OUTPUTS:
                return Outcome(job_id, kind, fraction=1.0, outputs=list(run.result[1]), report=run.result[2])
            return Outcome(job_id, kind, error=run.result[1])
        code = run.process.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            why = f"the worker was killed by {name}"
            if -code == signal.SIGKILL:
                why += " (out of memory, or killed by hand)"
        else:
            why = f"the worker exited with status {code} without a result"
        return Outcome(job_id, "crashed", error=f"{run.spec.source}: {why}")

    def shutdown(self) -> None:
        super().shutdown()
        for run in self._jobs.values():
            if run.process.is_alive():
                run.process.kill()


def make_executor(config: Any) -> Executor:
    """The executor ``config.executor.kind`` names: ``local`` (default) or ``ray``."""
    cfg, workers = config.executor, config.workers
    if cfg.kind == "local":
        return LocalProcessExecutor(job_timeout=workers.job_timeout, heartbeat_timeout=workers.heartbeat_timeout)
    from postbay.errors import ConfigError

    try:
        from .ray_executor import RayExecutor
    except ImportError as exc:
        raise ConfigError(f'executor.kind: "ray" needs Ray, which is not installed here ({exc})', path=config.source,
                          hint="pip install 'postbay[cluster]', or set kind = \"local\"") from None
    from .cluster import PathMap

    return RayExecutor(data_dir=config.data_dir, address=cfg.address, path_map=PathMap.parse(cfg.path_map),
                       cpu_per_job=workers.cpu_per_job, use_gpu=config.gpu != "off" and workers.gpu > 0,
                       job_timeout=workers.job_timeout, heartbeat_timeout=workers.heartbeat_timeout)
