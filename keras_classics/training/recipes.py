"""The recipes: the shipped ones read from their TOML files, recipe scripts, and running either.

A shipped recipe is ``keras_classics/recipes/NAME.toml``, data only: the
:class:`~keras_classics.training.RecipeConfig` fields it sets, with the paper and
section it follows in its header comments. A paper recipe says
``family_defaults = true`` and takes its family's optimisation settings from the
model's registry entry (:func:`~keras_classics.training.config_for_model`, the
settings ``keras-classics train MODEL`` uses), stating only what is its own. A
recipe script of your own is a Python file defining ``CONFIG = RecipeConfig(...)``.
:func:`run_recipe` is the command line of a recipe (``python recipes/NAME.py``).

>>> from keras_classics.training import list_recipes, load_recipe
>>> load_recipe("quickstart").epochs
3

This module imports no TensorFlow; the engine is imported when a recipe runs.
"""

from __future__ import annotations

import difflib
import os
import runpy
import sys
from importlib import resources
from pathlib import Path

from keras_classics._cliargs import Parser
from keras_classics._startup import quiet_tensorflow
from keras_classics.training.config import (
    RecipeConfig,
    add_config_arguments,
    config_for_model,
    load_run_config,
    overrides_from_args,
)
from keras_classics.training.resolve import resolved_config

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

__all__ = ["list_recipes", "recipe_text", "load_recipe", "run_recipe"]

# The package holding the shipped recipes' files (data only: it imports nothing).
_RECIPES = "keras_classics.recipes"
_SUFFIX = ".toml"

_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                PermissionError)


# ---------------------------------------------------------------------- the shipped recipes
def _names() -> list[str]:
    return sorted(p.name[: -len(_SUFFIX)] for p in resources.files(_RECIPES).iterdir() if p.name.endswith(_SUFFIX))


def list_recipes() -> dict[str, str]:
    """``{name: description}`` of the recipes shipped with the package."""
    return {name: _shipped(name).description for name in _names()}


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
    return resources.files(_RECIPES).joinpath(name + _SUFFIX).read_text(encoding="utf-8")


def _shipped(name: str) -> RecipeConfig:
    """The configuration of the shipped recipe ``name`` (named after its file)."""
    fields = tomllib.loads(recipe_text(name))
    if "name" in fields:
        raise ValueError(f"Recipe {name!r} sets `name`; a recipe is named after its file. Remove the field.")
    if fields.pop("family_defaults", False):
        return config_for_model(fields.pop("model"), name=name, **fields)
    return RecipeConfig.from_dict({"name": name, **fields}, ignore_run_info=False)


def load_recipe(name_or_path) -> RecipeConfig:
    """The ``CONFIG`` of a recipe: a shipped one by name (``resnet50_imagenet``), or a file of your own.

    A path (ending in ``.py``, or an existing file) is executed without its
    ``__main__`` block and must define ``CONFIG = RecipeConfig(...)``. A name
    that is not shipped is looked up as ``./recipes/NAME.py``.

    Raises:
        ValueError: an unknown name (the shipped recipes and models listed,
            close ones suggested) or a script without a ``CONFIG``.
    """
    text = os.fspath(name_or_path)
    path = Path(text)
    if not (text.endswith(".py") or path.is_file()):
        if text in _names():
            return _shipped(text)
        path = Path.cwd() / "recipes" / f"{text}.py"
        if not path.is_file():
            raise ValueError(_unknown_target(text, list_recipes()))
    if not path.is_file():
        raise FileNotFoundError(f"Recipe file not found: {text!r}")
    namespace = runpy.run_path(str(path), run_name="keras_classics_recipe")
    config = namespace.get("CONFIG")
    if not isinstance(config, RecipeConfig):
        raise ValueError(
            f"{str(path)!r} is not a recipe: it defines no CONFIG = RecipeConfig(...). Shipped recipes run by "
            f"name: {', '.join(list_recipes())}."
        )
    return config


