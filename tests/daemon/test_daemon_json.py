"""``postbay daemon --json``: one JSON line once ready (where to click), the log on stderr."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from postbay.cli import main


def test_the_daemon_says_it_is_ready_in_one_json_line(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "bay.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[[watch]]\npath = "{tmp_path / "drop"}"\n'
                      f'recipe = "review"\ncreate = true\n[api]\nport = {port}\n')
    with open(tmp_path / "stderr.log", "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "postbay", "daemon", "--config", str(config), "--json"],
                                stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            line = proc.stdout.readline()  # written when ready: nothing comes before it
            ready = json.loads(line)
            assert ready["pid"] == proc.pid and ready["dashboard"] == f"http://127.0.0.1:{port}/"
            assert ready["data_dir"] == str(tmp_path / "data")
            assert ready["folders"] == [{"path": str(tmp_path / "drop"), "recipe": "review",
                                         "output": str(tmp_path / "out" / "drop")}]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            assert proc.stdout.read() == ""  # one document, nothing after it
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert "postbay daemon ready" in (tmp_path / "stderr.log").read_text()


def test_cluster_stop_json_without_a_cluster(tmp_path: Path, capsys):
    config = tmp_path / "bay.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    assert main(["cluster", "stop", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"action": "stop", "stopped": False}
