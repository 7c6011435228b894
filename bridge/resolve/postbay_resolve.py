"""postbay for DaVinci Resolve: the code behind the two Workspace > Scripts entries.

Runs inside Resolve's own Python (standard library only; postbay need not be installed
there) or outside Resolve wherever a ``DaVinciResolveScript`` module is importable
(``PYTHONPATH=$RESOLVE_SCRIPT_API/Modules``). It uses only the documented scripting API:
``scriptapp``, ``GetProjectManager``, ``GetCurrentProject``, ``GetCurrentTimeline``,
``Timeline.Export`` with ``EXPORT_OTIO`` (``EXPORT_FCP_7_XML`` on versions without it),
``GetMediaPool``, ``GetRootFolder``, ``GetSubFolderList``, ``AddSubFolder``,
``SetCurrentFolder`` and ``ImportTimelineFromFile``.

Settings come from ``settings.json`` beside this file (written by ``postbay resolve
install``), overridden by ``$POSTBAY_URL`` / ``$POSTBAY_TOKEN`` / ``$POSTBAY_SETTINGS``.
Jobs sent but not yet imported are remembered in ``pending.json`` (``$POSTBAY_STATE_DIR``),
for "Import finished postbay timelines".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

__all__ = ["import_main", "send_main"]

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_NAME = "postbay"
TIMELINE_SUFFIXES = (".otio", ".xml", ".fcpxml", ".edl", ".aaf")


class Problem(Exception):
    """Something the editor must fix; the message says what, in plain words."""


# -- settings and state ---------------------------------------------------------------------

def load_settings():
    path = os.environ.get("POSTBAY_SETTINGS") or os.path.join(HERE, "settings.json")
    settings: dict = {"api_url": "http://127.0.0.1:8765", "token": None, "hot_folders": {}, "default_recipe": "finish"}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            settings.update(json.load(fh))
    settings["api_url"] = os.environ.get("POSTBAY_URL") or settings["api_url"]
    settings["token"] = os.environ.get("POSTBAY_TOKEN") or settings["token"]
    installed = os.path.isfile(path)
    settings["state_dir"] = (os.environ.get("POSTBAY_STATE_DIR")
                             or (os.path.dirname(os.path.abspath(path)) if installed
                                 else os.path.join(os.path.expanduser("~"), ".postbay", "resolve")))
    return settings


def _pending_path(settings):
    return os.path.join(settings["state_dir"], "pending.json")


def load_pending(settings):
    try:
        with open(_pending_path(settings), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return []


def save_pending(settings, entries):
    os.makedirs(settings["state_dir"], exist_ok=True)
    path = _pending_path(settings)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(entries, fh, indent=2)
    os.replace(tmp, path)


# -- the API --------------------------------------------------------------------------------

class Api:
    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None, data=None, content_type=None, timeout=30):
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        if body is not None:
            data, content_type = json.dumps(body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("detail", exc.reason)
            except ValueError:
                detail = exc.reason
            if exc.code == 401:
                raise Problem("postbay refused the token: set it with `postbay resolve install` "
                              "or $POSTBAY_TOKEN") from exc
            raise Problem("postbay said: %s" % detail) from exc

    def alive(self):
        try:
            return self.call("GET", "/health", timeout=3).get("status") == "ok"
        except (OSError, ValueError, Problem, AttributeError):
            return False

    def recipes(self):
        return [r["name"] for r in self.call("GET", "/recipes")["recipes"]]

    def upload(self, path, recipe):
        boundary = uuid.uuid4().hex
        name = os.path.basename(path)
        head = ('--%s\r\nContent-Disposition: form-data; name="recipe"\r\n\r\n%s\r\n'
                '--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, recipe, boundary, name)).encode()
        with open(path, "rb") as fh:
            payload = fh.read()
        data = head + payload + ("\r\n--%s--\r\n" % boundary).encode()
        return self.call("POST", "/jobs", data=data, content_type="multipart/form-data; boundary=" + boundary)

    def job(self, job_id):
        return self.call("GET", "/jobs/" + job_id)


# -- Resolve --------------------------------------------------------------------------------

def _given(script_globals, name):
    """A global Resolve hands the script (``resolve``, ``bmd``), if it did."""
    return (script_globals or {}).get(name) or getattr(sys.modules.get("__main__"), name, None)


def connect(script_globals=None):
    """(resolve, project) from the running Resolve, or a Problem saying what is missing."""
    resolve = _given(script_globals, "resolve")
    if resolve is None:
        try:
            import DaVinciResolveScript as dvr  # noqa: N813  (Blackmagic's module name)
        except ImportError as exc:
            raise Problem("DaVinci Resolve's scripting module was not found: run this from Resolve "
                          "(Workspace > Scripts), or set PYTHONPATH to $RESOLVE_SCRIPT_API/Modules") from exc
        resolve = dvr.scriptapp("Resolve")
    if resolve is None:
        raise Problem("DaVinci Resolve is not running (or refuses external scripts: the free edition runs "
                      "scripts only from Workspace > Scripts)")
    project = resolve.GetProjectManager().GetCurrentProject()
    if project is None:
        raise Problem("no project is open in Resolve: open one and try again")
    return resolve, project


def current_timeline(project):
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise Problem("project %r has no timeline open: open the edit to send in the Edit page"
                      % project.GetName())
    return timeline


def safe_name(text):
    return re.sub(r"[^\w.\- ]+", "_", text).strip(" .") or "timeline"


def export_timeline(resolve, timeline, folder):
    """Export as OTIO, or as FCP 7 XML where this Resolve has no OTIO export (before 18.5)."""
    base = os.path.join(folder, safe_name(timeline.GetName()))
    attempts = []
    if getattr(resolve, "EXPORT_OTIO", None) is not None:
        attempts.append((base + ".otio", resolve.EXPORT_OTIO))
    attempts.append((base + ".xml", resolve.EXPORT_FCP_7_XML))
    for path, kind in attempts:
        if timeline.Export(path, kind) and os.path.isfile(path):
            return path
    raise Problem("Resolve could not export timeline %r (tried %s)"
                  % (timeline.GetName(), ", ".join(os.path.basename(p) for p, _ in attempts)))


def postbay_bin(media_pool):
    root = media_pool.GetRootFolder()
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == BIN_NAME:
            return folder
    folder = media_pool.AddSubFolder(root, BIN_NAME)
    if folder is None:
        raise Problem("could not make the %r bin in the media pool" % BIN_NAME)
    return folder


def import_conformed(project, path, name):
    """Import a conformed timeline into the ``postbay`` bin as ``name``."""
    if not os.path.isfile(path):
        raise Problem("the conformed timeline %s is not reachable from this machine" % path)
    media_pool = project.GetMediaPool()
    media_pool.SetCurrentFolder(postbay_bin(media_pool))
    timeline = media_pool.ImportTimelineFromFile(path, {"timelineName": name, "importSourceClips": True})
    if timeline is None:
        raise Problem("Resolve could not import %s" % path)
    return timeline


def conformed_timeline(outputs, exported_suffix):
    """The conformed timeline among a job's outputs, in the format that was exported if there."""
    timelines = [o for o in outputs if os.path.splitext(o)[1].lower() in TIMELINE_SUFFIXES]
    same = [o for o in timelines if o.lower().endswith(exported_suffix)]
    return (same or timelines or [None])[0]


