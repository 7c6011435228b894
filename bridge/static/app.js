// postbay dashboard: the queue with live progress (server-sent events), each job's page with a
// before/after split of one frame, its report, retry/cancel, and drag-and-drop upload.
"use strict";

const $ = (sel) => document.querySelector(sel);
const jobs = new Map();
const picked = new Set();  // jobs ticked for a review of variations
let token = localStorage.getItem("postbay-token") || "";
let events = null;

(function takeTokenFromUrl() {
  const url = new URL(location.href);
  if (url.searchParams.has("token")) {
    token = url.searchParams.get("token");
    localStorage.setItem("postbay-token", token);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
})();

function withToken(path) {
  if (!token) return path;
  return path + (path.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  // X-Postbay: a header no other site's page can send without asking (see bridge/guard.py)
  const headers = Object.assign({ "X-Postbay": "1" }, options.headers || {});
  if (token) headers.Authorization = "Bearer " + token;
  const resp = await fetch(path, Object.assign({}, options, { headers }));
  if (resp.status === 401) { showLogin(); throw new Error("the API wants a token"); }
  const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : null;
  if (!resp.ok) throw new Error((body && body.detail) || resp.statusText);
  return body;
}

function showLogin() {
  $("#login").hidden = false;
  $("#token-input").focus();
}

$("#login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("#token-input").value.trim();
  localStorage.setItem("postbay-token", token);
  $("#login").hidden = true;
  start();
});

function pct(p) { return Math.round((p || 0) * 1000) / 10; }

function clock(seconds) {
  if (seconds == null) return "-";
  const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(r)}` : `${m}:${pad(r)}`;
}

// elapsed and ETA at the pace so far (the same rule as `postbay jobs`), live between events
function pace(job) {
  if (!job.started) return { elapsed: null, eta: null };
  const end = job.state !== "running" && job.finished ? job.finished : Date.now() / 1000;
  const elapsed = Math.max(0, end - job.started);
  const eta = job.state === "running" && job.progress >= 0.02 && job.progress < 1 ? elapsed * (1 - job.progress) / job.progress : null;
  return { elapsed, eta };
}

// what a running job does now: its phase, or the frame step caught running ("denoise 1/7", docs/daemon.md)
function paceText(job) {
  const p = pace(job);
  const step = job.step ? `<span class="step">${esc(job.step)}</span> · ` : "";
  if (job.state === "running") return step + `${clock(p.elapsed)} elapsed` + (p.eta != null ? ` · ETA ${clock(p.eta)}` : "");
  if (job.state === "skipped") return `kept the existing ${esc((job.outputs[0] || "").split("/").pop())}`;
  if ((job.state === "done" || job.state === "failed") && p.elapsed != null) return `took ${clock(p.elapsed)}`;
  return "";
}

// started and finished, as the clock on the wall says them
function timesText(job) {
  return [job.started ? `started ${when(job.started)}` : "", job.finished ? `finished ${when(job.finished)}` : ""]
    .filter(Boolean).join(" · ");
}

function barHtml(job) {
  return `<div class="bar ${job.state}" data-progress="${job.progress}" role="progressbar"
    aria-valuemin="0" aria-valuemax="1" aria-valuenow="${job.progress}"><span style="width:${pct(job.progress)}%"></span>
    <em>${pct(job.progress)}%</em></div><div class="pace muted" title="${esc(timesText(job))}">${paceText(job)}</div>`;
}

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function actionsHtml(job) {
  const out = [];
  if (job.state === "queued" || job.state === "running") out.push(`<button data-act="cancel" data-id="${job.id}">Cancel</button>`);
  if (job.state === "failed" || job.state === "cancelled") out.push(`<button data-act="retry" data-id="${job.id}">Retry</button>`);
  return out.join(" ");
}

function rowHtml(job) {
  const err = job.error && job.state !== "done" ? `<div class="row-error">${esc(job.error)}</div>` : "";
  const node = job.node ? ` <small class="muted node">on ${esc(job.node)}</small>` : "";
  const pick = `<input type="checkbox" class="pick-job" data-id="${job.id}" aria-label="compare ${esc(job.name)}"` +
               `${picked.has(job.id) ? " checked" : ""}${job.state === "done" ? "" : " disabled"}>`;
  return `<td>${pick}<a href="#job=${job.id}">${esc(job.name)}</a>${err}</td><td>${esc(job.recipe)}</td>
    <td><span class="state ${job.state}">${job.state}</span>${node}</td><td>${barHtml(job)}</td><td>${actionsHtml(job)}</td>`;
}

// The cluster's nodes (only with the Ray executor): what each offers and which jobs run there.
async function loadCluster() {
  const data = await api("/cluster");
  $("#cluster").hidden = data.nodes.length === 0;
  $("#nodes tbody").innerHTML = data.nodes.map((n) => `<tr class="${n.alive ? "" : "dead"}" data-node="${esc(n.node)}">
    <td>${esc(n.node)}${n.head ? " <small class=\"muted\">head</small>" : ""}${n.alive ? "" : " <small class=\"error\">down</small>"}</td>
    <td>${esc(n.address)}</td><td>${n.cpus}</td><td>${n.gpus}</td>
    <td>${n.jobs.map((id) => `<a href="#job=${id}">${esc((jobs.get(id) || {}).name || id)}</a>`).join(", ")}</td></tr>`).join("");
}

function renderRow(job) {
  let tr = document.getElementById("job-" + job.id);
  const filter = $("#filter").value;
  if (filter && job.state !== filter) { if (tr) tr.remove(); return; }
  if (!tr) {
    tr = document.createElement("tr");
    tr.id = "job-" + job.id;
    $("#jobs tbody").prepend(tr);  // newest first
  }
  tr.dataset.state = job.state;
  tr.innerHTML = rowHtml(job);
  $("#empty").hidden = true;
}

function renderCounts(counts) {
  if (!counts) return;
  $("#counts").textContent = ["queued", "running", "done", "skipped", "failed"].filter((s) => s !== "skipped" || counts[s])
    .map((s) => `${counts[s] || 0} ${s}`).join(" · ");
}

async function loadQueue() {
  const filter = $("#filter").value;
  const data = await api("/jobs" + (filter ? "?state=" + filter : ""));
  $("#jobs tbody").innerHTML = "";
  jobs.clear();
  for (const job of data.jobs) { jobs.set(job.id, job); renderRow(job); }
  $("#empty").hidden = data.jobs.length > 0;
  renderCounts(data.counts);
}

async function refreshJob(id) {
  const job = await api("/jobs/" + id);
  jobs.set(id, job);
  renderRow(job);
  if (currentJobId() === id) renderJobPage(job);
}

function listen() {
  if (events) events.close();
  events = new EventSource(withToken("/events"));
  events.onopen = () => { $("#live").className = "live on"; };
  events.onerror = () => { $("#live").className = "live off"; };
  events.addEventListener("job", (msg) => {
    const ev = JSON.parse(msg.data);
    const job = jobs.get(ev.job_id);
    if (!job || ev.state !== job.state || ["done", "skipped", "failed"].includes(ev.state)) {
      refreshJob(ev.job_id).catch(() => {});  // new job or a state change: fetch the whole record
      api("/jobs?limit=1").then((d) => renderCounts(d.counts)).catch(() => {});
      return;
    }
    job.progress = ev.progress;
    job.step = ev.step;
    renderRow(job);
    if (currentJobId() === job.id) renderJobPage(job);
  });
}

// -- actions ------------------------------------------------------------------------------------
document.addEventListener("click", async (ev) => {
  const btn = ev.target.closest("button[data-act]");
  if (!btn) return;
  btn.disabled = true;
  try {
    await api(`/jobs/${btn.dataset.id}/${btn.dataset.act}`, { method: "POST" });
    await refreshJob(btn.dataset.id);
  } catch (err) { alert(err.message); } finally { btn.disabled = false; }
});

$("#filter").addEventListener("change", () => loadQueue());

// -- upload ---------------------------------------------------------------------------------------
function upload(file) {
  const line = document.createElement("div");
  line.className = "upload";
  line.textContent = `${file.name}: uploading…`;
  $("#uploads").append(line);
  const form = new FormData();
  form.append("recipe", $("#recipe").value);  // fields before the file: read as it streams in
  form.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/jobs");
  if (token) xhr.setRequestHeader("Authorization", "Bearer " + token);
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) line.textContent = `${file.name}: ${Math.round(100 * e.loaded / e.total)}%`; };
  xhr.onload = () => {
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
    if (xhr.status === 201 || xhr.status === 202) {
      line.textContent = `${file.name}: queued as job ${body.id}`;
      jobs.set(body.id, body);
      renderRow(body);
    } else {
      line.textContent = `${file.name}: refused: ${body.detail || xhr.statusText}`;
      line.classList.add("row-error");
    }
  };
  xhr.onerror = () => { line.textContent = `${file.name}: the upload failed (connection lost)`; line.classList.add("row-error"); };
  xhr.send(form);
}

const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  for (const file of e.dataTransfer.files) upload(file);
});
$("#file").addEventListener("change", (e) => { for (const file of e.target.files) upload(file); e.target.value = ""; });

async function loadRecipes() {
  const data = await api("/recipes");
  const select = $("#recipe");
  select.innerHTML = data.recipes.map((r) => `<option value="${esc(r.name)}" title="${esc(r.description)}">${esc(r.name)}</option>`).join("");
  const preferred = data.recipes.find((r) => r.name === "finish") || data.recipes.find((r) => r.hot_folder);
  if (preferred) select.value = preferred.name;
}

// -- job page ---------------------------------------------------------------------------------------
function currentJobId() {
  const m = location.hash.match(/^#job=([\w-]+)/);
  return m ? m[1] : null;
}

function kv(obj) {
  return `<dl class="kv">${Object.entries(obj).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</dd>`).join("")}</dl>`;
}

function reportHtml(report, jobId) {
  if (!report) return "<p class='muted'>No report yet.</p>";
  const parts = [];
  if (report.auto) {
    // an auto recipe: the steps its inspection chose, each with the reason (the inspection has its own panel)
    const ran = report.auto.ran.length ? report.auto.ran.map((s) => `<li>${esc(s.reason)}</li>`).join("")
                                       : "<li>no processing step: nothing to fix</li>";
    parts.push(`<h3>auto</h3><ul>${ran}</ul>`);
  }
  const head = { status: report.status, frames: report.frames, "seconds": report.seconds, "frames per second": report.fps,
                 backend: report.backend, recipe: report.recipe && report.recipe.name };
  parts.push(kv(Object.fromEntries(Object.entries(head).filter(([, v]) => v !== undefined && v !== null))));
  if (report.timings) {
    parts.push("<h3>Timings (seconds)</h3>" + kv(Object.fromEntries(Object.entries(report.timings).map(([k, v]) => [k, typeof v === "number" ? v.toFixed(3) : v]))));
  }
  if (report.verification) {
    const v = report.verification;
    parts.push(`<h3>Verification: <span class="${v.ok ? "check-ok" : "check-bad"}">${v.ok ? "passed" : "FAILED"}</span></h3>`);
    if (v.checks && Object.keys(v.checks).length) parts.push(kv(v.checks));
    if (v.problems && v.problems.length) parts.push("<ul class='check-bad'>" + v.problems.map((p) => `<li>${esc(p)}</li>`).join("") + "</ul>");
  }
  for (const key of ["loudness", "captions", "notes", "deliveries"]) {
    const filled = Object.fromEntries(Object.entries(report[key] || {}).filter(([, v]) => v && (typeof v !== "object" || Object.keys(v).length)));
    if (Object.keys(filled).length) parts.push(`<h3>${key}</h3>` + kv(filled));
  }
  if (report.output) parts.push(`<p class="muted">output: ${esc(report.output)}</p>`);
  return parts.join("");
}

let shownStillsFor = null;
let outputShownFor = null;
let logShownFor = null;

function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : "-"; }

