"""The wheel installs on its own and every subpackage imports from it."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUBPACKAGES = ["postbay", "postbay.processors", "postbay.daemon", "postbay.bridge", "postbay.timeline", "postbay.luts",
               "postbay.service"]


def test_wheel_installs_and_imports(tmp_path):
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(dist), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheels = list(dist.glob("postbay-*.whl"))
    assert len(wheels) == 1
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                        str(target), str(wheels[0])], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    # postbay from the wheel; its dependencies from this environment's site-packages (no .pth
    # processing there, so the editable checkout is not on the path).
    env_path = f"{target}:{sysconfig.get_paths()['purelib']}"
    code = ("import importlib, sys, postbay; "
            f"[importlib.import_module(m) for m in {SUBPACKAGES!r}]; "
            "from postbay.registry import default_registry; from postbay.recipe import find_recipes; "
            "assert 'resize' in default_registry().names(); assert 'passthrough' in find_recipes(); "
            "print(postbay.__file__)")
    r = subprocess.run([str(venv / "bin" / "python"), "-S", "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": env_path}, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(str(target)), r.stdout
    r = subprocess.run([str(venv / "bin" / "python"), "-S", "-m", "postbay", "--version"], capture_output=True,
                       text=True, env={"PYTHONPATH": env_path}, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("postbay "), r.stderr
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheels[0])], capture_output=True,
                           text=True).stdout
    assert "postbay/recipes/passthrough.toml" in names
    assert "postbay/processors/primaries.py" in names
    assert "postbay/service/postbay.service" in names and "postbay/bridge/static/index.html" in names
