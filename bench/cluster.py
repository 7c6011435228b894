"""Ray executor vs the local executor: throughput and per-job overhead.

Same 24 small clips (480×272, 72 frames, tone), recipe ``review`` (H.264 + AAC), one run:

- **local, 1 slot**: ``LocalProcessExecutor`` (a process per job), one job at a time;
- **Ray, 2 nodes**: ``RayExecutor`` on a two-node cluster on this machine (``postbay cluster``'s
  ``LocalCluster``: a head and a worker, one CPU each), as many jobs at once as the nodes hold;
- **Ray, 1 at a time**: the first 8 clips again through Ray, one job at a time: its mean job
  time minus the local one is Ray's **per-job overhead** vs local (submission, scheduling, the
  board's round trips, the result's way back, against a process fork per job);
- **bare**: the same 8 clips rendered in this process (``finish_clip`` in a loop): each
  executor's own overhead per job is its mean job time minus this.

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
from pathlib import Path

from postbay.daemon.cluster import LocalCluster, loopback_env, loopback_only, namespace_problem, process_tree
from postbay.daemon.executor import Executor, JobSpec, LocalProcessExecutor
from postbay.synth import write_clip

INSIDE = "POSTBAY_BENCH_NETNS"


def make_clips(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    template = write_clip(folder / "template.mov.src", frames=72, width=480, height=272, audio="tone", container="mov")
    clips = []
    for i in range(n):
        clips.append(folder / f"clip{i:03d}.mov")
        shutil.copyfile(template, clips[-1])
    return clips


def run_all(executor: Executor, clips: list[Path], out: Path, slots: int) -> float:
    """Wall seconds from the first start to the last result, ``slots`` jobs at a time; every job must be done."""
    queue = [JobSpec(job_id=f"{out.name}-{i}", source=str(c), recipe="review", output_dir=str(out))
             for i, c in enumerate(clips)]
    done: dict[str, str] = {}
    t0 = time.perf_counter()
    while len(done) < len(clips):
        while queue and len(executor.running()) < slots:
            executor.start(queue.pop(0))
        for o in executor.poll(0.05):
            if o.kind != "progress":
                done[o.job_id] = o.kind
                if o.kind != "done":
                    raise SystemExit(f"job {o.job_id} {o.kind}: {o.error}")
    return time.perf_counter() - t0


def render_bare(clips: list[Path], out: Path) -> float:
    from postbay.recipe import load_recipe
    from postbay.render import finish_clip

    recipe = load_recipe("review")
    finish_clip(clips[0], recipe, out / "warm")
    t0 = time.perf_counter()
    for clip in clips:
        finish_clip(clip, recipe, out)
    return time.perf_counter() - t0


def timed(label: str, fn: Callable[[], float]) -> float:
    seconds = fn()
    print(f"  {label:<28} {seconds:7.2f} s", flush=True)
    return seconds


def pin(pids: list[int], cores: set[int]) -> None:
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cores)
        except OSError:
            pass  # ended meanwhile


def bench(args: argparse.Namespace) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="postbay-bench-cluster-"))
    every = os.sched_getaffinity(0)
    try:
        clips = make_clips(root / "clips", args.clips)
        one = clips[:8]
        os.sched_setaffinity(0, {min(every)})  # one slot, one core: the workers forked from here inherit it
        bare = timed(f"bare, in-process, {len(one)} jobs", lambda: render_bare(one, root / "bare"))
        local = LocalProcessExecutor()
        local.warm()
        run_all(local, clips[:2], root / "warm-local", 1)  # the fork server is up, imports done
        local_wall = timed(f"local, 1 slot, {len(clips)} jobs", lambda: run_all(local, clips, root / "local", 1))
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
            ray_wall = timed(f"Ray, {slots} nodes, {len(clips)} jobs",
                             lambda: run_all(ray_ex, clips, root / "ray-out", slots))
            ray_one = timed(f"Ray, 1 at a time, {len(one)} jobs", lambda: run_all(ray_ex, one, root / "ray-one", 1))
            ray_ex.shutdown()
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    job_local = local_wall / len(clips)
    job_bare = bare / len(one)
    overhead = ray_one / len(one) - job_local
    ratio = local_wall / ray_wall
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
        "bare_s": round(bare, 2), "job_s_bare": round(job_bare, 3), "job_s_local": round(job_local, 3),
        "job_s_ray": round(job_ray, 3), "throughput_ratio": round(ratio, 2),
        "local_overhead_per_job_s": round(job_local - job_bare, 3), "ray_overhead_per_job_s": round(ray_over, 3),
        "per_job_overhead_s": round(overhead, 3), "ten_nodes_on_paper_x": round(ten, 1),
        "node_efficiency_these_jobs": round(efficiency, 3), "node_efficiency_60s_jobs": round(minute, 4),
    }
    print(f"throughput Ray (2 nodes) / local (1 slot): {ratio:.2f}x (target >= 1.7x)")
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