# -- hot folder fallback --------------------------------------------------------------------

def drop(settings, recipe, exported):
    hot = settings["hot_folders"].get(recipe)
    if not hot:
        raise Problem("postbay does not answer at %s, and no hot folder is known for recipe %r: start the "
                      "daemon (`postbay daemon`) or run `postbay resolve install` again"
                      % (settings["api_url"], recipe))
    os.makedirs(hot["path"], exist_ok=True)
    target = os.path.join(hot["path"], "%s-%s%s" % (os.path.splitext(os.path.basename(exported))[0],
                                                   time.strftime("%Y%m%d-%H%M%S"), os.path.splitext(exported)[1]))
    tmp = os.path.join(hot["path"], "." + os.path.basename(target) + ".part")
    shutil.copyfile(exported, tmp)
    os.replace(tmp, target)  # the watcher sees it whole, never half-copied
    return target


def check_hot(entry):
    """('done', timeline) / ('failed', reason) / ('waiting', None) for a hot-folder drop."""
    stem = os.path.splitext(os.path.basename(entry["dropped"]))[0]
    failed = os.path.join(os.path.dirname(entry["dropped"]), "failed")
    if os.path.isdir(failed):
        for name in os.listdir(failed):
            if name.startswith(stem) and name.endswith(".report.json"):
                with open(os.path.join(failed, name), encoding="utf-8") as fh:
                    return "failed", json.load(fh).get("error", "failed")
    out = entry.get("output") or ""
    found = []
    if os.path.isdir(out):
        for dirpath, _, files in os.walk(out):
            found += [os.path.join(dirpath, f) for f in files if f.startswith(stem) and not f.startswith(".")]
    timeline = conformed_timeline(sorted(found), os.path.splitext(entry["dropped"])[1])
    return ("done", timeline) if timeline else ("waiting", None)