function renderJobPage(job) {
  $("#job-title").textContent = job.name;
  $("#job-summary").innerHTML = `<span class="state ${job.state}">${job.state}</span> ${esc(job.recipe)} · ${barHtml(job)}
    <p class="muted">queued ${when(job.created)} · started ${when(job.started)} · finished ${when(job.finished)}</p>`;
  $("#job-error").hidden = !(job.error && job.state !== "done");
  $("#job-error").textContent = job.error ? "What went wrong: " + job.error : "";
  $("#job-cancel").hidden = !(job.state === "queued" || job.state === "running");
  $("#job-retry").hidden = !(job.state === "failed" || job.state === "cancelled");
  $("#job-cancel").dataset.act = "cancel"; $("#job-cancel").dataset.id = job.id;
  $("#job-retry").dataset.act = "retry"; $("#job-retry").dataset.id = job.id;
  const canCompare = job.state === "done" && job.kind === "media" && job.outputs && job.outputs.length;
  $("#compare-section").hidden = !canCompare;
  if (canCompare && shownStillsFor !== job.id) {
    shownStillsFor = job.id;
    $("#compare").classList.remove("after-only");
    // an upload leaves the inbox when its job is done: then only the after frame is left to show
    $("#before").onerror = () => $("#compare").classList.add("after-only");
    const frames = (job.report && job.report.frames) || 1;
    $("#frame").max = Math.max(0, frames - 1);
    $("#frame").value = Math.floor(frames / 2);
    showFrame(job);
  }
  renderOutput(job);
  $("#report-section").hidden = !job.report && job.state !== "done" && job.state !== "failed";
  if (job.report !== undefined) $("#report").innerHTML = reportHtml(job.report, job.id);
  renderInspection(job);
  if (logShownFor !== job.id + job.state) {  // on a state change, not on every progress step
    logShownFor = job.id + job.state;
    loadJobLog(job.id).catch((e) => console.warn(e));
  }
}

