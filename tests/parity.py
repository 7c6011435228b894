"""CPU/GPU parity: the backends by name, and the one check that a computation agrees on both.

The idiom is CuPy's own (``cupy.testing.numpy_cupy_allclose``): write the computation once,
taking the backend as its first argument, run it on NumPy and on CuPy, compare on the host.
Each test states its processor's tolerance: float32 sums in another order on the GPU, and
ties broken differently, are the only differences allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from postbay.backend import Backend, cupy_available, get_backend, numpy_backend

__all__ = ["GPU_REASON", "backend_named", "assert_backends_agree"]

GPU_REASON = "needs CuPy and a CUDA device"


def backend_named(name: str) -> Backend:
    """``"numpy"`` or ``"cupy"``; skips the test (with the reason) where CuPy has no CUDA device."""
    if name == "numpy":
        return numpy_backend()
    if name == "cupy":
        if not cupy_available():
            pytest.skip(GPU_REASON)
        return get_backend("required")
    raise ValueError(f"backend {name!r} is not one of numpy, cupy")


def _frames(result: Any, backend: Backend) -> list[np.ndarray]:
    """One array or a sequence of arrays (frames), brought to the host as float64."""
    parts = result if isinstance(result, Sequence) else [result]
    return [np.asarray(backend.to_host(part), np.float64) for part in parts]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of ``a`` against ``b``, both clipped to [0, 1] as an encoder would."""
    mse = np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def assert_backends_agree(fn: Callable[..., Any], *args: Any, atol: float = 0.0, rtol: float = 0.0,
                          min_psnr: float | None = None) -> None:
    """Run ``fn(backend, *args)`` on NumPy and on CuPy and assert the results agree.

    Parameters
    ----------
    fn
        The computation: takes the backend first, returns an array or a list of arrays (frames)
        on that backend or on the host.
    *args
        Host inputs, passed unchanged to both runs (``fn`` moves them with ``backend.asarray``).
    atol, rtol
        Per-pixel tolerance, as in ``numpy.testing.assert_allclose`` (CuPy's result against NumPy's).
    min_psnr
        Instead of a per-pixel bound: the mean PSNR (dB) of CuPy's frames against NumPy's must
        exceed this, for processors whose block-matching ties may break differently on the GPU.
    """
    gpu = backend_named("cupy")
    cpu = numpy_backend()
    expected, actual = _frames(fn(cpu, *args), cpu), _frames(fn(gpu, *args), gpu)
    assert len(actual) == len(expected), f"CuPy gave {len(actual)} frames, NumPy {len(expected)}"
    if min_psnr is not None:
        mean = float(np.mean([_psnr(a, e) for a, e in zip(actual, expected)]))
        assert mean > min_psnr, f"CuPy against NumPy: mean PSNR {mean:.1f} dB, needs > {min_psnr} dB"
        return
    for n, (a, e) in enumerate(zip(actual, expected)):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=f"frame {n}: CuPy differs from NumPy")
