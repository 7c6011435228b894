"""`make run` installs what running needs and no more; pyproject.toml uses today's metadata."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_installs_the_run_dependencies_only(tmp_path: Path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # --no-print-directory: under `make test` (MAKELEVEL set) make would add "Leaving directory" lines
    plan = subprocess.run(["make", "--no-print-directory", "-n", "run", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    installs = [line for line in plan.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert installs and all("[dev]" not in line for line in installs), plan
    assert plan.strip().splitlines()[-1].endswith("postbay start")


def test_pyproject_license_is_an_spdx_string_and_every_package_is_listed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    listed = set(project["tool"]["setuptools"]["packages"])
    for package, folder in project["tool"]["setuptools"]["package-dir"].items():
        for sub in (ROOT / folder).rglob("*"):
            # setuptools warns about (and will stop shipping) any folder of files not listed
            if sub.is_dir() and sub.name != "__pycache__" and any(p.is_file() for p in sub.iterdir()):
                name = ".".join([package, *sub.relative_to(ROOT / folder).parts])
                assert name in listed, f"{sub} is not in [tool.setuptools] packages as {name}"
