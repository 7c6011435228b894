"""A CuPy-shaped backend on the CPU: what would break on a GPU breaks here first.

CuPy's arrays live on the device. They refuse implicit conversion to NumPy (``np.asarray``
raises), refuse arithmetic with host arrays, and ``cupy`` / ``cupyx.scipy.ndimage`` lack some
of NumPy's and SciPy's functions. :func:`strict_backend` wraps NumPy and SciPy the same way:
its arrays are :class:`DeviceArray` (NumPy inside, but ``__array__`` raises and a host array
in an operation raises), its ``xp`` and ``ndimage`` expose only what CuPy and cupyx provide.
Moving data is explicit, as on the GPU: ``xp.asarray(host)`` uploads, ``xp.asnumpy(a)``,
``a.get()`` or ``backend.to_host(a)`` download; ``float(a)`` of one value is allowed (CuPy
synchronises for it).

Results are NumPy's to the last bit, so a processor's parity test compares the strict run
with the NumPy run at the tolerance it already states for CuPy.
"""

from __future__ import annotations

import functools
import operator
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.ndimage

from postbay.backend import Backend

__all__ = ["CUPY_LACKS", "CUPYX_NDIMAGE_LACKS", "DeviceArray", "HostDeviceMixing", "strict_backend"]

#: NumPy names that CuPy does not provide (its comparison table; the ones a processor might reach for).
CUPY_LACKS = frozenset({
    "errstate", "seterr", "geterr", "nditer", "ndenumerate", "ndindex", "frompyfunc", "asmatrix", "matrix",
    "einsum_path", "ma", "char", "rec", "memmap", "fromfile", "fromregex", "loadtxt", "genfromtxt",
    "busday_count", "busday_offset", "is_busday", "datetime_as_string", "nested_iters", "ctypeslib", "emath",
})
#: scipy.ndimage functions that cupyx.scipy.ndimage does not provide.
CUPYX_NDIMAGE_LACKS = frozenset({
    "geometric_transform", "find_objects", "watershed_ift", "distance_transform_bf", "distance_transform_cdt",
    "value_indices",
})


class HostDeviceMixing(TypeError):
    """A host (NumPy) array met a device array, or a device array was converted implicitly."""


def _unwrap(value: Any, where: str) -> Any:
    """The NumPy array inside a device array; host arrays refused, containers searched."""
    if isinstance(value, DeviceArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise HostDeviceMixing(f"{where}: a host numpy.ndarray {value.shape} mixed with device arrays "
                               "(move it with xp.asarray first, as CuPy requires)")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, where) for k, v in value.items()}
    return value


def _wrap(value: Any) -> Any:
    """NumPy results back on the 'device' (arrays, tuples of arrays, random generators)."""
    if isinstance(value, np.ndarray):
        return DeviceArray(value)
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, np.random.Generator):
        return _Proxy(value, "Generator")
    return value


def _device_call(fn: Callable[..., Any], where: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(fn(*_unwrap(args, where), **_unwrap(kwargs, where)))

    return call


class _Proxy:
    """An object whose methods take and give device arrays (a ufunc, a random generator)."""

    def __init__(self, inner: Any, name: str):
        self._inner = inner
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _device_call(self._inner, self._name)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        return _device_call(attr, f"{self._name}.{name}") if callable(attr) else attr


class _IndexGrid:
    """``xp.mgrid`` / ``xp.ogrid``: index tricks whose results are device arrays."""

    def __init__(self, inner: Any):
        self._inner = inner

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._inner[key])


_ARRAY_FUNCTIONS = {"asarray", "array", "asanyarray", "ascontiguousarray"}


class _DeviceModule(types.ModuleType):
    """A module with NumPy's (or SciPy's) functions on device arrays, less what CuPy lacks."""

    def __init__(self, inner: types.ModuleType, name: str, lacks: frozenset[str]):
        super().__init__(name)
        self._inner = inner
        self._lacks = lacks

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in self._lacks:
            raise AttributeError(f"{self.__name__} has no attribute {name!r} (CuPy does not provide it)")
        attr = getattr(self._inner, name)
        if name in _ARRAY_FUNCTIONS:
            return _upload(attr)
        if isinstance(attr, np.ufunc):
            return _Proxy(attr, f"{self.__name__}.{name}")
        if isinstance(attr, types.ModuleType):
            return _DeviceModule(attr, f"{self.__name__}.{name}", self._lacks)
        if name in ("mgrid", "ogrid"):
            return _IndexGrid(attr)
        if isinstance(attr, type) or not callable(attr):
            return attr  # dtypes, constants
        return _device_call(attr, f"{self.__name__}.{name}")


