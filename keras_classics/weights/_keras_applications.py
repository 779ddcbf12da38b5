"""``.weights.h5`` files, and ImageNet weights ported from keras.applications.

keras.applications publishes ImageNet weights for ResNet50/101/152 (v1), VGG16,
VGG19 and InceptionV3. Their layers differ from ours in ways that change no
output, and :func:`port_keras_applications` converts them exactly:

* **ResNet**: keras.applications' convolutions have a bias, followed by batch
  norm; ours have none. A bias ``b`` before BN only shifts the batch mean, so it
  folds into the moving mean: ``mean' = mean - b``.
* **Batch-norm epsilon**: keras.applications' ResNet uses 1.001e-5, ours 1e-5.
  The moving variance absorbs the difference: ``var' = var + eps_src - eps_dst``,
  so ``var' + eps_dst`` is unchanged.
* **Inception v3**: keras.applications names its layers automatically
  (``conv2d_N``, ``batch_normalization_N``) and its BN has no scale; layers are
  matched by their place in the graph (a walk from the output that follows each
  layer's inputs in order, identical for two networks of the same structure)
  and every kernel shape, stride and padding is compared; a BN without scale
  gives ``gamma = 1``.
* **VGG**: identical layer names and shapes, copied as they are.

Anything that does not match (another architecture, ResNet v1.5's moved
strides, a BN-less model receiving BN statistics) raises ``ValueError`` before
a single weight is written.

Only ``keras`` is imported: this works on every backend.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter

import keras
import numpy as np

from keras_classics.weights._files import fetch, prefetch_command


def imagenet_sets() -> dict:
    """``{registry name: WeightsSet}`` of the models with ``weights="imagenet"``, from the registry."""
    from keras_classics.models import list_models, model_info

    return {n: model_info(n).weights["imagenet"] for n in list_models() if "imagenet" in model_info(n).weights}


# --------------------------------------------------------------- weights files


def load_weights_file(model, path):
    """Load a weights file saved from the same architecture into ``model``.

    A ``.weights.h5`` file (``model.save_weights``) is first compared with the
    model, array by array, so a file of another architecture is refused with a
    readable reason instead of being loaded in part.

    Args:
        model: a built Keras model.
        path: path to a ``.weights.h5`` file (or a legacy Keras ``.h5`` file).

    Returns:
        ``model``, with its weights loaded.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file does not fit the model (naming the file, the model
            and what did not match).

    Example:
        >>> model.save_weights("run/resnet18.weights.h5")
        >>> load_weights_file(resnet18(classes=10), "run/resnet18.weights.h5")
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}")
    if path.endswith(".weights.h5"):
        _check_weights_file(model, path)
    try:
        model.load_weights(path)
    except Exception as e:  # Keras reports per-variable errors with their values: keep the reason only
        raise ValueError(
            f"Weights file {path!r} does not fit model {model.name!r}: {_first_reason(e)}"
        ) from None
    return model


def _file_shapes(path):
    import h5py  # a Keras dependency

    shapes = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: shapes.append(tuple(obj.shape)) if isinstance(obj, h5py.Dataset) else None)
    except OSError as e:
        raise ValueError(f"Weights file {path!r} is not a readable HDF5 file: {e}") from None
    return shapes


def _check_weights_file(model, path):
    in_file = Counter(_file_shapes(path))
    in_model = Counter(tuple(int(d) for d in w.shape) for w in model.weights)
    if in_file == in_model:
        return

    def describe(counter):
        arrays = sum(counter.values())
        values = sum(int(np.prod(s)) * n for s, n in counter.items())
        return f"{arrays} arrays, {values:,} values"

    def listing(counter):
        items = sorted(counter.items(), key=lambda kv: -int(np.prod(kv[0])))
        text = ", ".join(f"{s}" + (f" x{n}" if n > 1 else "") for s, n in items[:6])
        return text + (f", … ({len(items) - 6} more shapes)" if len(items) > 6 else "") if items else "none"

    raise ValueError(
        f"Weights file {path!r} was not saved from an architecture like model {model.name!r}: the file holds "
        f"{describe(in_file)}, the model {describe(in_model)}. Shapes only in the file: "
        f"{listing(in_file - in_model)}; only in the model: {listing(in_model - in_file)}. "
        "Build the model with the options (depth, variant, classes, include_top) the file was saved with."
    )