# -- the two scripts ------------------------------------------------------------------------

def ask_recipe(resolve, api, settings, script_globals=None):
    """The recipe from a small Resolve dialog when there is one, else the terminal, else the default."""
    choices = []
    if api is not None:
        try:
            choices = api.recipes()
        except (Problem, OSError):
            choices = []
    choices = choices or sorted(settings["hot_folders"]) or [settings["default_recipe"]]
    default = settings["default_recipe"] if settings["default_recipe"] in choices else choices[0]
    fusion = resolve.Fusion() if hasattr(resolve, "Fusion") else None
    ui = getattr(fusion, "UIManager", None) if fusion is not None else None
    # Inside Resolve `bmd` is a global; outside, Blackmagic's scripting module carries UIDispatcher.
    bmd = _given(script_globals, "bmd") or sys.modules.get("DaVinciResolveScript")
    if ui is not None and hasattr(bmd, "UIDispatcher"):
        return _dialog(ui, bmd, choices, default)
    if sys.stdin is not None and sys.stdin.isatty():
        answer = input("recipe [%s] (%s): " % (default, ", ".join(choices))).strip()
        return answer or default
    return default


def _dialog(ui, bmd, choices, default):
    disp = bmd.UIDispatcher(ui)
    win = disp.AddWindow({"ID": "postbay", "WindowTitle": "Send timeline to postbay", "Geometry": [200, 200, 360, 110]},
                         ui.VGroup([ui.Label({"Text": "Recipe"}), ui.ComboBox({"ID": "recipe"}),
                                    ui.HGroup([ui.Button({"ID": "ok", "Text": "Send"}),
                                               ui.Button({"ID": "cancel", "Text": "Cancel"})])]))
    items = win.GetItems()
    for name in choices:
        items["recipe"].AddItem(name)
    items["recipe"].CurrentIndex = choices.index(default)
    picked = {}

    def on_ok(ev):
        picked["recipe"] = items["recipe"].CurrentText
        disp.ExitLoop()

    win.On.ok.Clicked = on_ok
    win.On.cancel.Clicked = lambda ev: disp.ExitLoop()
    win.On.postbay.Close = lambda ev: disp.ExitLoop()
    win.Show()
    disp.RunLoop()
    win.Hide()
    if "recipe" not in picked:
        raise Problem("cancelled: nothing was sent")
    return picked["recipe"]


