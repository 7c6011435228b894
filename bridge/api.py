"""postbay's HTTP API and dashboard (FastAPI on uvicorn), started by the daemon.

Editors and other tools reach postbay here without touching a folder:

====================================  =========================================================
``GET /health``                       alive? (the only route that needs no token)
``GET /recipes``, ``/processors``     what can be asked for; plugin problems included
``POST /jobs``                        JSON ``{"path", "recipe", "out"}`` for a file the daemon
                                      can read, or a multipart upload (``file``, ``recipe``)
                                      into the inbox; 201 with the new job, 202 when the same
                                      file is already queued or done with that recipe
``GET /jobs`` (``?state=``)           the queue
``GET /jobs/{id}``                    state, progress 0–1, step ("denoise 1/7"), elapsed, eta,
                                      outputs, error, report
``POST /jobs/{id}/cancel``, ``retry``
``GET /jobs/{id}/report``             the render report (timings, verification…)
``GET /jobs/{id}/inspection``         the inspection of its source (JSON; ``/inspect``: HTML)
``POST /review``, ``/reviews/{id}``   variations ranked, their contact sheet (bridge.inspection)
``GET /jobs/{id}/still``              PNG of frame N of the job's source or output
``GET /still?path=&frame=``           PNG of frame N of any media file inside the roots
``GET /events``                       server-sent events of job state and progress
``GET /cluster``                      the executor, and a cluster's nodes with their jobs
``GET /jobs/{id}/output``, ``/log``   the finished file (Range requests) and the job's log;
``GET /log``, ``/config``             the daemon's log and running config (bridge.review)
``GET /``                             the dashboard (``bridge/static``)
====================================  =========================================================

The job ledger (:class:`postbay.daemon.ledger.Ledger`) is the single source of truth: the
API writes jobs into it and reads their state back; the daemon's workers do the rendering.

Security: the server binds ``127.0.0.1`` unless configured otherwise, and any other address
requires ``[api] token``; with a token set every route but ``/health`` wants
``Authorization: Bearer <token>`` (or ``?access_token=`` where a browser cannot send headers:
event streams and images). Every path in a request must resolve, symlinks followed, inside
the configured roots (:mod:`postbay.bridge.roots`), else 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import socket
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from postbay import __version__
from postbay.bridge.guard import Refusal, RequestGuard
from postbay.bridge.inspection import add_inspection_routes
from postbay.bridge.review import add_review_routes
from postbay.bridge.roots import OutsideRoots, Roots
from postbay.bridge.upload import UploadError, idle_limited, receive_upload
from postbay.config import Config
from postbay.daemon.ledger import STATES
from postbay.daemon.space import is_disk_full, low_space
from postbay.errors import ConfigError, PostbayError
from postbay.media import set_pixel_limit
from postbay.paths import url_to_path
from postbay.timeline import TIMELINE_SUFFIXES
from postbay.timeline.isolated import outline_timeline
from postbay.timeline.reader import TimelineError

__all__ = ["ApiServer", "SubmitRequest", "api_port_free", "api_service", "check_bind", "create_app", "serve",
           "start_server"]

STATIC = Path(__file__).resolve().parent / "static"
_OPEN = {"/health", "/"}  # the dashboard page itself holds no data; it asks for the token
#: Where a browser cannot send headers (EventSource, <img>), the token may come as ?access_token=.
_QUERY_TOKEN = re.compile(r"^/(events|still|jobs/[^/]+/(still|output|inspect)|reviews/[^/]+)$")


class SubmitRequest(BaseModel):
    """A job for a file the daemon can already read."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="absolute path of a media file or timeline inside the configured roots")
    recipe: str = Field(description="recipe name (see GET /recipes)")
    out: str | None = Field(default=None, description="output folder inside an output root (default: the recipe's "
                                                      "hot-folder output, else the API's output folder)")


def check_bind(config: Config) -> None:
    """Refuse to serve beyond this machine without a token."""
    host = config.api.host
    if not config.api.loopback() and not config.api.token:
        raise ConfigError(f"api.host = {host!r} serves other machines, so api.token must be set",
                          path=config.source, hint="set [api] token = \"…\" or bind host = \"127.0.0.1\"")


