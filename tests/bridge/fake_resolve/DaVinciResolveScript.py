"""A faithful stand-in for DaVinci Resolve's scripting module, for running postbay's scripts
outside Resolve in tests.

It implements the documented calls the scripts use, with Resolve's return conventions
(``None`` when there is no project or timeline, ``False`` from a failed export, ``None``
from a failed import), and does the real work behind them: ``Timeline.Export`` writes a
real ``.otio`` (or FCP 7 XML) of the timeline's real clips with OpenTimelineIO, and
``MediaPool.ImportTimelineFromFile`` parses the file and refuses one whose media are missing.

The session is described by the JSON file ``$FAKE_RESOLVE_STATE``::

    {"running": true, "project": "Promo", "otio_export": true,
     "timeline": {"name": "Cut 3", "rate": 24, "clips": [{"name": "a", "path": "/m/a.mov",
                   "start": 0, "duration": 12, "available": 24}]},
     "bins": {"Master": []}, "timelines": []}

Every call is appended to ``$FAKE_RESOLVE_LOG`` (JSON lines), and changes to the media pool
are written back to the state file, as a real project would keep them between scripts.
"""

import json
import os
from urllib.parse import unquote, urlparse

import opentimelineio as otio

STATE_PATH = os.environ["FAKE_RESOLVE_STATE"]
LOG_PATH = os.environ.get("FAKE_RESOLVE_LOG")


def _load():
    with open(STATE_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def _save():
    with open(STATE_PATH, "w", encoding="utf-8") as fh:
        json.dump(_STATE, fh, indent=2)


def _log(call, *args):
    if LOG_PATH:
        with open(LOG_PATH, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"call": call, "args": [a if isinstance(a, (str, int, float, dict, list, type(None)))
                                                         else repr(a) for a in args]}) + "\n")


_STATE = _load()
_STATE.setdefault("bins", {"Master": []})
_STATE.setdefault("timelines", [])


class Timeline:
    def __init__(self, spec):
        self._spec = spec

    def GetName(self):
        _log("Timeline.GetName")
        return self._spec["name"]

    def GetTrackCount(self, track_type):
        _log("Timeline.GetTrackCount", track_type)
        return 1 if track_type == "video" else 0

    def _otio(self):
        rate = float(self._spec.get("rate", 24))
        tl = otio.schema.Timeline(name=self._spec["name"])
        tl.global_start_time = otio.opentime.RationalTime(self._spec.get("start_frame", 86400), rate)
        track = otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video)
        tl.tracks.append(track)
        for clip in self._spec["clips"]:
            frames = clip.get("available", clip["duration"])
            available = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                                otio.opentime.RationalTime(frames, rate))
            ref = otio.schema.ExternalReference(target_url="file://" + clip["path"], available_range=available)
            track.append(otio.schema.Clip(name=clip["name"], media_reference=ref, source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(clip["start"], rate), otio.opentime.RationalTime(clip["duration"], rate))))
        return tl

    def Export(self, fileName, exportType, exportSubtype=None):
        _log("Timeline.Export", fileName, exportType, exportSubtype)
        adapters = {EXPORT_FCP_7_XML: "fcp_xml"}
        if _STATE.get("otio_export", True):
            adapters[EXPORT_OTIO_VALUE] = "otio_json"
        adapter = adapters.get(exportType)
        if adapter is None:
            return False
        try:
            otio.adapters.write_to_file(self._otio(), fileName, adapter_name=adapter)
        except Exception:
            return False
        return True


class Folder:
    def __init__(self, name):
        self._name = name

    def GetName(self):
        _log("Folder.GetName", self._name)
        return self._name

    def GetSubFolderList(self):
        _log("Folder.GetSubFolderList", self._name)
        if self._name != "Master":
            return []
        return [Folder(name) for name in _STATE["bins"] if name != "Master"]

    def GetClipList(self):
        _log("Folder.GetClipList", self._name)
        return list(_STATE["bins"].get(self._name, []))


class MediaPool:
    def __init__(self):
        self._current = "Master"

    def GetRootFolder(self):
        _log("MediaPool.GetRootFolder")
        return Folder("Master")

    def GetCurrentFolder(self):
        _log("MediaPool.GetCurrentFolder")
        return Folder(self._current)

    def AddSubFolder(self, folder, name):
        _log("MediaPool.AddSubFolder", folder.GetName(), name)
        if name in _STATE["bins"]:
            return None
        _STATE["bins"][name] = []
        _save()
        return Folder(name)

    def SetCurrentFolder(self, folder):
        _log("MediaPool.SetCurrentFolder", folder.GetName())
        if folder.GetName() not in _STATE["bins"]:
            return False
        self._current = folder.GetName()
        return True

    def ImportTimelineFromFile(self, filePath, importOptions=None):
        _log("MediaPool.ImportTimelineFromFile", filePath, importOptions or {})
        options = importOptions or {}
        try:
            tl = otio.adapters.read_from_file(filePath)
        except Exception:
            return None
        if isinstance(tl, otio.schema.SerializableCollection):
            tl = next(iter(tl.find_children(descended_from_type=otio.schema.Timeline)), None)
            if tl is None:
                return None
        clips = []
        for clip in tl.find_clips():
            url = getattr(clip.media_reference, "target_url", "") or ""
            path = unquote(urlparse(url).path) if url.startswith("file:") else url
            if options.get("importSourceClips", True) and not os.path.isfile(path):
                return None  # Resolve fails the import when it cannot find the source clips
            clips.append({"name": clip.name, "path": path,
                          "start": clip.source_range.start_time.to_frames() if clip.source_range else 0,
                          "duration": clip.duration().to_frames()})
        name = options.get("timelineName") or tl.name
        if any(t["name"] == name for t in _STATE["timelines"]):
            return None  # timeline names are unique in a project
        spec = {"name": name, "clips": clips, "file": filePath, "bin": self._current}
        _STATE["timelines"].append(spec)
        _STATE["bins"].setdefault(self._current, []).append(name)
        _save()
        return Timeline(spec)


