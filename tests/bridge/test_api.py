"""The HTTP API on a real uvicorn server on loopback, over a real SQLite ledger."""

from __future__ import annotations

import http.client
import io
import json
import os
import threading
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from PIL import Image

from postbay.bridge.api import check_bind
from postbay.config import ApiConfig, Config
from postbay.errors import ConfigError
from postbay.synth import smooth_frame, write_clip

from .harness import TOKEN, flickering, graded_daemon, make_bay, wait_for


def multipart(fields: dict[str, str], filename: str, payload: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + payload + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# -- security -------------------------------------------------------------------------------

def test_token_is_required_on_every_route_but_health(bay):
    assert bay.request("GET", "/health", token=None)[0] == 200
    for method, path in [("GET", "/jobs"), ("GET", "/recipes"), ("GET", "/processors"), ("GET", "/openapi.json"),
                         ("POST", "/jobs"), ("GET", "/events"), ("GET", "/jobs/abc"), ("GET", "/still?path=/x")]:
        assert bay.request(method, path, token=None)[0] == 401, path
        assert bay.request(method, path, token="wrong")[0] == 401, path
    status, spec = bay.request("GET", "/openapi.json")
    assert status == 200
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/cancel", "/jobs/{job_id}/retry", "/jobs/{job_id}/report",
            "/events", "/health", "/recipes", "/processors"} <= set(spec["paths"])


def test_other_addresses_need_a_token():
    with pytest.raises(ConfigError, match="api.token must be set"):
        check_bind(Config(api=ApiConfig(host="0.0.0.0")))
    check_bind(Config(api=ApiConfig(host="0.0.0.0", token="t")))
    check_bind(Config(api=ApiConfig(host="::1")))
    check_bind(Config(api=ApiConfig(host="localhost")))


def test_server_binds_loopback_by_default(tmp_path):
    assert Config().api.host == "127.0.0.1"
    b = make_bay(tmp_path, token=None)
    try:
        assert b.server.address[0] == "127.0.0.1"
        assert b.request("GET", "/jobs")[0] == 200  # no token needed on loopback without one
    finally:
        b.server.stop()


def test_paths_outside_the_roots_are_refused(bay, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = write_clip(elsewhere / "secret.mov", frames=4, width=64, height=36, audio=None)
    inside = write_clip(bay.media / "inside.mov", frames=4, width=64, height=36, audio=None)
    (bay.media / "escape.mov").symlink_to(secret)
    (bay.media / "linked-dir").symlink_to(elsewhere, target_is_directory=True)
    refused = [str(secret), f"{bay.media}/../elsewhere/secret.mov", str(bay.media / "escape.mov"),
               str(bay.media / "linked-dir" / "secret.mov"), "media/inside.mov", "/etc/passwd"]
    for path in refused:
        status, body = bay.request("POST", "/jobs", {"path": path, "recipe": "review"})
        assert status == 403, (path, body)
        assert "outside the folders postbay serves" in body["detail"]
        status, _ = bay.request("GET", f"/still?path={urllib.request.quote(path)}")
        assert status == 403, path
    # A good source with an output folder outside the roots is refused too.
    status, _ = bay.request("POST", "/jobs", {"path": str(inside), "recipe": "review", "out": str(elsewhere)})
    assert status == 403
    status, _ = bay.request("POST", "/jobs", {"path": str(inside), "recipe": "review",
                                              "out": f"{bay.media}/../elsewhere"})
    assert status == 403
    assert bay.ledger.list() == []  # nothing was queued
    # Inside the roots but not a picture: a plain refusal, not a crash.
    (bay.media / "notes.txt").write_text("call the client")
    status, body = bay.request("GET", f"/still?path={urllib.request.quote(str(bay.media / 'notes.txt'))}")
    assert status == 422 and "notes.txt" in body["detail"]
    status, body = bay.request("GET", f"/still?path={urllib.request.quote(str(inside))}&frame=99")
    assert status == 422 and "frame 99 does not exist" in body["detail"]
    # A symlink whose target stays inside the roots is fine.
    (bay.media / "alias.mov").symlink_to(inside)
    status, job = bay.request("POST", "/jobs", {"path": str(bay.media / "alias.mov"), "recipe": "review"})
    assert status == 201 and job["source"] == str(inside)


def test_a_timeline_may_only_use_media_inside_the_roots(bay, tmp_path):
    outside = write_clip(tmp_path / "outside.mov", frames=4, width=64, height=36, audio=None)
    timeline = otio.schema.Timeline(name="cut")
    track = otio.schema.Track()
    timeline.tracks.append(track)
    track.append(otio.schema.Clip(name="shot", media_reference=otio.schema.ExternalReference(
        target_url=outside.as_uri()), source_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(4, 24))))
    otio.adapters.write_to_file(timeline, str(bay.media / "cut.otio"))
    status, body = bay.request("POST", "/jobs", {"path": str(bay.media / "cut.otio"), "recipe": "review"})
    assert status == 403
    assert "clip 'shot' uses" in body["detail"]
    # Media that is not on this machine at that path is left to the conform's relink (inside the roots).
    outside.unlink()
    status, job = bay.request("POST", "/jobs", {"path": str(bay.media / "cut.otio"), "recipe": "review"})
    assert status == 201 and job["kind"] == "timeline"