// the inspection of the job's source (every job gets one once rendered): its problems, and the full report
let inspectionShownFor = null;

function renderInspection(job) {
  const links = job.report && job.report.inspection;
  $("#inspection-section").hidden = !links;
  if (!links || inspectionShownFor === job.id) return;
  inspectionShownFor = job.id;
  $("#inspection-link").hidden = !links.html;
  $("#inspection-link").href = withToken(`/jobs/${encodeURIComponent(job.id)}/inspect`);
  $("#inspection-problems").innerHTML = "";
  if (links.error) { $("#inspection-note").textContent = "The inspection failed: " + links.error; return; }
  $("#inspection-note").textContent = "";
  api(`/jobs/${encodeURIComponent(job.id)}/inspection`).then((data) => {
    const problems = data.clips.flatMap((c) => c.problems.map((p) => ({ ...p, shot: c.shot })));
    $("#inspection-problems").innerHTML = problems.map((p) => `<li><span class="state ${p.severity === "high" ? "failed" : "queued"}">` +
      `${esc(p.severity)}</span> ${p.shot ? esc(p.shot) + ": " : ""}${esc(p.message)}</li>`).join("");
    const fixes = data.clips.flatMap((c) => c.recommend.map((s) => s.reason));
    $("#inspection-note").textContent = (problems.length ? "" : "No problem found. ") +
      (fixes.length ? "auto would run: " + fixes.join("; ") : "auto would run no processing step.");
  }).catch((e) => { $("#inspection-note").textContent = e.message; });
}

