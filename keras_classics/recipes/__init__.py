"""The training recipes, shipped inside the package.

One module per recipe, each a ``CONFIG`` (a
:class:`keras_classics.training.RecipeConfig`) and, in its docstring, the paper
and section it follows. A paper recipe takes the family's optimisation settings
from the model's registry entry (:func:`keras_classics.training.config_for_model`)
and states only what is its own. ``keras-classics train NAME`` and the thin
scripts ``python recipes/NAME.py`` run them; ``keras-classics train --list``
lists them.

>>> from keras_classics.recipes import get_recipe, list_recipes
>>> get_recipe("quickstart").epochs
3
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

__all__ = ["list_recipes", "get_recipe", "main"]


def _names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def list_recipes() -> dict[str, str]:
    """``{name: description}`` of the recipes shipped with the package."""
    return {name: get_recipe(name).description for name in _names()}


def get_recipe(name: str):
    """The ``CONFIG`` of a shipped recipe.

    Raises:
        ValueError: for an unknown name, listing the known ones (close ones first).
    """
    names = _names()
    if not isinstance(name, str) or name not in names:
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown recipe {name!r}.{hint} Recipes: {', '.join(names)}.")
    return importlib.import_module(f"{__name__}.{name}").CONFIG


def main(name: str, argv=None):
    """Run the recipe ``name`` with command-line overrides (what ``python recipes/NAME.py`` does)."""
    from keras_classics.training import run_recipe

    return run_recipe(get_recipe(name), argv)
