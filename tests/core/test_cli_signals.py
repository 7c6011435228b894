"""`postbay run` stopped by a signal leaves no temp file behind."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from polling import wait_for

from postbay.publish import TEMP_MARK
from postbay.synth import write_clip


def test_sigterm_to_run_removes_its_temp_file(tmp_path: Path):
    clip = write_clip(tmp_path / "long.mp4", frames=480, width=480, height=272, audio=None)
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "postbay", "run", str(clip), "-r", "passthrough", "-o", str(out),
                            "-q"], stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(TEMP_MARK in p.name for p in out.glob(".*")) or run.poll() is not None, 60,
                 what="the render's temp file")
        assert run.poll() is None, "finished before it could be stopped: make the clip longer"
        run.send_signal(signal.SIGTERM)
        code = run.wait(30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert code == 128 + signal.SIGTERM and "Traceback" not in run.stderr.read()
    assert [p.name for p in out.iterdir() if TEMP_MARK in p.name] == []