def _first_reason(error):
    text = str(error).split("Target variable:")[0]
    text = re.sub(r"\s+", " ", text).strip()
    return text[:500] + ("…" if len(text) > 500 else "")


# ------------------------------------------------------------- ImageNet weights


def load_imagenet_weights(model, model_name, **options):
    """Port keras.applications' ImageNet weights into ``model``.

    Builds the keras.applications counterpart from the weights file (fetched
    once into the Keras cache, ``~/.keras/models``, by
    :func:`keras_classics.weights.fetch`) and converts its weights with :func:`port_keras_applications`. With the top
    off (no ``predictions`` layer), the smaller "notop" file is used.

    Args:
        model: our model, built with the matching architecture.
        model_name: ``"resnet50"``, ``"resnet101"``, ``"resnet152"``, ``"vgg16"``,
            ``"vgg19"`` or ``"inception_v3"``.
        **options: the builder's family options; those the weights cannot serve
            are refused (``stride_in`` other than ``"1x1"``).

    Returns:
        The porting report of :func:`port_keras_applications`.

    Raises:
        ValueError: no keras.applications counterpart, or options or layers that
            do not match.
        WeightsUnavailableError: the weights file is not cached and could not be
            downloaded (a ``FileNotFoundError``; the message says what was tried
            and how to proceed).
    """
    sets = imagenet_sets()
    if model_name not in sets:
        raise ValueError(
            f"No ImageNet weights for {model_name!r}: keras.applications publishes them for "
            f"{', '.join(sets)}. Received: model_name={model_name!r}"
        )
    sets[model_name].check_options(model_name, options)
    include_top = any(layer.name == "predictions" for layer in model.layers)
    source = _keras_application(model_name, include_top)
    return port_keras_applications(source, model)


def _keras_application(model_name, include_top):
    weights_set = imagenet_sets()[model_name]
    # The file comes through the one download function (offline mode, the prefetch command); the
    # keras.applications builder then reads it by path and downloads nothing itself.
    path = fetch(weights_set, model=model_name, include_top=include_top)
    builder = getattr(keras.applications, weights_set.application)
    try:
        return builder(weights=path, include_top=include_top)
    except Exception as e:
        raise ValueError(
            f"Could not read the ImageNet weights of {model_name!r} from {path} with keras.applications."
            f"{weights_set.application}: {type(e).__name__}: {_first_reason(e)}. A damaged download? Delete that "
            f"file (it is the cache's copy) and fetch it again: {prefetch_command(model_name, weights_set.name)}."
        ) from None


# --------------------------------------------------------------------- porting


