"""Make the looks that ship in ``luts/``: a neutral film print emulation, and a warm and a cool one.

Run ``python luts/make_looks.py`` to regenerate ``print-neutral.cube``, ``print-warm.cube`` and
``print-cool.cube`` (33³, display Rec.709 gamma 2.4 in and out). The script is the source of
truth: the LUTs are its output, byte for byte (no randomness, fixed number formatting).

The print emulation works the way a film print does on exposure:

* the picture is taken back to light (gamma 2.4) and measured in stops from 18 % grey;
* a print's characteristic curve (a logistic in stops) lays it back down: a little more
  contrast through the mids, a long soft shoulder instead of a hard clip, and a print black
  just above zero;
* the curve is applied half to each channel (which saturates the mids like print stock) and
  half to luminance with the colour ratios kept (which keeps hues from skewing), so highlights
  roll off toward white without turning yellow or cyan;
* mid grey stays where it was, so the look sits on top of a balanced grade.

The warm and cool variants put a white balance shift (in light, before the curve) and a gentle
split-tone (warm highlights/cool shadows or the reverse) on the same print.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["LOOKS", "print_look", "write_cube"]

SIZE = 33
GAMMA = 2.4
GREY_DISPLAY = 0.18 ** (1 / GAMMA)
BLACK, WHITE = 0.012, 0.985
MID_CONTRAST = 1.15  # slope at mid grey relative to the untouched picture
LUMA = np.array([0.2126, 0.7152, 0.0722])


def _curve_params() -> tuple[float, float]:
    """Logistic slope ``c`` (per stop) and centre ``x0`` so grey stays put at MID_CONTRAST."""
    x_max = math.log2(1 / 0.18)
    target_slope = MID_CONTRAST * GREY_DISPLAY * math.log(2) / GAMMA

    def s(x: float, c: float, x0: float) -> float:
        return 1 / (1 + math.exp(-c * (x - x0)))

    c, x0 = 1.0, 0.0
    for _ in range(200):  # a small 2-D Newton with numeric derivatives; converges in a few steps
        def residual(c_: float, x0_: float) -> np.ndarray:
            top = s(x_max, c_, x0_)
            y0 = BLACK + (WHITE - BLACK) * s(0.0, c_, x0_) / top
            s0 = s(0.0, c_, x0_)
            slope = (WHITE - BLACK) * c_ * s0 * (1 - s0) / top
            return np.array([y0 - GREY_DISPLAY, slope - target_slope])

        r = residual(c, x0)
        if np.abs(r).max() < 1e-12:
            break
        h = 1e-6
        jac = np.column_stack([(residual(c + h, x0) - r) / h, (residual(c, x0 + h) - r) / h])
        c, x0 = np.array([c, x0]) - np.linalg.solve(jac, r)
    return float(c), float(x0)


def print_curve(light: np.ndarray) -> np.ndarray:
    """Display code value out for linear light in (0 … 1), through the print's logistic curve."""
    c, x0 = _curve_params()
    x = np.log2(np.maximum(light, 1e-7) / 0.18)
    top = 1 / (1 + math.exp(-c * (math.log2(1 / 0.18) - x0)))
    return BLACK + (WHITE - BLACK) * (1 / (1 + np.exp(-c * (x - x0)))) / top


def print_look(rgb: np.ndarray, warmth: float = 0.0) -> np.ndarray:
    """Apply the print look to display Rec.709 values (..., 3); ``warmth`` > 0 warm, < 0 cool."""
    light = np.clip(rgb, 0.0, 1.0) ** GAMMA
    if warmth:
        gains = np.array([1 + 0.06 * warmth, 1.0, 1 - 0.08 * warmth])
        light = light * gains / (gains @ LUMA)  # a white balance shift that keeps brightness
    per_channel = print_curve(light)
    lum = light @ LUMA
    lum_out = print_curve(lum)
    ratios = light / np.maximum(lum, 1e-7)[..., None]
    hue_kept = np.clip(lum_out[..., None] * ratios ** (1 / GAMMA), 0.0, 1.0)
    out = 0.5 * per_channel + 0.5 * hue_kept
    if warmth:
        # Split-tone: highlights toward the warmth, shadows the other way, mids untouched.
        y = out @ LUMA
        tone = np.array([0.012, 0.0, -0.015]) * warmth
        out = out + tone * (y - GREY_DISPLAY)[..., None] * 2.0
    return np.clip(out, 0.0, 1.0)


LOOKS = {
    "print-neutral": ("postbay neutral film print emulation (Rec.709 gamma 2.4 in and out)", 0.0),
    "print-warm": ("postbay warm print: neutral print, warmer balance, warm highlights (Rec.709 gamma 2.4)", 1.0),
    "print-cool": ("postbay cool print: neutral print, cooler balance, cool highlights (Rec.709 gamma 2.4)", -1.0),
}


def write_cube(path: Path, title: str, warmth: float, size: int = SIZE) -> None:
    """Write a ``.cube`` (red varies fastest, as the format requires)."""
    grid = np.linspace(0.0, 1.0, size)
    b, g, r = np.meshgrid(grid, grid, grid, indexing="ij")
    rgb = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    out = print_look(rgb, warmth)
    lines = [f'TITLE "{title}"', "# made by luts/make_looks.py: edit the script, not this file",
             f"LUT_3D_SIZE {size}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    lines += [f"{v[0]:.6f} {v[1]:.6f} {v[2]:.6f}" for v in out]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    here = Path(__file__).resolve().parent
    for name, (title, warmth) in LOOKS.items():
        write_cube(here / f"{name}.cube", title, warmth)
        print(f"wrote {here / (name + '.cube')}")


if __name__ == "__main__":
    main()
