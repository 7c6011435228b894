"""Captions you can trust: Whisper's own confidence decides whether speech is published; an
English-only model says so instead of writing English nonsense over French or German."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from captions_media import SENTENCES, speech

from postbay.errors import PostbayError
from postbay.processors.captions import CaptionsParams, caption_audio, listen

FRENCH = "Le capitaine du port compte les bateaux chaque matin. Certains partent avant le lever du soleil."
GERMAN = "Der Hafenmeister zählt jeden Morgen die Boote. Einige fahren vor Sonnenaufgang los."


def _caption(samples, **params):
    return caption_audio(samples, 48000, Fraction(24), CaptionsParams(**params), lambda: [])


@pytest.mark.parametrize(("voice", "text"), [("fr", FRENCH), ("de", GERMAN)])
def test_foreign_speech_on_an_english_model_is_not_published(tmp_path, voice, text):
    samples = speech(text, tmp_path, voice=voice)
    cues, language, notes = _caption(samples)
    assert cues == [] and language is None
    assert notes["confidence"]["doubtful"]
    assert "not English?" in notes["note"] and "log-probability" in notes["note"]
    kept, _, kept_notes = _caption(samples, on_doubt="keep")
    assert kept and kept_notes["confidence"]["doubtful"]


def test_english_speech_is_confident(tmp_path):
    cues, language, notes = _caption(speech(SENTENCES[0], tmp_path))
    assert cues and language == "en"
    assert not notes["confidence"]["doubtful"] and notes["confidence"]["avg_logprob"] > -0.8


def test_english_only_model_refuses_other_languages_and_translation(tmp_path):
    samples = speech(FRENCH, tmp_path, voice="fr")
    with pytest.raises(PostbayError, match="English only"):
        listen(samples, 48000, language="fr")
    with pytest.raises(PostbayError, match="translate"):
        listen(samples, 48000, task="translate")


def test_model_folder_errors_say_what_is_wrong(tmp_path: Path):
    with pytest.raises(ValueError, match="no such model folder"):
        CaptionsParams(model=str(tmp_path / "absent"))
    checkpoint = tmp_path / "whisper-small"
    checkpoint.mkdir()
    (checkpoint / "pytorch_model.bin").write_bytes(b"\0")
    with pytest.raises(ValueError, match="not a faster-whisper"):
        CaptionsParams(model=str(checkpoint))


def test_inspect_speech_reports_the_doubt(tmp_path, capsys):
    import json

    from captions_media import write_av_clip

    from postbay.cli import main

    clip = write_av_clip(tmp_path / "french.mov", speech(FRENCH, tmp_path, voice="fr"))
    assert main(["inspect", str(clip), "--speech", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["speech"]["heard"] and report["speech"]["doubtful"]
    assert any(p["kind"] == "speech" and "not English?" in p["message"] for p in report["problems"])
