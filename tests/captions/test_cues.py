"""The cue builder against subtitlers' rules: a property test over texts, speaking rates and cuts."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
import srt
import webvtt
from captions_media import SENTENCES, rule_violations

from postbay.processors.cues import CueRules, Word, break_lines, build_cues
from postbay.subtitles import format_srt, format_vtt, write_sidecars

TEXTS = SENTENCES + [
    "When Anna Schmidt arrived in New York, nobody at the airport knew her name. She waited for an hour, "
    "read the departures board twice, and finally took a taxi to the hotel near Central Park.",
    "Yes. No. Maybe later. I think so, but I am not completely sure about the extraordinarily complicated "
    "instructions that came with the replacement parts for the coffee machine.",
    "Internationalisation and telecommunications infrastructure notwithstanding, the committee approved "
    "the proposal unanimously after three hours of deliberation in Geneva.",
]


def _seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def synthetic_words(text: str, wpm: float, seed: int) -> list[Word]:
    """Word timings as a speech aligner gives them: length-weighted words, pauses at punctuation."""
    rng = random.Random(seed)
    tokens = text.split()
    mean_letters = sum(len(t) for t in tokens) / len(tokens)
    per_word = 60.0 / wpm
    t, words = 0.3, []
    for tok in tokens:
        dur = per_word * (0.4 + 0.6 * len(tok) / mean_letters) * rng.uniform(0.85, 1.15)
        words.append(Word(tok, t, t + dur * 0.9))
        t += dur
        if tok.endswith((".", "?", "!")):
            t += rng.uniform(0.25, 0.6)
        elif tok.endswith(","):
            t += rng.uniform(0.05, 0.25)
    return words


@pytest.mark.parametrize("fps", [Fraction(24), Fraction(25), Fraction(30000, 1001)])
@pytest.mark.parametrize("wpm", [110, 150, 185, 230])
def test_every_cue_obeys_the_rules(fps: Fraction, wpm: int) -> None:
    rules = CueRules()
    for t, text in enumerate(TEXTS):
        words = synthetic_words(text, wpm, seed=t * 1000 + wpm)
        cues = build_cues(words, fps, rules)
        assert cues, text
        assert rule_violations(cues, words, rules, fps) == [], text


@pytest.mark.parametrize("seed", range(24))
def test_cues_keep_off_shot_cuts(seed: int) -> None:
    """Random edits (shots of 1.5 to 6 s; flash frames excepted), rates and speaking speeds."""
    rng = random.Random(seed)
    fps = rng.choice([Fraction(24), Fraction(25), Fraction(30000, 1001)])
    rules = CueRules()
    words = synthetic_words(" ".join(rng.sample(TEXTS, 4)), rng.choice([110, 150, 185, 230]), seed)
    cuts, t = [], 0.0
    while (t := t + rng.uniform(1.5, 6.0)) < words[-1].end:
        cuts.append(round(t * float(fps)) / float(fps))  # cuts fall on frames
    cues = build_cues(words, fps, rules, cuts=cuts)
    assert rule_violations(cues, words, rules, fps, cuts) == []


def test_slow_speech_reads_under_the_speed_limit() -> None:
    """At a natural pace nothing needs to read fast: every cue is under max_cps outright (the
    last text is excluded: its long words are said faster than 17 characters a second)."""
    rules = CueRules()
    for t, text in enumerate(TEXTS[:-1]):
        cues = build_cues(synthetic_words(text, 140, seed=t), 24, rules)
        assert max(c.characters / (c.end - c.start) for c in cues) <= rules.max_cps + 1e-6


def test_other_rules_are_followed() -> None:
    rules = CueRules(max_chars_per_line=32, max_lines=1, max_cps=15, min_duration=1.0, max_duration=5,
                     min_gap_frames=3)
    for t, text in enumerate(TEXTS):
        words = synthetic_words(text, 130, seed=t)
        cues = build_cues(words, 25, rules)
        assert rule_violations(cues, words, rules, Fraction(25)) == []


def test_line_breaks_are_balanced_and_natural() -> None:
    lines = break_lines("Maria Lopez walked to the station because the train was late".split())
    assert lines == ("Maria Lopez walked to the station", "because the train was late")
    lines = break_lines("I waited in the rain for a very long time, and then I went home alone".split())
    assert lines[0].endswith("time,")
    # never between the two words of a name, even where that would balance best
    lines = break_lines("We flew with the whole family from Buenos Aires to Rio de Janeiro".split())
    assert not any(a.endswith("Buenos") for a in lines)
    assert break_lines(["x" * 50]) is None


def test_cues_break_at_sentence_ends() -> None:
    words = synthetic_words(TEXTS[0], 150, seed=3)
    cues = build_cues(words, 24)
    assert cues[0].lines[-1].endswith("morning.")


def test_sidecars_parse_back_with_real_parsers(tmp_path) -> None:
    words = synthetic_words(" ".join(TEXTS), 160, seed=1)
    cues = build_cues(words, Fraction(24000, 1001))
    srt_path, vtt_path = write_sidecars(cues, tmp_path / "clip.mov")
    assert (srt_path.name, vtt_path.name) == ("clip.srt", "clip.vtt")
    parsed = list(srt.parse(srt_path.read_text(encoding="utf-8")))
    assert [p.content for p in parsed] == [c.text for c in cues]
    assert all(abs(p.start.total_seconds() - c.start) < 0.0006 and abs(p.end.total_seconds() - c.end) < 0.0006
               for p, c in zip(parsed, cues))
    vtt = webvtt.read(str(vtt_path))
    assert [v.text for v in vtt] == [c.text for c in cues]
    assert all(abs(_seconds(v.start) - c.start) < 0.0006 and abs(_seconds(v.end) - c.end) < 0.0006
               for v, c in zip(vtt, cues))
    assert format_srt(cues).count("-->") == format_vtt(cues).count("-->") == len(cues)
