"""The outside world: timelines in and out, the HTTP API and dashboard, NLE scripts, plugins."""

#: Edit lists postbay conforms (the rest is media): OTIO, FCP 7 XML, FCPXML, CMX 3600 EDL, AAF.
TIMELINE_SUFFIXES = frozenset({".otio", ".otioz", ".otiod", ".xml", ".fcpxml", ".fcpxmld", ".edl", ".aaf"})

__all__ = ["TIMELINE_SUFFIXES"]