def test_uploads_stream_into_the_inbox_within_the_limit(tmp_path):
    b = make_bay(tmp_path, upload_limit_mb=1)
    try:
        clip = write_clip(tmp_path / "upload me.mov", frames=6, width=96, height=54, audio=None)
        body, ctype = multipart({"recipe": "review"}, "../../upload me.mov", clip.read_bytes())
        status, job = b.request("POST", "/jobs", data=body, headers={"Content-Type": ctype})
        assert status == 201, job
        inbox = Path(b.config.data_dir) / "inbox"
        assert Path(job["source"]) == inbox / "upload me.mov"  # the client's ../ is dropped
        assert (inbox / "upload me.mov").read_bytes() == clip.read_bytes()

        # Over the limit: 413 and nothing left behind, whether or not the client says its size.
        big = os.urandom(1_200_000)
        body, ctype = multipart({"recipe": "review"}, "big.mov", big)
        # A declared size over the limit is refused before a byte of the body is sent.
        host, port = b.server.address
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.putrequest("POST", "/jobs")
        for name, value in {"Content-Type": ctype, "Content-Length": str(len(body)),
                            "Authorization": f"Bearer {TOKEN}"}.items():
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        assert answer.status == 413 and b"limit of 1 MB" in answer.read()
        conn.close()

        def chunked():
            for i in range(0, len(body), 65536):
                yield body[i:i + 65536]

        req = urllib.request.Request(b.url + "/jobs", data=chunked(), method="POST",
                                     headers={"Content-Type": ctype, "Authorization": f"Bearer {TOKEN}",
                                              "Transfer-Encoding": "chunked"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
        assert err.value.code == 413
        # A refused recipe removes the upload too.
        body, ctype = multipart({"recipe": "no-such-recipe"}, "x.mov", clip.read_bytes())
        status, answer = b.request("POST", "/jobs", data=body, headers={"Content-Type": ctype})
        assert status == 400 and "unknown recipe 'no-such-recipe'" in answer["detail"]
        assert sorted(p.name for p in inbox.iterdir()) == ["upload me.mov"]
        assert len(b.ledger.list()) == 1
    finally:
        b.server.stop()


# -- jobs -------------------------------------------------------------------------------------

def test_submit_cancel_retry_and_duplicates(bay):
    clip = write_clip(bay.media / "a.mov", frames=4, width=64, height=36, audio=None)
    status, job = bay.request("POST", "/jobs", {"path": str(clip), "recipe": "review"})
    assert status == 201 and job["state"] == "queued" and job["progress"] == 0
    assert job["output_dir"] == str(bay.root / "hot-out")  # the recipe's hot-folder output
    again = bay.request("POST", "/jobs", {"path": str(clip), "recipe": "review"})
    assert again[0] == 202 and again[1]["id"] == job["id"]
    assert bay.request("GET", "/jobs?state=queued")[1]["jobs"][0]["id"] == job["id"]
    assert bay.request("GET", "/jobs?state=done")[1]["jobs"] == []
    status, cancelled = bay.request("POST", f"/jobs/{job['id']}/cancel")
    assert status == 200 and cancelled["state"] == "cancelled"
    status, body = bay.request("POST", f"/jobs/{job['id']}/cancel")
    assert status == 409 and "only queued or running jobs can be cancelled" in body["detail"]
    status, retried = bay.request("POST", f"/jobs/{job['id']}/retry")
    assert status == 200 and retried["state"] == "queued"
    assert bay.request("GET", "/jobs/nope")[0] == 404
    assert bay.request("GET", f"/jobs/{job['id']}/report")[0] == 404
    status, body = bay.request("POST", "/jobs", {"path": str(bay.media / "missing.mov"), "recipe": "review"})
    assert status == 404
    status, body = bay.request("POST", "/jobs", {"path": str(clip), "recipe": "nope"})
    assert status == 400 and "known recipes" in body["detail"]
    status, body = bay.request("POST", "/jobs", {"path": str(clip)})
    assert status == 422


def test_recipes_and_processors(bay):
    recipes = bay.request("GET", "/recipes")[1]
    review = next(r for r in recipes["recipes"] if r["name"] == "review")
    assert review["hot_folder"] == str(bay.hot)
    procs = bay.request("GET", "/processors")[1]
    assert "exposure" in {p["name"] for p in procs["processors"]}
    assert procs["problems"] == []


def _read_events(url: str, stop: threading.Event, into: list[dict], opened: threading.Event | None = None) -> None:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        if opened is not None:
            opened.set()
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                into.append(json.loads(line[6:]))
            if stop.is_set():
                return


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = graded_daemon(tmp_path_factory.mktemp("api-bay"))
    yield d
    d.stop()


def test_events_stream_progress_to_done_and_report_and_stills(daemon):
    bay = daemon
    clip = write_clip(bay.media / "shot.mov", frames=36, width=320, height=180, audio=None)
    events: list[dict] = []
    stop = threading.Event()
    opened = threading.Event()
    reader = threading.Thread(target=_read_events, args=(bay.url + "/events", stop, events, opened), daemon=True)
    reader.start()
    assert opened.wait(10)
    status, job = bay.request("POST", "/jobs", {"path": str(clip), "recipe": "grade"})
    assert status == 201
    wait_for(lambda: any(e["job_id"] == job["id"] and e["state"] in ("done", "failed") for e in events),
             timeout=120)
    stop.set()
    mine = [e for e in events if e["job_id"] == job["id"]]
    assert [e["state"] for e in mine][0] == "queued"
    running = [e["progress"] for e in mine if e["state"] == "running"]
    assert any(0 < p < 1 for p in running), running
    assert running == sorted(running)
    assert mine[-1]["progress"] == 1.0

    status, done = bay.request("GET", f"/jobs/{job['id']}")
    assert done["state"] == "done" and done["progress"] == 1.0
    assert Path(done["outputs"][0]).is_file()
    assert done["report"]["verification"]["ok"] is True
    report = bay.request("GET", f"/jobs/{job['id']}/report")[1]
    assert report["status"] == "done" and report["frames"] == 36
    # Before/after stills of the middle frame, at the width asked for.
    for which in ("source", "output"):
        status, png = bay.request("GET", f"/jobs/{job['id']}/still?which={which}&width=320")
        assert status == 200
        image = Image.open(io.BytesIO(png))
        assert image.size == (320, 180)
    before = np.asarray(Image.open(io.BytesIO(bay.request("GET", f"/jobs/{job['id']}/still?which=source")[1])))
    after = np.asarray(Image.open(io.BytesIO(bay.request("GET", f"/jobs/{job['id']}/still?which=output")[1])))
    # Same picture, a third of a stop brighter: the after still is measurably lighter everywhere.
    assert before.shape == after.shape
    lift = after.astype(float).mean() - before.astype(float).mean()
    assert 8 < lift < 40, lift
    assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.95
    # Resuming the stream from an event id replays what came after it.
    first = mine[0]["seq"]
    replay: list[dict] = []
    stop2 = threading.Event()
    threading.Thread(target=_read_events, args=(f"{bay.url}/events?since={first}", stop2, replay),
                     daemon=True).start()
    wait_for(lambda: len(replay) >= len(mine) - 1, timeout=10)
    stop2.set()
    assert [e["seq"] for e in replay[:len(mine) - 1]] == [e["seq"] for e in mine[1:]]


def test_failed_job_says_why_in_plain_words(daemon):
    bay = daemon
    bad = bay.media / "not-a-video.mov"
    bad.write_bytes(b"this is a text file pretending to be a clip" * 100)
    status, job = bay.request("POST", "/jobs", {"path": str(bad), "recipe": "grade"})
    assert status == 201
    failed = wait_for(lambda: (j := bay.request("GET", f"/jobs/{job['id']}")[1])["state"] == "failed" and j)
    assert "not-a-video.mov" in failed["error"]
    assert bad.read_bytes().startswith(b"this is a text file")  # the source stays put
    assert bay.request("GET", f"/jobs/{job['id']}/still?which=output")[0] == 404


def test_auto_job_links_its_inspection_report(daemon):
    bay = daemon
    clip = write_clip(bay.media / "auto.mov", frames=24, width=320, height=180, audio=None)
    status, job = bay.request("POST", "/jobs", {"path": str(clip), "recipe": "auto"})
    assert status == 201
    done = wait_for(lambda: (j := bay.request("GET", f"/jobs/{job['id']}")[1])["state"] in ("done", "failed") and j,
                    timeout=120)
    assert done["state"] == "done", done.get("error")
    reasons = [s["reason"] for s in done["report"]["auto"]["ran"]]
    assert reasons == ["upscale to 1080 lines: the clip has 180"]
    # the inspection auto decided on is the job's inspection: the clip was not inspected twice
    kept = json.loads(Path(done["report"]["inspection"]["json"]).read_text())["clips"][0]
    assert kept["analysis"]["seconds"] == done["report"]["auto"]["inspect_seconds"]
    status, page = bay.request("GET", f"/jobs/{job['id']}/inspect")
    assert status == 200 and b"postbay inspect" in page and b"data:image/jpeg;base64," in page
    assert bay.request("GET", "/jobs/no-such-job/inspect")[0] == 404


def _finished(bay, clip, recipe="grade"):
    status, job = bay.request("POST", "/jobs", {"path": str(clip), "recipe": recipe})
    assert status == 201
    done = wait_for(lambda: (j := bay.request("GET", f"/jobs/{job['id']}")[1])["state"] in ("done", "failed") and j,
                    timeout=120)
    assert done["state"] == "done", done.get("error")
    return done


def test_every_job_is_inspected_and_a_set_of_jobs_reviewed(daemon):
    bay = daemon
    steady = _finished(bay, write_clip(bay.media / "take steady.mov", frames=36, width=320, height=180,
                                       pattern=smooth_frame, audio=None))
    pumping = _finished(bay, write_clip(bay.media / "take pumping.mov", frames=36, width=320, height=180,
                                        pattern=flickering, audio=None))
    # the job report links its inspection; the API serves it as JSON (no thumbnails) and as one HTML page
    links = pumping["report"]["inspection"]
    assert links["json"].endswith("take pumping.inspect.json") and Path(links["html"]).is_file()
    status, inspection = bay.request("GET", f"/jobs/{pumping['id']}/inspection")
    assert status == 200 and inspection["clips"][0]["flicker"]["flagged"]
    assert "thumbnails" not in inspection["clips"][0]
    assert any(p["kind"] == "flicker" for p in inspection["clips"][0]["problems"])
    status, page = bay.request("GET", f"/jobs/{pumping['id']}/inspect")
    assert status == 200 and b"data:image/jpeg;base64," in page and b"deflicker" in page
    assert bay.request("GET", f"/jobs/{pumping['id']}/inspect?access_token={TOKEN}", token=None)[0] == 200

    # a job the daemon did not inspect (an older one) is inspected by its first review, and kept
    report_path = Path(steady["report"]["inspection"]["json"]).with_name("take steady.report.json")
    report = json.loads(report_path.read_text())
    for link in report.pop("inspection").values():
        Path(link).unlink()
    report_path.write_text(json.dumps(report))
    assert bay.request("GET", f"/jobs/{steady['id']}/inspection")[0] == 404

    status, review = bay.request("POST", "/review", {"jobs": [pumping["id"], steady["id"]]})
    assert status == 201, review
    assert [r["job"] for r in review["ranking"]] == [steady["id"], pumping["id"]]
    assert "problem" in review["ranking"][1]["why"]
    assert bay.request("GET", f"/jobs/{steady['id']}/inspection")[0] == 200
    status, sheet = bay.request("GET", review["sheet"])
    assert status == 200 and b"Variations, best first" in sheet and sheet.count(b"data:image/jpeg") >= 6
    assert bay.request("GET", f"{review['sheet']}?access_token={TOKEN}", token=None)[0] == 200

    # a look as the reference: an identity LUT moves nothing, so neither variation has anywhere to go
    identity = bay.media / "identity.cube"
    identity.write_text("LUT_3D_SIZE 2\n" + "".join(f"{r} {g} {b}\n" for b in (0, 1) for g in (0, 1) for r in (0, 1)))
    status, looked = bay.request("POST", "/review", {"jobs": [steady["id"], pumping["id"]], "reference": str(identity)})
    assert status == 201 and all(r["delta_e"] < 0.5 and "the look would move" in r["why"] for r in looked["ranking"])

    assert bay.request("POST", "/review", {"jobs": [steady["id"]]})[0] == 422
    assert bay.request("POST", "/review", {"jobs": [steady["id"], steady["id"]]})[0] == 422
    # two jobs of one clip (two recipes) are not two variations: the ranking would credit one job twice
    again = _finished(bay, bay.media / "take steady.mov", recipe="review")
    status, body = bay.request("POST", "/review", {"jobs": [steady["id"], again["id"], pumping["id"]]})
    assert status == 422 and "same source" in body["detail"], body
    assert bay.request("POST", "/review", {"jobs": [steady["id"], "no-such-job"]})[0] == 404
    assert bay.request("POST", "/review", {"jobs": [steady["id"], pumping["id"]],
                                           "reference": "/etc/passwd"})[0] == 403
    assert bay.request("GET", "/reviews/0123456789ab")[0] == 404


def test_cluster_view_shows_the_nodes_the_daemon_saw(bay):
    assert bay.request("GET", "/cluster") == (200, {"executor": "local", "nodes": []})
    nodes = [{"node": "head", "address": "10.0.0.1", "alive": True, "cpus": 8, "gpus": 1, "head": True, "jobs": ["j1"]},
             {"node": "render-2", "address": "10.0.0.2", "alive": False, "cpus": 16, "gpus": 0, "head": False,
              "jobs": []}]
    bay.ledger.set_daemon_state(executor="ray", cluster=nodes)  # what the daemon writes with each heartbeat
    assert bay.request("GET", "/cluster") == (200, {"executor": "ray", "nodes": nodes})
