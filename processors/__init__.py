"""postbay's built-in processors, one module per finishing step.

Importing this package registers every built-in with :data:`postbay.registry.BUILTINS`.
"""

from postbay.processors import basic  # noqa: F401
from postbay.processors import grade  # noqa: F401
from postbay.processors import match  # noqa: F401
from postbay.processors import retime  # noqa: F401
from postbay.processors import reframe  # noqa: F401

__all__ = ["basic", "grade", "match", "retime", "reframe"]
