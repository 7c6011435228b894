"""Probes 3 and 7 at the daemon: same-stem sources sharing one output, and renders replacing files
postbay did not make."""

from __future__ import annotations

import shutil
from pathlib import Path

from bridge.harness import DaemonBay, wait_for

from postbay.daemon.ledger import Ledger
from postbay.media import probe
from postbay.recipe import load_recipe
from postbay.render import output_paths
from postbay.synth import write_clip


def _drop(src: Path, folder: Path) -> Path:
    tmp = folder / f".{src.name}.copying"
    shutil.copy2(src, tmp)
    return tmp.rename(folder / src.name)


def _done(ledger: Ledger, n: int, daemon: DaemonBay) -> list:
    def enough():
        assert daemon.proc.poll() is None, daemon.output()
        jobs = [j for j in ledger.list() if j.state in ("done", "failed")]
        return jobs if len(jobs) >= n else None

    return wait_for(enough, timeout=120, what=f"{n} finished jobs")


def test_same_stem_sources_each_get_their_own_output(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    mp4 = write_clip(src / "take.mp4", frames=6, width=96, height=54, audio=None)
    mkv = write_clip(src / "take.mkv", frames=9, width=96, height=54, audio=None)
    daemon = DaemonBay(tmp_path, api=False)
    ledger = Ledger(daemon.data / "ledger.sqlite")
    try:
        _drop(mp4, daemon.hot)
        _drop(mkv, daemon.hot)
        jobs = _done(ledger, 2, daemon)
        assert [j.state for j in jobs] == ["done", "done"], [(j.source, j.error) for j in jobs]
        outputs = [j.outputs[0] for j in jobs]
        assert len(set(outputs)) == 2, outputs  # both once ended in hot-out/take.mov
        for job in jobs:
            frames = 6 if Path(job.dropped).suffix == ".mp4" else 9
            assert probe(job.outputs[0]).require_video().frames == frames  # each its own render
            assert ledger.output_owner(job.outputs[0]).id == job.id  # one file, one job
    finally:
        daemon.stop()
        ledger.close()


def test_a_render_never_replaces_a_file_postbay_did_not_make(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    shot = write_clip(src / "shot.mp4", frames=6, width=96, height=54, audio=None)
    daemon = DaemonBay(tmp_path, api=False)
    ledger = Ledger(daemon.data / "ledger.sqlite")
    try:
        taken, _ = output_paths(shot, load_recipe("review"), daemon.out)
        daemon.out.mkdir(parents=True, exist_ok=True)
        original = write_clip(taken, frames=3, width=64, height=36, audio=None)  # a client's file, same name
        kept = original.read_bytes()
        _drop(shot, daemon.hot)
        first = _done(ledger, 1, daemon)[0]
        assert first.state == "done" and first.outputs[0] != str(taken), first.outputs
        assert original.read_bytes() == kept
        # a re-export under the same name: postbay's own render is kept and the new one gets a
        # versioned name (the default overwrite policy, existing_output = "version"); the client's
        # file is never touched, and each file stays credited to the job that made it
        write_clip(src / "shot.mp4", frames=8, width=96, height=54, audio=None)
        _drop(src / "shot.mp4", daemon.hot)
        second = _done(ledger, 2, daemon)[-1]
        assert second.state == "done" and second.outputs != first.outputs, (first.outputs, second.outputs)
        assert Path(second.outputs[0]).stem == Path(first.outputs[0]).stem + "_v2", second.outputs
        assert probe(second.outputs[0]).require_video().frames == 8 and original.read_bytes() == kept
        assert probe(first.outputs[0]).require_video().frames == 6
        assert ledger.get(first.id).outputs == first.outputs
    finally:
        daemon.stop()
        ledger.close()
