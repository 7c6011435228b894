"""postbay: a finishing service for AI-generated video.

The core every part shares: configuration and recipes, media I/O, the frame pipeline,
verification and publishing, and the command line.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
