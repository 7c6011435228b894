"""postbay's built-in processors, one module per finishing step.

Each step is a pure function over frames (or audio samples) written once against the array
module the backend hands it (NumPy/SciPy on a CPU, CuPy on a GPU), with typed parameters and a
declared window and colour space. A processor imports only the core: it never opens a file,
touches the ledger or the network; what it needs from outside (cuts, a reference picture, music)
arrives decoded in its :class:`~postbay.registry.StepContext`. Importing this package registers
every built-in with :data:`postbay.registry.BUILTINS`.
"""

from postbay.processors import (
    bed,  # noqa: F401
    captions,  # noqa: F401
    cleanup,  # noqa: F401
    deblock,  # noqa: F401
    deflicker,  # noqa: F401
    denoise,  # noqa: F401
    grade,  # noqa: F401
    grain,  # noqa: F401
    loudness,  # noqa: F401
    match,  # noqa: F401
    primaries,  # noqa: F401
    reframe,  # noqa: F401
    retime,  # noqa: F401
    soften,  # noqa: F401
    upscale,  # noqa: F401
)

__all__ = [
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
    "primaries",
    "reframe",
    "retime",
    "soften",
    "upscale",
]