def _job_dict(job: Any) -> dict[str, Any]:
    data = job.to_dict() if hasattr(job, "to_dict") else dict(job)
    data["name"] = Path(data.get("dropped") or data.get("source") or "").name
    data["report_path"] = data.pop("report", None)
    if hasattr(job, "timing"):
        data.update(job.timing())  # elapsed, eta
    return data


def create_app(config: Config, ledger: Any) -> FastAPI:
    """The API and dashboard over ``ledger`` with ``config``'s roots, limits and token."""
    check_bind(config)
    set_pixel_limit(config.limits.max_pixels)
    roots = Roots.from_config(config)
    token = config.api.token
    limit = config.api.upload_limit_mb * (1 << 20)
    # No /docs or /redoc: they load their scripts from a CDN, and an edit bay may have no internet.
    app = FastAPI(title="postbay", version=__version__, docs_url=None, redoc_url=None,
                  description="Finishing service for AI-generated video: submit jobs, follow them, fetch reports.")
    app.state.stopping = threading.Event()
    # Open event streams: one leaves the set when its response is dropped, even one whose client
    # went away before the stream began.
    app.state.event_streams = weakref.WeakSet()
    app.state.roots = roots

    request_guard = RequestGuard(config.api)

    def authorised(request: Request) -> bool:
        if not token:
            return True
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            given = header[7:]
        elif _QUERY_TOKEN.match(request.url.path):
            given = request.query_params.get("access_token", "")
        else:
            given = ""
        return hmac.compare_digest(given.encode(), token.encode())

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        path = request.url.path
        try:
            request_guard.check_source(request.headers)
        except Refusal as exc:
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        origin = request.headers.get("origin")
        cors = request_guard.cors_headers(origin) if origin and request_guard.allowed_cross_origin(origin) else {}
        if request.method == "OPTIONS" and cors:
            return Response(status_code=204, headers=request_guard.preflight_headers(origin or ""))
        if token and path not in _OPEN and not path.startswith("/static/") and not authorised(request):
            return JSONResponse({"detail": "missing or wrong token (send Authorization: Bearer <token>)"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer", **cors})
        try:
            request_guard.check_intent(request.method, request.headers)
        except Refusal as exc:
            return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=cors)
        response = await call_next(request)
        response.headers.update(cors)
        return response

    @app.exception_handler(OutsideRoots)
    async def outside(request: Request, exc: OutsideRoots) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "roots_hint": "paths must lie inside the configured media roots, "
                             "hot folders, their outputs or the inbox"}, status_code=403)

    @app.exception_handler(sqlite3.OperationalError)
    async def ledger_error(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        if not is_disk_full(exc):
            raise exc
        return JSONResponse({"detail": f"disk full: the job ledger cannot be written ({exc}); "
                                       "free some space and try again"}, status_code=507)

    @app.exception_handler(PostbayError)
    async def postbay_error(request: Request, exc: PostbayError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def job_or_404(job_id: str) -> Any:
        job = ledger.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r}")
        return job

    def recipe_names() -> dict[str, Path]:
        from postbay.recipe import find_recipes

        return find_recipes(config.recipes)

    def hot_folder(recipe: str) -> Any:
        return next((w for w in config.watch if w.recipe == recipe), None)

    def check_recipe(name: str) -> None:
        from postbay.recipe import load_recipe
        from postbay.registry import default_registry

        if name not in recipe_names():
            raise HTTPException(400, f"unknown recipe {name!r}; known recipes: {', '.join(sorted(recipe_names()))}")
        load_recipe(name, search_dirs=config.recipes,
                    registry=default_registry(allow_override=config.allow_plugin_override))

    def check_timeline_media(path: Path) -> None:
        """A timeline's clips are read by the daemon too: those it could read must lie inside the roots.

        The timeline is read in a child process (a hostile one may crash its reader), and each
        clip's URL is turned into a path by the same parser the worker uses."""
        try:
            outline = outline_timeline(path)
        except TimelineError as exc:
            raise HTTPException(400, str(exc)) from None
        for clip in outline.clips:
            media, _ = url_to_path(clip.url, path.parent)
            # A path that does not exist here is relinked by name inside the media roots by the
            # conform (an edit made on another machine); one that exists must lie inside the roots.
            if media is not None and media.exists() and not roots.contains(media):
                raise OutsideRoots(f"{path.name}: clip {clip.name!r} uses {media}")

    def submit(source: Path, recipe: str, out: str | None) -> JSONResponse:
        paused = short_of_space()
        if paused:
            raise HTTPException(507, paused)
        check_recipe(recipe)
        if out is not None:
            out_dir = roots.confine_output(out)
        else:
            watch = hot_folder(recipe)
            out_dir = roots.confine(watch.output_dir()) if watch else roots.output
        kind = "timeline" if source.suffix.lower() in TIMELINE_SUFFIXES else "media"
        if kind == "timeline":
            check_timeline_media(source)
        job, created = ledger.submit(source, recipe, out_dir, after="keep", kind=kind)
        return JSONResponse(_job_dict(job), status_code=201 if created else 202)

    def short_of_space() -> str | None:
        folders = [config.data_dir, roots.output, *(w.output_dir() for w in config.watch)]
        return low_space(folders, config.limits.min_free_mb)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Whether the API (and so the daemon that started it) answers, and whether it takes new
        jobs (``status: paused`` with the reason when a disk is full)."""
        paused = short_of_space()
        return {"status": "paused" if paused else "ok", "paused": paused, "version": __version__, "auth": bool(token)}

    @app.get("/cluster", tags=["service"])
    def cluster() -> dict[str, Any]:
        """Where jobs run: ``executor`` (local or ray) and, on a cluster, its ``nodes`` with their
        CPUs, GPUs and running jobs (as the daemon last saw them)."""
        state = ledger.daemon_state()
        return {"executor": state.get("executor", "local"), "nodes": state.get("cluster", [])}

    @app.get("/recipes", tags=["service"])
    def recipes() -> dict[str, Any]:
        """Recipes by name, with their steps, output and hot folder; invalid ones under problems."""
        from postbay.recipe import load_recipe
        from postbay.registry import default_registry

        registry = default_registry(allow_override=config.allow_plugin_override)
        found, problems = [], []
        for name, path in sorted(recipe_names().items()):
            try:
                recipe = load_recipe(path, registry=registry)
            except PostbayError as exc:
                problems.append({"name": name, "error": str(exc)})
                continue
            watch = hot_folder(name)
            found.append({"name": name, "description": recipe.description,
                          "steps": [s.describe() for s in recipe.steps], "output": recipe.output.model_dump(),
                          "hot_folder": str(watch.path) if watch else None,
                          "output_folder": str(watch.output_dir() if watch else roots.output)})
        return {"recipes": found, "problems": problems}

    @app.get("/processors", tags=["service"])
    def processors() -> dict[str, Any]:
        """Every processor with its origin (postbay or plugin:<package>) and plugin load problems."""
        from postbay.registry import default_registry

        registry = default_registry(allow_override=config.allow_plugin_override)
        return {"processors": [p.describe() for p in registry], "problems": [vars(p) for p in registry.problems]}

    @app.post("/jobs", tags=["jobs"], status_code=201,
              openapi_extra={"requestBody": {"content": {
                  "application/json": {"schema": SubmitRequest.model_json_schema()},
                  "multipart/form-data": {"schema": {"type": "object", "required": ["file", "recipe"], "properties": {
                      "file": {"type": "string", "format": "binary"}, "recipe": {"type": "string"},
                      "out": {"type": "string"}}}}}}})
    async def create_job(request: Request) -> JSONResponse:
        """Queue a file: JSON for a path the daemon can read, multipart to upload into the inbox."""
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/"):
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > limit + 64 * 1024:
                raise HTTPException(413, f"upload larger than the limit of {config.api.upload_limit_mb} MB")
            body = idle_limited(request.stream(), config.api.upload_idle_seconds)
            try:
                upload = await receive_upload(body, ctype, roots.inbox, limit)
            except UploadError as exc:
                # Read (and drop) a little more of what the client is still sending, so it gets
                # to read the answer instead of a broken pipe; a huge or stalled one is cut off.
                drained = 0
                with contextlib.suppress(UploadError):
                    async for chunk in body:
                        drained += len(chunk)
                        if drained > 16 << 20:
                            break
                raise HTTPException(exc.status, str(exc)) from None
            recipe = upload.fields.get("recipe", "")
            saved = upload.path
            assert saved is not None  # receive_upload raises unless it saved a file
            try:
                return await asyncio.to_thread(submit, saved, recipe, upload.fields.get("out") or None)
            except BaseException:
                saved.unlink(missing_ok=True)  # a refused upload leaves nothing in the inbox
                raise
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            raise HTTPException(415, "send the job as Content-Type: application/json, or a file as multipart/form-data")
        try:
            asked = SubmitRequest.model_validate_json(await request.body())
        except ValueError as exc:
            raise HTTPException(422, f"expected JSON {{\"path\", \"recipe\", \"out\"}}: {exc}") from None
        source = roots.confine(asked.path)
        if not source.is_file():
            raise HTTPException(404, f"{asked.path}: no such file")
        return await asyncio.to_thread(submit, source, asked.recipe, asked.out)

    @app.get("/jobs", tags=["jobs"])
    def list_jobs(state: str | None = Query(default=None, description=", ".join(STATES)),
                  limit: int | None = Query(default=None, gt=0)) -> dict[str, Any]:
        """The queue, oldest first (newest last), optionally in one state."""
        return {"jobs": [_job_dict(j) for j in ledger.list(state, limit=limit)], "counts": ledger.counts()}

    def read_report(job: Any) -> dict[str, Any] | None:
        if not job.report:
            return None
        try:
            path = roots.confine(job.report)
            return json.loads(path.read_text())
        except (OSError, ValueError, OutsideRoots):
            return None

    @app.get("/jobs/{job_id}", tags=["jobs"])
    def get_job(job_id: str) -> dict[str, Any]:
        """One job: state, progress 0–1, what it does now (``step``, see docs/daemon.md), elapsed and
        ETA seconds, outputs, the error in plain words, and its report."""
        job = job_or_404(job_id)
        data = _job_dict(job)
        data["report"] = read_report(job)
        return data

    @app.post("/jobs/{job_id}/cancel", tags=["jobs"])
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Stop a queued or running job (the daemon stops its worker)."""
        job_or_404(job_id)
        try:
            return _job_dict(ledger.cancel(job_id))
        except PostbayError as exc:
            raise HTTPException(409, str(exc)) from None

    @app.post("/jobs/{job_id}/retry", tags=["jobs"])
    def retry_job(job_id: str) -> dict[str, Any]:
        """Queue a failed or cancelled job again."""
        job_or_404(job_id)
        try:
            return _job_dict(ledger.retry(job_id))
        except PostbayError as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/jobs/{job_id}/report", tags=["jobs"])
    def job_report(job_id: str) -> dict[str, Any]:
        """The render report: input and output probes, timings, verification, notes."""
        report = read_report(job_or_404(job_id))
        if report is None:
            raise HTTPException(404, f"job {job_id} has no report yet")
        return report

    # Each still holds a decoded frame (100 MB at 8K): a burst of requests decodes two at a time.
    stills_at_once = threading.BoundedSemaphore(2)

    def still_png(path: Path, frame: int, width: int) -> Response:
        from postbay.bridge.stills import render_still

        try:
            with stills_at_once:
                png = render_still(path, frame, width)
        except PostbayError as exc:
            raise HTTPException(422, str(exc)) from None
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/still", tags=["media"], response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    def still(path: str, frame: int = Query(default=0, ge=0), width: int = Query(default=640, ge=16, le=3840)):
        """Frame ``frame`` of a media file inside the roots, as a PNG ``width`` pixels wide."""
        real = roots.confine(path)
        if not real.is_file():
            raise HTTPException(404, f"{path}: no such file")
        return still_png(real, frame, width)

    @app.get("/jobs/{job_id}/still", tags=["media"], response_class=Response,
             responses={200: {"content": {"image/png": {}}}})
    def job_still(job_id: str, which: str = Query(default="output", pattern="^(source|output)$"),
                  frame: int | None = Query(default=None, ge=0), width: int = Query(default=640, ge=16, le=3840)):
        """Before (``which=source``) or after (``output``) still of a job, the middle frame by default."""
        job = job_or_404(job_id)
        if which == "source":
            target = job.source
        else:
            not_media = TIMELINE_SUFFIXES | {".json", ".srt", ".vtt"}
            media = [o for o in job.outputs if Path(o).suffix.lower() not in not_media]
            if not media:
                raise HTTPException(404, f"job {job_id} has no rendered output yet")
            target = media[0]
        real = roots.confine(target)
        if not real.is_file():
            raise HTTPException(404, f"{target}: no such file")
        if frame is None:
            from postbay.media import probe

            try:
                frames = probe(real).require_video().frames or 1
            except PostbayError as exc:
                raise HTTPException(422, str(exc)) from None
            frame = max(0, frames // 2)
        return still_png(real, frame, width)

    @app.get("/events", tags=["jobs"], response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}}}})
    async def events(request: Request, since: int | None = Query(default=None, ge=0)) -> StreamingResponse:
        """Server-sent events: one ``job`` event per state change or progress step of any job.

        Starts from now, or after ``since`` / the ``Last-Event-ID`` header (to resume)."""
        if len(app.state.event_streams) >= config.api.event_clients:
            raise HTTPException(503, f"{config.api.event_clients} event streams are open already "
                                "(the limit is [api] event_clients); close one or try again",
                                headers={"Retry-After": "5"})
        last_id = request.headers.get("last-event-id")
        start = since if since is not None else (int(last_id) if last_id and last_id.isdigit() else None)
        if start is None:
            start = await asyncio.to_thread(ledger.last_event_seq)

        async def stream():
            seq = start
            quiet = 0.0
            yield "retry: 1000\n\n"
            while not app.state.stopping.is_set() and not await request.is_disconnected():
                batch = await asyncio.to_thread(ledger.events_since, seq)
                for ev in batch:
                    seq = ev.seq
                    yield f"id: {ev.seq}\nevent: job\ndata: {json.dumps(ev.to_dict())}\n\n"
                if batch:
                    quiet = 0.0
                    continue
                await asyncio.sleep(0.25)
                quiet += 0.25
                if quiet >= 15:  # a comment line keeps proxies from closing an idle stream
                    quiet = 0.0
                    yield ": keep-alive\n\n"

        events_out = stream()
        app.state.event_streams.add(events_out)

        return StreamingResponse(events_out, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    add_review_routes(app, config, ledger, roots)  # output, logs, config, favicon: postbay.bridge.review
    add_inspection_routes(app, config, ledger, roots)  # inspections and reviews: postbay.bridge.inspection
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class ApiServer:
    """A uvicorn server running in a background thread (how the daemon and tests start it)."""

    def __init__(self, config: Config, ledger: Any):
        import uvicorn

        self.app = create_app(config, ledger)
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=config.api.host, port=config.api.port,
                                                     log_level="warning", access_log=False, lifespan="off"))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host if ':' not in host else f'[{host}]'}:{port}"

    @property
    def address(self) -> tuple[str, int]:
        sock = self._server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return host, port

    def start(self, timeout: float = 10.0) -> ApiServer:
        self._thread = threading.Thread(target=self._server.run, name="postbay-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise PostbayError("the HTTP API did not start (is the port in use?)",
                                   hint="set [api] port to a free port, or 0 for any")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.app.state.stopping.set()  # ends event streams, so shutdown does not wait on them
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def start_server(config: Config, ledger: Any) -> ApiServer:
    """Start the API in a background thread; ``.url`` says where, ``.stop()`` ends it."""
    return ApiServer(config, ledger).start()


def api_port_free(config: Config) -> None:
    """Raise :class:`PostbayError` naming the address when ``[api]`` cannot listen there."""
    host, port = config.api.host, config.api.port
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PostbayError(f"the API cannot listen on {host}:{port}: {exc.strerror}", path=config.source,
                               hint="stop what uses that port, or set [api] port to a free one (0 picks any)"
                               ) from None


def api_service(config: Config) -> ApiServer | None:
    """The daemon's service (handed to it by ``postbay daemon``): the API and dashboard on
    their own ledger connection, or None where ``[api] enabled = false``."""
    if not config.api.enabled:
        return None
    from postbay.daemon.ledger import Ledger
    from postbay.daemon.settings import ledger_path

    api_port_free(config)  # before anything listens: a clear line instead of a thread that died
    api = start_server(config, Ledger(ledger_path(config)))
    logging.getLogger("postbay.bridge").info("HTTP API and dashboard on %s", api.url)
    return api


def serve(config: Config, ledger: Any) -> None:
    """Run the API in the foreground until interrupted."""
    import uvicorn

    uvicorn.run(create_app(config, ledger), host=config.api.host, port=config.api.port, log_level="warning")