class Project:
    def __init__(self, name):
        self._name = name
        self._pool = MediaPool()

    def GetName(self):
        _log("Project.GetName")
        return self._name

    def GetCurrentTimeline(self):
        _log("Project.GetCurrentTimeline")
        return Timeline(_STATE["timeline"]) if _STATE.get("timeline") else None

    def GetMediaPool(self):
        _log("Project.GetMediaPool")
        return self._pool

    def GetTimelineCount(self):
        _log("Project.GetTimelineCount")
        return len(_STATE["timelines"]) + (1 if _STATE.get("timeline") else 0)


class ProjectManager:
    def GetCurrentProject(self):
        _log("ProjectManager.GetCurrentProject")
        return Project(_STATE["project"]) if _STATE.get("project") else None


EXPORT_AAF = 0
EXPORT_DRT = 1
EXPORT_EDL = 2
EXPORT_FCP_7_XML = 3
EXPORT_FCPXML_1_10 = 4
EXPORT_OTIO_VALUE = 5


class Resolve:
    EXPORT_AAF = EXPORT_AAF
    EXPORT_DRT = EXPORT_DRT
    EXPORT_EDL = EXPORT_EDL
    EXPORT_FCP_7_XML = EXPORT_FCP_7_XML
    EXPORT_FCPXML_1_10 = EXPORT_FCPXML_1_10

    def __init__(self):
        if _STATE.get("otio_export", True):
            self.EXPORT_OTIO = EXPORT_OTIO_VALUE  # Resolve 18.5 and later only

    def GetProjectManager(self):
        _log("Resolve.GetProjectManager")
        return ProjectManager()

    def GetVersionString(self):
        return "18.6.0" if _STATE.get("otio_export", True) else "17.4.6"

    def Fusion(self):
        _log("Resolve.Fusion")
        # With "ui_choice" in the state the editor answers dialogs (a recipe name, or null to cancel).
        return Fusion() if "ui_choice" in _STATE else None


class _Control:
    """A UIManager control (Label, ComboBox, Button) as the dialog code sees it."""

    def __init__(self, kind, props):
        self.kind, self.props = kind, dict(props)
        self.ID = props.get("ID")
        self.entries = []
        self.CurrentIndex = 0

    def AddItem(self, text):
        _log(self.kind + ".AddItem", text)
        self.entries.append(text)

    @property
    def CurrentText(self):
        return self.entries[self.CurrentIndex] if self.entries else ""


class UIManager:
    def Label(self, props):
        return _Control("Label", props)

    def ComboBox(self, props):
        return _Control("ComboBox", props)

    def Button(self, props):
        return _Control("Button", props)

    def VGroup(self, children):
        return ("VGroup", list(children))

    def HGroup(self, children):
        return ("HGroup", list(children))


class Fusion:
    UIManager = UIManager()


class _Events:
    """``win.On.<ID>`` : handlers assigned as attributes (``Clicked``, ``Close``)."""


class _On:
    def __init__(self):
        self._by_id = {}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._by_id.setdefault(name, _Events())


class _Window:
    def __init__(self, props, layout):
        self.props = props
        self.On = _On()
        self._items = {}

        def walk(node):
            if isinstance(node, tuple):
                for child in node[1]:
                    walk(child)
            elif node.ID:
                self._items[node.ID] = node

        walk(layout)

    def GetItems(self):
        return dict(self._items)

    def Show(self):
        _log("Window.Show", self.props.get("WindowTitle"))

    def Hide(self):
        _log("Window.Hide")


class _Dispatcher:
    def __init__(self, ui):
        self.window = None
        self.running = False

    def AddWindow(self, props, layout):
        _log("UIDispatcher.AddWindow", props)
        self.window = _Window(props, layout)
        return self.window

    def RunLoop(self):
        _log("UIDispatcher.RunLoop")
        self.running = True
        choice = _STATE.get("ui_choice")
        items = self.window.GetItems()
        if choice is None:
            self.window.On.cancel.Clicked({"what": "Clicked"})
            return
        combo = next(c for c in items.values() if c.kind == "ComboBox")
        combo.CurrentIndex = combo.entries.index(choice)
        self.window.On.ok.Clicked({"what": "Clicked"})

    def ExitLoop(self):
        _log("UIDispatcher.ExitLoop")
        self.running = False


def UIDispatcher(ui):
    _log("UIDispatcher")
    return _Dispatcher(ui)


def scriptapp(app):
    _log("scriptapp", app)
    if app != "Resolve" or not _STATE.get("running", True):
        return None
    return Resolve()
