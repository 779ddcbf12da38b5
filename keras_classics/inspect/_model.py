"""Turning what a user names into a built Keras model.

A model is given as a registered name (``"resnet50"``), a name with builder
options (``"resnet50:stride_in=3x3"``), a path to a ``.keras`` file (loaded in
safe mode) or a ``keras.Model``.
"""

from __future__ import annotations

import ast
import os

from keras_classics._lazy import lazy_module
from keras_classics.models import list_models, model_info
from keras_classics.runs import is_run_dir, resolve_model_file

keras = lazy_module("keras")  # imported when a model is built or loaded: names and specs parse without it


def parse_spec(spec: str) -> tuple[str, dict]:
    """``"resnet50:stride_in=3x3,classes=10"`` → ``("resnet50", {"stride_in": "3x3", "classes": 10})``.

    Values are read as Python literals where they are one (``10``, ``True``,
    ``None``, ``(224, 224, 3)``) and kept as strings otherwise.
    """
    name, _, opts = spec.partition(":")
    return name, parse_options(o for o in _split_top_level(opts) if o)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets (tuples as option values)."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_options(options) -> dict:
    """``["variant=owt", "classes=10"]`` → ``{"variant": "owt", "classes": 10}``."""
    out = {}
    for opt in options or ():
        key, sep, value = opt.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(
                f"A builder option must read KEY=VALUE with KEY a Python name. Received: {opt!r} "
                "(e.g. variant=owt, stride_in=3x3, classes=10)."
            )
        out[key] = literal(value.strip())
    return out


def literal(value: str):
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def is_model_file(spec) -> bool:
    """A ``.keras`` path, or a training run directory (which means its model file)."""
    if not isinstance(spec, (str, os.PathLike)):
        return False
    return os.fspath(spec).endswith(".keras") or is_run_dir(spec)


