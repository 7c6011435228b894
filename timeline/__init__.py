"""Edit lists: read a timeline, relink its media, conform it, write it back.

``postbay.timeline`` reads OTIO, FCP 7 XML, FCPXML, CMX 3600 EDL and AAF (``reader``), finds
each clip's media (``relink``), finishes only the used range of every shot plus handles and
writes the conformed timeline back in the editor's own format (``conform`` with its parts
``plan``, ``renders``, ``conformed``, ``report``; ``writeback``), and renders the whole
programme with its deliveries (``programme``, on ``flatten`` and ``mix``). It imports the core
(``postbay``) and the processors through the core's registry; never ``daemon`` or ``bridge``,
which call it.
"""

#: Edit lists postbay conforms (the rest is media): OTIO, FCP 7 XML, FCPXML, CMX 3600 EDL, AAF.
TIMELINE_SUFFIXES = frozenset({".otio", ".otioz", ".otiod", ".xml", ".fcpxml", ".fcpxmld", ".edl", ".aaf"})

__all__ = ["TIMELINE_SUFFIXES"]
