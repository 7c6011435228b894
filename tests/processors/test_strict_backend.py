"""The CuPy-shaped test backend refuses what CuPy refuses, and computes what NumPy computes."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
from strict_backend import HostDeviceMixing, strict_backend


@pytest.fixture
def device():
    return strict_backend()


def test_device_arrays_refuse_implicit_conversion(device):
    a = device.asarray(np.ones((4, 3), np.float32))
    with pytest.raises(HostDeviceMixing):
        np.asarray(a)
    with pytest.raises(TypeError):
        memoryview(a)
    assert isinstance(device.to_host(a), np.ndarray)  # the explicit way down
    assert float(a.sum()) == 12.0  # one value: CuPy synchronises and allows it


def test_host_arrays_do_not_mix_with_device_arrays(device):
    a = device.asarray(np.ones((4, 3), np.float32))
    host = np.ones(3, np.float32)
    for mix in (lambda: a * host, lambda: host + a, lambda: device.xp.maximum(a, host),
                lambda: device.ndimage.gaussian_filter(host, 1.0), lambda: a.__setitem__(0, host)):
        with pytest.raises(HostDeviceMixing):
            mix()
    assert isinstance(a * np.float32(2.0), device.xp.ndarray)  # NumPy scalars are fine, as in CuPy


def test_only_what_cupy_provides(device):
    with pytest.raises(AttributeError):
        device.xp.errstate  # noqa: B018
    with pytest.raises(AttributeError):
        device.ndimage.geometric_transform  # noqa: B018


def test_results_are_numpys(device):
    img = np.random.default_rng(1).random((32, 24, 3), np.float32)
    blurred = device.ndimage.gaussian_filter(device.asarray(img), (1.5, 1.5, 0))
    assert isinstance(blurred, device.xp.ndarray)
    assert np.array_equal(device.to_host(blurred), scipy.ndimage.gaussian_filter(img, (1.5, 1.5, 0)))
