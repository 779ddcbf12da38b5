"""The model registry: the one way the CLI, the recipes and the tests find models.

``register_model`` attaches a :class:`ModelInfo` to a builder and refuses a
duplicate name; ``create_model`` and ``list_models`` read the registry.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Callable, Mapping

__all__ = ["ModelInfo", "Variant", "register_model", "create_model", "list_models", "model_info", "get_builder"]


@dataclass(frozen=True)
class Variant:
    """A named, documented option set of a builder and its reference parameter count."""

    label: str  # e.g. "groups=1"
    kwargs: Mapping
    params: int | None  # trainable parameters at 1000 classes, top on
    aux_params: int | None = None  # the same with aux_logits=True, where the family has aux heads
    note: str = ""


@dataclass(frozen=True)
class ModelInfo:
    """Metadata of a registered model.

    Attributes:
        name: registry name (``"resnet50"``).
        family: module name of the family (``"resnet"``).
        builder: the public builder function.
        paper: paper title; ``venue`` and ``year`` where it appeared.
        default_size: the paper's input resolution (square).
        min_size: smallest square input the builder accepts with its default
            options, computed from the layers (``keras_classics.arithmetic``).
        preprocessing: name of the input preprocessing (``"caffe"``: BGR minus
            ImageNet mean; ``"torch"``: RGB /255, minus mean, over std;
            ``"tf"``: scale to [-1, 1]).
        params: trainable parameters at 1000 classes with the top, default options.
        aux_params: the same with ``aux_logits=True`` (families with aux heads).
        variants: other documented option sets with their reference counts.
        top1_error: ImageNet top-1 / top-5 validation error reported by the paper
            (single model, single crop unless ``error_note`` says otherwise).
        endpoints: function of the builder kwargs giving the stage-output layer
            names, in order, for feature extraction.
        imagenet_weights: whether ``weights="imagenet"`` is available.
    """

    name: str
    family: str
    builder: Callable
    paper: str
    venue: str
    year: int
    default_size: int
    min_size: int
    preprocessing: str
    params: int
    aux_params: int | None = None
    variants: tuple = ()
    top1_error: float | None = None
    top5_error: float | None = None
    error_note: str = ""
    endpoints: Callable[..., list] | None = None
    imagenet_weights: bool = False
    default_kwargs: Mapping = field(default_factory=dict)

    @property
    def has_aux(self) -> bool:
        return self.aux_params is not None

    def build(self, **kwargs):
        merged = dict(self.default_kwargs)
        merged.update(kwargs)
        merged.setdefault("name", self.name)
        return self.builder(**merged)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str | None = None, **info) -> Callable:
    """Decorator registering a builder under ``name`` (default: the function name).

    Keyword arguments become the :class:`ModelInfo` fields. A name can be
    registered once; registering it again raises ``ValueError``.
    """

    def wrap(fn):
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(
                f"A model named {key!r} is already registered (by "
                f"{_REGISTRY[key].builder.__module__}.{_REGISTRY[key].builder.__name__})."
            )
        family = info.pop("family", fn.__module__.rsplit(".", 1)[-1])
        _REGISTRY[key] = ModelInfo(name=key, family=family, builder=fn, **info)
        fn.model_info = _REGISTRY[key]
        return fn

    return wrap


def _ensure_loaded() -> None:
    # Importing the family modules runs their @register_model decorators.
    from keras_classics.models import (  # noqa: F401
        alexnet,
        googlenet,
        inception_v2,
        inception_v3,
        resnet,
        vgg,
        zfnet,
    )


def _unknown(name, choices) -> ValueError:
    close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown model name {name!r}.{hint} Available models: {', '.join(sorted(choices))}."
    )


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered model; unknown names suggest close ones."""
    _ensure_loaded()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise _unknown(name, list(_REGISTRY))
    return _REGISTRY[name]


def get_builder(name: str) -> Callable:
    """The builder function registered as ``name``."""
    return model_info(name).builder


def create_model(name: str, **kwargs):
    """Build a registered model by name.

    Args:
        name: a name from :func:`list_models`.
        **kwargs: builder arguments (the keras.applications signature plus the
            family's options).

    Example:
        >>> model = create_model("resnet18", classes=10, input_shape=(64, 64, 3))
    """
    return model_info(name).build(**kwargs)


def list_models(pattern: str | None = None, family: str | None = None) -> list[str]:
    """Sorted registered names, optionally filtered by a glob ``pattern`` and ``family``.

    Names sort naturally (``vgg11, vgg11_bn, vgg13, …``; ``resnet18 … resnet152``).
    """
    _ensure_loaded()
    names = [n for n, i in _REGISTRY.items() if family is None or i.family == family]
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return sorted(names, key=_natural_key)


def _natural_key(name: str):
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
