"""The command line: listings and the demo."""

from __future__ import annotations

import json
import subprocess
import sys


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "postbay", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_cli_listings(shared_clip):
    r = cli("probe", str(shared_clip))
    info = json.loads(r.stdout)
    assert info["video"]["rate"] == "24/1" and info["timecode"] == "01:00:00:00"
    r = cli("processors", "--json")
    assert r.returncode == 0
    names = [p["name"] for p in json.loads(r.stdout)["processors"]]
    assert {"resize", "exposure", "lut"} <= set(names)
    r = cli("recipes")
    assert "passthrough" in r.stdout and r.returncode == 0
    r = cli("presets")
    assert "prores_hq" in r.stdout
    assert cli("--version").stdout.startswith("postbay ")


def test_demo_makes_and_finishes_a_clip(tmp_path):
    r = cli("demo", "--out", str(tmp_path / "demo"), "--frames", "12", "--recipe", "review", "-q")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "demo" / "finished" / "demo-ai-clip.report.json").read_text())
    assert report["status"] == "done" and report["verification"]["ok"]
    assert report["input"]["video"]["width"] == 1280 and report["input"]["audio"]
