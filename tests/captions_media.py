"""Real speech and clips for the captions and sound tests: espeak-ng voices, PyAV-encoded clips."""

from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from postbay.media import read_audio
from postbay.processors.cues import CUT_MARGIN, CueRules, Word
from postbay.subtitles import Cue
from postbay.synth import smooth_frame

SENTENCES = [
    "The harbour master counts the boats every morning. Some leave before sunrise, others wait for the tide.",
    "Maria Lopez walked to the station because the train was late, and then she called her brother in Paris.",
    "Our new camera records in low light without noise. It weighs less than a kilogram and fits in a pocket.",
]


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speech(text: str, tmp: Path, wpm: int = 160, rate: int = 48000, voice: str = "en-us") -> np.ndarray:
    """Mono speech of ``text`` (float32, at ``rate``) spoken by espeak-ng at ``wpm`` words a minute."""
    if not have_espeak():
        pytest.skip("espeak-ng is not installed (make system-deps installs it)")
    wav = tmp / f"speech-{abs(hash((text, wpm, voice)))}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text], check=True,
                   capture_output=True)
    samples, _ = read_audio(wav, rate=rate)
    return samples[:1]


def write_av_clip(path: Path, samples: np.ndarray | None, rate: int = 48000, *, fps: int = 24,
                  width: int = 160, height: int = 90, frames: int | None = None, pattern=smooth_frame,
                  audio_codec: str | None = None) -> Path:
    """Encode a clip whose audio is ``samples`` ((channels, n) float in [-1, 1]) with a moving picture."""
    if frames is None:
        frames = int(np.ceil(samples.shape[-1] / rate * fps))
    out = av.open(str(path), "w")
    vs = out.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    vs.options = {"preset": "ultrafast", "crf": "18"}
    astream = None
    if samples is not None:
        samples = np.atleast_2d(samples).astype(np.float32)
        codec = audio_codec or ("aac" if path.suffix == ".mp4" else "pcm_s16le")
        astream = out.add_stream(codec, rate=rate)
        astream.layout = "mono" if samples.shape[0] == 1 else "stereo"
        fmt = astream.codec_context.format
        total = int(round(frames / fps * rate))
        padded = np.zeros((samples.shape[0], total), np.float32)
        padded[:, : min(total, samples.shape[-1])] = samples[:, :total]
        for start in range(0, total, 1024):
            part = padded[:, start:start + 1024]
            if fmt.name == "s16":
                arr = (np.clip(part, -1, 1) * 32767).astype(np.int16).T.reshape(1, -1)
            else:
                arr = np.ascontiguousarray(part)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt.name, layout=astream.layout.name)
            af.sample_rate = rate
            af.pts = start
            af.time_base = Fraction(1, rate)
            out.mux(astream.encode(af))
    for i in range(frames):
        rgb = (np.clip(pattern(i, width, height), 0, 1) * 255).astype(np.uint8)
        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace="ITU709")
        vf.pts = i
        out.mux(vs.encode(vf))
    out.mux(vs.encode(None))
    if astream is not None:
        out.mux(astream.encode(None))
    out.close()
    return path


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference length."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))


def rule_violations(cues: list[Cue], words: list[Word], rules: CueRules, fps: Fraction,
                    cuts: list[float] = ()) -> list[str]:
    """Every rule a subtitler checks; returns what is broken (empty: the cues are acceptable)."""
    problems = []
    f = float(fps)
    gap = rules.min_gap_frames / f
    if " ".join(" ".join(c.lines) for c in cues).split() != [w.text for w in words]:
        problems.append("words lost, added or reordered")
    for k, c in enumerate(cues):
        tag = f"cue {k + 1} {c.lines}"
        for t in (c.start, c.end):
            if abs(t * f - round(t * f)) > 1e-6:
                problems.append(f"{tag}: {t} is not on a frame")
        if len(c.lines) > rules.max_lines:
            problems.append(f"{tag}: {len(c.lines)} lines")
        for line in c.lines:
            if len(line) > rules.max_chars_per_line:
                problems.append(f"{tag}: line of {len(line)} characters")
        for top, bottom in zip(c.lines, c.lines[1:]):
            a, b = top.split()[-1], bottom.split()[0]
            if a[0].isupper() and b[0].isupper() and not a.endswith((",", ".", "?", "!", ";", ":")):
                problems.append(f"{tag}: line break splits the name {a} {b}")
        duration = c.end - c.start
        if duration < rules.min_duration - 1e-6:
            problems.append(f"{tag}: {duration:.3f} s is too short")
        if duration > rules.max_duration + 1e-6:
            problems.append(f"{tag}: {duration:.3f} s is too long")
        nxt = cues[k + 1] if k + 1 < len(cues) else None
        if nxt is not None and nxt.start - c.end < gap - 1e-6:
            problems.append(f"{tag}: gap {nxt.start - c.end:.3f} s to the next cue")
        if c.characters / duration > rules.max_cps + 1e-6:
            # allowed only where the cue already stays up as long as it may
            held = (nxt is not None and abs(nxt.start - gap - c.end) < 1e-6) or duration >= rules.max_duration - 1e-6
            if not held:
                problems.append(f"{tag}: {c.characters / duration:.1f} cps though it could stay up longer")
        for cut in cuts:
            if c.start < cut < c.end and min(cut - c.start, c.end - cut) < CUT_MARGIN - 1 / f - 1e-6:
                problems.append(f"{tag}: straddles the cut at {cut:.3f} s by {min(cut - c.start, c.end - cut):.3f} s")
    # sync: each cue starts at its first word (give or take a frame), never long after
    position = 0
    for c in cues:
        first = words[position]
        position += len(" ".join(c.lines).split())
        if c.start < first.start - 1 / f - 1e-6 or c.start > first.start + CUT_MARGIN + 1e-6:
            problems.append(f"cue {c.lines}: starts at {c.start:.3f} s, its first word at {first.start:.3f} s")
    return problems


def ffmpeg_ebur128(samples: np.ndarray, rate: int) -> dict[str, float]:
    """FFmpeg's own EBU R128 meter (through PyAV's filter graph): integrated, LRA, true peak (dBTP)."""
    from av.filter import Graph

    x = np.ascontiguousarray(np.atleast_2d(samples).astype(np.float32))
    layout = {1: "mono", 2: "stereo"}[x.shape[0]]
    graph = Graph()
    src = graph.add_abuffer(format="fltp", sample_rate=rate, layout=layout)
    meter = graph.add("ebur128", "metadata=1:peak=true")
    sink = graph.add("abuffersink")
    src.link_to(meter)
    meter.link_to(sink)
    graph.configure()
    last = None
    for start in range(0, x.shape[-1], 4800):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x[:, start:start + 4800]), format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        graph.push(frame)
        while True:
            try:
                last = graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
    meta = dict(last.metadata)
    peak = float(meta["lavfi.r128.true_peak"])
    return {"integrated": float(meta["lavfi.r128.I"]), "lra": float(meta["lavfi.r128.LRA"]),
            "true_peak": 20 * np.log10(peak) if peak > 0 else -np.inf}