def port_keras_applications(src, dst):
    """Copy the weights of a keras.applications model into our equivalent model, exactly.

    Convolution and dense layers are paired by name when every name of ``src``
    exists in ``dst`` (ResNet, VGG), else by their place in the graph
    (InceptionV3's automatic names). Each pair must agree on layer type, kernel
    shape, strides, padding, dilation and groups; batch norms are paired through
    the convolution they follow. A convolution bias before BN is folded into the
    moving mean, a BN without scale gives gamma = 1, and different BN epsilons
    are absorbed by the moving variance, so both models compute the same
    function. Layers of ``dst`` outside its main path (auxiliary heads) keep
    their weights, with a warning.

    Args:
        src: a keras.applications model (any weights).
        dst: our model of the same architecture.

    Returns:
        A dict: ``{"matched_by": "name" | "structure", "layers": n_pairs,
        "folded_biases": n, "epsilon_adjusted": n, "unit_gamma": n,
        "not_ported": [dst layer names]}``.

    Raises:
        ValueError: listing every mismatch; ``dst`` is left unchanged.

    Example:
        >>> src = keras.applications.ResNet50(weights=None)
        >>> port_keras_applications(src, resnet50())["matched_by"]
        'name'
    """
    src_units = _units(src, _main_output(src))
    dst_units_main = _units(dst, _main_output(dst))
    dst_all = {u.layer.name: u for u in _units(dst, None)}
    problems = []

    by_name = all(u.layer.name in dst_all for u in src_units)
    if by_name:
        pairs = [(u, dst_all[u.layer.name]) for u in src_units]
        matched_by = "name"
    else:
        matched_by = "structure"
        missing = [u.layer.name for u in src_units if u.layer.name not in dst_all]
        if len(missing) < len(src_units) / 2:  # named alike, but some layers absent (a top, a stage)
            raise ValueError(
                f"Cannot port {src.name!r} into {dst.name!r}: {len(missing)} layer(s) of {src.name!r} have no "
                f"namesake in {dst.name!r}: {', '.join(missing[:8])}{', …' if len(missing) > 8 else ''}. "
                "Build both with the same include_top and depth."
            )
        if len(src_units) != len(dst_units_main):
            raise ValueError(
                f"Cannot port {src.name!r} into {dst.name!r}: the layer names differ and so does the structure: "
                f"{src.name!r} has {len(src_units)} convolution/dense layers on its main path, {dst.name!r} has "
                f"{len(dst_units_main)}. The models are different architectures."
            )
        pairs = list(zip(src_units, dst_units_main))
    paired = {d.layer.name for _, d in pairs}
    main_names = {u.layer.name for u in dst_units_main}
    leftover = [name for name in dst_all if name not in paired]
    for name in leftover:
        if name in main_names:
            problems.append(f"{dst.name}: layer {name!r} has no counterpart in {src.name}")

    assignments = []
    stats = Counter()
    for s, d in pairs:
        problems.extend(_compare(s, d))
    if not problems:
        for s, d in pairs:
            _convert(s, d, assignments, stats, problems)
    if problems:
        hint = ""
        if any("strides" in p for p in problems):
            hint = (
                " A stride placed elsewhere usually means ResNet v1.5 (stride_in='3x3'); keras.applications "
                "holds v1 weights."
            )
        shown = "\n  - ".join(problems[:12])
        more = f"\n  … and {len(problems) - 12} more" if len(problems) > 12 else ""
        raise ValueError(
            f"Cannot port {src.name!r} into {dst.name!r} (layers matched by {matched_by}); "
            f"{len(problems)} mismatch(es), nothing was changed:\n  - {shown}{more}\n{hint}".rstrip()
        )

    for variable, value in assignments:
        variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
    not_ported = [name for name in leftover if name not in main_names]
    if not_ported:
        warnings.warn(
            f"{len(not_ported)} layers of {dst.name!r} have no counterpart in {src.name!r} and keep their "
            f"initial weights: {', '.join(not_ported)}.",
            stacklevel=2,
        )
    return {
        "matched_by": matched_by,
        "layers": len(pairs),
        "folded_biases": stats["folded_biases"],
        "epsilon_adjusted": stats["epsilon_adjusted"],
        "unit_gamma": stats["unit_gamma"],
        "not_ported": not_ported,
    }


class _Unit:
    """A convolution or dense layer and the batch norm that consumes its output, if any."""

    def __init__(self, layer, bn=None):
        self.layer = layer
        self.bn = bn


def _main_output(model):
    names = {layer.name for layer in model.layers}
    if "predictions" in names:
        return model.get_layer("predictions").output
    outputs = model.outputs
    if len(outputs) != 1:
        raise ValueError(
            f"Model {model.name!r} has {len(outputs)} outputs and no 'predictions' layer: cannot tell its main path."
        )
    return outputs[0]


def _producer(tensor):
    history = tensor._keras_history
    return history.operation, history.node_index


def _walk(output):
    """Layers reaching ``output`` in post-order: a layer after all its inputs, inputs visited in call order."""
    order, done = [], set()
    stack = [(output, False)]
    while stack:
        tensor, expanded = stack.pop()
        layer, node_index = _producer(tensor)
        if id(layer) in done:
            continue
        if expanded:
            done.add(id(layer))
            order.append(layer)
            continue
        stack.append((tensor, True))
        inputs = layer._inbound_nodes[node_index].input_tensors
        stack.extend((t, False) for t in reversed(inputs))
    return order


_WEIGHTED = (keras.layers.Conv2D, keras.layers.Dense)


