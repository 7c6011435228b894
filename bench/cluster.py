"""Ray executor vs the local executor: throughput and per-job overhead.

Same 24 small clips (480×272, 72 frames, tone), recipe ``review`` (H.264 + AAC), one run:

- **local, 1 slot**: ``LocalProcessExecutor`` (a process per job), one job at a time;
- **Ray, 2 nodes**: ``RayExecutor`` on a two-node cluster on this machine (``postbay cluster``'s
  ``LocalCluster``: a head and a worker, one CPU each), as many jobs at once as the nodes hold;
- **Ray, 1 at a time**: the first 8 clips again through Ray, one job at a time: its mean job
  time minus the local one is Ray's **per-job overhead** vs local (submission, scheduling, the
  board's round trips, the result's way back, against a process fork per job);
- **bare**: the same 8 clips rendered in this process (``finish_clip`` in a loop): each
  executor's own overhead per job is its mean job time minus this;
- **bare, 2 cores at once**: that loop twice at once, one process pinned to each core: what the
  machine itself gives two one-core renders (the ceiling of the Ray run's ratio here).

Each executor run also prints its per-node timeline (mean render time from a job's first word
to its result, the gap to the next job's start on that node, start → begun, idle share, worker
processes used), and the two-node run the CPU seconds of every Ray process by role: on a shared
machine these say where time goes when wall times do not.

Prints the throughput ratio Ray(2 nodes) / local(1 slot) (target ≥ 1.7×), the per-job overhead
(target ≤ 0.5 s) and what that overhead means for 10 nodes, on paper. A "one-CPU" slot or node
is pinned to one core (CPU affinity): a render's codec threads would otherwise use both, and two
slots could not be twice one. Ray runs inside a
loopback-only network namespace (root; the script re-executes itself there), like the tests.

    python bench/cluster.py [--clips 24] [--json bench/results/cluster-24.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from postbay.daemon.cluster import LocalCluster, loopback_env, loopback_only, namespace_problem, process_tree
from postbay.daemon.executor import PROGRESS_KINDS, Executor, JobSpec, LocalProcessExecutor
from postbay.synth import write_clip

INSIDE = "POSTBAY_BENCH_NETNS"
#: The daemon's main-loop wait (``Daemon(tick=0.2)``); a poll returns at the first event anyway.
TICK = 0.2


def make_clips(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    template = write_clip(folder / "template.mov.src", frames=72, width=480, height=272, audio="tone", container="mov")
    clips = []
    for i in range(n):
        clips.append(folder / f"clip{i:03d}.mov")
        shutil.copyfile(template, clips[-1])
    return clips


@dataclass
class Timeline:
    """When each job of one run was started, began on its node and ended, as the caller saw it."""

    wall: float = 0.0
    started: dict[str, float] = field(default_factory=dict)
    begun: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    node: dict[str, str] = field(default_factory=dict)
    pid: dict[str, int] = field(default_factory=dict)

    def breakdown(self) -> dict[str, dict[str, float]]:
        """Per node: jobs, mean run (begun → result), mean gap from one job's result to the next
        one's start on that node, mean start → begun (submission and placement), and idle share
        of the wall time."""
        out = {}
        for name in sorted(set(self.node.values())):
            jobs = sorted((j for j in self.node if self.node[j] == name), key=lambda j: self.begun[j])
            runs = [self.ended[j] - self.begun[j] for j in jobs]
            gaps = [self.begun[b] - self.ended[a] for a, b in zip(jobs, jobs[1:], strict=False)]
            placing = [self.begun[j] - self.started[j] for j in jobs]
            out[name] = {"jobs": len(jobs), "run_s": round(sum(runs) / len(runs), 3),
                         "gap_s": round(sum(gaps) / len(gaps), 3) if gaps else 0.0,
                         "start_to_begun_s": round(sum(placing) / len(placing), 3),
                         "idle_share": round(1 - sum(runs) / self.wall, 3),
                         "worker_processes": len({self.pid[j] for j in jobs if j in self.pid})}
        return out


def run_all(executor: Executor, clips: list[Path], out: Path, slots: int) -> Timeline:
    """Every clip through ``executor``, ``slots`` jobs at a time (each must be done): the wall
    seconds from the first start to the last result, and each job's timeline. The job's
    inspection (``[inspect] every_job``) is left out: it is the same work under either executor,
    and the bare loop it is compared with renders only."""
    queue = [JobSpec(job_id=f"{out.name}-{i}", source=str(c), recipe="review", output_dir=str(out), inspect=False)
             for i, c in enumerate(clips)]
    seen = Timeline()
    t0 = time.perf_counter()
    while len(seen.ended) < len(clips):
        while queue and len(executor.running()) < slots:
            seen.started[queue[0].job_id] = time.perf_counter() - t0
            executor.start(queue.pop(0))
        for o in executor.poll(TICK):
            now = time.perf_counter() - t0
            seen.begun.setdefault(o.job_id, now)
            if o.pid:
                seen.pid.setdefault(o.job_id, o.pid)
            if o.kind not in PROGRESS_KINDS:  # a result, not a word on the way
                seen.ended[o.job_id] = now
                seen.node[o.job_id] = o.node or "local"
                if o.kind != "done":
                    raise SystemExit(f"job {o.job_id} {o.kind}: {o.error}")
    seen.wall = time.perf_counter() - t0
    return seen


def render_bare(clips: list[Path], out: Path, cpu: list[float]) -> float:
    """Wall seconds of ``finish_clip`` over ``clips`` in this process; appends its CPU seconds to ``cpu``."""
    from postbay.recipe import load_recipe
    from postbay.render import finish_clip

    recipe = load_recipe("review")
    finish_clip(clips[0], recipe, out / "warm")
    t0, c0 = time.perf_counter(), time.process_time()
    for clip in clips:
        finish_clip(clip, recipe, out)
    cpu.append(time.process_time() - c0)
    return time.perf_counter() - t0


def render_side_by_side(clips: list[Path], out: Path, cores: list[int]) -> float:
    """Wall seconds of one bare render loop per core, all at once (forked, each pinned to its
    core): what the machine gives two one-core renders with no executor at all."""
    import multiprocessing

    def loop(core: int) -> None:
        os.sched_setaffinity(0, {core})
        render_bare(clips, out / f"core{core}", [])

    context = multiprocessing.get_context("fork")  # the render engine is imported already
    workers = [context.Process(target=loop, args=(core,)) for core in cores]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise SystemExit(f"a side-by-side render failed (exit {w.exitcode})")
    return time.perf_counter() - t0


def timed(label: str, fn: Callable[[], float]) -> float:
    seconds = fn()
    print(f"  {label:<28} {seconds:7.2f} s", flush=True)
    return seconds


def followed(label: str, fn: Callable[[], Timeline], timelines: dict[str, object]) -> float:
    """Run ``fn``, print its wall time and per-node timeline, keep the timeline; the wall seconds."""
    seen = fn()
    print(f"  {label:<28} {seen.wall:7.2f} s", flush=True)
    timelines[label] = breakdown = seen.breakdown()
    for name, row in breakdown.items():
        print(f"    {name:<18} {row['jobs']:3d} jobs, run {row['run_s']:.3f} s, gap to the next "
              f"{row['gap_s']:.3f} s, start→begun {row['start_to_begun_s']:.3f} s, idle {row['idle_share']:.0%}, "
              f"{row['worker_processes']} worker process(es)")
    return seen.wall


def _role(pid: int) -> str:
    """What a process of a Ray node does, from its command line (renders: ``ray::`` workers)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    line = b" ".join(argv).decode(errors="replace")
    if line.startswith("ray::") and not any(a in line for a in ("Agent", "_JobBoard")):
        return "render workers"
    for key, role in (("_JobBoard", "job board"), ("DashboardAgent", "dashboard agent"),
                      ("RuntimeEnvAgent", "runtime-env agent"), ("log_monitor", "log monitor"),
                      ("dashboard.py", "dashboard"), ("monitor.py", "autoscaler monitor"),
                      ("gcs_server", "GCS"), ("raylet", "raylet"), ("ray.scripts", "ray start")):
        if key in line:
            return role
    return "other"


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) each process has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


