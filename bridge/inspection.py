"""Routes for the inspection of jobs and the review of variations (see docs/inspect.md).

====================================  =========================================================
``GET /jobs/{id}/inspection``         the inspection of the job's source as JSON (thumbnails
                                      left out): measures, problems, what ``auto`` would do
``GET /jobs/{id}/inspect``            the same as the self-contained HTML report
``POST /review``                      JSON ``{"jobs": [ids], "reference": path}``: the jobs'
                                      sources ranked as variations of one scene (the ranking of
                                      ``postbay inspect A B C``), against a reference still or
                                      look (a LUT) when given; answers the ranking and where
                                      the contact sheet is
``GET /reviews/{id}``                 that contact sheet (self-contained HTML)
====================================  =========================================================

The daemon inspects every job once it is rendered (``[inspect] every_job``); a job it did not
inspect (that setting off, or a job older than it) is inspected here the first time a review
asks for it, and the inspection is kept beside its report like the daemon's.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from postbay.config import Config
from postbay.errors import PostbayError

from .roots import OutsideRoots, Roots

__all__ = ["ReviewRequest", "add_inspection_routes"]


class ReviewRequest(BaseModel):
    """Body of ``POST /review``."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[str] = Field(min_length=2, max_length=64, description="ids of the jobs whose sources are compared")
    reference: str | None = Field(default=None, description="a still (PNG, JPEG, TIFF) or a look (.cube…) to "
                                                            "rank the colour against, inside the roots")


def add_inspection_routes(app: FastAPI, config: Config, ledger: Any, roots: Roots) -> None:
    """Add the routes above to ``app`` (the token guard and the roots apply as elsewhere)."""
    reviews = Path(config.data_dir) / "reviews"
    # An inspection decodes the whole clip: two at a time, whatever the number of reviews asked.
    inspecting = threading.BoundedSemaphore(2)

    # The inspection modules (SciPy, PyAV, OCIO, Whisper's glue) load on first use, not at the
    # API's start: most starts never inspect.
    def job_or_404(job_id: str) -> Any:
        job = ledger.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    def report_of(job: Any) -> tuple[Path, dict[str, Any]]:
        try:
            if not job.report:
                raise FileNotFoundError(job.id)
            path = roots.confine(job.report)
            return path, json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, OutsideRoots):
            raise HTTPException(409, f"job {job.id} has no report yet (it is {job.state}): "
                                     "a job is inspected once it is done") from None

    def linked(job: Any, key: str) -> Path:
        _, report = report_of(job)
        links = report.get("inspection") or {}
        if links.get("error"):
            raise HTTPException(404, f"job {job.id}: the inspection failed: {links['error']}")
        try:
            path = roots.confine(links[key]) if links.get(key) else None
        except OutsideRoots:
            path = None
        if path is None or not path.is_file():
            raise HTTPException(404, f"job {job.id} has no inspection ([inspect] every_job is off, or it is older); "
                                     "a review of it makes one")
        return path

    @app.get("/jobs/{job_id}/inspection", tags=["jobs"])
    def job_inspection(job_id: str) -> dict[str, Any]:
        """The inspection of the job's source: measures, problems, what ``auto`` would do (no thumbnails)."""
        from postbay.inspect.files import read_inspection

        data = read_inspection(linked(job_or_404(job_id), "json"))
        data["clips"] = [{k: v for k, v in clip.items() if k != "thumbnails"} for clip in data["clips"]]
        return data

    @app.get("/jobs/{job_id}/inspect", tags=["jobs"], response_class=FileResponse)
    def job_inspection_page(job_id: str) -> FileResponse:
        """The inspection as one self-contained HTML page (plots, thumbnails, problems, steps)."""
        return FileResponse(linked(job_or_404(job_id), "html"), media_type="text/html",
                            headers={"Cache-Control": "no-store"})

    def clip_of(job: Any) -> dict[str, Any]:
        """The job's source as one variation: its inspection, made now where the daemon made none."""
        from postbay.daemon.inspection import attach_inspection
        from postbay.inspect.files import read_inspection

        if job.kind == "timeline":
            raise HTTPException(422, f"job {job.id} is a timeline: a review compares clips (variations of a scene)")
        report_path, report = report_of(job)
        links = report.get("inspection") or {}
        if not links.get("json"):
            with inspecting:
                links = attach_inspection(report_path, roots.confine(job.source), "media", speech=False)
        if links.get("error"):
            raise HTTPException(422, f"job {job.id}: cannot inspect its source: {links['error']}")
        clip = read_inspection(roots.confine(links["json"]))["clips"][0]
        return {**clip, "job": job.id}

    def review(asked: ReviewRequest) -> dict[str, Any]:
        from postbay.inspect.html import rank_variations, reference_colour, write_html

        jobs = [job_or_404(j) for j in dict.fromkeys(asked.jobs)]
        if len(jobs) < 2:
            raise HTTPException(422, "a review compares at least two different jobs")
        sources = [job.source for job in jobs]
        if len(set(sources)) < len(sources):
            twice = next(s for s in sources if sources.count(s) > 1)
            raise HTTPException(422, f"{twice}: two of the jobs have this same source; "
                                     "a review compares different clips (pick one job per clip)")
        try:
            reference = reference_colour(roots.confine(asked.reference)) if asked.reference else None
            clips = [clip_of(job) for job in jobs]
            ranking = rank_variations(clips, reference)
        except PostbayError as exc:
            raise HTTPException(422, str(exc)) from None
        by_file = {c["file"]: c["job"] for c in clips}
        for entry in ranking:
            entry["job"] = by_file[entry["file"]]
        review_id = secrets.token_hex(6)
        reviews.mkdir(parents=True, exist_ok=True)
        write_html(clips, reviews / f"{review_id}.html", reference)
        return {"id": review_id, "ranking": ranking, "reference": asked.reference, "sheet": f"/reviews/{review_id}"}

    @app.post("/review", tags=["jobs"], status_code=201)
    async def review_variations(asked: ReviewRequest) -> dict[str, Any]:
        """Rank the jobs' sources as variations of one scene; the contact sheet is at ``sheet``."""
        return await asyncio.to_thread(review, asked)

    @app.get("/reviews/{review_id}", tags=["jobs"], response_class=FileResponse)
    def review_sheet(review_id: str) -> FileResponse:
        """A review's contact sheet: first, middle and last frame of each variation, its measures, the ranking."""
        path = reviews / f"{review_id}.html"
        if not (len(review_id) == 12 and all(c in "0123456789abcdef" for c in review_id)) or not path.is_file():
            raise HTTPException(404, f"no review {review_id!r}")
        return FileResponse(path, media_type="text/html", headers={"Cache-Control": "no-store"})
