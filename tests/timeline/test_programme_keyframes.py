"""Keyframed audio levels (fades, rides) followed in the programme mix, from FCP 7 XML and FCPXML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from postbay.media import read_audio
from postbay.timeline.conform import conform_timeline
from postbay.timeline.fcpxml import fcpx_time
from postbay.timeline.levels import clip_envelope
from postbay.timeline.reader import read_timeline

from .cuts import RT, TR, Shot, build_cut, recipe_with, stand_in, write_sound

SR = 48000
PROGRAMME = [{"name": "master", "codec": "ffv1", "audio": "pcm"}]

FADE = """<filter><effect><name>Audio Levels</name><effectid>audiolevels</effectid>
<effectcategory>audiolevels</effectcategory><effecttype>audiolevels</effecttype><mediatype>audio</mediatype>
<parameter authoringApp="PremierePro"><parameterid>level</parameterid><name>Level</name><valuemin>0</valuemin>
<valuemax>3.98109</valuemax><value>1</value>
<keyframe><when>{a}</when><value>0</value></keyframe><keyframe><when>{b}</when><value>1</value></keyframe>
</parameter></effect></filter>"""


def _window_gain(mix: np.ndarray, reference_rms: float, centres: np.ndarray, half: int) -> np.ndarray:
    return np.array([np.sqrt(np.mean(mix[c - half:c + half] ** 2)) / reference_rms for c in centres])


def test_fcp_xml_fade_in_is_followed(tmp_path: Path) -> None:
    """A Premiere fade from silence to unity over a 2 s clip (keyframes on the media clock, in = 4)."""
    rate = Fraction(25)
    tl = build_cut(tmp_path / "media", [Shot("a.mov", 10, 50)], rate=rate, media_frames=80)
    tone = stand_in(tmp_path / "media" / "tone.mov", frames=80, rate=rate, timecode="01:00:00:00", audio="tone")
    a1 = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    a1.append(otio.schema.Clip(name="music", source_range=TR(RT(90004, 25), RT(50, 25)),
                               media_reference=otio.schema.ExternalReference(
                                   target_url=tone.as_uri(), available_range=TR(RT(90000, 25), RT(80, 25)))))
    tl.tracks.append(a1)
    path = tmp_path / "fade.xml"
    otio.adapters.write_to_file(tl, str(path), adapter_name="fcp_xml")
    tree = ET.parse(path)
    (item,) = tree.getroot().findall(".//sequence/media/audio/track/clipitem")
    item.append(ET.fromstring(FADE.format(a=4, b=54)))
    tree.write(path, encoding="UTF-8", xml_declaration=True)

    result = conform_timeline(path, recipe_with(deliveries=PROGRAMME), tmp_path / "out", workers=1)
    assert result.ok, result.summary_path.read_text()
    (level,) = result.deliveries[0]["levels"]
    assert level["clip_level"] == "FCP XML Audio Levels, 2 keyframes followed"
    mix = read_audio(Path(result.deliveries[0]["output"]), 0.0, 2.0)[0][0]
    unity = np.sqrt(np.mean(read_audio(tone, 0.5, 1.0)[0][0] ** 2))
    centres = np.arange(SR // 10, 2 * SR - SR // 10, SR // 10)
    measured = _window_gain(mix, unity, centres, SR // 100)
    expected = centres / (2 * SR)  # linear from 0 at the clip's first frame to 1 at its last
    assert np.abs(measured - expected).max() < 0.03, np.round(measured - expected, 3)


def _fcpxml(media: Path, volume: str) -> str:
    t = lambda frames: fcpx_time(Fraction(frames, 24))  # noqa: E731
    hour = 86400
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE fcpxml>
<fcpxml version="1.9">
    <resources>
        <format id="r1" name="FFVideoFormat1080p24" frameDuration="1/24s" width="1920" height="1080"/>
        <asset id="v" name="a" start="{t(hour)}" duration="{t(96)}" hasVideo="1" format="r1">
            <media-rep kind="original-media" src="{(media / 'a.mov').as_uri()}"/></asset>
        <asset id="m" name="music" start="{t(hour)}" duration="{t(96)}" hasVideo="0" hasAudio="1" audioRate="48000">
            <media-rep kind="original-media" src="{(media / 'music.wav').as_uri()}"/></asset>
    </resources>
    <library><event name="e"><project name="cut">
        <sequence format="r1" duration="{t(48)}" tcStart="{t(hour)}" tcFormat="NDF">
            <spine>
                <asset-clip ref="v" name="a" offset="{t(hour)}" start="{t(hour + 12)}" duration="{t(48)}" format="r1">
                    <asset-clip ref="m" name="music" lane="-1" offset="{t(hour + 12)}" start="{t(hour + 24)}"
                                duration="{t(48)}">{volume}</asset-clip>
                </asset-clip>
            </spine>
        </sequence>
    </project></event></library>
</fcpxml>
"""


def test_fcpxml_adjust_volume_keyframes_are_followed(tmp_path: Path) -> None:
    """Final Cut's volume ride from −20 dB to 0 dB over the clip's 2 s (keyframes on its source clock)."""
    media = tmp_path / "media"
    stand_in(media / "a.mov", frames=96, rate=Fraction(24), timecode="01:00:00:00")
    write_sound(media / "music.wav", 0.5 * np.sin(2 * np.pi * 1000 * np.arange(4 * SR) / SR), time_reference=3600 * SR)
    start = Fraction(86400 + 24, 24)
    ride = (f'<adjust-volume amount="0dB"><param name="amount"><keyframeAnimation>'
            f'<keyframe time="{fcpx_time(start)}" value="-20dB"/><keyframe time="{fcpx_time(start + 2)}" value="0dB"/>'
            f'</keyframeAnimation></param></adjust-volume>')
    path = tmp_path / "ride.fcpxml"
    path.write_text(_fcpxml(media, ride))
    result = conform_timeline(path, recipe_with(deliveries=PROGRAMME), tmp_path / "out", workers=1)
    assert result.ok, result.summary_path.read_text()
    (level,) = result.deliveries[0]["levels"]
    assert level["clip_level"] == "FCPXML adjust-volume, 2 keyframes followed" and level["gain_db"] == -20.0
    mix = read_audio(Path(result.deliveries[0]["output"]), 0.0, 2.0)[0][0]
    centres = np.arange(SR // 10, 2 * SR - SR // 10, SR // 10)
    measured_db = 20 * np.log10(_window_gain(mix, 0.5 / np.sqrt(2), centres, SR // 100))
    expected_db = -20 + 20 * centres / (2 * SR)  # linear in dB, as Final Cut stores it
    assert np.abs(measured_db - expected_db).max() < 0.3, np.round(measured_db - expected_db, 2)


def test_fcpxml_fixed_volume_is_read(tmp_path: Path) -> None:
    path = tmp_path / "fixed.fcpxml"
    path.write_text(_fcpxml(tmp_path, '<adjust-volume amount="-6dB"/>'))
    music = next(c for c in read_timeline(path).timelines[0].find_clips() if c.name == "music")
    envelope = clip_envelope(music)
    assert envelope is not None and envelope.how == "FCPXML adjust-volume -6dB"
    assert abs(20 * np.log10(envelope.gain(np.array([0.0, 1.0]))) - (-6.0)).max() < 1e-4
