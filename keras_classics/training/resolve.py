"""What a run resolves from the registry and the recipe before it reads any data: the one resolution rule.

A :class:`~keras_classics.training.config.RecipeConfig` may leave ``image_size``,
``preprocessing`` and ``policy`` to their defaults (None). :func:`resolved_config`
fills them, and the model's ``input_shape`` (and, with ``init_from`` converted
pretrained weights, the variant options the weights need) in ``model_kwargs``,
exactly as the run does: the engine calls it before it opens the run directory,
and ``--print-config`` prints what it returns. Only what the data says is left
to the run: the number of classes (``model_kwargs["classes"]``), read from the
dataset when it is loaded.

Nothing here imports TensorFlow at import time; resolving a policy does (the policies are the data
pipelines' own, :data:`keras_classics.data.POLICIES`).
"""

from __future__ import annotations

import difflib

from keras_classics.metadata import read_keras_metadata
from keras_classics.runs import resolve_model_file
from keras_classics.transforms import PREPROCESSING_MODES

__all__ = ["SHAPES_IMAGE_SIZE", "SMALL_IMAGE_SIZE", "resolved_config", "init_metadata"]

#: The image size of a run on the generated shapes dataset that does not set one.
SHAPES_IMAGE_SIZE = 64
#: At this size and below, the default augmentation is the CIFAR policy (pad-and-crop, flip).
SMALL_IMAGE_SIZE = 64


def resolved_config(config, info=None):
    """``config`` with every field the run would otherwise resolve filled in.

    Args:
        config: a :class:`~keras_classics.training.config.RecipeConfig`.
        info: the model's registry entry (default: looked up from ``config.model``).

    Returns:
        A copy with ``image_size`` (the given one; 64 for shapes; else the model's
        paper size), ``preprocessing`` (the given one; that of the ``init_from``
        model's file; else the model's), ``policy`` (the given one; else the family's
        paper policy, or ``cifar`` at 64 pixels and below) and ``model_kwargs`` (with
        ``input_shape`` and the variant options of converted ``init_from`` weights).

    Raises:
        ValueError: an image size below the model's minimum, an unknown policy or
            preprocessing, or ``model_kwargs`` that contradict the ``init_from`` weights.
    """
    if info is None:
        from keras_classics.models import model_info  # deferred: the models import Keras

        info = model_info(config.model)
    image_size = _image_size(config, info)
    metadata = init_metadata(config)
    preprocessing = config.preprocessing or metadata.get("preprocessing") or info.preprocessing
    if preprocessing not in PREPROCESSING_MODES:
        raise ValueError(f"Unknown preprocessing {preprocessing!r}. Accepted: {', '.join(PREPROCESSING_MODES)}.")
    model_kwargs = dict(config.model_kwargs)
    if metadata.get("registry_name") == config.model:  # converted pretrained weights: their variant
        for key, value in ((metadata.get("weights") or {}).get("options") or {}).items():
            if key in model_kwargs and model_kwargs[key] != value:
                raise ValueError(
                    f"--init-from {config.init_from} holds pretrained weights for {key}={value!r}; --model-kwargs "
                    f"sets {key}={model_kwargs[key]!r}. Leave {key} out (it is taken from the file)."
                )
            model_kwargs.setdefault(key, value)
    model_kwargs["input_shape"] = [image_size, image_size, 3]
    return config.replace(image_size=image_size, preprocessing=preprocessing, policy=_policy(config, info, image_size),
                          model_kwargs=model_kwargs)


def _image_size(config, info) -> int:
    if config.image_size is not None:
        size = config.image_size
    elif config.dataset == "shapes":
        size = SHAPES_IMAGE_SIZE
    else:
        size = info.default_size
    if size < info.min_size:
        raise ValueError(
            f"--image-size {size} is too small for {info.name!r}: it needs at least {info.min_size}x{info.min_size} "
            f"(the paper's size is {info.default_size})."
        )
    return size


def init_metadata(config) -> dict:
    """The metadata of the ``init_from`` model's file (``{}`` without one).

    The preprocessing its weights were trained with (a converted torchvision
    model says ``"torch"``) and, for converted pretrained weights, the variant
    options they need (``weights.options``), so fine-tuning builds the same
    function and feeds it what it expects.
    """
    if not config.init_from:
        return {}
    try:
        return read_keras_metadata(resolve_model_file(config.init_from)) or {}
    except (OSError, ValueError):  # reported with its reason when the weights are copied
        return {}


def _policy(config, info, image_size) -> str:
    from keras_classics.data import POLICIES  # deferred: the augmentation module imports TensorFlow

    name = config.policy
    if name is None:
        name = info.recipe.get("policy", "resnet")
        if image_size <= SMALL_IMAGE_SIZE and "cifar" in POLICIES:
            name = "cifar"  # small images: pad-and-crop, flip
    if name not in POLICIES:
        close = difflib.get_close_matches(name, list(POLICIES), n=2)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown augmentation policy {name!r}.{hint} Accepted: {', '.join(POLICIES)}.")
    return name
