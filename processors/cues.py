"""The cue builder: timed words → subtitle cues a subtitler would accept.

Whisper front ends tend to dump a segment per cue and insert line breaks; a subtitler splits
cues at sentence ends and pauses, keeps reading speed under a limit, balances the two lines,
breaks them at natural points (after punctuation, before a conjunction or preposition, never
inside a name), snaps every in and out to a frame, leaves a gap between cues and never lets a
cue hang across a shot cut by a few frames.

Cue boundaries are chosen by dynamic programming over word positions (each candidate cue is
costed for where it breaks, its reading speed and its length); lines by a small exhaustive
search over break points. Times are frame counts internally, so every rule holds exactly
after snapping.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from pydantic import Field

from postbay.registry import ParamModel
from postbay.subtitles import Cue

__all__ = ["CueRules", "DEFAULT_RULES", "Word", "break_lines", "build_cues", "CUT_MARGIN"]

#: A cue in or out this close to a shot cut (seconds) moves onto the cut.
CUT_MARGIN = 0.5

# Words a line or a cue breaks before: conjunctions and prepositions.
BREAK_BEFORE = frozenset("""and but or nor so yet for because although though while whereas if unless
until since when where whether that which who whom whose as than after before about above across against
along among around at behind below beneath beside between beyond by down during except from in inside into
like near of off on onto out outside over past through throughout to toward towards under underneath
upon with within without""".split())
_CLAUSE_END = (",", ";", ":", "—", "–")
_SENTENCE_END = (".", "?", "!", "…", '."', '?"', '!"')


class CueRules(ParamModel):
    """Reading rules for cues (the defaults are common broadcast and streaming practice)."""

    max_chars_per_line: int = Field(default=42, ge=10, le=80, description="characters per line")
    max_lines: int = Field(default=2, ge=1, le=3, description="lines per cue")
    max_cps: float = Field(default=17.0, gt=5, le=40, description="reading speed limit, characters per second")
    min_duration: float = Field(default=0.833, gt=0, le=5, description="shortest cue, seconds")
    max_duration: float = Field(default=7.0, ge=1, le=20, description="longest cue, seconds")
    min_gap_frames: int = Field(default=2, ge=0, le=12, description="frames between consecutive cues")


#: The broadcast reading rules as shipped (the captions step's defaults).
DEFAULT_RULES = CueRules()


@dataclass(frozen=True)
class Word:
    """A transcribed word with its time in seconds (from the first rendered frame)."""

    text: str
    start: float
    end: float


def _bare(word: str) -> str:
    return word.strip("\"'“”‘’()[]¿¡").lower()


def _capitalised(word: str) -> bool:
    core = word.lstrip("\"'“‘(")
    return bool(core) and core[0].isupper() and core.upper() != core.lower()


def _splits_name(left: str, right: str) -> bool:
    """Two capitalised words with no punctuation between them are taken as one name."""
    return _capitalised(left) and _capitalised(right) and not left.endswith((*_CLAUSE_END, *_SENTENCE_END))


def _break_cost(left: str, right: str) -> float:
    """How bad a line (or cue) break between ``left`` and ``right`` reads; inf where forbidden."""
    if _splits_name(left, right):
        return math.inf
    if left.endswith(_SENTENCE_END):
        return 0.0
    if left.endswith(_CLAUSE_END):
        return 1.0
    if _bare(right) in BREAK_BEFORE:
        return 2.5
    if _bare(left) in BREAK_BEFORE:  # "of | the house" strands a preposition
        return 8.0
    return 5.0


@lru_cache(maxsize=65536)
def _layout(words: tuple[str, ...], max_chars: int, max_lines: int) -> tuple[float, tuple[str, ...]] | None:
    """Best layout of ``words`` in the fewest lines that fit: (cost, lines), or None."""
    if len(" ".join(words)) <= max_chars:
        return 0.0, (" ".join(words),)
    best: tuple[float, tuple[str, ...]] | None = None
    for n_lines in range(2, max_lines + 1):
        best = _best_split(words, 0, n_lines, max_chars, len(" ".join(words)) / n_lines)
        if best is not None:
            return best
    return None


def _best_split(words: tuple[str, ...], at: int, n_lines: int, max_chars: int,
                ideal: float) -> tuple[float, tuple[str, ...]] | None:
    rest = words[at:]
    if n_lines == 1:
        text = " ".join(rest)
        return (abs(len(text) - ideal) / 4.0, (text,)) if rest and len(text) <= max_chars else None
    best: tuple[float, tuple[str, ...]] | None = None
    for k in range(at + 1, len(words)):
        line = " ".join(words[at:k])
        if len(line) > max_chars:
            break
        cost = _break_cost(words[k - 1], words[k])
        if math.isinf(cost):
            continue
        tail = _best_split(words, k, n_lines - 1, max_chars, ideal)
        if tail is None:
            continue
        # balance (a short top line is a little better than a short bottom line) + break quality
        total = cost + abs(len(line) - ideal) / 4.0 + (0.5 if len(line) > ideal else 0.0) + tail[0]
        if best is None or total < best[0]:
            best = (total, (line, *tail[1]))
    return best


def break_lines(words: Sequence[str], rules: CueRules = DEFAULT_RULES) -> tuple[str, ...] | None:
    """Lay out one cue's words in balanced lines broken at natural points (None: does not fit)."""
    found = _layout(tuple(words), rules.max_chars_per_line, rules.max_lines)
    return None if found is None else found[1]


