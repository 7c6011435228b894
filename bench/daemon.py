"""Hot-folder daemon vs ``postbay run`` in a loop: pick-up latency and throughput.

Same 100 tiny clips (160×96, 8 frames, H.264), recipe ``passthrough``, one run:

- latency: one clip at a time dropped into an idle daemon; ``arrival`` is drop → queued (the
  settle time, ``settle_seconds`` = 0.5 here, plus the poll), ``pick-up`` is queued (file
  settled) → job running in a worker;
- throughput: all clips dropped at once; wall time from the drop to the last ``done`` in the
  ledger, with 1 and with 2 worker slots;
- the peers: one ``postbay run`` process over all clips (its own sequential loop), and a
  shell-style loop of one ``postbay run`` process per clip (what a cron script does).

Run: ``.venv/bin/python bench/daemon.py [--clips 100] [--loop-clips 100]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from postbay.daemon.ledger import Ledger
from postbay.synth import write_clip


def make_clips(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    template = write_clip(folder / "template.mp4.src", frames=8, width=160, height=96, audio=None, container="mp4")
    clips = []
    for i in range(n):
        p = folder / f"clip{i:03d}.mp4"
        shutil.copyfile(template, p)
        clips.append(p)
    return clips


class Daemon:
    def __init__(self, root: Path, cpu: int):
        self.root = root
        self.drop = root / "drop"
        self.drop.mkdir(parents=True)
        self.config = root / "postbay.toml"
        self.config.write_text(f'data_dir = "{root / "data"}"\n[[watch]]\npath = "{self.drop}"\n'
                               f'recipe = "passthrough"\noutput = "{root / "out"}"\nsettle_seconds = 0.5\n'
                               f'[workers]\ncpu = {cpu}\n')
        self.log = open(root / "daemon.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "postbay", "daemon", "--config", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        while b"daemon ready" not in (root / "daemon.log").read_bytes():
            if self.proc.poll() is not None:
                raise SystemExit((root / "daemon.log").read_text())
            time.sleep(0.05)
        time.sleep(3)  # let the fork server finish its imports, as on a long-running bay
        self.ledger = Ledger(root / "data" / "ledger.sqlite")

    def wait_done(self, n: int, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while len(self.ledger.list("done")) < n:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"daemon did not finish: {self.ledger.counts()}")
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.ledger.close()
        self.log.close()


def bench_latency(root: Path, clips: list[Path], samples: int) -> tuple[list[float], list[float]]:
    daemon = Daemon(root, cpu=1)
    arrival, pickup = [], []
    try:
        for i, clip in enumerate(clips[:samples]):
            target = daemon.drop / clip.name
            t0 = time.time()
            shutil.copy2(clip, target)
            daemon.wait_done(i + 1)
            job = daemon.ledger.list("done")[-1]
            arrival.append(job.created - t0)
            pickup.append((job.started or 0) - job.created)
    finally:
        daemon.stop()
    return arrival, pickup


def bench_throughput(root: Path, clips: list[Path], cpu: int) -> float:
    daemon = Daemon(root, cpu=cpu)
    staged = root / "staged"
    staged.mkdir()
    for c in clips:
        shutil.copy2(c, staged / c.name)
    try:
        t0 = time.perf_counter()
        for c in clips:
            os.rename(staged / c.name, daemon.drop / c.name)
        daemon.wait_done(len(clips))
        return time.perf_counter() - t0
    finally:
        daemon.stop()


def bench_run_once(root: Path, clips: list[Path]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "postbay", "run", *map(str, clips), "--recipe", "passthrough", "--out",
                    str(root / "out"), "-q"], check=True, capture_output=True)
    return time.perf_counter() - t0


def bench_run_loop(root: Path, clips: list[Path]) -> float:
    t0 = time.perf_counter()
    for c in clips:
        subprocess.run([sys.executable, "-m", "postbay", "run", str(c), "--recipe", "passthrough", "--out",
                        str(root / "out"), "-q"], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--loop-clips", type=int, default=100, help="clips for the process-per-clip loop")
    parser.add_argument("--latency-samples", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="postbay-bench-daemon-") as tmp:
        base = Path(tmp)
        clips = make_clips(base / "clips", args.clips)
        print(f"{args.clips} clips 160x96, 8 frames, H.264 -> passthrough (ProRes 422 HQ); {os.cpu_count()} CPUs")

        arrival, pickup = bench_latency(base / "latency", clips, args.latency_samples)
        print(f"latency over {len(arrival)} single drops (settle_seconds 0.5):")
        print(f"  drop -> queued (settle + poll): median {statistics.median(arrival) * 1000:.0f} ms, "
              f"max {max(arrival) * 1000:.0f} ms")
        print(f"  settled -> running (pick-up):   median {statistics.median(pickup) * 1000:.0f} ms, "
              f"max {max(pickup) * 1000:.0f} ms")

        once = bench_run_once(base / "once", clips)
        loop_clips = clips[: args.loop_clips]
        loop = bench_run_loop(base / "loop", loop_clips)
        d1 = bench_throughput(base / "d1", clips, cpu=1)
        d2 = bench_throughput(base / "d2", clips, cpu=2)
        n = len(clips)
        print("throughput:")
        print(f"  postbay run, one process, {n} clips:        {once:7.2f} s  {n / once:6.1f} clips/s")
        print(f"  postbay run, one process per clip, {len(loop_clips)} clips: {loop:7.2f} s  "
              f"{len(loop_clips) / loop:6.1f} clips/s")
        print(f"  daemon, 1 worker slot, {n} clips dropped at once: {d1:7.2f} s  {n / d1:6.1f} clips/s")
        print(f"  daemon, 2 worker slots, {n} clips dropped at once: {d2:7.2f} s  {n / d2:6.1f} clips/s")
        per_loop = loop / len(loop_clips)
        print("ratios (daemon throughput / peer throughput):")
        print(f"  1 slot vs one postbay run process:      {once / d1:5.2f}x")
        print(f"  2 slots vs one postbay run process:     {once / d2:5.2f}x")
        print(f"  1 slot vs a process per clip:           {per_loop * n / d1:5.2f}x")
        print(f"  2 slots vs a process per clip:          {per_loop * n / d2:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
