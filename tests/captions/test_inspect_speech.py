"""Speech in ``postbay inspect``: every clip of a set of variations and every shot of a cut that
has sound is listened to (Whisper tiny.en on espeak-ng voices), unless ``--no-speech``."""

from __future__ import annotations

import json

import opentimelineio as otio
from captions_media import SENTENCES, speech, write_av_clip

from postbay.cli import main

GERMAN = "Der Hafenmeister zählt jeden Morgen die Boote. Einige fahren vor Sonnenaufgang los."


def test_each_variation_is_listened_to(tmp_path, capsys):
    english = write_av_clip(tmp_path / "a_english.mov", speech(SENTENCES[0], tmp_path))
    german = write_av_clip(tmp_path / "b_german.mov", speech(GERMAN, tmp_path, voice="de"))
    assert main(["inspect", str(english), str(german), "--json"]) == 0
    clips = {c["file"].rsplit("/", 1)[-1]: c for c in json.loads(capsys.readouterr().out)["clips"]}
    heard_en, heard_de = clips["a_english.mov"]["speech"], clips["b_german.mov"]["speech"]
    assert heard_en["heard"] and heard_en["language"] == "en" and not heard_en["doubtful"]
    assert heard_de["heard"] and heard_de["doubtful"] and "not English?" in heard_de["why"]
    assert any(p["kind"] == "speech" for p in clips["b_german.mov"]["problems"])
    assert not any(p["kind"] == "speech" for p in clips["a_english.mov"]["problems"])

    assert main(["inspect", str(english), str(german), "--json", "--no-speech"]) == 0
    assert all("speech" not in c for c in json.loads(capsys.readouterr().out)["clips"])


def test_each_shot_with_sound_is_listened_to(tmp_path, capsys):
    rate = 24.0
    talking = write_av_clip(tmp_path / "talking.mov", speech(SENTENCES[1], tmp_path))
    mute = write_av_clip(tmp_path / "mute.mov", None, frames=48)
    timeline = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    for media, name, frames in ((mute, "establishing", 24), (talking, "interview", 96)):
        span = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(frames, rate))
        ref = otio.schema.ExternalReference(target_url=media.resolve().as_uri(), available_range=span)
        track.append(otio.schema.Clip(name=name, media_reference=ref, source_range=span))
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    assert main(["inspect", str(cut), "--json"]) == 0
    establishing, interview = json.loads(capsys.readouterr().out)["clips"]
    assert "speech" not in establishing  # no sound, nothing to listen to
    assert interview["speech"]["heard"] and not interview["speech"]["doubtful"]
    assert interview["speech"]["seconds"] > 0
