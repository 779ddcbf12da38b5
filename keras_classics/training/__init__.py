"""Training: recipe configuration, the one engine, schedules, losses, callbacks, strategies.

>>> from keras_classics.training import RecipeConfig, train
>>> result = train(RecipeConfig(model="resnet18", dataset="shapes", epochs=3))
>>> result.run_dir, result.metrics["top1"]

A recipe script is a ``RecipeConfig(...)`` and ``run_recipe(CONFIG)``; every field
is a command-line option. ``train`` and the modules that need TensorFlow are
imported on first use, so importing this package stays light.
"""

from keras_classics.training.recipes import list_recipes, load_recipe, run_recipe
from keras_classics.training.config import RecipeConfig, config_for_model

_LAZY = {
    "train": "keras_classics.training.engine",
    "resume": "keras_classics.training.engine",
    "TrainResult": "keras_classics.training.engine",
    "NonFiniteLossError": "keras_classics.training.engine",
    "TrainingInterrupted": "keras_classics.training.engine",
    "ClassicSchedule": "keras_classics.training.schedules",
    "initialize_from": "keras_classics.training.warmstart",
    "make_strategy": "keras_classics.training.strategy",
}

__all__ = ["RecipeConfig", "config_for_model", "run_recipe", "list_recipes", "load_recipe", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_classics.training' has no attribute {name!r}")
