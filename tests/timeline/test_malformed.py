"""Bad timelines get a clear error naming the file and the line, never a crash, and nothing is written."""

from __future__ import annotations

import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from postbay.timeline.conform import conform_timeline
from postbay.timeline.reader import TimelineError, detect_format, infer_edl_rate, read_timeline
from postbay.timeline.writeback import Picture, write_timeline

from .cuts import NLE_SAMPLES, Shot, build_cut, recipe_with

BOMB = """<?xml version="1.0"?>
<!DOCTYPE xmeml [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<xmeml version="4"><sequence><name>&f;</name></sequence></xmeml>
"""


def _good_xml(tmp_path: Path) -> Path:
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 14, 6), Shot("b.mov", 10, 6)], rate=Fraction(24))
    path = tmp_path / "cut.xml"
    write_timeline(tl, "fcp_xml", path, rate=Fraction(24), picture=Picture(128, 72, Fraction(24)))
    return path


def _refused(path: Path, out: Path, match: str) -> TimelineError:
    with pytest.raises(TimelineError, match=match) as err:
        conform_timeline(path, recipe_with(), out, workers=1)
    assert str(path) in str(err.value)
    assert not out.exists(), "nothing may be written for an unreadable timeline"
    return err.value


def test_truncated_xml(tmp_path: Path) -> None:
    good = _good_xml(tmp_path)
    bad = tmp_path / "truncated.xml"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    err = _refused(bad, tmp_path / "out", r"line \d+, column \d+: malformed XML")
    assert "truncated" in str(err)


def test_entity_expansion_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(BOMB)
    t0 = time.perf_counter()
    _refused(bomb, tmp_path / "out", "line 3: declares XML entities; refused")
    assert time.perf_counter() - t0 < 2.0


def test_external_dtd_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ext.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE xmeml SYSTEM "file:///etc/passwd">\n<xmeml version="4"/>\n')
    _refused(path, tmp_path / "out", "line 2: DOCTYPE with an internal subset or external DTD")


def test_edl_with_garbage_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.edl"
    path.write_text("TITLE: cut\nFCM: NON-DROP FRAME\n\n"
                    "001  AX       V     C        01:00:00:00 01:00:01:00 00:00:00:00 00:00:01:00\n"
                    "this line is not part of any EDL\n")
    _refused(path, tmp_path / "out", "line 5: not an EDL line: 'this line is not part of any EDL'")
    path.write_text("TITLE: cut\n001  AX  V  C  01:00:00:00 01:0x:01:00 00:00:00:00 00:00:01:00\n")
    _refused(path, tmp_path / "out", "line 2: not a CMX 3600 event")
    path.write_bytes(b"TITLE: cut\n\x00\x01\x02binary\n")
    _refused(path, tmp_path / "out", "line 2: binary data in an EDL")


def test_aaf_that_is_not_aaf(tmp_path: Path) -> None:
    path = tmp_path / "edit.aaf"
    path.write_text("TITLE: not an aaf\n")
    _refused(path, tmp_path / "out", "is not an AAF file")
    # A compound file that is cut short: the adapter's error comes back named.
    sample = NLE_SAMPLES / "avid" / "one_clip.aaf"
    if sample.is_file():
        path.write_bytes(sample.read_bytes()[:5000])
        _refused(path, tmp_path / "out", "cannot be read as AAF")


def test_empty_and_unknown(tmp_path: Path) -> None:
    empty = tmp_path / "empty.otio"
    empty.write_text("")
    _refused(empty, tmp_path / "out", "is empty")
    other = tmp_path / "notes.xml"
    other.write_text("<notes><note/></notes>")
    _refused(other, tmp_path / "out", "neither FCP 7 XML")
    trunc = tmp_path / "cut.otio"
    trunc.write_text('{"OTIO_SCHEMA": "Timeline.1", "name": "x", "tracks": {')
    _refused(trunc, tmp_path / "out", "truncated .otio")


def test_content_wins_over_extension(tmp_path: Path) -> None:
    good = _good_xml(tmp_path)
    renamed = tmp_path / "cut.edl"
    renamed.write_bytes(good.read_bytes())
    assert detect_format(renamed) == "fcp_xml"
    loaded = read_timeline(renamed)
    assert loaded.format == "fcp_xml" and "content is Final Cut Pro 7 XML" in loaded.notes[0]


@pytest.mark.skipif(not (NLE_SAMPLES / "edl" / "25fps.edl").is_file(), reason="no NLE samples in ../shared")
def test_edl_rate_inferred_and_wrong_rate_named(tmp_path: Path) -> None:
    sample = NLE_SAMPLES / "edl" / "25fps.edl"
    loaded = read_timeline(sample)
    assert loaded.rate == 25 and loaded.rate_source.startswith("inferred: highest frame number")
    with pytest.raises(TimelineError, match="cannot be read as CMX 3600 EDL") as err:
        read_timeline(sample, rate=24)
    assert str(sample) in str(err.value)
    assert read_timeline(sample, recipe_rate="25").rate_source == "recipe"


def test_edl_rate_from_media() -> None:
    text = "001  AX V C 01:00:00:00 01:00:00:10 01:00:00:00 01:00:00:10\n"
    assert infer_edl_rate(text, [Fraction(30)]) == (Fraction(30), "inferred: the media it names run at 30")
    assert infer_edl_rate(text)[0] == 24
    assert infer_edl_rate(text.replace(":10", ";10"))[0] == Fraction(30000, 1001)


def test_cli_reports_and_exits_nonzero(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(BOMB)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "postbay", "run", str(bomb), "--recipe", "passthrough", "--out",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert f"FAILED {bomb}: line 3: declares XML entities" in proc.stderr
    assert not out.exists()
