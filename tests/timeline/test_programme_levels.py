"""Audio levels in the programme mix: read from the timeline, applied in dB, measured on the render."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from postbay.media import read_audio
from postbay.timeline.conform import conform_timeline
from postbay.timeline.mix import clip_level

from .cuts import RT, TR, Shot, build_cut, recipe_with, stand_in

#: Premiere Pro's own "Audio Levels" filter: the level is a linear factor (0.501187 = −6 dB).
AUDIO_LEVELS = """<filter><effect><name>Audio Levels</name><effectid>audiolevels</effectid>
<effectcategory>audiolevels</effectcategory><effecttype>audiolevels</effecttype><mediatype>audio</mediatype>
<parameter authoringApp="PremierePro"><parameterid>level</parameterid><name>Level</name><valuemin>0</valuemin>
<valuemax>3.98109</valuemax><value>{value}</value></parameter></effect></filter>"""


def _levels_cut(tmp_path: Path) -> Path:
    """V1: a, b (12 frames each at 25 fps); A1: the same 1 kHz tone under both, at −6 dB then 0 dB.

    Written by OTIO's FCP 7 XML adapter, then given Premiere's Audio Levels filters by hand
    (the adapter does not write effects), so the read goes through the real FCP 7 XML path.
    """
    rate = Fraction(25)
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 10, 12), Shot("b.mov", 10, 12)], rate=rate, media_frames=48)
    tone = stand_in(tmp_path / "media" / "tone.mov", frames=48, rate=rate, timecode="01:00:00:00", audio="tone")
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    for name, src_in in (("quiet", 4), ("unity", 20)):
        a1.append(otio.schema.Clip(name=name, source_range=TR(RT(90000 + src_in, 25), RT(12, 25)),
                                   media_reference=otio.schema.ExternalReference(
                                       target_url=tone.as_uri(), available_range=TR(RT(90000, 25), RT(48, 25)))))
    tl.tracks.append(a1)
    path = tmp_path / "levels.xml"
    otio.adapters.write_to_file(tl, str(path), adapter_name="fcp_xml")
    tree = ET.parse(path)
    audio_items = tree.getroot().findall(".//sequence/media/audio/track/clipitem")
    assert [i.findtext("name") for i in audio_items] == ["quiet", "unity"]
    for item, value in zip(audio_items, ("0.501187", "1")):
        item.append(ET.fromstring(AUDIO_LEVELS.format(value=value)))
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    return path


def _rms_db(x: np.ndarray) -> float:
    return 10 * np.log10(float(np.mean(np.square(x, dtype=np.float64))))


def test_clip_levels_are_read_and_mixed_in_db(tmp_path: Path) -> None:
    src = _levels_cut(tmp_path)
    read = otio.adapters.read_from_file(str(src))
    assert [round(clip_level(c)[0], 2) for c in read.audio_tracks()[0].find_clips()] == [-6.0, 0.0]

    recipe = recipe_with(deliveries=[{"name": "master", "codec": "prores_hq", "audio": "pcm"}])
    result = conform_timeline(src, recipe, tmp_path / "out", workers=1)
    assert result.ok, result.report_path.read_text()
    (master,) = result.deliveries
    levels = {lv["clip"]: lv for lv in master["levels"]}
    assert levels["quiet"]["gain_db"] == -6.0 and levels["quiet"]["clip_level"] == "FCP XML Audio Levels"
    assert levels["unity"]["gain_db"] == 0.0 and levels["unity"]["clip_level"] == "FCP XML Audio Levels"
    assert levels["quiet"]["track_level"].startswith("none found")

    samples, sr = read_audio(master["output"], 0.0, 24 / 25)
    seg = sr * 12 // 25
    edge = sr // 100  # keep 10 ms off the edit, where the two segments meet
    quiet, unity = samples[:, edge:seg - edge], samples[:, seg + edge:2 * seg - edge]
    difference = _rms_db(quiet) - _rms_db(unity)
    print(f"quiet − unity: {difference:.3f} dB")
    assert abs(difference - (-6.0)) < 0.1, difference
    assert _rms_db(unity) > -30  # the tone is there at all


def test_no_level_is_unity_and_says_so(tmp_path: Path) -> None:
    clip = otio.schema.Clip(name="plain")
    assert clip_level(clip) == (0.0, None)
    clip.effects.append(otio.schema.Effect(name="Volume", effect_name="Volume", metadata={"gain_db": -3.5}))
    assert clip_level(clip) == (-3.5, "metadata gain_db")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Audio, metadata={"mixer": {"volume": 0.5}})
    db, how = clip_level(track)
    assert abs(db - (-6.0206)) < 1e-3 and how == "metadata mixer.volume (linear)"
