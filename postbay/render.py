"""Finish one clip: probe → decode → recipe steps → encode → verify → publish → report.

The output is written under a temporary dot-name in the output folder, verified, then
renamed into place atomically; a failure leaves no output file, only ``NAME.report.json``
with ``status: "failed"`` and the reason. Inputs are never written over.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from postbay import __version__
from postbay.activity import ACTIVITY
from postbay.backend import Backend, get_backend
from postbay.colour import DEFAULT_OCIO_CONFIG
from postbay.cuts import clip_cuts
from postbay.errors import MediaError, PostbayError, VerifyError
from postbay.mastering import colour_report, master_preset
from postbay.media import (
    AudioPlan,
    MediaInfo,
    VideoReader,
    VideoWriter,
    frames_to_timecode,
    probe,
    read_audio,
    read_reference,
    snap_rate,
    source_is_bt709_limited,
    timecode_to_frames,
    to_rgb16,
)
from postbay.naming import ExistingOutput, OutputExists, failed_report_path, place_output, report_beside
from postbay.pipeline import Pipeline, run_stages
from postbay.publish import PublishError, publish_verified, temp_path, write_json_atomic
from postbay.recipe import Recipe, Step
from postbay.registry import FrameFormat
from postbay.sequence_writer import SequenceWriter, first_frame_number
from postbay.subtitles import Captions, write_sidecars
from postbay.verify import Expectation, Verification

__all__ = ["FinishResult", "finish_clip", "output_paths"]

Progress = Callable[[int, int], None]


@dataclass
class FinishResult:
    source: Path
    output: Path | None
    report_path: Path
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.report.get("status") == "done"


def output_paths(source: Path, recipe: Recipe, out_dir: Path, name: str | None = None) -> tuple[Path, Path]:
    """(output file, report file) for a source under a recipe; the output is a folder of numbered
    frames when the recipe writes a sequence (see :mod:`postbay.sequence_writer`)."""
    stem = (name or source.stem) + recipe.output.suffix
    if recipe.output.sequence:
        return out_dir / stem, out_dir / f"{stem}.report.json"
    container = recipe.output.resolved_container()
    return out_dir / f"{stem}.{container}", out_dir / f"{stem}.report.json"


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PostbayError(f"cannot create the output folder: {exc.strerror}", path=out_dir) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PostbayError("output folder is not writable", path=out_dir,
                           hint="choose another --out or fix its permissions")


def _resolve_auto(recipe: Recipe, source: Path, start: int, count: int | None, report: dict[str, Any],
                  report_path: Path) -> Recipe:
    """An ``auto`` recipe made concrete for this clip; the report keeps why, and the inspection
    is written beside it (``NAME.inspect.json`` and ``.html``, linked as ``inspection``)."""
    from postbay.auto import resolve_auto
    from postbay.inspect.files import write_inspection
    from postbay.registry import default_registry

    plan = resolve_auto(recipe, source, default_registry(), start=start, count=count)
    report["recipe"] = plan.recipe.describe()
    report["auto"] = plan.summary
    report["inspection"] = write_inspection({"clips": [plan.inspection]}, report_path)
    return plan.recipe


def _start_timecode(info: MediaInfo, start: int) -> str:
    rate = info.require_video().rate_fraction
    base = 0
    if info.timecode:
        try:
            base = timecode_to_frames(info.timecode, rate)
        except MediaError:
            base = 0
    return frames_to_timecode(base + start, rate, drop_frame=(";" in (info.timecode or "")) or None)


def finish_clip(source: str | Path, recipe: Recipe, out_dir: str | Path, *, backend: Backend | None = None,
                gpu: str = "auto", ocio_config: str = DEFAULT_OCIO_CONFIG, start: int = 0, count: int | None = None,
                name: str | None = None, progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None, reference: np.ndarray | None = None,
                cuts: Sequence[int] | None = None, protected: Iterable[Path] = (), seed: int = 0,
                info: MediaInfo | None = None, existing: ExistingOutput = "overwrite") -> FinishResult:
    """Finish ``source`` with ``recipe`` into ``out_dir``; frames ``[start, start+count)`` only
    when given (a timeline's used range with handles).

    ``reference`` is the picture(s) a step that reads a reference gets when its own parameter
    does not name a file (a timeline's hero shot for ``match``); ``cuts`` the range's shot cuts
    when the caller knows them (frames from ``start``), else the steps that need cuts get them
    from :mod:`postbay.cuts`. Every file a step names is decoded here, never by the processor.

    Returns a :class:`FinishResult` whose report says ``done``; raises :class:`PostbayError`
    after writing a ``failed`` report when something goes wrong.
    """
    source = Path(source)
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    out_path, report_path = output_paths(source, recipe, out_dir, name)
    folder = bool(recipe.output.sequence)  # a sequence's output is a folder: its name has no extension
    placed = place_output(out_path, existing, folder=folder)  # ``existing``: see postbay.naming
    if placed is None:
        raise OutputExists(out_path)
    if placed != out_path:
        out_path, report_path = placed, report_beside(placed, folder=folder)
    report: dict[str, Any] = {
        "postbay": __version__, "status": "running", "error": None, "source": str(source),
        "output": None, "recipe": recipe.describe(), "started": _now(),
    }
    tmp_path = temp_path(out_path)
    writer: VideoWriter | SequenceWriter | None = None
    sequence: SequenceWriter | None = None
    try:
        _check_writable(out_dir)
        resolved_out = out_path.resolve()
        for p in [source, *protected]:
            if Path(p).resolve() == resolved_out:
                raise PostbayError("output would overwrite an input", path=out_path,
                                   hint="choose another --out folder")
        backend = backend or get_backend(gpu)  # type: ignore[arg-type]
        ACTIVITY.begin("probing")
        # an image sequence plays at the recipe's rate (else 24); a movie carries its own
        info = info or probe(source, rate=snap_rate(Fraction(str(recipe.timeline.rate or 0))))
        video = info.require_video()
        report["input"] = info.to_dict()
        report["colour"] = colour_report(info)
        report["backend"] = backend.name
        if recipe.auto is not None:
            recipe = _resolve_auto(recipe, source, start, count, report, report_path)
        reader = VideoReader(source, start=start, count=count, info=info)
        if reader.count <= 0:
            raise MediaError(f"no frames to render from frame {start}", path=source)
        fmt_in = FrameFormat(video.width, video.height, video.rate_fraction, reader.count, video.sar)
        report["range"] = {"start": start, "frames": reader.count}
        pipeline = Pipeline(recipe.steps, backend=backend, ocio_config=ocio_config, info=info, seed=seed,
                            cuts=tuple(int(c) for c in cuts) if cuts is not None else None,
                            references=_references(recipe, reference))
        if pipeline.cuts is None and any(s.processor.needs_cuts for s in pipeline.audio_steps):
            pipeline.cuts = tuple(clip_cuts(source, start, reader.count))  # audio steps run before the pictures
        fmt_out = pipeline.output_format(fmt_in)
        timecode = _start_timecode(info, start)

        # Audio steps run first, in this thread, on the rendered range's audio (an empty signal when
        # the source has none, so steps such as captions can say so); a frame step may need their
        # result (captions → burn-in, added last by the recipe).
        audio_plan = None
        start_s = video.start_time + start / float(video.rate_fraction)
        duration_s = fmt_out.frames / float(fmt_out.rate)
        samples = rate = None
        if pipeline.audio_steps:
            ACTIVITY.begin("audio")
            if info.audio:
                samples, rate = read_audio(source, start_s, duration_s)
            else:
                samples, rate = np.zeros((1, 0), np.float32), 48000
            pipeline.music = _music(pipeline.audio_steps, rate)
            processed = pipeline.process_audio(samples, rate)
            samples = None if processed is samples else processed  # untouched (captions only): copy as before
        if recipe.output.audio != "none" and info.audio:
            audio_plan = AudioPlan(source=source, mode=recipe.output.audio, start_seconds=start_s,
                                   duration=duration_s, samples=samples, sample_rate=rate)
        captions: Captions | None = pipeline.captions

        preset, preset_note = master_preset(recipe.output.codec, info, processed=bool(pipeline.frame_steps))
        if preset_note:
            report["colour"]["master"] = preset_note
        if recipe.output.sequence:
            sequence = SequenceWriter(out_path, recipe.output.sequence, width=fmt_out.width, height=fmt_out.height,
                                      first=first_frame_number(info, start, recipe.output.sequence_start),
                                      ocio_config=ocio_config)
            if audio_plan is not None:
                report["output_note"] = "an image sequence holds no sound: the source's audio is not written"
        writer = sequence or VideoWriter(tmp_path, preset=preset, container=recipe.output.resolved_container(),
                             width=fmt_out.width, height=fmt_out.height, rate=fmt_out.rate,
                             sample_aspect_ratio=fmt_out.sample_aspect_ratio, timecode=timecode, reel=info.reel,
                             audio=audio_plan, metadata={"encoder_settings": f"postbay {__version__} {recipe.name}"},
                             subtitles=captions.cues if captions and captions.soft_track else None,
                             subtitle_language=captions.language if captions else None)
        total = fmt_out.frames
        done = 0

        def sink(picture: Any) -> None:
            nonlocal done
            writer.write(picture)  # type: ignore[union-attr]
            done += 1
            if progress is not None:
                progress(done, total)

        ACTIVITY.begin("rendering", pipeline.current_step)
        if pipeline.frame_steps:
            run_stages((p for _, p in reader), lambda frames: pipeline.process(frames, fmt_in), sink,
                       cancelled=cancelled)
        else:
            # Pass-through: BT.709 YUV goes straight to the encoder's YUV, no RGB round trip.
            def frames_direct() -> Iterator[Any]:
                for _, frame in reader.av_frames():
                    yield frame if source_is_bt709_limited(frame) else to_rgb16(frame)

            run_stages(frames_direct(), lambda frames: frames, sink, cancelled=cancelled)
        writer.close()
        writer = None

        if done != total:
            raise VerifyError(f"{done} frames rendered, {total} promised", path=source)
        ACTIVITY.begin("verifying")
        has_audio = audio_plan is not None and (audio_plan.samples is None or audio_plan.samples.shape[-1] > 0)
        verification: Verification | None
        if sequence is not None:
            verification = sequence.publish(total, full=recipe.output.verify == "full")
            verification.info = probe(out_path, rate=fmt_out.rate)
        else:
            verification = publish_verified(tmp_path, out_path, Expectation(
                width=fmt_out.width, height=fmt_out.height, rate=fmt_out.rate, frames=total, audio=has_audio,
                sample_aspect_ratio=fmt_out.sample_aspect_ratio, mode=recipe.output.verify))
        # media always has an expectation, and a passed verification carries its probe
        assert verification is not None and verification.info is not None
        report["verification"] = verification.to_dict()
        ACTIVITY.begin("publishing")
        if captions is not None and captions.cues:
            report["sidecars"] = [str(p) for p in write_sidecars(captions.cues, out_path)]
        elif captions is not None:  # no cues this time: no stale captions from an earlier render
            for stale in (out_path.with_suffix(".srt"), out_path.with_suffix(".vtt")):
                stale.unlink(missing_ok=True)
        elapsed = time.perf_counter() - t_start
        report.update({
            "status": "done", "output": str(out_path),
            "output_probe": {**verification.info.to_dict(), "path": str(out_path)},
            "frames": total, "seconds": round(elapsed, 3), "fps": round(total / elapsed, 2) if elapsed else None,
            "timings": pipeline.timer.self_times(), "notes": _jsonable(pipeline.notes), "finished": _now(),
        })
        write_json_atomic(report_path, report)
        return FinishResult(source, out_path, report_path, report)
    except BaseException as exc:
        if isinstance(exc, PublishError):
            report["verification"] = exc.verification.to_dict()
        if writer is not None:
            writer.abort()
        if sequence is not None:
            sequence.abort()  # closed, but not published: its temporary folder goes
        else:
            tmp_path.unlink(missing_ok=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        error = exc if isinstance(exc, PostbayError) else PostbayError(
            f"{type(exc).__name__}: {exc}", path=source)
        if isinstance(exc, OSError) and exc.errno == 28:
            error = PostbayError("disk full (no space left on device)", path=out_dir)
        report.update({"status": "failed", "error": str(error), "finished": _now(),
                       "seconds": round(time.perf_counter() - t_start, 3)})
        if not isinstance(exc, PostbayError):
            report["traceback"] = traceback.format_exception_only(type(exc), exc)
        try:
            failed_report = failed_report_path(report_path)
            failed_report.parent.mkdir(exist_ok=True)
            write_json_atomic(failed_report, report)
        except OSError:
            pass  # the folder itself is the problem; the error says so
        if error is exc:
            raise
        raise error from exc


def _named_file(step: Step) -> str | None:
    """The media file a ``reads`` step's parameter names, if it names one (not None or "hero")."""
    value = getattr(step.params, step.processor.reads or "", None)
    return value if isinstance(value, str) and value != "hero" else None


def _references(recipe: Recipe, given: np.ndarray | None) -> dict[int, np.ndarray]:
    """Decoded reference pictures of the picture steps that read one, by step index."""
    out: dict[int, np.ndarray] = {}
    for step in recipe.steps:
        if step.processor.reads is None or step.processor.kind == "audio":
            continue
        path = _named_file(step)
        picture = read_reference(path) if path else given
        if picture is not None:
            out[step.index] = picture if picture.ndim == 4 else picture[None]
    return out


def _music(steps: list[Step], rate: int) -> dict[int, np.ndarray]:
    """Decoded sound, at the clip's rate, of the audio steps that read a file, by step index."""
    return {step.index: read_audio(path, rate=rate)[0] for step in steps
            if step.processor.reads is not None and (path := _named_file(step))}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
