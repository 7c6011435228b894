"""Probe 4: a web page the editor visits tries to drive the API (CSRF, DNS rebinding, query tokens)."""

from __future__ import annotations

import http.client
import json

from bridge.harness import http as request
from bridge.test_api import multipart

from postbay.bridge.client import ApiClient
from postbay.synth import write_clip


def test_text_plain_job_post_from_a_web_page_is_refused(open_bay):
    bay = open_bay()  # no token: the loopback default
    clip = write_clip(bay.media / "shot.mov", frames=4, width=64, height=36, audio=None)
    body = json.dumps({"path": str(clip), "recipe": "review"}).encode()
    status, answer = request("POST", bay.url + "/jobs", None, data=body, headers={"Content-Type": "text/plain"})
    assert status == 403 and "X-Postbay" in answer["detail"]
    form, ctype = multipart({"recipe": "review"}, "evil.mov", clip.read_bytes())
    status, _ = request("POST", bay.url + "/jobs", None, data=form, headers={"Content-Type": ctype})
    assert status == 403  # a blind <form enctype="multipart/form-data"> post
    status, _ = request("POST", bay.url + "/jobs/abc/cancel", None)
    assert status == 403  # a bodiless post
    assert bay.ledger.list() == [] and not any((bay.config.data_dir / "inbox").glob("*"))
    # postbay's own clients say who they are and get through
    job = ApiClient(bay.url).submit(clip, "review")
    assert job["state"] == "queued"
    status, _ = request("POST", bay.url + "/jobs", None, data=body, headers={"Content-Type": "text/plain",
                                                                             "X-Postbay": "1"})
    assert status == 415  # the header alone does not make text/plain a job


def test_dns_rebinding_host_is_refused(open_bay):
    bay = open_bay(hosts=["bay.studio.lan"])
    for method, path in [("GET", "/jobs"), ("GET", "/recipes"), ("GET", "/health")]:
        status, answer = request(method, bay.url + path, None, headers={"Host": "attacker.example:8765"})
        assert status == 421 and "DNS rebinding" in answer["detail"], (path, status)
    for host in ["bay.studio.lan:8765", "localhost", f"127.0.0.1:{bay.server.address[1]}", "[::1]:1"]:
        assert request("GET", bay.url + "/jobs", None, headers={"Host": host})[0] == 200, host


def test_foreign_origin_is_refused_and_preflights_answer_allowed_origins_only(open_bay):
    bay = open_bay(origins=["https://review.studio.example"])
    clip = write_clip(bay.media / "shot.mov", frames=4, width=64, height=36, audio=None)
    job = {"path": str(clip), "recipe": "review"}
    status, answer = request("POST", bay.url + "/jobs", None, job, headers={"Origin": "https://attacker.example"})
    assert status == 403 and "attacker.example" in answer["detail"]
    assert request("GET", bay.url + "/jobs", None, headers={"Origin": "null"})[0] == 403
    host, port = bay.server.address

    def preflight(origin: str) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("OPTIONS", "/jobs", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                  "Access-Control-Request-Headers": "content-type"})
        answer = conn.getresponse()
        answer.read()
        conn.close()
        return answer

    allowed = preflight("https://review.studio.example")
    assert allowed.status == 204
    assert allowed.getheader("Access-Control-Allow-Origin") == "https://review.studio.example"
    assert "POST" in allowed.getheader("Access-Control-Allow-Methods")
    assert "Content-Type" in allowed.getheader("Access-Control-Allow-Headers")
    refused = preflight("https://attacker.example")
    assert refused.status == 403 and refused.getheader("Access-Control-Allow-Origin") is None
    # the allowed origin and the dashboard's own page may post
    status, answer = request("POST", bay.url + "/jobs", None, job, headers={"Origin": "https://review.studio.example"})
    assert status == 201, answer
    assert request("GET", bay.url + "/jobs", None, headers={"Origin": bay.url})[0] == 200


def test_access_token_in_the_query_is_taken_on_streams_and_images_only(open_bay):
    bay = open_bay(token="probe-token")
    assert request("GET", bay.url + "/jobs?access_token=probe-token", None)[0] == 401
    assert request("GET", bay.url + "/recipes?access_token=probe-token", None)[0] == 401
    status, _ = request("GET", bay.url + f"/still?path={bay.media}/none.mov&access_token=probe-token", None)
    assert status == 404  # past the token check: the file is missing
    host, port = bay.server.address
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/events?access_token=probe-token")
    answer = conn.getresponse()
    assert answer.status == 200 and answer.readline() == b"retry: 1000\n"
    conn.close()
