"""``keras-classics train``: the training engine's command.

``keras-classics train TARGET [--field value ...]`` where TARGET is a model name
(trained with its family's paper optimizer), a recipe name (``keras_classics/recipes``,
``--list`` shows them) or a recipe file of your own; without TARGET it runs the quickstart.
Every :class:`~keras_classics.training.RecipeConfig` field is an option. A recipe script's
own command line is :func:`keras_classics.training.run_recipe`.
"""

from __future__ import annotations

import os
import sys

from keras_classics.training.config import RecipeConfig, add_config_arguments, config_for_model, overrides_from_args
from keras_classics.training.recipes import add_run_arguments, execute, list_recipes, load_recipe

__all__ = ["register", "resolve_target"]


def resolve_target(target: str | None) -> RecipeConfig:
    """The configuration for a ``train`` TARGET: None (quickstart), a model, a recipe name or file."""
    from keras_classics.models import list_models  # the registered models (imports keras)

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
    add_run_arguments(parser)
    add_config_arguments(parser)
    parser.set_defaults(func=_handle_train)


def _handle_train(args) -> int:
    # The engine's errors: importing them imports TensorFlow, which the command needs from here on.
    from keras_classics.training.engine import DivergenceError
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
        execute(config, overrides_from_args(args), args.resume, args.print_config)
    except (DivergenceError, WorkerLostError) as e:
        print(f"keras-classics train: {e}", file=sys.stderr)
        return 1
    return 0
