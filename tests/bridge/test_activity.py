"""What a running job is doing ("denoise 1/3"), through a real daemon: its API, its ledger, its log."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

from postbay.daemon.ledger import Ledger
from postbay.synth import write_clip

from .harness import DaemonBay

#: Three frame steps, denoise much the slowest: a few seconds on 2 cores for 48 frames at 320x180.
THREE_STEPS = textwrap.dedent("""
    name = "three-steps"
    description = "denoise, grain, grade"
    [[steps]]
    processor = "denoise"
    strength = 0.4
    temporal = 2
    [[steps]]
    processor = "grain"
    amount = 0.02
    [[steps]]
    processor = "grade"
    lut = "print-neutral"
    [output]
    codec = "h264"
    audio = "none"
""")
STEP = re.compile(r"(denoise 1|grain 2|grade 3)/3")


def test_a_running_job_says_its_step_its_phases_and_its_pace(tmp_path: Path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "three-steps.toml").write_text(THREE_STEPS)
    bay = DaemonBay(tmp_path, recipe="three-steps", extra=f'recipes = ["{recipes}"]')
    try:
        clip = write_clip(bay.media / "shot.mov", frames=48, width=320, height=180, audio=None)
        status, job = bay.request("POST", "/jobs", {"path": str(clip), "recipe": "three-steps"})
        assert status == 201, job
        seen: list[dict] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            current = bay.request("GET", f"/jobs/{job['id']}")[1]
            seen.append(current)
            if current["state"] not in ("queued", "running"):
                break
            time.sleep(0.05)
        running = [j for j in seen if j["state"] == "running"]
        # the API said, while the job ran, which of the recipe's steps was executing
        assert any(STEP.fullmatch(j["step"] or "") for j in running), [j["step"] for j in running]
        assert any(j["elapsed"] is not None and j["started"] for j in running)
        done = seen[-1]
        assert done["state"] == "done", done
        assert done["step"] is None and done["finished"] >= done["started"] and done["elapsed"] > 0

        # the ledger kept each step the job went through, in order: phases written as they came
        with Ledger(bay.data / "ledger.sqlite") as ledger:
            steps = [e.step for e in ledger.job_events(job["id"]) if e.state == "running" and e.step]
        phases = [s for s in steps if not STEP.fullmatch(s)]
        assert [p for p in phases if p in ("probing", "verifying", "publishing")] == \
            ["probing", "verifying", "publishing"], steps
        frames = [i for i, s in enumerate(steps) if STEP.fullmatch(s) or s in ("decoding", "encoding")]
        assert frames and steps.index("probing") < frames[0] and frames[-1] < steps.index("verifying"), steps

        # the daemon's console log says each phase with the pace
        log = bay.output()
        assert re.search(rf"job {job['id']}: 100% verifying, \d+:\d\d elapsed", log), log
    finally:
        bay.stop()
