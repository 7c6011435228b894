"""postbay's built-in processors, one module per finishing step.

Importing this package registers every built-in with :data:`postbay.registry.BUILTINS`.
"""

from postbay.processors import basic  # noqa: F401
from postbay.processors import bed  # noqa: F401
from postbay.processors import captions  # noqa: F401
from postbay.processors import cleanup  # noqa: F401
from postbay.processors import deblock  # noqa: F401
from postbay.processors import deflicker  # noqa: F401
from postbay.processors import denoise  # noqa: F401
from postbay.processors import grade  # noqa: F401
from postbay.processors import grain  # noqa: F401
from postbay.processors import loudness  # noqa: F401
from postbay.processors import match  # noqa: F401
from postbay.processors import reframe  # noqa: F401
from postbay.processors import retime  # noqa: F401
from postbay.processors import soften  # noqa: F401
from postbay.processors import stabilise  # noqa: F401
from postbay.processors import upscale  # noqa: F401

__all__ = [
    "basic",
    "bed",
    "captions",
    "cleanup",
    "deblock",
    "deflicker",
    "denoise",
    "grade",
    "grain",
    "loudness",
    "match",
    "reframe",
    "retime",
    "soften",
    "stabilise",
    "upscale",
]