// -- review of variations: tick done jobs, compare them (the ranking of `postbay inspect A B C`) -----
function updateReviewButton() {
  $("#review-button").disabled = picked.size < 2;
  $("#review-button").textContent = `Compare selected (${picked.size})`;
}

document.addEventListener("change", (ev) => {
  const box = ev.target.closest("input.pick-job");
  if (!box) return;
  if (box.checked) picked.add(box.dataset.id); else picked.delete(box.dataset.id);
  updateReviewButton();
});

$("#review-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const button = $("#review-button");
  button.disabled = true;
  button.textContent = "Comparing…";
  $("#review-error").hidden = true;
  try {
    const reference = $("#review-reference").value.trim() || null;
    const review = await api("/review", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ jobs: [...picked], reference }) });
    $("#review-ranking tbody").innerHTML = review.ranking.map((r) => `<tr data-job="${esc(r.job)}"><td>${r.rank}</td>
      <td><a href="#job=${esc(r.job)}">${esc((jobs.get(r.job) || {}).name || r.file.split("/").pop())}</a></td>
      <td>${r.score}</td><td>${esc(r.why)}</td></tr>`).join("");
    $("#review-sheet").href = withToken(review.sheet);
    $("#review").hidden = false;
  } catch (err) {
    $("#review-ranking tbody").innerHTML = "";
    $("#review-error").textContent = "The review failed: " + err.message;
    $("#review-error").hidden = false;
    $("#review").hidden = false;
  } finally {
    updateReviewButton();
  }
});

