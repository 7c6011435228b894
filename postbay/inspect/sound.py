"""Inspect a clip's sound: loudness, true peak, clipping and silences, a minute at a time.

Silent sound reads ``None`` for loudness and true peak (JSON has no −∞).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from postbay.media import probe, read_audio
from postbay.meters import gated_loudness, momentary_powers, true_peak

__all__ = ["CHUNK_SECONDS", "inspect_audio"]

#: Audio is decoded and metered this many seconds at a time (memory stays flat).
CHUNK_SECONDS = 60.0
#: A sample at or above this magnitude is at digital full scale.
_FULL_SCALE = 0.999
#: Quieter than this (RMS over 100 ms, dBFS) is silence; silences shorter than a second are pauses.
_SILENCE_DB = -60.0
_SILENCE_SECONDS = 1.0


def _spans(times: list[float], join: float) -> list[list[float]]:
    out: list[list[float]] = []
    for t in times:
        if out and t - out[-1][1] <= join:
            out[-1][1] = t
        else:
            out.append([t, t])
    return out


def inspect_audio(path: str | Path, start_seconds: float = 0.0, duration: float | None = None) -> dict[str, Any]:
    """Loudness (LUFS, BS.1770), true peak (dBTP), clipped stretches and silences (seconds from
    ``start_seconds``) of a clip's first audio stream, with problems in plain words."""
    path = Path(path)
    if duration is None:
        info = probe(path)
        duration = max((a.duration for a in info.audio), default=info.duration) - start_seconds
    powers: list[np.ndarray] = []
    peak = -math.inf
    clipped: list[float] = []
    quiet: list[float] = []
    momentary: list[float] = []
    rate = 48000
    offset = 0.0
    while offset < duration - 1e-6:
        length = min(CHUNK_SECONDS, duration - offset)
        samples, rate = read_audio(path, start_seconds + offset, length)
        if samples.shape[-1] == 0:
            break
        block = momentary_powers(samples, rate)
        powers.append(block)
        momentary += [round(float(-0.691 + 10 * np.log10(max(p, 1e-12))), 1) for p in block[::5]]
        peak = max(peak, true_peak(samples))
        hop = int(rate * 0.1)
        n = samples.shape[-1] // hop
        if n:
            hops = samples[:, :n * hop].reshape(samples.shape[0], n, hop)
            full = np.nonzero(np.abs(hops).max(axis=(0, 2)) >= _FULL_SCALE)[0]
            clipped += [round(offset + i * 0.1, 1) for i in full]
            rms = np.sqrt(np.mean(hops.astype(np.float64) ** 2, axis=(0, 2)))
            quiet += [round(offset + i * 0.1, 1) for i in np.nonzero(20 * np.log10(np.maximum(rms, 1e-12))
                                                                      < _SILENCE_DB)[0]]
        offset += length
    loudness = gated_loudness(np.concatenate(powers)) if powers else -math.inf
    clip_spans = [[a, round(b + 0.1, 1)] for a, b in _spans(clipped, 0.2)]
    silences = [[a, round(b + 0.1, 1)] for a, b in _spans(quiet, 0.11) if b + 0.1 - a >= _SILENCE_SECONDS]
    found: list[dict[str, Any]] = []
    for a, b in clip_spans:
        found.append({"kind": "audio clipping", "frames": [], "seconds": [a, b], "severity": "high",
                      "message": f"audio hits full scale (clipped) at {a:.1f}–{b:.1f} s"})
    for a, b in silences:
        found.append({"kind": "silence", "frames": [], "seconds": [a, b], "severity": "low",
                      "message": f"silence from {a:.1f} to {b:.1f} s"})
    if math.isfinite(peak) and peak > -1.0 and not clip_spans:
        found.append({"kind": "true peak", "frames": [], "seconds": [], "severity": "medium",
                      "message": f"true peak {peak:.1f} dBTP is over the −1 dBTP delivery ceiling"})
    return {"loudness": round(loudness, 2) if math.isfinite(loudness) else None,
            "true_peak": round(peak, 2) if math.isfinite(peak) else None,
            "sample_rate": rate, "clipping": clip_spans, "silence": silences,
            "momentary": momentary, "problems": found}
