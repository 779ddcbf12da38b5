"""The one hook through which a builder gets its weights, registered by the weights layer above the models.

A builder given ``weights=`` asks the hook which options the weights need,
has it check a weights file path, and hands it the built model to load. The
weights package's loader (:mod:`keras_classics.weights._load`) registers the
hook when it is imported; the first builder call with weights imports that
module by its name (:data:`WEIGHTS_MODULE`), so the models never import the layer above
them (as timm's builder loads a pretrained config after the model is built).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["WeightsHook", "WEIGHTS_MODULE", "register_weights_hook", "weights_hook"]

#: The module that registers the hook when imported.
WEIGHTS_MODULE = "keras_classics.weights._load"


@dataclass(frozen=True)
class WeightsHook:
    """What a builder calls to get its weights.

    Attributes:
        requires: ``(model_name, weights) -> {option: value}``: the builder
            options the weights need (a set's, a torchvision layout's, a
            converted file's).
        check_file: ``(model_name, weights, options)``: refuses ``weights``
            that are not a set name and not a weights file the model can load
            (raises ``ValueError``).
        load: ``(model, model_name, weights, options)``: loads the weights into
            the built model (and attaches the set's metadata).
    """

    requires: Callable[[str, Any], dict]
    check_file: Callable[[str, Any, dict], None]
    load: Callable[[Any, str, Any, dict], Any]


_hook: WeightsHook | None = None


def register_weights_hook(hook: WeightsHook) -> None:
    """Make ``hook`` the one every builder uses (the weights package calls this when imported)."""
    global _hook
    if not isinstance(hook, WeightsHook):
        raise TypeError(f"Expected a WeightsHook, received {type(hook).__name__}.")
    _hook = hook


def weights_hook() -> WeightsHook:
    """The registered hook, importing :data:`WEIGHTS_MODULE` (which registers it) on first use."""
    if _hook is None:
        importlib.import_module(WEIGHTS_MODULE)
    if _hook is None:
        raise RuntimeError(f"{WEIGHTS_MODULE} was imported but registered no weights hook.")
    return _hook