def _unknown_target(name, recipes) -> str:
    from keras_classics.models import list_models  # the registered models (imports keras)

    choices = list(list_models()) + list(recipes)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return (
        f"Unknown model or recipe {name!r}.{hint} Models: {', '.join(list_models())}. "
        f"Recipes: {', '.join(recipes)}."
    )


# ---------------------------------------------------------------------- running
def absolute_lr(overrides: dict) -> dict:
    """The command line's learning-rate rule (timm's): ``--lr`` alone is the rate used as is.

    A recipe's ``lr`` is given at its reference batch ``lr_batch_size`` and scaled
    to ``--batch-size``; a ``--lr`` typed on the command line is absolute unless
    ``--lr-batch-size`` comes with it (then the pair is a base rate and its batch).
    """
    if "lr" in overrides and "lr_batch_size" not in overrides:
        return {**overrides, "lr_batch_size": None}
    return overrides


def execute(config, overrides, resume_dir, print_config):
    """Run (or print) the configuration with the command line's ``overrides``, or resume ``resume_dir``.

    Returns:
        The :class:`~keras_classics.training.TrainResult`, or None after ``print_config``.
    """
    from keras_classics.training import engine  # TensorFlow, once a recipe runs

    overrides = absolute_lr(overrides)

    if resume_dir:
        if print_config:
            stored = RecipeConfig.from_dict(load_run_config(resume_dir))
            print(resolved_config(stored.replace(**overrides)).to_json())
            return None
        return engine.resume(resume_dir, **overrides)
    config = config.replace(**overrides)
    if print_config:
        # What the run would use: the engine resolves the same way before it opens the run directory.
        print(resolved_config(config).to_json())
        return None
    return engine.train(config)


def add_run_arguments(parser) -> None:
    """``--resume RUN_DIR`` and ``--print-config``: the options of a run besides the recipe's fields."""
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    parser.add_argument("--print-config", action="store_true",
                        help="print the configuration as the run would use it (image size, preprocessing, policy and "
                             "the model's input shape resolved) and exit")


def run_recipe(config: RecipeConfig, argv=None):
    """Run a recipe script: parse overrides from ``argv`` (default ``sys.argv[1:]``) and train.

    Every field of ``config`` is an option (``--epochs 3 --batch-size 64``);
    ``--resume RUN_DIR`` continues an interrupted run; ``--print-config``
    shows the resolved configuration.

    Returns:
        The :class:`~keras_classics.training.engine.TrainResult` (``None`` after ``--print-config``).

    Raises:
        SystemExit: 2 on a user error (printed as one line), 1 when the loss diverged.

    Example:
        >>> # recipes/my_recipe.py
        >>> CONFIG = RecipeConfig(name="my_recipe", model="resnet18", dataset="folder:/data/train")
        >>> if __name__ == "__main__":
        ...     run_recipe(CONFIG)
    """
    prog = f"{config.name}"
    parser = Parser(
        prog=os.path.basename(sys.argv[0]) if argv is None else prog,
        description=config.description or f"Train with the {config.name!r} recipe.",
    )
    add_run_arguments(parser)
    add_config_arguments(parser, defaults=config)
    args = parser.parse_args(argv)
    quiet_tensorflow()  # as the command line: TF_CPP_MIN_LOG_LEVEL in the environment brings its lines back
    # The engine's errors: importing them imports TensorFlow, needed from here on.
    from keras_classics.training.engine import DivergenceError
    from keras_classics.training.strategy import WorkerLostError

    try:
        return execute(config, overrides_from_args(args), args.resume, args.print_config)
    except (DivergenceError, WorkerLostError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as e:
        sys.stdout.write("\n")  # end a progress bar's line
        sys.stdout.flush()
        print(f"{prog}: {e or 'Interrupted.'}", file=sys.stderr)
        raise SystemExit(130) from None
    except _USER_ERRORS as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
