"""Service config and the GPU setting: errors name the key."""

from __future__ import annotations

import pytest

from postbay.backend import get_backend
from postbay.config import load_config, parse_duration
from postbay.errors import ConfigError


def test_config_errors_name_the_key(tmp_path):
    cfg = tmp_path / "postbay.toml"
    cfg.write_text('gpu = "sometimes"\n[workers]\ncpu = -1\n')
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(cfg) in str(err.value) and "gpu" in str(err.value) and "workers.cpu" in str(err.value)
    cfg.write_text('[[watch]]\npath = "drop"\nrecipe = "review"\n[workers]\njob_timeout = "2h"\n')
    config = load_config(cfg)
    assert config.watch[0].path == (tmp_path / "drop").resolve()
    assert config.workers.job_timeout == 7200
    assert parse_duration("15m") == 900


def test_gpu_required_without_cuda_is_a_clear_error():
    from postbay.backend import cupy_available

    if cupy_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="no CUDA device"):
        get_backend("required")
    assert get_backend("auto").name == "cpu"
