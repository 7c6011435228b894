"""AAF clip gain and volume automation read as the clip's level.

Avid wraps every audio clip in a "Mono Audio Gain" OperationGroup whose "Amplitude multiplier"
is the clip gain (a constant) or its volume automation (keyframes). OTIO's AAF adapter keeps
it in the effect's ``metadata["AAF"]`` and applies neither. The sample 2997fps-DFTC.aaf carries
unity gain on its six audio clips; a copy edited with pyaaf2 (the adapter's own AAF library)
carries −6 dB on one and a ramp on another.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import aaf2
import numpy as np
import pytest

from postbay.timeline.levels import clip_envelope
from postbay.timeline.reader import read_timeline

from .cuts import NLE_SAMPLES

SAMPLE = NLE_SAMPLES / "avid" / "2997fps-DFTC.aaf"


def _audio_clips(path: Path) -> list:  # type: ignore[type-arg]
    tl = read_timeline(path).timelines[0]
    return [c for t in tl.audio_tracks() for c in t.find_clips()]


def test_the_avid_sample_reads_unity_clip_gain() -> None:
    clips = _audio_clips(SAMPLE)
    assert len(clips) == 6
    envelopes = [clip_envelope(c) for c in clips]
    assert all(e is not None and e.values == (1.0,) and not e.db for e in envelopes)
    assert "Mono Audio Gain Amplitude multiplier" in envelopes[0].how  # type: ignore[union-attr]


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """The sample with A1's gain at 1/2 and A2's automation rising 0.25 → 1 over its first half."""
    path = tmp_path / "gain.aaf"
    shutil.copy(SAMPLE, path)
    with aaf2.open(str(path), "rw") as f:
        mob = next(f.content.compositionmobs())
        groups = {slot.slot_id: c for slot in mob.slots for c in getattr(slot.segment, "components", [slot.segment])
                  if isinstance(c, aaf2.components.OperationGroup)}
        list(groups[2].parameters)[0].value = Fraction(1, 2)
        name = list(groups[3].parameters)[0].parameterdef.name
        f.dictionary.register_def(f.create.InterpolationDef(aaf2.misc.LinearInterp, "LinearInterp", "Linear"))
        ramp = f.create.VaryingValue(name, "LinearInterp")
        ramp.add_keyframe(Fraction(0), Fraction(1, 4))
        ramp.add_keyframe(Fraction(1, 2), Fraction(1))
        groups[3]["Parameters"].value = [ramp]
    return path


def test_clip_gain_and_volume_automation_are_read(edited: Path) -> None:
    gain, ramp, *rest = [clip_envelope(c) for c in _audio_clips(edited)]
    assert gain is not None and gain.values == (0.5,)
    np.testing.assert_allclose(20 * np.log10(gain.gain(np.array([0.0, 50.0]))), [-6.02, -6.02], atol=0.01)
    assert ramp is not None and "2 keyframes followed" in ramp.how
    length = 2989 * 1001 / 30000  # the group's Length in seconds at 29.97
    at = np.array([0.0, length / 4, length / 2, length * 0.9])
    np.testing.assert_allclose(ramp.gain(at), [0.25, 0.625, 1.0, 1.0], rtol=1e-3)
    assert all(e is not None and e.values == (1.0,) for e in rest)
