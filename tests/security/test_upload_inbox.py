"""Probe 6 (upload side): uploads piling up in the inbox after their jobs ended, until the disk fills."""

from __future__ import annotations

from pathlib import Path

from bridge.harness import DaemonBay, wait_for

from postbay.bridge.client import ApiClient
from postbay.synth import write_clip


def test_the_inbox_is_emptied_when_an_uploaded_job_ends(tmp_path: Path):
    daemon = DaemonBay(tmp_path, token=None)
    try:
        client = ApiClient(daemon.url)
        clip = write_clip(tmp_path / "upload.mov", frames=6, width=96, height=54, audio=None)
        job = client.upload(clip, "review")
        inbox = daemon.data / "inbox"
        assert Path(job["source"]).parent == inbox
        wait_for(lambda: client.job(job["id"])["state"] == "done", timeout=90, what="the upload's job")
        wait_for(lambda: not any(inbox.iterdir()), timeout=10, what="the inbox to be emptied")
        assert Path(client.job(job["id"])["outputs"][0]).exists()  # the render stays, the upload goes
    finally:
        daemon.stop()
