"""Recipes: the built-in ones load, a user's folder wins, unknown keys are named."""

from __future__ import annotations

import pytest

from postbay.errors import RecipeError
from postbay.media import PRESETS
from postbay.recipe import find_recipes, load_recipe, parse_recipe


def test_every_builtin_recipe_loads():
    recipes = find_recipes()
    assert {"passthrough", "review"} <= set(recipes)
    for name in recipes:
        recipe = load_recipe(name)
        assert recipe.output.codec in PRESETS


def test_user_recipe_folder_wins_over_builtin(tmp_path):
    (tmp_path / "review.toml").write_text('description = "mine"\n[output]\ncodec = "ffv1"\n')
    assert load_recipe("review", search_dirs=[tmp_path]).output.codec == "ffv1"
    assert load_recipe("review").output.codec == "h264"


def test_recipe_unknown_top_level_key():
    with pytest.raises(RecipeError, match="unknown key\\(s\\) stpes"):
        parse_recipe({"stpes": []}, source="x.toml")
