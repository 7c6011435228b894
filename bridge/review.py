"""Routes for working from the dashboard: the finished file, each job's log, the daemon's
log and the running config (read-only), and the favicon.

====================================  =========================================================
``GET /jobs/{id}/output``             the finished file (``?index=N`` among several outputs,
                                      ``?download=1`` as an attachment); Range requests are
                                      answered with 206, so a browser's player can seek
``GET /jobs/{id}/log``                the job's history (state changes, errors) and the
                                      daemon's log lines that name it
``GET /log`` (``?lines=``)            the end of the daemon's log
``GET /config``                       folders, recipes, workers, schedule of the running config
``GET /favicon.ico``                  the icon
====================================  =========================================================

Every file served is confined to the roots like any other path the API touches.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse

from postbay.config import Config
from postbay.daemon.ledger import FINISHED

from .roots import Roots

__all__ = ["OUTPUT_MEDIA_TYPES", "add_review_routes", "daemon_log_tail"]

#: Media types of the outputs a browser may play or a user downloads.
OUTPUT_MEDIA_TYPES = {".mov": "video/quicktime", ".mp4": "video/mp4", ".m4v": "video/mp4", ".mkv": "video/x-matroska",
                      ".webm": "video/webm", ".mxf": "application/mxf", ".srt": "application/x-subrip",
                      ".vtt": "text/vtt", ".wav": "audio/wav"}
STATIC = Path(__file__).parent / "static"


def daemon_log_tail(config: Config, lines: int, needle: str | None = None) -> list[str]:
    """The last ``lines`` lines of ``<data_dir>/logs/daemon.log`` (those containing ``needle``)."""
    path = Path(config.data_dir) / "logs" / "daemon.log"
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", errors="replace") as fh:
        return list(deque((ln.rstrip("\n") for ln in fh if needle is None or needle in ln), maxlen=lines))


def _stamp(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def add_review_routes(app: FastAPI, config: Config, ledger: Any, roots: Roots) -> None:
    """Add the routes above to ``app`` (the token guard and the roots apply as elsewhere)."""

    def job_or_404(job_id: str) -> Any:
        job = ledger.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    @app.get("/jobs/{job_id}/output", tags=["media"], response_class=FileResponse)
    def job_output(job_id: str, index: int = Query(default=0, ge=0), download: bool = False) -> FileResponse:
        """The finished file itself (range-capable: players seek, downloads resume)."""
        job = job_or_404(job_id)
        if job.state not in FINISHED or index >= len(job.outputs):  # a skipped job's: the file it kept
            raise HTTPException(404, f"job {job_id} has no output {index} (it is {job.state})")
        real = roots.confine(job.outputs[index])
        if not real.is_file():
            raise HTTPException(404, f"{job.outputs[index]}: no such file (moved or deleted since)")
        return FileResponse(real, media_type=OUTPUT_MEDIA_TYPES.get(real.suffix.lower(), "application/octet-stream"),
                            filename=real.name, content_disposition_type="attachment" if download else "inline")

    @app.get("/jobs/{job_id}/log", tags=["jobs"])
    def job_log(job_id: str) -> dict[str, Any]:
        """What happened to the job, oldest first: its ledger history and the daemon's lines."""
        job = job_or_404(job_id)
        history = [f"{_stamp(ev.at)} {ev.state}" + (f": {ev.message}" if ev.message not in (None, ev.state) else "")
                   for ev in ledger.job_events(job.id) if ev.message != "progress"]
        return {"job": job.id, "history": history, "daemon": daemon_log_tail(config, 200, needle=job.id)}

    @app.get("/log", tags=["service"])
    def daemon_log(lines: int = Query(default=200, ge=1, le=5000)) -> dict[str, Any]:
        """The end of the daemon's log."""
        return {"path": str(Path(config.data_dir) / "logs" / "daemon.log"), "lines": daemon_log_tail(config, lines)}

    @app.get("/config", tags=["service"])
    def running_config() -> dict[str, Any]:
        """The running config's folders, workers and schedule (read-only; no token in it)."""
        return {"source": config.source, "data_dir": str(config.data_dir), "gpu": config.gpu,
                "folders": [{"path": str(w.path), "recipe": w.recipe, "output": str(w.output_dir()), "after": w.after,
                             "settle_seconds": w.settle_seconds, "cron": w.cron} for w in config.watch],
                "workers": config.workers.model_dump(), "schedule": [s.model_dump() for s in config.schedule],
                "notify": [{"url": n.url, "events": n.events} for n in config.notify],
                "existing_output": config.existing_output}

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})
