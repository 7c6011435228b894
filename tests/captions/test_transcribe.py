"""Whisper tiny.en on espeak-ng speech: word error rate, cue rules, no network, bad audio."""

from __future__ import annotations

import os
import socket
from fractions import Fraction

import numpy as np
import pytest
from captions_media import SENTENCES, rule_violations, speech, word_error_rate

from postbay.backend import numpy_backend
from postbay.processors import captions as captions_mod
from postbay.processors.cues import CueRules, build_cues
from postbay.registry import StepContext


@pytest.fixture(scope="module")
def voices(tmp_path_factory):
    """The three known sentences, spoken at three speaking rates."""
    tmp = tmp_path_factory.mktemp("voices")
    return [(text, speech(text, tmp, wpm=wpm)) for text, wpm in zip(SENTENCES, (140, 170, 200))]


@pytest.fixture(scope="module")
def heard(voices):
    return [(text, captions_mod.transcribe(samples, 48000)) for text, samples in voices]


def test_word_error_rate_is_under_20_percent(heard) -> None:
    rates = []
    for text, (words, language) in heard:
        wer = word_error_rate(text, " ".join(w.text for w in words))
        rates.append(wer)
        assert language == "en"
        assert wer <= 0.20, (text, [w.text for w in words], wer)
    total_ref = sum(len(t.split()) for t, _ in heard)
    overall = sum(r * len(t.split()) for r, (t, _) in zip(rates, heard)) / total_ref
    print(f"WER per sentence {[round(r, 3) for r in rates]}, overall {overall:.3f}")


def test_real_transcriptions_make_cues_that_obey_the_rules(heard) -> None:
    for _, (words, _) in heard:
        assert all(b.start >= a.start for a, b in zip(words, words[1:]))  # timings in order
        for fps in (Fraction(24), Fraction(30000, 1001)):
            cues = build_cues(words, fps, CueRules())
            assert rule_violations(cues, words, CueRules(), fps) == []


def test_transcription_opens_no_socket(voices, monkeypatch) -> None:
    """A cold model load and a transcription with the network refused: nothing is fetched."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network disabled for this test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    captions_mod.unload_models()  # load cold, inside the guard
    words, _ = captions_mod.transcribe(voices[0][1], 48000)
    assert words and attempts == []
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_model_stays_warm() -> None:
    assert captions_mod.load_model() is captions_mod.load_model()


def _run_step(samples: np.ndarray, **params):
    ctx = StepContext(numpy_backend(), None, None, cuts=())  # type: ignore[arg-type]
    out = captions_mod.captions(samples, 48000, ctx, captions_mod.CaptionsParams(**params))
    return out, ctx


@pytest.mark.parametrize("kind", ["none", "silence", "hum", "music"])
def test_bad_audio_gives_no_cues_and_a_note(kind: str) -> None:
    rate = 48000
    t = np.arange(6 * rate) / rate
    samples = {
        "none": np.zeros((2, 0), np.float32),
        "silence": np.zeros((2, t.size), np.float32),
        "hum": np.stack([0.3 * np.sin(2 * np.pi * 50 * t)] * 2).astype(np.float32),
        # chords that change every half second, with a pulsing beat
        "music": np.stack([sum(0.12 * np.sin(2 * np.pi * f * (1 + (t // 0.5 % 3) / 8) * t) for f in (220, 277, 330))
                           * (0.6 + 0.4 * (t * 4 % 1 < 0.3))] * 2).astype(np.float32),
    }[kind]
    out, ctx = _run_step(samples)
    assert out is samples  # the sound passes through untouched
    assert ctx.captions.cues == []
    assert ctx.notes["cues"] == 0 and "no captions" in ctx.notes["note"]


def test_english_only_model_refuses_another_language(voices) -> None:
    with pytest.raises(Exception, match="English only"):
        _run_step(voices[0][1], language="fr")


def test_parameters_are_checked_at_the_edge(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a CTranslate2 Whisper model folder"):
        captions_mod.CaptionsParams(model=str(tmp_path))
    with pytest.raises(ValueError, match="not a Whisper language code"):
        captions_mod.CaptionsParams(language="english")
    assert captions_mod.CaptionsParams(language="fr").language == "fr"
