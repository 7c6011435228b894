"""Inspect: measure what is wrong with a clip (noise, blocking, flicker, cadence, shake, shimmer,
colour, sound) and say what would fix it, for ``postbay inspect`` and the ``auto`` recipe."""

from postbay.inspect.clip import Thresholds, inspect_clip

__all__ = ["Thresholds", "inspect_clip"]