def load_model_file(path) -> keras.Model:
    """Load a ``.keras`` file, or a run directory's (:func:`keras_classics.runs.resolve_model_file`), with
    its metadata, in safe mode (no arbitrary code from lambdas): :func:`keras_classics.models.files.load_keras_model`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model file not found: {path!r}")
    if is_run_dir(path):
        path = resolve_model_file(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"Expected a .keras file or a training run directory, received a directory "
                                f"without best.keras or final.keras: {path!r}")
    from keras_classics.models.files import load_keras_model  # imports Keras: only when a file is read

    return load_keras_model(path)


def info_for(model_or_name):
    """The registry entry of a name, or of a model whose name is registered; else ``None``."""
    name = model_or_name if isinstance(model_or_name, str) else getattr(model_or_name, "name", None)
    if isinstance(name, str) and not is_model_file(name):
        name = parse_spec(name)[0]
        if name in list_models():
            return model_info(name)
    return None


def resolve(model_or_name, input_shape=None, *, default_input=True, **builder_kwargs):
    """Return ``(model, info, kwargs)`` for a name, spec, ``.keras`` path or model.

    Args:
        model_or_name: see the module docstring.
        input_shape: ``(H, W, C)`` or an int (square, 3 channels). Registered
            names default to the paper's resolution (with ``default_input``) so
            that multiply-adds are defined; a given model is rebuilt at this shape
            only if it differs.
        **builder_kwargs: builder options (names and specs only).

    Returns:
        The built model, its ``ModelInfo`` (or ``None``) and the builder options used.
    """
    input_shape = normalize_shape(input_shape)
    if isinstance(model_or_name, keras.Model):
        if builder_kwargs:
            raise ValueError(
                f"Builder options apply to registered names, not to a built model. "
                f"Received options {sorted(builder_kwargs)} with model {model_or_name.name!r}."
            )
        model = with_input_shape(model_or_name, input_shape)
        return model, info_for(model), {}
    if is_model_file(model_or_name):
        if builder_kwargs:
            raise ValueError(
                f"Builder options apply to registered names, not to a saved model. "
                f"Received options {sorted(builder_kwargs)} with {os.fspath(model_or_name)!r}."
            )
        model = with_input_shape(load_model_file(model_or_name), input_shape)
        return model, info_for(model), {}
    if not isinstance(model_or_name, str):
        raise ValueError(
            "Expected a registered model name, a path to a .keras file, a training run directory or a keras.Model. "
            f"Received: {model_or_name!r}"
        )
    name, opts = parse_spec(model_or_name)
    opts.update(builder_kwargs)
    if name in BLOCKS:
        return inception_block(name, input_shape=input_shape, **opts), None, opts
    info = model_info(name)
    if input_shape is None and default_input and "input_tensor" not in opts and "input_shape" not in opts:
        # With the classifier the builder picks its paper size itself (a variant may differ:
        # AlexNet's "owt" is 224, the 2012 paper 227); without it the input would be open.
        if opts.get("include_top", True) is False:
            input_shape = (info.default_size, info.default_size, 3)
    if input_shape is not None:
        opts["input_shape"] = input_shape
    try:
        model = info.build(**opts)
    except TypeError as e:
        raise ValueError(f"Bad builder option for {name!r}: {e}") from None
    return model, info, opts


# Building blocks that ``summary`` and ``compare`` accept by name, as one-block models.
BLOCKS = ("inception_module", "naive_inception_module")


def inception_block(kind="inception_module", module="3a", input_shape=None, batch_norm=False):
    """One GoogLeNet Inception module as a model, at its place in the network.

    Args:
        kind: ``"inception_module"`` (paper Fig. 2b, with 1x1 reductions) or
            ``"naive_inception_module"`` (Fig. 2a: the same 1x1, 3x3 and 5x5 widths,
            no reductions, the pooled input passed through).
        module: the Table 1 row, ``"3a"`` … ``"5b"``.
        input_shape: defaults to the module's input in GoogLeNet at 224
            (``3a``: 28x28x192).
        batch_norm: batch norm after every conv.
    """
    from keras_classics.models.googlenet import GOOGLENET_SPEC, inception_module, naive_inception_module

    if kind not in BLOCKS:
        raise ValueError(f"Unknown block {kind!r}. Accepted: {', '.join(BLOCKS)}.")
    spec = dict(GOOGLENET_SPEC)
    key = f"inception_{module}"
    if spec.get(key) is None:
        modules = [k.split("_", 1)[1] for k, v in GOOGLENET_SPEC if v is not None]
        raise ValueError(f"Unknown Inception module {module!r}. Accepted: {', '.join(modules)}.")
    if input_shape is None:
        input_shape = _module_input(module)
    input_shape = normalize_shape(input_shape)
    filters = spec[key]
    x = keras.Input(shape=input_shape, name="features")
    if kind == "inception_module":
        y = inception_module(x, filters, name=key, batch_norm=batch_norm)
        name = key
    else:
        c1, _, c3, _, c5, _ = filters
        y = naive_inception_module(x, (c1, c3, c5), name=f"naive_{key}", batch_norm=batch_norm)
        name = f"naive_{key}"
    return keras.Model(x, y, name=name)


def _module_input(module: str) -> tuple:
    """Input shape of a GoogLeNet module at 224: the previous module's width, the stage's size."""
    from keras_classics.models.googlenet import GOOGLENET_SPEC

    size = {"3": 28, "4": 14, "5": 7}[module[0]]
    channels = 192  # the stem's output
    for key, filters in GOOGLENET_SPEC:
        if key == f"inception_{module}":
            return (size, size, channels)
        if filters is not None:
            c1, _, c3, _, c5, proj = filters
            channels = c1 + c3 + c5 + proj
    raise ValueError(f"Unknown Inception module {module!r}.")


def normalize_shape(input_shape):
    if input_shape is None:
        return None
    if isinstance(input_shape, bool):
        raise ValueError(f"`input_shape` must be an int or (H, W, C). Received: {input_shape!r}")
    if isinstance(input_shape, int):
        if input_shape < 1:
            raise ValueError(f"The input size must be a positive integer. Received: {input_shape}")
        return (input_shape, input_shape, 3)
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"`input_shape` must be an int or (H, W, C). Received: {input_shape!r}") from None
    if len(shape) != 3:
        raise ValueError(f"`input_shape` must be (H, W, C), channels last. Received: {input_shape!r}")
    return shape


def functional(model) -> keras.Model:
    """The functional graph of a functional or built Sequential model."""
    inner = getattr(model, "_functional", None)  # a built keras.Sequential
    if isinstance(model, keras.Sequential):
        if inner is None:
            raise ValueError(
                f"Sequential model {model.name!r} is not built: give it a keras.Input first."
            )
        return inner
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"The inspector reads a model's layer graph, so it needs a functional or Sequential "
            f"model. Received a subclassed model {type(model).__name__!r} ({model.name!r})."
        )
    return model


def with_input_shape(model, input_shape):
    """The model itself, or a clone of its graph on a new input shape (fresh weights)."""
    if input_shape is None:
        return model
    graph = functional(model)
    if len(graph.inputs) != 1:
        raise ValueError(f"`input_shape` applies to single-input models; {model.name!r} has {len(graph.inputs)}.")
    if tuple(graph.inputs[0].shape[1:]) == tuple(input_shape):
        return model
    new_input = keras.Input(shape=input_shape, name=graph.inputs[0].name)
    try:
        return keras.models.clone_model(graph, input_tensors=new_input)
    except ValueError as e:
        raise ValueError(f"Model {model.name!r} cannot take input shape {input_shape}: {e}") from None
