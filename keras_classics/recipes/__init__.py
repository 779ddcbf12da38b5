"""The training recipes, shipped inside the package as configuration files.

One TOML file per recipe, ``keras_classics/recipes/NAME.toml``: the
:class:`keras_classics.training.RecipeConfig` fields it sets, with the paper and
section it follows in its header comments. A recipe is configuration only; the
behaviour is in :mod:`keras_classics.training`. A paper recipe says
``family_defaults = true`` and takes its family's optimisation settings from
the model's registry entry (:func:`keras_classics.training.config_for_model`,
the settings ``keras-classics train MODEL`` uses), stating only what is its
own. ``keras-classics train NAME`` and the thin scripts ``python
recipes/NAME.py`` of a checkout run them; ``keras-classics train --list`` lists
them.

>>> from keras_classics.recipes import get_recipe, list_recipes
>>> get_recipe("quickstart").epochs
3
"""

from __future__ import annotations

import difflib
from importlib import resources

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["list_recipes", "get_recipe", "recipe_text", "main"]

_SUFFIX = ".toml"


def _names() -> list[str]:
    return sorted(p.name[: -len(_SUFFIX)] for p in resources.files(__name__).iterdir() if p.name.endswith(_SUFFIX))


def list_recipes() -> dict[str, str]:
    """``{name: description}`` of the recipes shipped with the package."""
    return {name: get_recipe(name).description for name in _names()}


def recipe_text(name: str) -> str:
    """The file of a shipped recipe, comments included.

    Raises:
        ValueError: for an unknown name, listing the known ones (close ones first).
    """
    names = _names()
    if not isinstance(name, str) or name not in names:
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown recipe {name!r}.{hint} Recipes: {', '.join(names)}.")
    return resources.files(__name__).joinpath(name + _SUFFIX).read_text(encoding="utf-8")


def get_recipe(name: str):
    """The :class:`~keras_classics.training.RecipeConfig` of a shipped recipe (named after its file)."""
    from keras_classics.training.config import RecipeConfig, config_for_model

    fields = tomllib.loads(recipe_text(name))
    if "name" in fields:
        raise ValueError(f"Recipe {name!r} sets `name`; a recipe is named after its file. Remove the field.")
    if fields.pop("family_defaults", False):
        return config_for_model(fields.pop("model"), name=name, **fields)
    return RecipeConfig.from_dict({"name": name, **fields}, ignore_run_info=False)


def main(name: str, argv=None):
    """Run the recipe ``name`` with command-line overrides (what ``python recipes/NAME.py`` does)."""
    from keras_classics.training import run_recipe

    return run_recipe(get_recipe(name), argv)
