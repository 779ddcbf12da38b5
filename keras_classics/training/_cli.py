"""``keras-classics train`` and ``run_recipe``: the command lines of the training engine.

``keras-classics train TARGET [--field value ...]`` where TARGET is a model name
(trained with its family's paper optimizer), a recipe name (``keras_classics.recipes``,
``--list`` shows them) or a recipe file of your own; without TARGET it runs the quickstart.
``python recipes/NAME.py [--field value ...]`` does the same through
:func:`run_recipe`. Every :class:`RecipeConfig` field is an option.
"""

from __future__ import annotations

import argparse
import difflib
import os
import runpy
import sys
from pathlib import Path

from keras_classics.training.config import (
    RecipeConfig,
    add_config_arguments,
    config_for_model,
    load_run_config,
    overrides_from_args,
)

__all__ = ["register", "run_recipe", "list_recipes", "load_recipe", "resolve_target"]

_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
                PermissionError)


# ---------------------------------------------------------------------- recipes
def list_recipes() -> dict[str, str]:
    """``{name: description}`` of the recipes shipped with the package (:mod:`keras_classics.recipes`)."""
    from keras_classics import recipes

    return recipes.list_recipes()


def load_recipe(name_or_path) -> RecipeConfig:
    """The ``CONFIG`` of a recipe: a shipped one by name (``resnet50_imagenet``), or a file of your own.

    A path (ending in ``.py``, or an existing file) is executed without its
    ``__main__`` block and must define ``CONFIG = RecipeConfig(...)``. A name
    that is not shipped is looked up as ``./recipes/NAME.py``.

    Raises:
        ValueError: an unknown name (the shipped recipes and models listed,
            close ones suggested) or a script without a ``CONFIG``.
    """
    from keras_classics import recipes

    text = os.fspath(name_or_path)
    path = Path(text)
    if not (text.endswith(".py") or path.is_file()):
        if text in recipes.list_recipes():
            return recipes.get_recipe(text)
        path = Path.cwd() / "recipes" / f"{text}.py"
        if not path.is_file():
            raise ValueError(_unknown_target(text, recipes.list_recipes()))
    if not path.is_file():
        raise FileNotFoundError(f"Recipe file not found: {text!r}")
    namespace = runpy.run_path(str(path), run_name="keras_classics_recipe")
    config = namespace.get("CONFIG")
    if not isinstance(config, RecipeConfig):
        raise ValueError(
            f"{str(path)!r} is not a recipe: it defines no CONFIG = RecipeConfig(...). Shipped recipes run by "
            f"name: {', '.join(recipes.list_recipes())}."
        )
    return config


def _unknown_target(name, recipes) -> str:
    from keras_classics.models import list_models

    choices = list(list_models()) + list(recipes)
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return (
        f"Unknown model or recipe {name!r}.{hint} Models: {', '.join(list_models())}. "
        f"Recipes: {', '.join(recipes)}."
    )


def resolve_target(target: str | None) -> RecipeConfig:
    """The configuration for a ``train`` TARGET: None (quickstart), a model, a recipe name or file."""
    from keras_classics.models import list_models

    if target is None:
        return load_recipe("quickstart")
    if target.endswith(".py") or os.path.sep in target:
        return load_recipe(target)
    if target in list_models():
        return config_for_model(target)
    return load_recipe(target)


def print_recipes() -> None:
    """The shipped recipes, one per line with its description (``keras-classics train --list``)."""
    recipes = list_recipes()
    width = max(map(len, recipes))
    for name, description in recipes.items():
        print(f"{name:<{width}}  {description}")


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


def _execute(config, overrides, resume_dir, print_config):
    """Run (or print) the configuration; return the TrainResult, or None after --print-config."""
    from keras_classics.training import engine

    overrides = absolute_lr(overrides)

    if resume_dir:
        if print_config:
            stored = RecipeConfig.from_dict(load_run_config(resume_dir))
            print(stored.replace(**overrides).to_json())
            return None
        return engine.resume(resume_dir, **overrides)
    config = config.replace(**overrides)
    if print_config:
        print(config.to_json())
        return None
    return engine.train(config)


def _add_run_arguments(parser):
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    parser.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")


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
    from keras_classics.cli import Parser

    prog = f"{config.name}"
    parser = Parser(
        prog=os.path.basename(sys.argv[0]) if argv is None else prog,
        description=config.description or f"Train with the {config.name!r} recipe.",
    )
    _add_run_arguments(parser)
    add_config_arguments(parser, defaults=config)
    args = parser.parse_args(argv)
    from keras_classics._startup import quiet_tensorflow

    quiet_tensorflow()  # as the command line: TF_CPP_MIN_LOG_LEVEL in the environment brings its lines back
    from keras_classics.training.engine import NonFiniteLossError
    from keras_classics.training.strategy import WorkerLostError

    try:
        return _execute(config, overrides_from_args(args), args.resume, args.print_config)
    except (NonFiniteLossError, WorkerLostError) as e:
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


# ---------------------------------------------------------------------- keras-classics train
def register(subparsers) -> None:
    """Add the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train a model or run a recipe (offline quickstart by default)",
        description=(
            "Train a classic network. TARGET is a model name (trained with its paper's optimizer and a cosine "
            "schedule), a recipe name (--list shows them) or a recipe file; without TARGET, the quickstart. Every "
            "recipe field can be overridden, e.g. --dataset tfds:cifar10 --epochs 30 --precision mixed_float16."
        ),
    )
    parser.add_argument("target", nargs="?", metavar="TARGET", help="model name, recipe name or recipe .py file")
    parser.add_argument("--list", action="store_true", help="list the recipes shipped with the package and exit")
    _add_run_arguments(parser)
    add_config_arguments(parser)
    parser.set_defaults(func=_handle_train)


def _handle_train(args) -> int:
    from keras_classics.training.engine import NonFiniteLossError
    from keras_classics.training.strategy import WorkerLostError

    if args.list:
        print_recipes()
        return 0
    if args.resume and args.target:
        raise ValueError(
            f"Give either TARGET or --resume, not both (received TARGET={args.target!r}, --resume {args.resume!r}): "
            "a resumed run keeps its own recipe."
        )
    config = None if args.resume else resolve_target(args.target)
    try:
        _execute(config, overrides_from_args(args), args.resume, args.print_config)
    except (NonFiniteLossError, WorkerLostError) as e:
        print(f"keras-classics train: {e}", file=sys.stderr)
        return 1
    return 0
