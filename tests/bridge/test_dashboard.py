"""The dashboard in a real headless Chromium (Debian's), driven by Playwright, against a real
daemon: the page loads, a dropped clip's progress bar moves to done, the before/after appears.

Set ``POSTBAY_SCREENSHOTS=docs`` to refresh the screenshots in the docs (dashboard.png: a
job's page; dashboard-queue.png: the queue).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from postbay.synth import ai_look_frame, write_clip

from .harness import flickering, graded_daemon, wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (make system-deps installs it)")

@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    d = graded_daemon(tmp_path_factory.mktemp("dashboard-bay"))
    yield d
    d.stop()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.errors = errors
        yield pg
        browser.close()


WATCH_PROGRESS = """() => {
  window.__seen = [];
  const record = () => document.querySelectorAll('#jobs tbody tr').forEach((tr) => {
    const bar = tr.querySelector('.bar');
    if (bar) window.__seen.push([tr.dataset.state, parseFloat(bar.dataset.progress),
                                 parseFloat(bar.querySelector('span').style.width)]);
  });
  new MutationObserver(record).observe(document.querySelector('#jobs tbody'),
                                       {subtree: true, childList: true, attributes: true});
}"""

DROP = """([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: 'video/quicktime'}));
  const zone = document.querySelector('#drop');
  zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
}"""


def test_dropped_clip_moves_to_done_and_shows_before_after(daemon, page, tmp_path):
    page.goto(f"{daemon.url}/?token={daemon.token}")
    page.wait_for_selector("#recipe option[value=grade]", state="attached")
    assert page.title() == "postbay"
    assert "token" not in page.url  # taken off the address bar, kept in local storage
    page.select_option("#recipe", "grade")
    page.wait_for_selector("#live.on")
    page.evaluate(WATCH_PROGRESS)

    clip = write_clip(tmp_path / "hero shot.mov", frames=36, width=320, height=180, pattern=ai_look_frame,
                      audio=None)
    page.evaluate(DROP, ["hero shot.mov", base64.b64encode(clip.read_bytes()).decode()])
    page.wait_for_selector("#uploads .upload:has-text('queued as job')")
    row = page.locator("#jobs tbody tr", has_text="hero shot.mov")
    row.locator(".state.done").wait_for(timeout=120_000)

    seen = page.evaluate("window.__seen")
    running = [p for state, p, _ in seen if state == "running"]
    assert any(0 < p < 1 for p in running), seen  # the bar moved through the render, live
    assert running == sorted(running)
    state, progress, width = seen[-1]
    assert (state, progress, width) == ("done", 1.0, 100.0)
    assert "hero shot.mov" in row.inner_text()
    # The upload landed in the inbox, was finished from there, and left it with its job done.
    (job,) = daemon.request("GET", "/jobs")[1]["jobs"]
    assert Path(job["dropped"]).parent == daemon.data / "inbox"
    wait_for(lambda: not (daemon.data / "inbox" / "hero shot.mov").exists(), timeout=10)

    shots = os.environ.get("POSTBAY_SCREENSHOTS")
    if shots:
        page.screenshot(path=str(Path(shots) / "dashboard-queue.png"))

    # The job's page: the upload is gone, so the after frame alone, and the report.
    row.locator("a").click()
    page.wait_for_selector("#compare-section:not([hidden])")
    page.wait_for_selector("#compare.after-only")
    page.wait_for_function("document.querySelector('#after').naturalWidth > 0")
    assert page.evaluate("document.querySelector('#after').naturalWidth") == 960
    report = page.inner_text("#report")
    assert "Verification: passed" in report and "Timings" in report
    # The after frame really is the graded one: brighter than the source's middle frame.
    shot = page.locator("#compare").screenshot()
    from io import BytesIO

    import numpy as np
    from PIL import Image

    from postbay.bridge.stills import render_still

    after = np.asarray(Image.open(BytesIO(shot)).convert("L"), dtype=float).mean()
    before = np.asarray(Image.open(BytesIO(render_still(clip, 18, 960))).convert("L"), dtype=float).mean()
    assert after > before + 5, (before, after)
    if shots:
        page.screenshot(path=str(Path(shots) / "dashboard.png"), full_page=True)
    assert page.errors == []


def test_failed_job_shows_the_error_and_retry(daemon, page, tmp_path):
    bad = daemon.media / "broken.mov"
    bad.write_bytes(b"\x00" * 4096)
    status, job = daemon.request("POST", "/jobs", {"path": str(bad), "recipe": "grade"})
    assert status == 201
    page.goto(f"{daemon.url}/?token={daemon.token}#job={job['id']}")
    page.wait_for_selector("#job-error:not([hidden])", timeout=60_000)
    assert "broken.mov" in page.inner_text("#job-error")
    assert page.is_visible("#job-retry") and not page.is_visible("#job-cancel")
    assert page.errors == []


def test_cluster_view_lists_nodes_and_where_each_job_runs(bay, page, tmp_path: Path):
    clip = write_clip(tmp_path / "on-a-node.mp4", frames=4, width=64, height=36, audio=None)
    job, _ = bay.ledger.submit(clip, "review", tmp_path / "out")
    bay.ledger.claim(job.id)
    bay.ledger.set_node(job.id, "render-2", 4242)
    bay.ledger.set_daemon_state(executor="ray", cluster=[
        {"node": "head", "address": "10.0.0.1", "alive": True, "cpus": 8, "gpus": 0, "head": True, "jobs": []},
        {"node": "render-2", "address": "10.0.0.2", "alive": True, "cpus": 16, "gpus": 1, "head": False,
         "jobs": [job.id]}])
    page.goto(f"{bay.url}/?token={bay.token}")
    page.wait_for_selector("#cluster:not([hidden]) #nodes tbody tr[data-node='render-2']")
    row = page.inner_text("#nodes tbody tr[data-node='render-2']")
    assert "10.0.0.2" in row and "16" in row and "on-a-node.mp4" in row
    assert "on render-2" in page.inner_text(f"#job-{job.id}")
    assert not page.errors


def test_a_running_jobs_row_says_its_step_live_and_a_skipped_one_says_what_it_kept(bay, page, tmp_path: Path):
    clip = write_clip(tmp_path / "busy.mp4", frames=4, width=64, height=36, audio=None)
    job, _ = bay.ledger.submit(clip, "review", tmp_path / "out")
    bay.ledger.claim(job.id)
    bay.ledger.progress(job.id, 0.25, step="denoise 1/7", force=True)
    page.goto(f"{bay.url}/?token={bay.token}")
    page.wait_for_selector(f"#job-{job.id} .step")
    assert "denoise 1/7 · 0:0" in page.inner_text(f"#job-{job.id} .pace")
    bay.ledger.progress(job.id, 0.5, step="grain 6/7", force=True)  # comes as a server-sent event
    wait_for(lambda: "grain 6/7" in page.inner_text(f"#job-{job.id} .pace"), timeout=10)
    kept = tmp_path / "out" / "busy.mp4"
    bay.ledger.skip(job.id, kept)
    page.wait_for_selector(f"#job-{job.id} .state.skipped")
    assert "kept the existing busy.mp4" in page.inner_text(f"#job-{job.id}")
    assert page.eval_on_selector(f"#job-{job.id} .state", "e => getComputedStyle(e).color") == "rgb(240, 180, 41)"
    assert not page.errors


def test_job_page_serves_the_output_its_log_and_any_frame(daemon, page, tmp_path):
    clip = write_clip(daemon.media / "review me.mov", frames=12, width=320, height=180, pattern=ai_look_frame,
                      audio=None)
    status, job = daemon.request("POST", "/jobs", {"path": str(clip), "recipe": "grade"})
    assert status in (201, 202)
    wait_for(lambda: daemon.request("GET", f"/jobs/{job['id']}")[1]["state"] == "done", 120, what="the job done")
    _, job = daemon.request("GET", f"/jobs/{job['id']}")
    output = Path(job["outputs"][0])
    # the file itself, range-capable (a player seeks, a download resumes)
    status, head = daemon.request("GET", f"/jobs/{job['id']}/output", headers={"Range": "bytes=0-99"})
    assert status == 206 and head == output.read_bytes()[:100]
    status, whole = daemon.request("GET", f"/jobs/{job['id']}/output?download=1")
    assert status == 200 and whole == output.read_bytes()
    status, _ = daemon.request("GET", "/favicon.ico")
    assert status == 200

    page.goto(f"{daemon.url}/?token={daemon.token}#job={job['id']}")
    page.wait_for_selector("#output-section:not([hidden])")
    assert "review me.mov" in page.inner_text("#output-links") and "report" in page.inner_text("#output-links")
    # ProRes does not play in a browser: a strip of five stills instead
    page.wait_for_function("[...document.querySelectorAll('#strip img')].filter(i => i.naturalWidth > 0).length == 5")
    assert page.is_hidden("#player")
    page.wait_for_function("document.querySelector('#job-log').textContent.includes('done')")
    assert "started" in page.inner_text("#job-log")
    # one frame slider for both halves; 1:1 shows the output's own pixels
    page.fill("#frame", "2")
    page.dispatch_event("#frame", "change")
    assert "frame=2&" in page.get_attribute("#before", "src") and "frame=2&" in page.get_attribute("#after", "src")
    page.check("#full-size")
    page.wait_for_function("document.querySelector('#after').naturalWidth == 640")
    # links read on the dark page (the browser's default dark blue did not)
    assert page.evaluate("getComputedStyle(document.querySelector('#job-view p a')).color") == "rgb(79, 163, 255)"
    # the bay: folders and the daemon's log, read-only
    page.goto(f"{daemon.url}/")
    page.click("#bay summary")
    page.wait_for_function("document.querySelector('#daemon-log').textContent.includes('daemon ready')")
    assert "grade" in page.inner_text("#bay-config")
    assert page.evaluate("document.querySelector('link[rel=icon]').href").endswith("/static/favicon.svg")
    assert page.errors == []


def test_each_job_shows_its_inspection_and_ticked_jobs_are_reviewed(daemon, page):
    clips = [write_clip(daemon.media / "variation A.mov", frames=24, width=320, height=180, pattern=flickering,
                        audio=None),
             write_clip(daemon.media / "variation B.mov", frames=24, width=320, height=180, audio=None)]
    ids = [daemon.request("POST", "/jobs", {"path": str(c), "recipe": "grade"})[1]["id"] for c in clips]
    page.goto(f"{daemon.url}/?token={daemon.token}")
    for job_id in ids:
        page.locator(f"#job-{job_id} .state.done").wait_for(timeout=120_000)
    assert page.is_disabled("#review-button")
    for job_id in ids:
        page.check(f"#job-{job_id} input.pick-job")
    assert page.inner_text("#review-button") == "Compare selected (2)"
    page.click("#review-button")
    page.wait_for_selector("#review:not([hidden]) #review-ranking tbody tr")
    ranked = page.eval_on_selector_all("#review-ranking tbody tr", "rows => rows.map(r => r.dataset.job)")
    assert ranked == [ids[1], ids[0]]  # the steady take first, the flickering one after
    assert "variation A.mov" in page.inner_text("#review-ranking tbody tr:nth-child(2)")
    sheet = page.get_attribute("#review-sheet", "href")
    assert sheet.startswith("/reviews/") and "access_token=" in sheet

    page.goto(f"{daemon.url}/#job={ids[0]}")
    page.wait_for_selector("#inspection-section:not([hidden]) #inspection-problems li")
    assert "flicker" in page.inner_text("#inspection-problems")
    assert "deflicker" in page.inner_text("#inspection-note")
    link = page.get_attribute("#inspection-link", "href")
    assert page.errors == []
    page.goto(f"{daemon.url}{sheet}")
    assert "Variations, best first" in page.inner_text("body")
    page.goto(f"{daemon.url}{link}")
    assert "postbay inspect" in page.title()