// before and after: the same frame of source and output, at fit (960 wide) or 1:1
function showFrame(job) {
  const frame = $("#frame").value;
  const full = $("#full-size").checked;
  const video = job.report && job.report.output_probe && job.report.output_probe.video;
  const width = full && video ? video.width : 960;
  $("#compare-frame").classList.toggle("full", full);
  $("#frame-number").textContent = `${Number(frame) + 1} of ${Number($("#frame").max) + 1}`;
  $("#before").src = withToken(`/jobs/${job.id}/still?which=source&frame=${frame}&width=${width}`);
  $("#after").src = withToken(`/jobs/${job.id}/still?which=output&frame=${frame}&width=${width}`);
}

function renderOutput(job) {
  const done = (job.state === "done" || job.state === "skipped") && job.outputs && job.outputs.length;
  $("#output-section").hidden = !done;
  if (!done || outputShownFor === job.id) return;
  outputShownFor = job.id;
  const links = job.outputs.map((out, i) => {
    const name = out.split("/").pop();
    return `<a href="${withToken(`/jobs/${job.id}/output?index=${i}&download=1`)}" download>${esc(name)}</a>`;
  });
  links.push(`<a href="${withToken(`/jobs/${job.id}/report`)}" target="_blank" rel="noopener">report (JSON)</a>`);
  $("#output-links").innerHTML = "Download: " + links.join(" · ");
  const video = job.report && job.report.output_probe && job.report.output_probe.video;
  const playable = video && ["h264", "hevc", "vp9", "av1"].includes(video.codec);
  $("#player").hidden = !playable;
  $("#strip").hidden = !!playable || !video;
  if (playable) {
    $("#player").src = withToken(`/jobs/${job.id}/output`);
  } else if (video) {  // ProRes, DNxHR…: a browser cannot play them; a strip of stills instead
    const frames = video.frames || job.report.frames || 1;
    $("#strip").innerHTML = [0, 1, 2, 3, 4].map((k) => Math.min(frames - 1, Math.floor(k * frames / 5)))
      .map((f) => `<img alt="frame ${f + 1}" src="${withToken(`/jobs/${job.id}/still?which=output&frame=${f}&width=240`)}">`)
      .join("");
  }
}

async function loadJobLog(id) {
  const log = await api(`/jobs/${id}/log`);
  if (currentJobId() !== id) return;
  $("#job-log").textContent = [...log.history, ...(log.daemon.length ? ["", "daemon:"] : []), ...log.daemon].join("\n");
}

async function loadBay() {
  const [config, log] = await Promise.all([api("/config"), api("/log?lines=200")]);
  const folders = config.folders.map((f) => `<li>${esc(f.path)} → <b>${esc(f.recipe)}</b> → ${esc(f.output)}</li>`).join("");
  $("#bay-config").innerHTML = `<p class="muted">config ${esc(config.source)} · ${config.workers.cpu} CPU + ${config.workers.gpu} GPU worker(s)</p>
    <ul>${folders}</ul>`;
  $("#daemon-log").textContent = log.lines.join("\n") || "(no daemon log here)";
}

$("#bay").addEventListener("toggle", () => { if ($("#bay").open) loadBay().catch((e) => console.warn(e)); });

$("#frame").addEventListener("change", () => { const job = jobs.get(currentJobId()); if (job) showFrame(job); });
$("#full-size").addEventListener("change", () => { const job = jobs.get(currentJobId()); if (job) showFrame(job); });

$("#split").addEventListener("input", (e) => {
  $("#after-clip").style.clipPath = `inset(0 0 0 ${e.target.value}%)`;
  $("#compare").style.setProperty("--split", e.target.value + "%");
});

async function route() {
  const id = currentJobId();
  $("#queue-view").hidden = !!id;
  $("#job-view").hidden = !id;
  if (id) {
    shownStillsFor = null;
    outputShownFor = null;
    logShownFor = null;
    inspectionShownFor = null;
    const job = await api("/jobs/" + id);
    jobs.set(id, job);
    renderJobPage(job);
  }
}

window.addEventListener("hashchange", () => route().catch((e) => console.error(e)));

async function start() {
  try {
    await Promise.all([loadRecipes(), loadQueue()]);
    await loadCluster();  // after the queue: a node's jobs are shown by their file names
    setInterval(() => loadCluster().catch(() => {}), 3000);
    listen();
    await route();
  } catch (err) {
    console.error(err);
  }
}

start();