def build_cues(words: Sequence[Word], rate: Fraction | float, rules: CueRules = DEFAULT_RULES,
               cuts: Sequence[float] = (), duration: float | None = None) -> list[Cue]:
    """Cues from timed words under ``rules``, frame-snapped at ``rate``, respecting shot ``cuts``.

    ``duration`` (seconds) is the end of the programme: no cue runs past it. Where the speech
    itself is faster than ``max_cps`` (words said faster than they can be read), a cue keeps its
    words and reads fast rather than drifting out of sync with the picture.
    """
    words = [w for w in words if w.text.strip()]
    if not words:
        return []
    fps = float(rate)
    cuts = sorted(float(c) for c in cuts)
    groups = _segment(words, fps, rules, cuts)
    return _time(groups, words, fps, rules, cuts, duration)


def _segment(words: list[Word], fps: float, rules: CueRules,
             cuts: list[float]) -> list[tuple[int, int, tuple[str, ...]]]:
    """Choose cue boundaries by dynamic programming: (first word, end word, lines) per cue."""
    n = len(words)
    texts = [w.text.strip() for w in words]
    gap_s = rules.min_gap_frames / fps
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    layout_of: dict[tuple[int, int], tuple[str, ...]] = {}
    best[0] = 0.0
    max_chars = rules.max_chars_per_line * rules.max_lines
    for j in range(1, n + 1):
        # the break after word j-1
        if j < n:
            end_cost = _break_cost(texts[j - 1], texts[j])
            pause = words[j].start - words[j - 1].end
            if not math.isinf(end_cost):
                # a cue break weighs more than a line break; a pause is a natural break
                end_cost = max(0.0, 2.0 * end_cost - 12.0 * min(pause, 0.5))
                if any(words[j - 1].end - 0.05 <= c <= words[j].start + 0.05 for c in cuts):
                    end_cost -= 2.0  # break on the picture cut
        else:
            end_cost = 0.0
        if math.isinf(end_cost):
            continue
        chars = -1
        for i in range(j - 1, -1, -1):
            chars += len(texts[i]) + 1
            if chars > max_chars and i < j - 1:
                break
            span = words[j - 1].end - words[i].start
            if span > rules.max_duration - 2 / fps and i < j - 1:
                break
            if math.isinf(best[i]):
                continue
            found = _layout(tuple(texts[i:j]), rules.max_chars_per_line, rules.max_lines)
            if found is None:
                if i < j - 1:
                    continue
                found = (20.0, (texts[i],))  # a single word longer than a line: shown as is
            layout_cost, lines = found
            # reading speed against the time this cue can stay up
            avail = (words[j].start - gap_s if j < n else words[j - 1].end + rules.max_duration) - words[i].start
            avail = max(min(avail, rules.max_duration), 1.0 / fps)
            cps = chars / max(avail, rules.min_duration)
            inner_stops = sum(t.endswith(_SENTENCE_END) for t in texts[i:j - 1])
            cost = best[i] + end_cost + layout_cost + 1.5 + 2.0 * inner_stops
            if cps > rules.max_cps:
                cost += 10.0 * (cps - rules.max_cps)
            if avail < rules.min_duration:  # too short to stay up: it would push the next cue late
                cost += 10.0 + 50.0 * (rules.min_duration - avail) / rules.min_duration
            if chars < 12 and j < n:
                cost += 1.0
            if cost < best[j]:
                best[j] = cost
                back[j] = i
                layout_of[(i, j)] = lines
    groups = []
    j = n
    while j > 0:
        i = back[j]
        groups.append((i, j, layout_of[(i, j)]))
        j = i
    return groups[::-1]


def _time(groups: list[tuple[int, int, tuple[str, ...]]], words: list[Word], fps: float, rules: CueRules,
          cuts: list[float], duration: float | None) -> list[Cue]:
    """Frame-snapped in and out points: speech-aligned, min/max duration, reading time, gaps, cuts."""
    min_f = math.ceil(rules.min_duration * fps - 1e-6)
    max_f = math.floor(rules.max_duration * fps + 1e-6)
    gap = rules.min_gap_frames
    margin_f = math.ceil(CUT_MARGIN * fps - 1e-6)
    cut_f = sorted({int(round(c * fps)) for c in cuts})
    end_limit = math.floor(duration * fps + 1e-6) if duration is not None else None
    spans: list[list[int]] = []
    prev_end = -gap

    def in_point(frame: int) -> int:
        # an in point a few frames before a cut starts on the cut instead (the last such cut)
        return max([c for c in cut_f if frame < c < frame + margin_f], default=frame)

    for k, (i, j, lines) in enumerate(groups):
        read_f = math.ceil(len(" ".join(lines)) / rules.max_cps * fps - 1e-6)
        next_limit: float = math.inf
        if k + 1 < len(groups):
            next_limit = in_point(int(round(words[groups[k + 1][0]].start * fps))) - gap
        start = in_point(max(int(round(words[i].start * fps)), prev_end + gap, 0))
        # up from the first word to the last, at least the minimum and the reading time,
        # at most the maximum, and off the screen before the next cue comes in
        end = max(math.ceil(words[j - 1].end * fps - 1e-6), start + min_f, start + read_f)
        end = int(max(min(end, start + max_f, next_limit), start + min_f))  # finite: start + max_f bounds it
        for c in cut_f:  # an out point a few frames after a cut ends on the cut, or holds past it
            if start < c < end and end - c < margin_f:
                end = c if c - start >= max(min_f, read_f) else min(c + margin_f, start + max_f)
        if end_limit is not None and end > end_limit:
            end = max(end_limit, start + 1)
        spans.append([start, end])
        prev_end = end
    return [Cue(s / fps, e / fps, lines) for (s, e), (_, _, lines) in zip(spans, groups)]
