"""postbay: a finishing service for AI-generated video.

The core every part shares: configuration and recipes (``config``, ``recipe``), media I/O
(``media``, ``synth``), the processor registry and its typed step context (``registry``), the
frame pipeline and the array backend (``pipeline``, ``backend``, ``colour``, ``cuts``), one clip's
render with verification and atomic publishing (``render``, ``verify``, ``publish``), and the
command-line shell (``cli``). The core imports none of the other folders; two documented
exceptions: ``registry.default_registry()`` imports ``postbay.processors`` so the built-ins
register, and ``cli`` (the shell) wires the commands of every part, importing them lazily.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
