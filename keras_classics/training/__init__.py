"""Training: recipe configuration, the one engine, schedules, losses, callbacks, strategies.

>>> from keras_classics.training import RecipeConfig, train
>>> result = train(RecipeConfig(model="resnet18", dataset="shapes", epochs=3))
>>> result.run_dir, result.metrics["top1"]

A recipe script is a ``RecipeConfig(...)`` and ``run_recipe(CONFIG)``; every field
is a command-line option. ``train`` and the modules that need TensorFlow are
imported on first use, so importing this package stays light.
"""

from keras_classics._lazy import lazy_exports
from keras_classics.training.config import RecipeConfig, config_for_model
from keras_classics.training.recipes import list_recipes, load_recipe, run_recipe

# The engine and the modules that need TensorFlow load on first use.
__getattr__, __dir__ = lazy_exports(__name__, {
    "keras_classics.training.engine": ("train", "resume", "TrainResult", "DivergenceError", "NonFiniteLossError",
                                        "TrainingInterrupted"),
    "keras_classics.training.schedules": ("ClassicSchedule",),
    "keras_classics.training.warmstart": ("initialize_from",),
    "keras_classics.training.strategy": ("make_strategy",),
})

__all__ = ["RecipeConfig", "config_for_model", "run_recipe", "list_recipes", "load_recipe", "train", "resume",
           "TrainResult", "DivergenceError", "NonFiniteLossError", "TrainingInterrupted", "ClassicSchedule",
           "initialize_from", "make_strategy"]
