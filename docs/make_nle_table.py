"""Measure every real NLE export in tests/data/nle: reads, conforms, frame-accurate, writes back, loses.

    python docs/make_nle_table.py        # prints the markdown table of docs/timelines.md

The same run as tests/timeline/test_samples.py: stand-in media with the names, timecodes and
rates each timeline asks for (every frame shows its number), a ``passthrough`` conform, every
render decoded and its frame numbers compared, the timeline written back in its own format and
read back to list what the format lost (postbay's own per-clip notes, which no NLE format
holds, are left out). The last column names the OTIO adapter bugs postbay works around when
reading or writing that format (numbered as in docs/otio-adapter-findings.md).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from postbay.media import VideoReader  # noqa: E402
from postbay.synth import read_frame_number  # noqa: E402
from postbay.timeline.conform import conform_timeline  # noqa: E402
from postbay.timeline.reader import read_timeline  # noqa: E402
from tests.timeline.cuts import recipe_with  # noqa: E402
from tests.timeline.test_samples import SAMPLES, make_stand_ins  # noqa: E402

#: Findings of docs/otio-adapter-findings.md met by each format (reading or writing it).
WORKAROUNDS = {".aaf": "9 (8: not worked around)", ".fcpxml": "1–5, 10", ".xml": "6, 7, 10", ".edl": "none"}


def measure(path: Path, tmp: Path) -> list[str]:
    rate = 25 if path.name == "25fps.edl" else None
    try:
        loaded = read_timeline(path, rate=rate)
    except Exception as exc:  # the table reports a sample that does not read
        return [f"no: {exc}"] + ["–"] * 5
    clips = sum(len(list(tl.find_clips())) for tl in loaded.timelines)
    reads = f"yes: {len(loaded.timelines)} timeline(s), {clips} clips, {float(loaded.rate):.3f} fps"
    make_stand_ins(path, tmp / "media", rate)
    (tmp / "media").mkdir(exist_ok=True)
    result = conform_timeline(path, recipe_with(missing="skip"), tmp / "out", media_roots=[tmp / "media"], rate=rate,
                              workers=2)
    video = [p for p in result.clips if p.track_label.startswith("V")]
    done = sum(p.status == "conformed" for p in video)
    passed = sum(p.status == "passed through" for p in video)
    conforms = f"{done}/{len(video)} video clips" + (f" ({passed} generators passed through)" if passed else "")
    audio = [p for p in result.clips if p.track_label.startswith("A")]
    if audio:
        linked = sum(p.status in ("conformed", "passed through") for p in audio)
        conforms += f", {linked}/{len(audio)} audio clips linked"
    accurate = all([read_frame_number(p) for _, p in VideoReader(job.output)]
                   == list(range(job.start, job.start + job.count)) for job in result.jobs)
    frames = sum(job.count for job in result.jobs)
    native = next(w for w in result.written if w.format == result.loaded.format)
    written = "yes" if native.error is None else f"no: {native.error}"
    lost = "; ".join(n for n in native.lost if not n.startswith("postbay clip metadata")) or "nothing"
    checked = (f"{'yes' if accurate else 'NO'} ({frames} frames in {len(result.jobs)} renders)" if result.jobs
               else "– (nothing to render)")
    return [reads, conforms, checked, written, lost, WORKAROUNDS.get(path.suffix.lower(), "none")]


def main() -> None:
    print("| sample | reads | conforms | frame-accurate | writes back | what the written file loses "
          "| adapter findings for its format |")
    print("|---|---|---|---|---|---|---|")
    for path in SAMPLES:
        with tempfile.TemporaryDirectory() as tmp:
            row = measure(path, Path(tmp))
        print(f"| {path.parent.name}/{path.name} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
