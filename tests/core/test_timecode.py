"""Frame rates and timecode."""

from __future__ import annotations

from fractions import Fraction

from postbay.media import frames_to_timecode, snap_rate, timecode_to_frames


def test_rates_and_timecode():
    assert snap_rate(Fraction(2997, 125)) == Fraction(24000, 1001)
    assert snap_rate(23.976) == Fraction(24000, 1001)
    assert timecode_to_frames("01:00:00:00", Fraction(24)) == 86400
    assert frames_to_timecode(107892, Fraction(30000, 1001)) == "01:00:00;00"
    assert frames_to_timecode(86364 + 100, Fraction(24000, 1001)) == "01:00:02:16"
