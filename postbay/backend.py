"""Array backend: CuPy on a GPU, NumPy/SciPy on a CPU, one code path for processors.

Processors receive a :class:`Backend` and use ``backend.xp`` (the array module) and
``backend.ndimage`` (``scipy.ndimage`` or ``cupyx.scipy.ndimage``); they never import CuPy.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np
import scipy.ndimage

from postbay.errors import ConfigError

__all__ = ["CPU_WORKERS", "Backend", "GpuSetting", "cpu_pool", "cupy_available", "get_backend", "in_bands",
           "numpy_backend"]

GpuSetting = Literal["auto", "off", "required"]

#: Worker threads the CPU processors split large array work over.
CPU_WORKERS = max(1, min(4, os.cpu_count() or 1))


@functools.cache
def cpu_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The process's one pool of :data:`CPU_WORKERS` threads (NumPy releases the GIL in array work)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=CPU_WORKERS, thread_name_prefix=_POOL_PREFIX)


_POOL_PREFIX = "postbay-processors"


def in_bands(rows: int, work: Callable[[int, int], None], min_rows: int = 16) -> None:
    """Run ``work(r0, r1)`` over bands of ``rows`` on the CPU pool's threads, one band each.

    For work that releases the GIL (Numba kernels, OCIO, NumPy): the bands run side by side.
    Fewer than ``min_rows`` rows a band, or a call from one of the pool's own threads (which
    would wait on itself), run it in one piece on the calling thread.
    """
    n = min(CPU_WORKERS, max(1, rows // min_rows))
    if n == 1 or threading.current_thread().name.startswith(_POOL_PREFIX):
        work(0, rows)
        return
    bounds = [rows * i // n for i in range(n + 1)]
    list(cpu_pool().map(lambda i: work(bounds[i], bounds[i + 1]), range(n)))


@dataclass(frozen=True)
class Backend:
    """The array modules a processor works with."""

    name: Literal["cpu", "gpu"]
    xp: ModuleType
    ndimage: ModuleType

    def asarray(self, array: Any, dtype: Any = None) -> Any:
        """Move a host (NumPy) array onto this backend."""
        return self.xp.asarray(array, dtype=dtype)

    def to_host(self, array: Any) -> np.ndarray:
        """Bring an array of this backend back to the host as NumPy."""
        if self.name == "gpu":
            return self.xp.asnumpy(array)
        return np.asarray(array)

    @property
    def workers(self) -> int:
        """Threads worth splitting array work over: the CPU pool's, one on a GPU (it is parallel already)."""
        return CPU_WORKERS if self.name == "cpu" else 1

    @property
    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The shared CPU thread pool (see :func:`cpu_pool`)."""
        return cpu_pool()


@functools.cache
def numpy_backend() -> Backend:
    return Backend("cpu", np, scipy.ndimage)


@functools.cache
def cupy_available() -> bool:
    """True when CuPy imports and a CUDA device answers (importing CuPy alone proves nothing)."""
    try:
        import cupy
    except Exception:
        return False
    try:
        return bool(cupy.is_available())
    except Exception:
        return False


@functools.cache
def _cupy_backend() -> Backend:
    import cupy
    import cupyx.scipy.ndimage

    return Backend("gpu", cupy, cupyx.scipy.ndimage)


def get_backend(setting: GpuSetting = "auto") -> Backend:
    """Choose the backend for ``gpu = "auto" | "off" | "required"``."""
    if setting == "off":
        return numpy_backend()
    if setting not in ("auto", "required"):
        raise ConfigError(f"gpu = {setting!r} is not one of auto, off, required", hint='use gpu = "auto"')
    if cupy_available():
        return _cupy_backend()
    if setting == "required":
        raise ConfigError(
            "gpu = \"required\" but no CUDA device is usable through CuPy",
            hint='install postbay[gpu] on a machine with an NVIDIA GPU, or set gpu = "auto"',
        )
    return numpy_backend()
