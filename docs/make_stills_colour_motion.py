"""Make the before/after stills of docs/processors.md from the test media.

Run ``python docs/make_stills_colour_motion.py`` (needs the dev extras: scikit-image ships the
photographs). Writes small PNGs into ``docs/stills/``; each is "before | after" side by side.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "processors"))

from media import pan_clip, photo  # noqa: E402

from postbay.backend import numpy_backend  # noqa: E402
from postbay.processors.grade import CDL, GradeParams, apply_cdl, grade  # noqa: E402
from postbay.processors.match import match_cdl  # noqa: E402
from postbay.processors.reframe import ReframeParams, reframe, reframe_format  # noqa: E402
from postbay.processors.retime import RetimeParams, retime, retime_format  # noqa: E402
from postbay.registry import FrameFormat, StepContext  # noqa: E402

OUT = Path(__file__).resolve().parent / "stills"


def _ctx(frames, fmt_out=None):
    h, w = frames[0].shape[:2]
    fmt = FrameFormat(w, h, Fraction(24), len(frames))
    return StepContext(numpy_backend(), fmt, fmt_out or fmt), fmt


def _save(name: str, *pictures: np.ndarray) -> None:
    h = max(p.shape[0] for p in pictures)
    padded = [np.pad(p, ((0, h - p.shape[0]), (0, 4), (0, 0))) for p in pictures]
    strip = np.concatenate(padded, axis=1)[:, :-4]
    Image.fromarray((np.clip(strip, 0, 1) * 255 + 0.5).astype(np.uint8)).save(OUT / f"{name}.png", optimize=True)
    print(f"wrote {OUT / name}.png")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    img = photo("coffee")[::2, ::2]
    ctx, _ = _ctx([img])
    _save("grade", img, grade([img], ctx, GradeParams(lut="print-neutral")),
          grade([img], ctx, GradeParams(lut="print-warm")), grade([img], ctx, GradeParams(lut="print-cool")))

    full = photo("rocket")[::2, ::2]
    w = full.shape[1]
    reference, clean = full[:, : int(w * 0.6)], full[:, int(w * 0.4):]
    shot = np.clip(apply_cdl(clean, CDL(slope=(0.9, 1.08, 1.0), offset=(0.0, 0.03, 0.02), sat=0.8)), 0, 1)
    _save("match", reference, shot, np.clip(apply_cdl(shot, match_cdl([shot], reference)), 0, 1))

    truth = pan_clip(4, 256, 192, 4.0)
    src = truth[0::2]
    params = RetimeParams(fps=48)
    ctx, fmt = _ctx(src)
    ctx.fmt_out = retime_format(params, fmt)
    motion = list(retime(iter(src), ctx, params))[1]
    blend = 0.5 * (src[0] + src[1])
    _save("retime", blend, motion, truth[1])

    frames = [photo("chelsea")[:, :446]] * 30  # a 446x300 still (the cat off-centre)
    params = ReframeParams(aspect="9:16", width=90, height=160)
    ctx, fmt = _ctx(frames)
    ctx.fmt_out = reframe_format(params, fmt)
    _save("reframe", frames[0], list(reframe(iter(frames), ctx, params))[0])


if __name__ == "__main__":
    main()
