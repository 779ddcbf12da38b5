"""The training recipes shipped with the package: data only, one TOML file per recipe.

``keras_classics/recipes/NAME.toml`` holds the
:class:`keras_classics.training.RecipeConfig` fields a recipe sets, with the
paper and section it follows in its header comments. A paper recipe says
``family_defaults = true`` and takes its family's optimisation settings from
the model's registry entry. :mod:`keras_classics.training.recipes` reads them:
``keras-classics train NAME``, the thin scripts ``python recipes/NAME.py`` of a
checkout and :func:`keras_classics.training.load_recipe` run them;
``keras-classics train --list`` lists them. This package imports nothing.

>>> from keras_classics.training import load_recipe
>>> load_recipe("quickstart").epochs
3
"""
