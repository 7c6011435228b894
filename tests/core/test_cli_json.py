"""``--json`` on every command: one JSON document on stdout, errors included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from postbay.cli import build_parser, commands, main


def test_every_command_takes_json():
    listed = dict(commands(build_parser()))
    assert {"run", "jobs", "status", "submit", "service", "demo", "daemon", "resolve install"} <= set(listed)
    assert "resolve" not in listed  # a group, not a command
    lacking = [name for name, parser in listed.items()
               if not any("--json" in action.option_strings for action in parser._actions)]
    assert lacking == []


def _json_of(capsys, *argv: str) -> tuple[int, object]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_mistakes_under_json_are_a_json_error_with_a_non_zero_status(capsys, tmp_path: Path):
    code, doc = _json_of(capsys, "probe", "--json", str(tmp_path / "missing.mov"))
    assert code == 2 and doc["error"].endswith("missing.mov: file not found")
    assert doc["path"] == str(tmp_path / "missing.mov")
    code, doc = _json_of(capsys, "jobs", "--state", "bogus", "--json")
    assert code == 2 and "invalid choice: 'bogus'" in doc["error"] and doc["hint"]
    code, doc = _json_of(capsys, "resolve", "--json")  # a group without its action
    assert code == 2 and "required: ACTION" in doc["error"]
    code, doc = _json_of(capsys, "run", "--json", "-r", "finsh", str(tmp_path / "a.mov"))
    assert code == 2 and "did you mean 'finish'" in doc["error"]
    with pytest.raises(SystemExit):  # without --json, argparse's own usage message as before
        main(["jobs", "--state", "bogus"])
    assert "invalid choice" in capsys.readouterr().err


def test_probe_json_is_one_document(capsys, shared_clip: Path):
    code, one = _json_of(capsys, "probe", "--json", str(shared_clip))
    assert code == 0 and one["video"]["rate"] == "24/1"
    code, both = _json_of(capsys, "probe", "--json", str(shared_clip), str(shared_clip))
    assert code == 0 and [d["path"] for d in both] == [str(shared_clip)] * 2


def test_demo_json_names_what_it_made(capsys, tmp_path: Path):
    code, doc = _json_of(capsys, "demo", "--json", "-q", "--out", str(tmp_path / "demo"), "--frames", "6",
                         "--recipe", "review")
    assert code == 0 and doc["recipe"] == "review" and doc["frames"] == 6
    assert Path(doc["output"]).is_file() and json.loads(Path(doc["report"]).read_text())["status"] == "done"


def test_service_and_resolve_install_json(capsys, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    code, doc = _json_of(capsys, "service", "install", "--user", "--dry-run", "--json")
    unit = tmp_path / "xdg" / "systemd" / "user" / "postbay.service"
    assert code == 0 and doc["unit"] == str(unit) and not doc["written"] and "[Service]" in doc["text"]
    assert not unit.exists()
    code, doc = _json_of(capsys, "service", "uninstall", "--user", "--json")
    assert code == 0 and doc == {"action": "uninstall", "unit": str(unit), "dry_run": False, "removed": False}
    code, doc = _json_of(capsys, "resolve", "install", "--dest", str(tmp_path / "scripts"), "--json")
    assert code == 0 and all(Path(p).is_file() for p in doc["installed"]) and Path(doc["settings"]).is_file()
