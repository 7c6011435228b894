"""Finish one clip: probe → decode → recipe steps → encode → verify → publish → report.

The output is written under a temporary dot-name in the output folder, verified, then
renamed into place atomically; a failure leaves no output file, only ``NAME.report.json``
with ``status: "failed"`` and the reason. Inputs are never written over.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from postbay import __version__
from postbay.backend import Backend, get_backend
from postbay.colour import DEFAULT_CONFIG
from postbay.errors import MediaError, PostbayError, VerifyError
from postbay.media import (AudioPlan, MediaInfo, VideoReader, VideoWriter, frames_to_timecode, probe, read_audio,
                           source_is_bt709_limited, timecode_to_frames, to_rgb16)
from postbay.naming import ExistingOutput, failed_report_path, place_output, report_beside
from postbay.pipeline import Pipeline, run_stages
from postbay.recipe import Recipe
from postbay.registry import FrameFormat
from postbay.subtitles import Captions, write_sidecars
from postbay.verify import Expectation, verify_output

__all__ = ["FinishResult", "finish_clip", "output_paths", "write_json_atomic", "TEMP_MARK"]

#: Marks postbay's temporary files (dot-names, so watchers and NLEs ignore them).
TEMP_MARK = ".postbay-tmp"

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


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}{TEMP_MARK}-{os.getpid()}")
    try:
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=2, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def output_paths(source: Path, recipe: Recipe, out_dir: Path, name: str | None = None) -> tuple[Path, Path]:
    """(output file, report file) for a source under a recipe."""
    stem = (name or source.stem) + recipe.output.suffix
    container = recipe.output.resolved_container()
    return out_dir / f"{stem}.{container}", out_dir / f"{stem}.report.json"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PostbayError(f"cannot create the output folder: {exc.strerror}", path=out_dir) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise PostbayError("output folder is not writable", path=out_dir,
                           hint="choose another --out or fix its permissions")


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
                gpu: str = "auto", ocio_config: str = DEFAULT_CONFIG, start: int = 0, count: int | None = None,
                name: str | None = None, progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None, shared: dict[str, Any] | None = None,
                protected: Iterable[Path] = (), seed: int = 0, info: MediaInfo | None = None,
                existing: ExistingOutput = "overwrite") -> FinishResult:
    """Finish ``source`` with ``recipe`` into ``out_dir``; frames ``[start, start+count)`` only
    when given (a timeline's used range with handles).

    Returns a :class:`FinishResult` whose report says ``done``; raises :class:`PostbayError`
    after writing a ``failed`` report when something goes wrong.
    """
    source = Path(source)
    out_dir = Path(out_dir)
    t_start = time.perf_counter()
    out_path, report_path = output_paths(source, recipe, out_dir, name)
    placed = place_output(out_path, existing)  # ``existing``: see postbay.naming
    if placed is None:
        raise PostbayError("an output of this name exists and existing_output is \"skip\"", path=out_path)
    if placed != out_path:
        out_path, report_path = placed, report_beside(placed)
    report: dict[str, Any] = {
        "postbay": __version__, "status": "running", "error": None, "source": str(source),
        "output": None, "recipe": recipe.describe(), "started": _now(),
    }
    tmp_path = out_dir / f".{out_path.stem}{TEMP_MARK}-{os.getpid()}{out_path.suffix}"
    writer: VideoWriter | None = None
    try:
        _check_writable(out_dir)
        resolved_out = out_path.resolve()
        for p in [source, *protected]:
            if Path(p).resolve() == resolved_out:
                raise PostbayError("output would overwrite an input", path=out_path,
                                   hint="choose another --out folder")
        backend = backend or get_backend(gpu)  # type: ignore[arg-type]
        info = info or probe(source)
        video = info.require_video()
        report["input"] = info.to_dict()
        report["backend"] = backend.name
        reader = VideoReader(source, start=start, count=count, info=info)
        if reader.count <= 0:
            raise MediaError(f"no frames to render from frame {start}", path=source)
        fmt_in = FrameFormat(video.width, video.height, video.rate_fraction, reader.count, video.sar)
        report["range"] = {"start": start, "frames": reader.count}
        pipeline = Pipeline(recipe.steps, backend=backend, ocio_config=ocio_config, info=info, seed=seed,
                            shared={"range": dict(report["range"]), **(shared or {})})
        fmt_out = pipeline.output_format(fmt_in)
        timecode = _start_timecode(info, start)

        # Audio steps run first, in this thread, on the rendered range's audio (an empty signal when
        # the source has none, so steps such as captions can say so); they may leave frame steps that
        # need their result (captions → burn-in) to run last on the pictures.
        audio_plan = None
        start_s = video.start_time + start / float(video.rate_fraction)
        duration_s = fmt_out.frames / float(fmt_out.rate)
        samples = rate = None
        if pipeline.audio_steps:
            if info.audio:
                samples, rate = read_audio(source, start_s, duration_s)
            else:
                samples, rate = np.zeros((1, 0), np.float32), 48000
            processed = pipeline.process_audio(samples, rate)
            samples = None if processed is samples else processed  # untouched (captions only): copy as before
            if pipeline.shared.get("frame_steps"):
                pipeline.steps = [*pipeline.steps, *pipeline.shared.pop("frame_steps")]
                fmt_out = pipeline.output_format(fmt_in)
        if recipe.output.audio != "none" and info.audio:
            audio_plan = AudioPlan(source=source, mode=recipe.output.audio, start_seconds=start_s,
                                   duration=duration_s, samples=samples, sample_rate=rate)
        captions: Captions | None = pipeline.shared.get("captions")

        writer = VideoWriter(tmp_path, preset=recipe.output.codec, container=recipe.output.resolved_container(),
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
        has_audio = audio_plan is not None and (audio_plan.samples is None or audio_plan.samples.shape[-1] > 0)
        verification = verify_output(tmp_path, Expectation(
            width=fmt_out.width, height=fmt_out.height, rate=fmt_out.rate, frames=total, audio=has_audio,
            sample_aspect_ratio=fmt_out.sample_aspect_ratio, mode=recipe.output.verify))
        report["verification"] = verification.to_dict()
        if not verification.ok:
            raise VerifyError("verification failed: " + "; ".join(verification.problems), path=out_path)
        os.replace(tmp_path, out_path)
        if captions is not None and captions.cues:
            report["sidecars"] = [str(p) for p in write_sidecars(captions.cues, out_path)]
        elif captions is not None:  # no cues this time: no stale captions from an earlier render
            for stale in (out_path.with_suffix(".srt"), out_path.with_suffix(".vtt")):
                stale.unlink(missing_ok=True)
        elapsed = time.perf_counter() - t_start
        report.update({
            "status": "done", "output": str(out_path), "output_probe": {**verification.info.to_dict(), "path": str(out_path)},
            "frames": total, "seconds": round(elapsed, 3), "fps": round(total / elapsed, 2) if elapsed else None,
            "timings": pipeline.timer.self_times(), "notes": _jsonable(pipeline.notes), "finished": _now(),
        })
        write_json_atomic(report_path, report)
        return FinishResult(source, out_path, report_path, report)
    except BaseException as exc:
        if writer is not None:
            writer.abort()
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
