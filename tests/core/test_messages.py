"""Typical mistakes get a near-miss suggestion and messages without pydantic's internals."""

from __future__ import annotations

from pathlib import Path

import pytest

from postbay.config import load_config
from postbay.errors import ConfigError, RecipeError
from postbay.recipe import load_recipe, parse_recipe


def test_unknown_recipe_and_processor_suggest_the_near_miss():
    with pytest.raises(RecipeError, match="did you mean 'finish'"):
        load_recipe("finsh")
    with pytest.raises(RecipeError, match="did you mean 'denoise'"):
        parse_recipe({"steps": [{"processor": "denoize"}]})
    with pytest.raises(RecipeError) as far:
        load_recipe("zzzzzz")
    assert "did you mean" not in str(far.value) and "known recipes" in str(far.value)


def test_config_typos_suggest_the_key_and_values_read_plainly(tmp_path: Path):
    path = tmp_path / "bay.toml"
    path.write_text('[[watch]]\npath = "x"\nrecipe = "finish"\nsetle_seconds = 3\n[workers]\njob_timeout = "soon"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    text = str(exc.value)
    assert "watch.0.setle_seconds: unknown key (did you mean 'settle_seconds'?)" in text
    assert "workers.job_timeout: 'soon' is not a duration" in text
    assert "Value error" not in text and "docs/configuration.md" in text


def test_processor_parameters_show_types_as_a_recipe_author_writes_them():
    from postbay.registry import default_registry

    types = {f"{p.name}.{k}": v["type"] for p in default_registry() for k, v in p.describe()["parameters"].items()}
    assert not [t for t in types.values() if "postbay." in t or "typing" in t or "Literal" in t]
    assert types["grade.cdl"] == "{slope, offset, power, sat} | str | None"
    assert types["reframe.aspect"] == '"9:16" | "1:1" | "4:5" | "16:9"'
