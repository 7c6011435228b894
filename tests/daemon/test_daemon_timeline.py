"""A timeline conform in the daemon that runs far longer than the heartbeat timeout: its
progress is the worker's heartbeat, so it must end ``done``, not be killed as hung."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from postbay.recipe import load_recipe
from postbay.render import finish_clip
from postbay.synth import frame_number_pattern, write_clip

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange

#: Real work per frame (temporal denoise, deblock) on 640x360 shots: 144 frames, about 5 s of
#: conform on 2 idle cores (numba kernels), 20-60 s on busy ones; silent, the worker would be
#: killed after the 2.5 s heartbeat timeout.
SLOW_RECIPE = """name = "slow-clean"
description = "temporal denoise and deblock: real work on every frame"

[[steps]]
processor = "denoise"
strength = 0.4
temporal = 2

[[steps]]
processor = "deblock"
strength = 0.5

[output]
codec = "prores_hq"
"""


def _cut(folder: Path, shots: int, frames: int) -> Path:
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    (folder / "media").mkdir()
    for i in range(shots):
        media = write_clip(folder / "media" / f"shot{i}.mp4", frames=frames, width=640, height=360, rate=Fraction(24),
                           pattern=frame_number_pattern, audio=None)
        track.append(otio.schema.Clip(name=f"shot{i}",
                                      media_reference=otio.schema.ExternalReference(target_url=media.as_uri()),
                                      source_range=TR(RT(0, 24), RT(frames, 24))))
    edit = folder / "long-edit.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(name="long-edit", tracks=[track]), str(edit))
    return edit


def test_a_conform_longer_than_the_heartbeat_timeout_ends_done(bay, tmp_path: Path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "slow-clean.toml").write_text(SLOW_RECIPE)
    # The CPU kernels compile once per install (cached on disk); compile them here first, so the
    # worker's silence under test is the conform's own and not a fresh clone's first compile.
    warm = write_clip(tmp_path / "warm.mp4", frames=6, width=640, height=360, rate=Fraction(24), audio=None)
    finish_clip(warm, load_recipe(str(recipes / "slow-clean.toml")), tmp_path / "warm-out", gpu="off")
    daemon = bay([{"path": str(tmp_path / "drop"), "recipe": str(recipes / "slow-clean.toml"),
                   "output": str(tmp_path / "out"), "settle_seconds": 0.5}],
                 workers={"cpu": 1, "retries": 0, "heartbeat_timeout": 2.5},
                 extra=f'media_roots = ["{tmp_path / "media"}"]')  # the daemon's clips stay in their folders
    edit = _cut(tmp_path, shots=6, frames=24)
    edit.rename(tmp_path / "drop" / edit.name)
    (job,) = daemon.wait_jobs(1, state="done", timeout=180)
    assert job.finished - job.started > 2.5, "the conform must outlast the heartbeat timeout to test it"
    conformed = otio.adapters.read_from_file(str(tmp_path / "out" / "long-edit.postbay.otio"))
    rendered = [Path(otio.url_utils.filepath_from_url(c.media_reference.target_url)) for c in conformed.find_clips()]
    assert len(rendered) == 6 and all(p.exists() for p in rendered)
    assert {str(p) for p in rendered} <= set(job.outputs)
    assert job.report and job.report.endswith("long-edit.conform.json")
    # the cut was inspected shot by shot once conformed (the worker beating all the while), and linked
    links = json.loads(Path(job.report).read_text())["inspection"]
    inspection = json.loads(Path(links["json"]).read_text())
    assert [c["shot"].rsplit(" ", 1)[-1] for c in inspection["clips"]] == [f"shot{i}" for i in range(6)]
    assert len(inspection["continuity"]) == 5 and Path(links["html"]).name == "long-edit.inspect.html"
