"""`postbay doctor` finds what would stop the bay, one line per check with the fix."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from postbay.cli import main


def _config(tmp_path: Path, port: int, drop: Path) -> Path:
    path = tmp_path / "bay.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n[[watch]]\npath = "{drop}"\nrecipe = "passthrough"\n'
                    f'[api]\nport = {port}\n')
    return path


def test_a_ready_bay_has_no_failures(tmp_path: Path, capsys):
    (tmp_path / "drop").mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["doctor", "--config", str(_config(tmp_path, port, tmp_path / "drop"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[1] for line in lines]
    for name in ("python", "pyav", "encoders", "ocio", "gpu", "config", "watch[0]", "disk", "api"):
        assert name in names, lines
    assert not any(line.startswith("FAIL") for line in lines), lines


def test_a_missing_share_and_a_taken_port_fail_with_the_fix(tmp_path: Path, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["doctor", "--json", "--config", str(_config(tmp_path, port, tmp_path / "nas" / "drop"))])
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert checks["watch[0]"]["status"] == "FAIL" and "does not exist" in checks["watch[0]"]["found"]
    assert "mount it" in checks["watch[0]"]["fix"]
    assert checks["api"]["status"] == "FAIL" and f"cannot listen on 127.0.0.1:{port}" in checks["api"]["found"]
    assert "free one" in checks["api"]["fix"]
