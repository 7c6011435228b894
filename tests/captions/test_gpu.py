"""GPU: burn-in on the CuPy backend matches the CPU; Whisper on CUDA float16 hears what the CPU hears."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from captions_media import SENTENCES, speech, word_error_rate
from parity import GPU_REASON, assert_backends_agree

from postbay.backend import cupy_available
from postbay.processors import captions as captions_mod
from postbay.processors.captions import BurnParams, burn_cues
from postbay.subtitles import Cue

pytestmark = pytest.mark.gpu


def test_burn_in_on_the_gpu_matches_the_cpu() -> None:
    cue = Cue(0.0, 2.0, ("Maria Lopez walked to the station", "because the train was late,"))
    frame = np.random.default_rng(0).uniform(0, 1, (720, 1280, 3)).astype(np.float32)
    assert_backends_agree(lambda backend: burn_cues(backend.asarray(frame.copy()), [cue], 5, Fraction(24), BurnParams(),
                                                    backend, {}), atol=1e-5)


@pytest.mark.skipif(not cupy_available(), reason=GPU_REASON)
def test_whisper_on_cuda_hears_what_the_cpu_hears(tmp_path) -> None:
    voice = speech(SENTENCES[1], tmp_path, wpm=160)
    cpu_words, _ = captions_mod.transcribe(voice, 48000, device="cpu")
    cuda_words, _ = captions_mod.transcribe(voice, 48000, device="cuda")
    cpu_text, cuda_text = (" ".join(w.text for w in ws) for ws in (cpu_words, cuda_words))
    assert word_error_rate(SENTENCES[1], cuda_text) <= 0.2
    assert word_error_rate(cpu_text, cuda_text) <= 0.1