def cpu_by_role(before: dict[int, float], after: dict[int, float], driver: int) -> dict[str, float]:
    """CPU seconds each kind of process used between two :func:`cpu_seconds` readings."""
    roles: dict[str, float] = {}
    for pid, seconds in after.items():
        role = "driver (this bench)" if pid == driver else _role(pid)
        roles[role] = round(roles.get(role, 0.0) + seconds - before.get(pid, 0.0), 2)
    return dict(sorted(roles.items(), key=lambda kv: -kv[1]))


def pin(pids: list[int], cores: set[int]) -> None:
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cores)
        except OSError:
            pass  # ended meanwhile


def bench(args: argparse.Namespace) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="postbay-bench-cluster-"))
    every = os.sched_getaffinity(0)
    timelines: dict[str, object] = {}
    bare_cpu: list[float] = []
    try:
        clips = make_clips(root / "clips", args.clips)
        one = clips[:8]
        os.sched_setaffinity(0, {min(every)})  # one slot, one core: the workers forked from here inherit it
        bare = timed(f"bare, in-process, {len(one)} jobs", lambda: render_bare(one, root / "bare", bare_cpu))
        os.sched_setaffinity(0, every)
        both = timed(f"bare, 2 cores at once, 2x{len(one)}",
                     lambda: render_side_by_side(one, root / "side", sorted(every)[:2]))
        os.sched_setaffinity(0, {min(every)})
        local = LocalProcessExecutor()
        local.warm()
        run_all(local, clips[:2], root / "warm-local", 1)  # the fork server is up, imports done
        local_wall = followed(f"local, 1 slot, {len(clips)} jobs", lambda: run_all(local, clips, root / "local", 1),
                              timelines)
        local.shutdown()
        os.sched_setaffinity(0, every)

        cluster = LocalCluster(root / "ray").start(nodes=2, cpus=1)
        for core, name in zip(sorted(every), ["head", "worker-1"]):  # a one-CPU node: its processes on one core
            pin(process_tree(cluster.nodes[name]), {core})
        try:
            from postbay.daemon.ray_executor import RayExecutor

            ray_ex = RayExecutor(data_dir=root / "data", address=cluster.address)
            ray_ex.warm()
            slots = ray_ex.slots()[0]
            run_all(ray_ex, clips[:2], root / "warm-ray", slots)
            processes = [p for pid in cluster.nodes.values() for p in process_tree(pid)] + [os.getpid()]
            before = cpu_seconds(processes)
            ray_wall = followed(f"Ray, {slots} nodes, {len(clips)} jobs",
                                lambda: run_all(ray_ex, clips, root / "ray-out", slots), timelines)
            ray_cpu = cpu_by_role(before, cpu_seconds(processes), os.getpid())
            print("    CPU seconds: " + ", ".join(f"{role} {sec:.2f}" for role, sec in ray_cpu.items()), flush=True)
            render_cpu = ray_cpu.get("render workers", 0.0) / len(clips)
            own_cpu = (sum(ray_cpu.values()) - ray_cpu.get("render workers", 0.0)) / len(clips)
            print(f"    CPU per job: render {render_cpu:.3f} s (bare {bare_cpu[0] / len(one):.3f} s), "
                  f"Ray's own and the driver's {own_cpu:.3f} s", flush=True)
            ray_one = followed(f"Ray, 1 at a time, {len(one)} jobs",
                               lambda: run_all(ray_ex, one, root / "ray-one", 1), timelines)
            ray_ex.shutdown()
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    job_local = local_wall / len(clips)
    job_bare = bare / len(one)
    overhead = ray_one / len(one) - job_local
    ratio = local_wall / ray_wall
    ceiling = 2 * bare / both
    job_ray = ray_one / len(one)
    ray_over = job_ray - job_bare
    # On paper, N nodes finish N / (render + Ray's per-job cost) jobs a second; the bay's own part
    # per job (a ledger claim, one call to the board, a few progress events) is milliseconds, so
    # it is not the limit below some hundred nodes at these job lengths.
    ten = 10 * job_local / (job_bare + max(ray_over, 0.0))
    efficiency = job_bare / (job_bare + max(ray_over, 0.0))
    minute = 60.0 / (60.0 + max(ray_over, 0.0))
    result = {
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs)", "clips": len(clips), "recipe": "review",
        "local_1_slot_s": round(local_wall, 2), "ray_2_nodes_s": round(ray_wall, 2),
        "ray_1_at_a_time_s": round(ray_one, 2), "jobs_in_ray_1_at_a_time": len(one),
        "bare_s": round(bare, 2), "bare_2_cores_at_once_s": round(both, 2), "machine_ceiling_x": round(ceiling, 2),
        "job_s_bare": round(job_bare, 3), "job_s_local": round(job_local, 3),
        "job_s_ray": round(job_ray, 3), "throughput_ratio": round(ratio, 2),
        "local_overhead_per_job_s": round(job_local - job_bare, 3), "ray_overhead_per_job_s": round(ray_over, 3),
        "per_job_overhead_s": round(overhead, 3), "ten_nodes_on_paper_x": round(ten, 1),
        "node_efficiency_these_jobs": round(efficiency, 3), "node_efficiency_60s_jobs": round(minute, 4),
        "timelines": timelines, "ray_2_nodes_cpu_s": ray_cpu,
        "cpu_per_job_s": {"bare": round(bare_cpu[0] / len(one), 3), "ray_render": round(render_cpu, 3),
                          "ray_own": round(own_cpu, 3)},
    }
    print(f"throughput Ray (2 nodes) / local (1 slot): {ratio:.2f}x (target >= 1.7x); two bare renders side by "
          f"side on this machine: {ceiling:.2f}x one, so Ray reaches {ratio / ceiling:.0%} of what the cores give")
    print(f"per-job overhead of Ray vs local: {overhead:+.3f} s (target <= 0.5 s), on {job_local:.2f} s jobs")
    print(f"  vs the bare render ({job_bare:.2f} s/job): local {job_local - job_bare:+.3f} s, "
          f"Ray {ray_over:+.3f} s per job")
    print(f"10 nodes, on paper: {ten:.1f}x one local slot for these jobs (10 x {job_local:.2f} / "
          f"({job_bare:.2f} + {max(ray_over, 0):.2f})); each node renders {efficiency:.0%} of the time on "
          f"{job_bare:.2f} s jobs, {minute:.1%} on 60 s ones")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not os.environ.get(INSIDE):
        problem = namespace_problem()
        if problem:
            print(f"cannot run: {problem}", file=sys.stderr)
            return 2
        return subprocess.run(loopback_only([sys.executable, *sys.argv]), env=loopback_env({INSIDE: "1"}),
                              check=False).returncode
    result = bench(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