def _upload(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``xp.asarray`` and friends: the one place a host array may enter (an upload)."""

    def upload(obj: Any, *args: Any, **kwargs: Any) -> DeviceArray:
        if isinstance(obj, DeviceArray):  # already on the device: as CuPy, no copy unless asked
            return DeviceArray(fn(obj._a, *args, **kwargs))
        return DeviceArray(np.array(fn(obj, *args, **kwargs)))  # an upload is a copy

    return upload


def _asnumpy(a: Any) -> np.ndarray:
    return np.array(a._a) if isinstance(a, DeviceArray) else np.asarray(a)


class DeviceArray:
    """A NumPy array that behaves like a CuPy array: no implicit conversion, no host operands."""

    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, array: np.ndarray):
        self._a = array

    # Conversions CuPy refuses, and the ones it allows.
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise HostDeviceMixing("implicit conversion of a device array to NumPy is not allowed "
                               "(use backend.to_host, as with CuPy)")

    def get(self) -> np.ndarray:
        return np.array(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __index__(self) -> int:
        return operator.index(self._a)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Iterator[Any]:
        return (_wrap(v) for v in self._a)

    def __repr__(self) -> str:
        return f"DeviceArray({self._a!r})"

    # NumPy's protocols: a NumPy function or ufunc called on a device array runs "on the device".
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        where = f"numpy.{ufunc.__name__}"
        out = kwargs.pop("out", None)
        if out is not None:
            kwargs["out"] = _unwrap(out, where)
        result = getattr(ufunc, method)(*_unwrap(inputs, where), **_unwrap(kwargs, where))
        return out[0] if out is not None and len(out) == 1 else _wrap(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        if func.__name__ in CUPY_LACKS:
            raise AttributeError(f"CuPy has no {func.__name__}")
        return _device_call(func, f"numpy.{func.__name__}")(*args, **kwargs)

    # Attributes and methods: NumPy's, on device arrays.
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # no __array_interface__ / __array_struct__ / buffer: device memory
            raise AttributeError(name)
        attr = getattr(self._a, name)
        return _device_call(attr, f"ndarray.{name}") if callable(attr) else _wrap(attr)

    def __getitem__(self, key: Any) -> Any:
        # CuPy takes host index arrays (it uploads them); values are another matter.
        if isinstance(key, tuple):
            key = tuple(k._a if isinstance(k, DeviceArray) else k for k in key)
        elif isinstance(key, DeviceArray):
            key = key._a
        return _wrap(self._a[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, tuple):
            key = tuple(k._a if isinstance(k, DeviceArray) else k for k in key)
        elif isinstance(key, DeviceArray):
            key = key._a
        self._a[key] = _unwrap(value, "ndarray.__setitem__")


def _binary(name: str) -> Callable[[DeviceArray, Any], Any]:
    def op(self: DeviceArray, other: Any) -> Any:
        result = getattr(self._a, name)(_unwrap(other, f"ndarray.{name}"))
        if result is NotImplemented:
            return result
        return self if name.startswith("__i") else _wrap(result)

    op.__name__ = name
    return op


def _unary(name: str) -> Callable[[DeviceArray], Any]:
    def op(self: DeviceArray) -> Any:
        return _wrap(getattr(self._a, name)())

    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        setattr(DeviceArray, _form, _binary(_form))
for _form in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
    setattr(DeviceArray, _form, _binary(_form))
for _form in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(DeviceArray, _form, _unary(_form))
DeviceArray.__hash__ = None  # type: ignore[assignment]


@functools.cache
def _xp() -> _DeviceModule:
    xp = _DeviceModule(np, "strict_cupy", CUPY_LACKS)
    xp.__dict__.update(asnumpy=_asnumpy, ndarray=DeviceArray)
    return xp


@functools.cache
def strict_backend() -> Backend:
    """The CuPy-shaped backend (named ``"gpu"``: processors take their device path on it)."""
    ndimage = _DeviceModule(scipy.ndimage, "strict_cupyx.scipy.ndimage", CUPYX_NDIMAGE_LACKS)
    return Backend("gpu", _xp(), ndimage)
