"""Processor plugins: a real package installed with pip, real entry points, real `postbay` runs.

Plugins are installed with ``pip install --target`` into a temporary folder put on
``PYTHONPATH`` of the `postbay` subprocess, so the entry points are found exactly as in a
user's environment while the test venv stays untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from postbay.media import VideoReader
from postbay.synth import write_clip

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "postbay-plugin-vignette"


def _env(*paths: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*(str(p) for p in paths), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _postbay(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "postbay", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=240)


@pytest.fixture(scope="module")
def vignette_site(tmp_path_factory) -> Path:
    """The example plugin, pip-installed (built as a wheel, entry points and all) into a folder."""
    site = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(EXAMPLE)], check=True, capture_output=True, text=True, timeout=240)
    assert (site / "postbay_vignette" / "__init__.py").is_file()
    return site


def _flat_grey(i: int, width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 0.6, np.float32)


def test_installed_plugin_is_listed_with_its_origin(vignette_site, tmp_path):
    proc = _postbay(["processors", "--json"], _env(vignette_site), tmp_path)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["problems"] == []
    by_name = {p["name"]: p for p in listing["processors"]}
    assert by_name["vignette"]["origin"] == "plugin:postbay-plugin-vignette"
    assert by_name["vignette"]["version"] == "1.0.0"
    assert by_name["exposure"]["origin"] == "postbay"
    text = _postbay(["processors"], _env(vignette_site), tmp_path)
    assert "vignette  [frame, linear, plugin:postbay-plugin-vignette 1.0.0]" in text.stdout


def test_recipe_using_the_plugin_runs_through_postbay_run(vignette_site, tmp_path):
    src = write_clip(tmp_path / "grey.mov", frames=12, width=192, height=108, pattern=_flat_grey, audio=None)
    recipe = tmp_path / "vignette.toml"
    recipe.write_text(textwrap.dedent("""
        name = "vignette"
        description = "one stop of lens falloff"
        [[steps]]
        processor = "vignette"
        stops = 1.0
        start = 0.3
        end = 0.95
        [output]
        codec = "ffv1"
        audio = "none"
    """))
    proc = _postbay(["run", str(src), "--recipe", str(recipe), "--out", str(tmp_path / "out"), "-q"],
                    _env(vignette_site), tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out" / "grey.mkv"
    report = json.loads((tmp_path / "out" / "grey.report.json").read_text())
    assert report["status"] == "done"
    assert report["recipe"]["steps"][0]["origin"] == "plugin:postbay-plugin-vignette"
    _, picture = next(iter(VideoReader(out)))
    rgb = picture.astype(np.float64) / 65535
    # Measured on the encoded output: corners one stop down in linear light, centre untouched.
    to_linear = lambda v: v ** 2.4  # noqa: E731  (the display encoding of the working space)
    centre = rgb[50:58, 90:102].mean()
    corner = rgb[1:4, 1:4].mean()
    assert abs(centre - 0.6) < 0.01
    assert abs(np.log2(to_linear(corner) / to_linear(centre)) + 1.0) < 0.15


def test_example_plugin_own_tests_pass(vignette_site, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(EXAMPLE / "tests")], env=_env(vignette_site), cwd=tmp_path,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout


def _fake_distribution(site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """A real installed distribution (dist-info with entry_points.txt), as pip would leave it."""
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[postbay.processors]\n{lines}\n")
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))


GOOD_AND_BAD = {
    "broken_import": "import this_module_does_not_exist\n",
    "calls_exit": "import sys\nsys.exit(3)\n",
    "bad_record": """
        from postbay.registry import Processor
        PROCESSORS = [Processor(name="smear", function=lambda f, c, p: f[0], kind="sideways")]
    """,
    "not_a_record": "PROCESSORS = ['sharpen']\n",
    "half_good": """
        from postbay.registry import Processor
        PROCESSORS = [Processor(name="fine_step", function=lambda f, c, p: f[0]),
                      Processor(name="bad_window", function=lambda f, c, p: f[0], window=(-1, 2))]
    """,
    "hijack": """
        from postbay.registry import ParamModel, Processor

        class Stops(ParamModel):
            stops: float = 0.0

        def brighter(frames, ctx, params):
            return frames[0] * 2.0

        PROCESSORS = [Processor(name="exposure", function=brighter, params=Stops, colourspace="linear")]
    """,
}


@pytest.fixture
def broken_site(tmp_path) -> Path:
    site = tmp_path / "broken-site"
    site.mkdir()
    _fake_distribution(site, "postbay-plugin-broken", {
        "missing": "broken_import", "quitter": "calls_exit:PROCESSORS", "smear": "bad_record",
        "strings": "not_a_record", "half": "half_good", "exposure": "hijack",
    }, GOOD_AND_BAD)
    return site


def test_broken_plugins_are_reported_loudly_and_skipped(broken_site, vignette_site, tmp_path):
    env = _env(broken_site, vignette_site)
    proc = _postbay(["processors"], env, tmp_path)
    assert proc.returncode == 1
    failed = [line for line in proc.stderr.splitlines() if line.startswith("PLUGIN FAILED")]
    assert len(failed) == 6, proc.stderr
    text = "\n".join(failed)
    assert "missing = broken_import: ModuleNotFoundError: No module named 'this_module_does_not_exist'" in text
    assert "quitter = calls_exit:PROCESSORS: SystemExit: 3" in text
    assert "kind 'sideways' is not frame, stream or audio" in text
    assert "must name a postbay.registry.Processor" in text
    assert "window (-1, 2)" in text
    assert "would replace the one from postbay; set allow_plugin_override" in text
    # Everything else still works: built-ins, the good plugin, and nothing of a half-broken one.
    listed = {line.split()[0] for line in proc.stdout.splitlines() if not line.startswith(" ")}
    assert {"exposure", "resize", "lut", "vignette"} <= listed
    assert "fine_step" not in listed and "smear" not in listed
    assert "exposure  [frame, linear, postbay 1]" in proc.stdout


def test_broken_plugins_never_stop_a_render(broken_site, tmp_path):
    src = write_clip(tmp_path / "a.mov", frames=6, width=160, height=90, audio=None)
    proc = _postbay(["run", str(src), "--recipe", "passthrough", "--out", str(tmp_path / "out"), "-q"],
                    _env(broken_site), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "a.mov").is_file()


def test_builtin_is_replaced_only_when_the_config_says_so(broken_site, tmp_path):
    config = tmp_path / "postbay.toml"
    config.write_text("allow_plugin_override = true\n")
    proc = _postbay(["--config", str(config), "processors", "--json"], _env(broken_site), tmp_path)
    listing = json.loads(proc.stdout)
    by_name = {p["name"]: p for p in listing["processors"]}
    assert by_name["exposure"]["origin"] == "plugin:postbay-plugin-broken"
    assert not any(p["entry_point"].startswith("exposure") for p in listing["problems"])
    # …and a recipe then uses the plugin's version, as the config asked.
    src = write_clip(tmp_path / "g.mov", frames=4, width=160, height=90, pattern=_flat_grey, audio=None)
    recipe = tmp_path / "expose.toml"
    recipe.write_text('[[steps]]\nprocessor = "exposure"\nstops = 0.0\n[output]\ncodec = "ffv1"\naudio = "none"\n')
    proc = _postbay(["--config", str(config), "run", str(src), "--recipe", str(recipe), "--out",
                     str(tmp_path / "out"), "-q"], _env(broken_site), tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out" / "g.report.json").read_text())
    assert report["recipe"]["steps"][0]["origin"] == "plugin:postbay-plugin-broken"


def test_the_daemon_runs_with_broken_plugins_and_the_api_reports_them(broken_site, vignette_site, tmp_path):
    from .harness import DaemonBay

    daemon = DaemonBay(tmp_path / "bay", env=_env(broken_site, vignette_site))
    try:
        status, listing = daemon.request("GET", "/processors")
        assert status == 200
        assert len(listing["problems"]) == 6
        assert any("SystemExit: 3" in p["error"] for p in listing["problems"])
        by_name = {p["name"]: p for p in listing["processors"]}
        assert by_name["vignette"]["origin"] == "plugin:postbay-plugin-vignette"
        assert by_name["exposure"]["origin"] == "postbay"
        # …and it still finishes work.
        clip = write_clip(daemon.media / "a.mov", frames=6, width=160, height=90, audio=None)
        status, job = daemon.request("POST", "/jobs", {"path": str(clip), "recipe": "review"})
        assert status == 201
        from .harness import wait_for

        done = wait_for(lambda: (j := daemon.request("GET", f"/jobs/{job['id']}")[1])["state"] in ("done", "failed")
                        and j, timeout=120)
        assert done["state"] == "done", done
    finally:
        daemon.stop()
