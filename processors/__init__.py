"""postbay's built-in processors, one module per finishing step.

Importing this package registers every built-in with :data:`postbay.registry.BUILTINS`.
"""

from postbay.processors import basic, bed, captions, cleanup, loudness  # noqa: F401

__all__ = ["basic", "bed", "captions", "cleanup", "loudness"]
