"""The model registry: a model's single specification, and the one way to find models.

A :class:`ModelInfo` is everything the package states about a model: its
builder, its variants with their exact trainable parameter counts, its
multiply-adds and depth, its minimum input (with and without auxiliary heads),
its paper and published error, endpoints, the weights sets it can load (with
each set's eval transform) and its family's training defaults. Each family module
declares its entries next to its builders with :func:`register_model`; the CLI,
the recipes, the weights loaders, the docs and the tests read them from here,
and ``keras-classics list`` shows them without building a model. The anchors
are torchvision's ``WeightsEnum`` metadata (``num_params``, ``_ops`` in GFLOPS)
and timm's ``default_cfgs``; ``tests/models/test_registry_facts.py`` holds each
stated figure equal to what the built model computes.

This module is a leaf: it imports only the standard library, and no model
file (``keras_classics.models`` imports the families, which register
themselves), so every layer of the package can read it.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from keras_classics.transforms import TORCHVISION_EVAL, EvalTransform  # a weights set's eval transform

__all__ = [
    "ModelInfo",
    "Variant",
    "WeightsSet",
    "EvalTransform",
    "TORCHVISION_EVAL",
    "torchvision_weights",
    "timm_weights",
    "KERAS_APPLICATIONS_URL",
    "torchvision_set",
    "unknown_weights_set",
    "register_model",
    "create_model",
    "list_models",
    "model_info",
    "get_builder",
]


@dataclass(frozen=True)
class Variant:
    """A named, documented option set of a builder and its reference parameter count."""

    label: str  # e.g. "groups=1"
    kwargs: Mapping
    params: int | None  # trainable parameters at 1000 classes, top on
    aux_params: int | None = None  # the same with aux_logits=True, where the family has aux heads
    note: str = ""


@dataclass(frozen=True)
class WeightsSet:
    """One set of pretrained weights a model can load (``weights=NAME``).

    Attributes:
        name: the ``weights=`` value (``"imagenet"``, ``"torchvision"``,
            ``"torchvision-v2"``).
        source: who published them: ``"keras.applications"`` (ported from its
            model), ``"torchvision"`` (a state dict in torchvision's layout) or
            ``"timm"`` (a state dict in timm's layout, on the Hugging Face Hub).
        eval_transform: the image preparation the weights were trained for.
        requires: builder options the weights need (``{"stride_in": "1x1"}``);
            the builder sets them when they are not given, and refuses others.
        why: one line on why those options, for the refusal message.
        application: the keras.applications builder (keras.applications sets).
        file: the published file name (torchvision: ``resnet18-f37072fd.pth``,
            whose last dash-separated part is the start of its SHA-256).
        url: where the file is downloaded from (torchvision and keras.applications sets).
        hub: the Hugging Face Hub repository holding the set as ``model.safetensors``
            (``"timm/resnet50.a1_in1k"``): timm's sets, and timm's copy of a
            torchvision set, read when PyTorch is not installed.
        sha256: the published start of the file's SHA-256 (torchvision sets).
        size_mib: the file's size in MiB (2**20 bytes), as published.
        top1, top5: the publisher's ImageNet-1k validation accuracy, %,
            single crop with ``eval_transform``.
        note: how the set was trained, or anything else a user should know.
    """

    name: str
    source: str
    eval_transform: EvalTransform
    requires: Mapping = field(default_factory=dict)
    why: str = ""
    application: str = ""
    file: str = ""
    url: str = ""
    sha256: str = ""
    hub: str = ""
    size_mib: float | None = None
    top1: float | None = None
    top5: float | None = None
    note: str = ""

    def check_options(self, model: str, options: Mapping, what: str | None = None) -> None:
        """Refuse builder options the weights do not fit, naming the ones they need.

        ``what`` names the weights in the message (default: ``weights=NAME``).
        """
        what = what or f"`weights={self.name!r}` of {model!r} ({self.source})"
        for key, needed in self.requires.items():
            if key in options and options[key] != needed:
                raise ValueError(
                    f"{what} needs {key}={needed!r}{': ' + self.why if self.why else ''}. "
                    f"Received: {key}={options[key]!r}. Use {key}={needed!r} (or leave it out: the builder "
                    "sets it), or weights=None."
                )


TORCHVISION_URL = "https://download.pytorch.org/models/"
#: keras.applications' download folder (its modules' ``BASE_WEIGHTS_PATH``), one sub-folder per family.
KERAS_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"


def torchvision_weights(name: str, file: str, eval_transform: EvalTransform, *, top1: float, top5: float,
                        size_mib: float, requires: Mapping | None = None, why: str = "",
                        note: str = "", hub: str = "") -> WeightsSet:
    """A :class:`WeightsSet` published by torchvision as ``file`` (``resnet18-f37072fd.pth``).

    The URL is torchvision's download folder plus ``file``; the SHA-256 prefix is
    the file name's last dash-separated part, torchvision's own convention.
    ``hub``: timm's safetensors copy of the same weights (``"timm/resnet18.tv_in1k"``).
    """
    stem = file.rsplit(".", 1)[0]
    prefix = stem.rsplit("-", 1)[-1]
    if not re.fullmatch(r"[0-9a-f]{8,64}", prefix):
        raise ValueError(f"torchvision file name {file!r} does not end in a SHA-256 prefix")
    return WeightsSet(name, "torchvision", eval_transform, dict(requires or {}), why, file=file,
                      url=TORCHVISION_URL + file, sha256=prefix, hub=hub, size_mib=size_mib, top1=top1, top5=top5,
                      note=note)


def timm_weights(hub: str, eval_transform: EvalTransform, *, top1: float, top5: float,
                 requires: Mapping | None = None, why: str = "", note: str = "") -> WeightsSet:
    """A :class:`WeightsSet` published by timm on the Hugging Face Hub as ``hub`` (``"timm/resnet50.a1_in1k"``).

    Its ``weights=`` name is timm's tag, the part after the dot (``"a1_in1k"``);
    the file is the repository's ``model.safetensors``, in timm's layout.
    """
    if not re.fullmatch(r"[\w.-]+/[\w-]+\.[\w-]+", hub):
        raise ValueError(f"timm Hub repository {hub!r} is not 'OWNER/ARCHITECTURE.TAG'")
    return WeightsSet(hub.rsplit(".", 1)[1], "timm", eval_transform, dict(requires or {}), why,
                      file="model.safetensors", hub=hub, top1=top1, top5=top5, note=note)


@dataclass(frozen=True)
class ModelInfo:
    """The specification of a registered model.

    Attributes:
        name: registry name (``"resnet50"``).
        family: module name of the family (``"resnet"``).
        builder: the public builder function.
        paper: paper title; ``venue`` and ``year`` where it appeared.
        default_size: the paper's input resolution (square).
        min_size: smallest square input the builder accepts with its default
            options, computed from the layers (``keras_classics.arithmetic``).
        aux_min_size: the same with ``aux_logits=True`` (families with aux
            heads: a head's pooling and convolutions need a large enough map).
        preprocessing: name of the input preprocessing (``"caffe"``: BGR minus
            ImageNet mean; ``"torch"``: RGB /255, minus mean, over std;
            ``"tf"``: scale to [-1, 1]).
        params: trainable parameters at 1000 classes with the top, default options.
        aux_params: the same with ``aux_logits=True`` (families with aux heads).
        macs: multiply-adds of one image at ``default_size`` with the builder's
            defaults (the classes ``params`` counts): convolutions and dense
            layers, biases not counted (what :func:`keras_classics.inspect.summary`
            counts).
        depth: convolution and dense layers on the longest path from the input
            to the output, the papers' "layers" (VGG16: 16, ResNet-50: 50).
        variants: other documented option sets with their reference counts.
        top1_error: ImageNet top-1 / top-5 validation error reported by the paper
            (single model, single crop unless ``error_note`` says otherwise).
        endpoints: function of the builder kwargs giving the stage-output layer
            names, in order, for feature extraction.
        weights: the pretrained sets, by ``weights=`` name.
        recipe: the family's paper training defaults, as
            :class:`keras_classics.training.RecipeConfig` fields (augmentation
            ``policy``, optimizer, learning rate at ``lr_batch_size``, …).
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
    aux_min_size: int | None = None
    macs: int | None = None
    depth: int | None = None
    variants: tuple = ()
    top1_error: float | None = None
    top5_error: float | None = None
    error_note: str = ""
    endpoints: Callable[..., list] | None = None
    weights: Mapping[str, WeightsSet] = field(default_factory=dict)
    recipe: Mapping = field(default_factory=dict)
    default_kwargs: Mapping = field(default_factory=dict)

    def __post_init__(self):
        for key in ("params", "aux_params", "min_size", "aux_min_size", "macs", "depth"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"Model {self.name!r}: `{key}` must be a non-negative integer. Received: {value!r}")
        if (self.aux_min_size is None) != (self.aux_params is None):
            raise ValueError(
                f"Model {self.name!r}: a model with auxiliary heads states both `aux_params` and `aux_min_size`, "
                f"a model without them neither. Received: aux_params={self.aux_params!r}, "
                f"aux_min_size={self.aux_min_size!r}."
            )

    @property
    def has_aux(self) -> bool:
        return self.aux_params is not None

    def min_input(self, aux_logits: bool = False) -> int:
        """The smallest square input side of the default options, with the auxiliary heads or without."""
        return self.aux_min_size if aux_logits and self.has_aux else self.min_size

    @property
    def imagenet_weights(self) -> bool:
        """Whether ``weights="imagenet"`` is available."""
        return "imagenet" in self.weights

    def build(self, **kwargs):
        merged = dict(self.default_kwargs)
        merged.update(kwargs)
        merged.setdefault("name", self.name)
        return self.builder(**merged)

    def counts_text(self) -> str:
        """The trainable parameter counts of the default and of each variant, as one sentence."""
        parts = [f"{self.params:,}" + (f" ({self.aux_params:,} with ``aux_logits=True``)" if self.has_aux else "")]
        for v in self.variants:
            if v.params is not None:
                aux = f" ({v.aux_params:,} with ``aux_logits=True``)" if v.aux_params else ""
                parts.append(f"{v.params:,}{aux} with ``{v.label}``")
        classes = inspect.signature(self.builder).parameters["classes"].default
        return f"Trainable parameters at {classes} classes: " + "; ".join(parts) + "."


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str | None = None, **info) -> Callable:
    """Decorator registering a builder under ``name`` (default: the function name).

    Keyword arguments become the :class:`ModelInfo` fields; ``weights`` may be
    given as a sequence of :class:`WeightsSet`. A name can be registered once;
    registering it again raises ``ValueError``. ``{counts}`` in the builder's
    docstring becomes :meth:`ModelInfo.counts_text`.
    """

    def wrap(fn):
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(
                f"A model named {key!r} is already registered (by "
                f"{_REGISTRY[key].builder.__module__}.{_REGISTRY[key].builder.__name__})."
            )
        fields = dict(info)
        family = fields.pop("family", fn.__module__.rsplit(".", 1)[-1])
        sets = fields.pop("weights", ())
        fields["weights"] = dict(sets) if isinstance(sets, Mapping) else {s.name: s for s in sets}
        _REGISTRY[key] = entry = ModelInfo(name=key, family=family, builder=fn, **fields)
        fn.model_info = entry
        if fn.__doc__ and "{counts}" in fn.__doc__:
            fn.__doc__ = fn.__doc__.replace("{counts}", entry.counts_text())
        return fn

    return wrap


def unknown_weights_set(model: str, weights) -> ValueError:
    """The error for a ``weights=`` name that is not a set of ``model``: its sets, and every set name."""
    sets = model_info(model).weights
    own = ", ".join(repr(s) for s in sets) or "none"
    every = sorted({s for info in _REGISTRY.values() for s in info.weights})
    return ValueError(
        f"Unknown weights set {weights!r} for {model!r}. Sets of {model!r}: {own} (all sets: "
        f"{', '.join(map(repr, every))}; see keras-classics weights list). Or give a path to a .weights.h5, "
        ".safetensors or .pth file, or weights=None."
    )


def torchvision_set(model: str) -> WeightsSet:
    """The first torchvision set of ``model``: its weights define the model's torchvision layout.

    Raises:
        ValueError: ``model`` has no torchvision counterpart (naming the models that have one).
    """
    for s in model_info(model).weights.values():
        if s.source == "torchvision":
            return s
    having = [n for n in list_models() if any(s.source == "torchvision" for s in _REGISTRY[n].weights.values())]
    raise ValueError(
        f"{model!r} has no torchvision counterpart, so a torchvision-layout state dict (.pth, .safetensors) "
        f"cannot be ported into it. Models with one: {', '.join(having)}."
    )


def _unknown(name, choices) -> ValueError:
    close = difflib.get_close_matches(str(name), choices, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(
        f"Unknown model name {name!r}.{hint} Available models: {', '.join(sorted(choices))}."
    )


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered model; unknown names suggest close ones."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise _unknown(name, list(_REGISTRY))
    return _REGISTRY[name]


def get_builder(name: str) -> Callable:
    """The builder function registered as ``name``."""
    return model_info(name).builder


def create_model(name: str, /, **kwargs):
    """Build a registered model by name (``name=`` in ``kwargs`` names the Keras model).

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
    names = [n for n, i in _REGISTRY.items() if family is None or i.family == family]
    if pattern:
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return sorted(names, key=_natural_key)


def _natural_key(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
