"""Hugging Face Hub handles: ``hf://OWNER/NAME`` parsed, and a timm checkpoint's ``config.json`` read.

timm publishes each weights set as a repository (``timm/resnet50.a1_in1k``)
holding ``model.safetensors`` (the state dict, in timm's layout) and
``config.json``, whose ``architecture`` names the network and whose
``pretrained_cfg`` states the eval transform: ``input_size`` (trained at),
``test_input_size`` and ``test_crop_pct`` (evaluated at, when they differ),
``crop_pct``, ``interpolation``, ``mean`` and ``std``. Both files are read
through :func:`keras_classics.weights.obtain`, the one download function.
"""

from __future__ import annotations

import json
import re

from keras_classics.registry import WeightsSet
from keras_classics.transforms import INTERPOLATIONS, EvalTransform, preprocessing_for
from keras_classics.weights._files import HUB_SCHEME, Remote, obtain, prefetch_command

__all__ = ["is_hub_handle", "parse_hub_handle", "hub_config", "eval_transform_from_config", "hub_weights_set",
           "HUB_WEIGHTS_FILE"]

#: The file a timm repository holds its state dict in.
HUB_WEIGHTS_FILE = "model.safetensors"

_HANDLE = re.compile(r"hf://(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<revision>[\w./-]+))?")


def is_hub_handle(value) -> bool:
    """Whether ``value`` is meant as a Hub handle (a string starting with ``hf://``)."""
    return isinstance(value, str) and value.startswith(HUB_SCHEME)


def parse_hub_handle(handle: str) -> tuple[str, str | None]:
    """``(repo_id, revision)`` of ``"hf://OWNER/NAME"`` or ``"hf://OWNER/NAME@REVISION"``.

    Raises:
        ValueError: naming what was received and the accepted form.
    """
    m = _HANDLE.fullmatch(handle) if isinstance(handle, str) else None
    if m is None:
        raise ValueError(
            f"A Hub handle is 'hf://OWNER/NAME' (or 'hf://OWNER/NAME@REVISION'), e.g. 'hf://timm/resnet50.a1_in1k'. "
            f"Received: {handle!r}"
        )
    return m["repo"], m["revision"]


def hub_config(handle: str, model: str) -> dict:
    """The ``config.json`` of the repository ``handle`` names, checked to describe ``model``.

    Raises:
        WeightsUnavailableError: not cached and not downloadable (offline: names the prefetch command).
        ValueError: not a timm checkpoint config, or one of another architecture.
    """
    repo, revision = parse_hub_handle(handle)
    path = obtain(Remote(f"the config of {handle}", prefetch_command(model, handle), repo=repo,
                         filename="config.json", revision=revision))
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"config.json of {handle} ({path}) is not readable JSON: {e}") from None
    if not isinstance(config, dict) or not isinstance(config.get("pretrained_cfg"), dict):
        raise ValueError(
            f"{handle} is not a timm checkpoint: its config.json has no 'pretrained_cfg' (the eval transform). "
            "timm's repositories (hf://timm/NAME) have one."
        )
    architecture = config.get("architecture")
    if architecture != model:
        raise ValueError(
            f"{handle} holds a {architecture!r} (its config.json's architecture), not a {model!r}. Load it into "
            f"{architecture!r}, or use a {model!r} repository (e.g. hf://timm/{model}.tv_in1k)."
        )
    return config


def eval_transform_from_config(config: dict, handle: str = "the checkpoint") -> EvalTransform:
    """The eval transform a timm ``config.json`` states (its ``pretrained_cfg``).

    The size and crop the publisher evaluated at: ``test_input_size`` and
    ``test_crop_pct`` where given (timm's results tables use them), else
    ``input_size`` and ``crop_pct``; ``train_size`` is ``input_size`` when the
    two differ.

    Raises:
        ValueError: a field missing or out of range (an interpolation or a
            mean/std this package has no transform for), naming it.
    """
    cfg = config.get("pretrained_cfg", config)
    try:
        train = int(cfg["input_size"][-1])
        size = int((cfg.get("test_input_size") or cfg["input_size"])[-1])
        crop = float(cfg.get("test_crop_pct") or cfg["crop_pct"]) if size != train else float(cfg["crop_pct"])
        interpolation = cfg.get("interpolation", "bilinear")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {interpolation!r}; accepted: {', '.join(INTERPOLATIONS)}")
        preprocessing = preprocessing_for(cfg["mean"], cfg["std"])
        return EvalTransform(size, crop, preprocessing, interpolation, train if train != size else None)
    except (KeyError, TypeError, IndexError, ValueError) as e:
        detail = f"missing {e}" if isinstance(e, KeyError) else str(e)
        raise ValueError(f"The pretrained_cfg of {handle} does not state a usable eval transform: {detail}") from None


def hub_weights_set(handle: str, config: dict, registered: WeightsSet | None = None) -> WeightsSet:
    """The :class:`WeightsSet` a model loaded from ``handle`` carries: its name, source (the handle) and the
    eval transform of its ``config.json``; the publisher's accuracy when it is a registered set."""
    repo, _ = parse_hub_handle(handle)
    facts = dict(top1=registered.top1, top5=registered.top5, note=registered.note) if registered else {}
    return WeightsSet(registered.name if registered else handle, handle,
                      eval_transform_from_config(config, handle), file=HUB_WEIGHTS_FILE, hub=repo, **facts)
