"""The watcher reads an edit list's media through the timeline reader: its safety checks hold
for the daemon's early look at an edit too, not only for the conform."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from postbay.daemon.watcher import referenced_media

RT = otio.opentime.RationalTime


def _fcp7(path: Path, media: Path) -> Path:
    reference = otio.schema.ExternalReference(target_url=media.as_uri(),
                                              available_range=otio.opentime.TimeRange(RT(0, 24), RT(48, 24)))
    clip = otio.schema.Clip(name="shot", media_reference=reference,
                            source_range=otio.opentime.TimeRange(RT(0, 24), RT(24, 24)))
    timeline = otio.schema.Timeline(name="edit", tracks=[otio.schema.Track(children=[clip])])
    otio.adapters.write_to_file(timeline, str(path), adapter_name="fcp_xml")
    return path


def test_an_fcp7_edit_names_its_media(tmp_path: Path):
    media = tmp_path / "media" / "shot 1.mov"
    assert referenced_media(_fcp7(tmp_path / "edit.xml", media)) == [media]


def test_an_edit_that_declares_xml_entities_is_not_read_by_the_watcher(tmp_path: Path):
    edit = _fcp7(tmp_path / "edit.xml", tmp_path / "media" / "shot.mov")
    text = edit.read_text(encoding="utf-8")
    head, _, body = text.partition("<xmeml")
    edit.write_text(head.replace("<!DOCTYPE xmeml>", "") + '<!DOCTYPE xmeml [<!ENTITY lol "lol">]>\n<xmeml' + body,
                    encoding="utf-8")
    assert referenced_media(edit) == []  # the reader refuses it; the conform job reports why