def _follow(api, job, timeout):
    deadline = time.time() + timeout if timeout else None
    last = None
    while job["state"] not in ("done", "failed", "cancelled"):
        shown = (job["state"], int(job["progress"] * 100) // 10)
        if shown != last:
            print("postbay: job %s %s %3.0f%%" % (job["id"], job["state"], job["progress"] * 100), flush=True)
            last = shown
        if deadline and time.time() > deadline:
            return job
        time.sleep(1.0)
        job = api.job(job["id"])
    return job


def _finish_entry(project, entry, job_or_timeline):
    name = "%s (%s)" % (entry["timeline"], entry["recipe"])
    import_conformed(project, job_or_timeline, name)
    print("postbay: imported %r into the %r bin" % (name, BIN_NAME), flush=True)


def send_main(argv=None, script_globals=None):
    """Workspace > Scripts > Send timeline to postbay (``script_globals``: the script's own,
    where Resolve puts ``resolve`` and ``bmd``)."""
    parser = argparse.ArgumentParser(prog="Send timeline to postbay")
    parser.add_argument("--recipe", default=None, help="recipe name (asked for when not given)")
    parser.add_argument("--no-wait", action="store_true", help="send and return; import later")
    parser.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        resolve, project = connect(script_globals)
        timeline = current_timeline(project)
        api = Api(settings["api_url"], settings["token"])
        online = api.alive()
        recipe = args.recipe or ask_recipe(resolve, api if online else None, settings, script_globals)
        folder = tempfile.mkdtemp(prefix="postbay-resolve-")
        try:
            exported = export_timeline(resolve, timeline, folder)
            print("postbay: exported %r as %s" % (timeline.GetName(), os.path.basename(exported)), flush=True)
            entry = {"timeline": timeline.GetName(), "recipe": recipe, "project": project.GetName(),
                     "suffix": os.path.splitext(exported)[1]}
            if online:
                job = api.upload(exported, recipe)
                entry.update(job_id=job["id"], api_url=api.url)
                print("postbay: job %s queued with recipe %r at %s" % (job["id"], recipe, api.url), flush=True)
            else:
                target = drop(settings, recipe, exported)
                entry.update(dropped=target, output=settings["hot_folders"][recipe]["output"])
                print("postbay: no daemon answered at %s; dropped the timeline into the hot folder %s"
                      % (settings["api_url"], os.path.dirname(target)), flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        pending = load_pending(settings)
        pending.append(entry)
        save_pending(settings, pending)
        if args.no_wait:
            print("postbay: run 'Import finished postbay timelines' when it is done", flush=True)
            return 0
        return _import_ready(project, settings, only=[entry], wait=True, timeout=args.timeout)
    except Problem as exc:
        print("postbay: %s" % exc, file=sys.stderr, flush=True)
        return 1


def _import_ready(project, settings, only=None, wait=False, timeout=None):
    pending = load_pending(settings)
    todo = only if only is not None else list(pending)
    status = 0
    remaining = [e for e in pending if e not in todo]
    for entry in todo:
        try:
            if "job_id" in entry:
                api = Api(entry["api_url"], settings["token"])
                if not api.alive():
                    raise Problem("postbay does not answer at %s: is the daemon running?" % entry["api_url"])
                job = api.job(entry["job_id"])
                if wait:
                    job = _follow(api, job, timeout)
                if job["state"] == "done":
                    path = conformed_timeline(job["outputs"], entry["suffix"])
                    if path is None:
                        raise Problem("job %s finished without a conformed timeline" % job["id"])
                    _finish_entry(project, entry, path)
                    continue
                if job["state"] in ("failed", "cancelled"):
                    print("postbay: job %s for %r %s: %s" % (job["id"], entry["timeline"], job["state"],
                                                             job.get("error") or job["state"]),
                          file=sys.stderr, flush=True)
                    status = 1
                    continue
                print("postbay: %r still %s (%.0f%%)" % (entry["timeline"], job["state"], job["progress"] * 100))
            else:
                deadline = time.time() + timeout if (wait and timeout) else None
                state, result = check_hot(entry)
                while wait and state == "waiting" and (deadline is None or time.time() < deadline):
                    time.sleep(1.0)
                    state, result = check_hot(entry)
                if state == "done":
                    _finish_entry(project, entry, result)
                    continue
                if state == "failed":
                    print("postbay: %r failed: %s" % (entry["timeline"], result), file=sys.stderr, flush=True)
                    status = 1
                    continue
                print("postbay: %r is still being finished from the hot folder" % entry["timeline"])
            remaining.append(entry)
        except Problem as exc:
            print("postbay: %s" % exc, file=sys.stderr, flush=True)
            remaining.append(entry)
            status = 1
    save_pending(settings, remaining)
    return status


def import_main(argv=None, script_globals=None):
    """Workspace > Scripts > Import finished postbay timelines."""
    parser = argparse.ArgumentParser(prog="Import finished postbay timelines")
    parser.parse_args(argv)
    try:
        settings = load_settings()
        _, project = connect(script_globals)
        if not load_pending(settings):
            print("postbay: nothing is waiting to be imported", flush=True)
            return 0
        return _import_ready(project, settings)
    except Problem as exc:
        print("postbay: %s" % exc, file=sys.stderr, flush=True)
        return 1