def _units(model, output):
    """Convolution / dense units of ``model`` (all of them, or those reaching ``output``), in graph order."""
    layers_ = _walk(output) if output is not None else _walk_all(model)
    bn_of = {}
    for layer in layers_:
        if isinstance(layer, keras.layers.BatchNormalization):
            producer, _ = _producer(layer.input)
            bn_of[id(producer)] = layer
    units, unsupported = [], []
    for layer in layers_:
        if isinstance(layer, _WEIGHTED) and type(layer) in (keras.layers.Conv2D, keras.layers.Dense):
            units.append(_Unit(layer, bn_of.get(id(layer))))
        elif isinstance(layer, keras.layers.BatchNormalization):
            producer, _ = _producer(layer.input)
            if not isinstance(producer, _WEIGHTED):
                unsupported.append(f"{layer.name} (batch norm after {type(producer).__name__})")
            if layer.renorm:
                unsupported.append(f"{layer.name} (batch renormalisation)")
        elif layer.weights:
            unsupported.append(f"{layer.name} ({type(layer).__name__})")
    if unsupported:
        raise ValueError(
            f"Model {model.name!r} has layers the keras.applications port does not handle: "
            f"{', '.join(unsupported[:8])}. Supported: Conv2D and Dense, each optionally followed by "
            "BatchNormalization."
        )
    return units


def _walk_all(model):
    order, seen = [], set()
    for output in model.outputs:
        for layer in _walk(output):
            if id(layer) not in seen:
                seen.add(id(layer))
                order.append(layer)
    return order


def _compare(s, d):
    """Structural differences between a source and a destination unit."""
    a, b = s.layer, d.layer
    where = f"{a.name} -> {b.name}"
    if type(a) is not type(b):
        return [f"{where}: {type(a).__name__} vs {type(b).__name__}"]
    problems = []
    if tuple(a.kernel.shape) != tuple(b.kernel.shape):
        problems.append(f"{where}: kernel shape {tuple(a.kernel.shape)} vs {tuple(b.kernel.shape)}")
    if isinstance(a, keras.layers.Conv2D):
        for attr in ("strides", "padding", "dilation_rate", "groups"):
            va, vb = getattr(a, attr), getattr(b, attr)
            if va != vb:
                problems.append(f"{where}: {attr} {va!r} vs {vb!r}")
    if s.bn is not None and d.bn is None:
        problems.append(
            f"{where}: the source normalises this layer ({s.bn.name}) but {b.name} has no batch norm to receive "
            "the statistics; a BN-less model cannot take these weights"
        )
    if s.bn is None and d.bn is not None:
        problems.append(f"{where}: {d.bn.name} has no counterpart (the source has no batch norm here)")
    if s.bn is None and a.use_bias and not b.use_bias:
        problems.append(f"{where}: the source has a bias and no batch norm to fold it into")
    return problems


def _convert(s, d, assignments, stats, problems):
    """Compute the destination values of one unit (float64), appending (variable, value) pairs."""
    a, b = s.layer, d.layer
    assignments.append((b.kernel, _np(a.kernel)))
    bias = _np(a.bias) if a.use_bias else np.zeros(b.kernel.shape[-1])
    if s.bn is None:
        if b.use_bias:
            assignments.append((b.bias, bias))
        return
    src_bn, dst_bn = s.bn, d.bn
    gamma = _np(src_bn.gamma) if src_bn.scale else np.ones_like(bias)
    beta = _np(src_bn.beta) if src_bn.center else np.zeros_like(bias)
    mean, var = _np(src_bn.moving_mean), _np(src_bn.moving_variance)
    if b.use_bias:
        assignments.append((b.bias, bias))
    elif a.use_bias:
        mean = mean - bias  # BN(conv(x) + b) with moving mean m == BN(conv(x)) with moving mean m - b
        stats["folded_biases"] += 1
    if src_bn.epsilon != dst_bn.epsilon:
        var = var + src_bn.epsilon - dst_bn.epsilon  # keeps var + eps, the only way they enter
        stats["epsilon_adjusted"] += 1
    if dst_bn.scale:
        assignments.append((dst_bn.gamma, gamma))
        if not src_bn.scale:
            stats["unit_gamma"] += 1
    elif not np.all(gamma == 1):
        problems.append(f"{src_bn.name} -> {dst_bn.name}: the source scales (gamma) but {dst_bn.name} has no scale")
    if dst_bn.center:
        assignments.append((dst_bn.beta, beta))
    elif not np.all(beta == 0):
        problems.append(f"{src_bn.name} -> {dst_bn.name}: the source shifts (beta) but {dst_bn.name} has no center")
    assignments.append((dst_bn.moving_mean, mean))
    assignments.append((dst_bn.moving_variance, var))


def _np(variable):
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64)
