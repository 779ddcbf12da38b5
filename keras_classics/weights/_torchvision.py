"""Porting torchvision state dicts into our models, exactly, and back.

Our AlexNet (``variant="owt"``), VGG, VGG-BN, GoogLeNet (``variant="torchvision"``),
Inception v3 (``count_include_pad=True``) and ResNets (v1.5 with
``stride_in="3x3"`` from 50 layers) compute the same functions as torchvision's
models, so their weights load exactly. What changes on the way:

* **Convolution kernels**: torchvision stores ``(out, in / groups, kh, kw)``,
  Keras ``(kh, kw, in / groups, out)``; grouped convolutions split their output
  channels into consecutive groups in both.
* **Dense kernels**: ``(out, in)`` becomes ``(in, out)``. A fully connected layer
  that reads a flattened feature map (AlexNet's and VGG's fc6/fc1, GoogLeNet's
  auxiliary fc1) also has its inputs reordered: torch flattens channels first
  (C, H, W), Keras channels last (H, W, C).
* **Batch norm**: ``weight, bias, running_mean, running_var`` become ``gamma,
  beta, moving_mean, moving_variance``; a different epsilon is absorbed by the
  variance (``var + eps`` is what counts). ``num_batches_tracked`` is ignored.
* **Input scaling**: torchvision's GoogLeNet and Inception v3 weights come with
  ``transform_input=True``, which turns the usual mean/std input back into
  ``[-1, 1]``; the weights set's eval transform says ``"tf"`` preprocessing,
  which is the same.

Keys are torchvision's own (``model.state_dict()``); timm's copies of the same
weights use other names for VGG's head (``pre_logits.fc1`` as a 7x7
convolution, ``pre_logits.fc2``, ``head.fc``) and are accepted too, as is
the ``module.`` prefix of ``DataParallel`` checkpoints.
"""

from __future__ import annotations

import re

import keras
import numpy as np
from keras import ops

#: torchvision's batch-norm epsilon per family (its BasicConv2d for the Inception networks).
SOURCE_BN_EPSILON = {"resnet": 1e-5, "vgg": 1e-5, "googlenet": 1e-3, "inception_v3": 1e-3}

# Parts of a torchvision state dict a model may leave out: the auxiliary heads (when built
# without them) and the classifier (include_top=False).
_AUX_PREFIXES = {"googlenet": ("aux1.", "aux2."), "inception_v3": ("AuxLogits.",)}
_TOP_PREFIXES = {"resnet": ("fc.",), "vgg": ("classifier.",), "alexnet": ("classifier.",),
                 "googlenet": ("fc.",), "inception_v3": ("fc.",)}


# ------------------------------------------------------------------ names


def _resnet_names(model):
    names = {}
    for layer in _weighted(model):
        n = layer.name
        if n in ("conv1_conv", "conv1_bn"):
            names[n] = "conv1" if n.endswith("conv") else "bn1"
        elif n == "predictions":
            names[n] = "fc"
        else:
            m = re.fullmatch(r"conv(\d)_block(\d+)_(\d)_(conv|bn)", n)
            if m is None:
                continue
            stage, block, index, kind = int(m[1]), int(m[2]), m[3], m[4]
            base = f"layer{stage - 1}.{block - 1}"
            if index == "0":
                names[n] = f"{base}.downsample.{0 if kind == 'conv' else 1}"
            else:
                names[n] = f"{base}.{'conv' if kind == 'conv' else 'bn'}{index}"
    return names


def _vgg_names(model):
    """``features.N``: every conv (and its BN) and ReLU counts one, every pool one."""
    names, index = {}, 0
    convs = [l for l in model.layers if re.fullmatch(r"block\d_conv\d", l.name)]
    layer_names = {l.name for l in model.layers}
    previous_block = None
    for conv in convs:
        block = conv.name.split("_")[0]
        if previous_block is not None and block != previous_block:
            index += 1  # the max pool closing the previous block
        previous_block = block
        names[conv.name] = f"features.{index}"
        index += 1
        if f"{conv.name}_bn" in layer_names:
            names[f"{conv.name}_bn"] = f"features.{index}"
            index += 1
        index += 1  # ReLU
    for ours, theirs in (("fc1", "classifier.0"), ("fc2", "classifier.3"), ("predictions", "classifier.6")):
        if ours in layer_names:
            names[ours] = theirs
    return names


def _alexnet_names(model):
    table = {"conv1": "features.0", "conv2": "features.3", "conv3": "features.6", "conv4": "features.8",
             "conv5": "features.10", "fc6": "classifier.1", "fc7": "classifier.4", "predictions": "classifier.6"}
    return {l.name: table[l.name] for l in _weighted(model) if l.name in table}


_GOOGLENET_STEM = {"conv1_7x7_s2": "conv1", "conv2_3x3_reduce": "conv2", "conv2_3x3": "conv3"}
_GOOGLENET_BRANCHES = {"1x1": "branch1", "3x3_reduce": "branch2.0", "3x3": "branch2.1", "5x5_reduce": "branch3.0",
                       "5x5": "branch3.1", "pool_proj": "branch4.1"}


def _googlenet_names(model):
    names = {}
    for layer in _weighted(model):
        n = layer.name
        if n == "predictions":
            names[n] = "fc"
            continue
        m = re.fullmatch(r"aux_(\d)(?:_(proj_conv|proj_bn|fc))?", n)
        if m:
            head = f"aux{m[1]}"
            part = {"proj_conv": "conv.conv", "proj_bn": "conv.bn", "fc": "fc1", None: "fc2"}[m[2]]
            names[n] = f"{head}.{part}"
            continue
        m = re.fullmatch(r"(.+)_(conv|bn)", n)
        if m is None:
            continue
        base, kind = m[1], m[2]
        if base in _GOOGLENET_STEM:
            names[n] = f"{_GOOGLENET_STEM[base]}.{kind}"
            continue
        m = re.fullmatch(r"inception_(\d[a-e])_(.+)", base)
        if m and m[2] in _GOOGLENET_BRANCHES:
            names[n] = f"inception{m[1]}.{_GOOGLENET_BRANCHES[m[2]]}.{kind}"
    return names


def _inception_v3_names(model):
    names = {}
    for layer in _weighted(model):
        n = layer.name
        if n == "predictions":
            names[n] = "fc"
        elif n == "aux":
            names[n] = "AuxLogits.fc"
        elif m := re.fullmatch(r"conv2d_(.+)_(conv|bn)", n):
            names[n] = f"Conv2d_{m[1]}.{m[2]}"
        elif m := re.fullmatch(r"mixed_(\d[a-e])_(branch.+)_(conv|bn)", n):
            names[n] = f"Mixed_{m[1]}.{m[2]}.{m[3]}"
        elif m := re.fullmatch(r"aux_(conv\d)_(conv|bn)", n):
            names[n] = f"AuxLogits.{m[1]}.{m[2]}"
    return names


_NAMES = {"resnet": _resnet_names, "vgg": _vgg_names, "alexnet": _alexnet_names, "googlenet": _googlenet_names,
          "inception_v3": _inception_v3_names}

FAMILIES = tuple(_NAMES)


def _weighted(model):
    return [layer for layer in model.layers if layer.weights]


def _variant_problem(model, family):
    """Why ``model`` computes another function than torchvision's with the same weight shapes, or ``None``.

    The shapes catch most variants; these do not change a single shape.
    """
    names = {layer.name for layer in model.layers}
    if family == "resnet" and "conv3_block1_3_conv" in names:  # a bottleneck network
        if tuple(model.get_layer("conv3_block1_2_conv").strides) != (2, 2):
            return ("it is built with stride_in='1x1' (ResNet v1, the stride on the first 1x1 convolution); "
                    "torchvision's bottleneck ResNets are v1.5: build it with stride_in='3x3'")
    if family == "inception_v3" and "mixed_5b_branch_pool_pad" not in names:
        return ("it is built with count_include_pad=False (TensorFlow's average pools); torchvision's count the "
                "zero padding: build it with count_include_pad=True")
    if family == "alexnet" and {"norm1", "norm2"} & names:
        return "it has local response normalisation, which torchvision's AlexNet does not: build it with lrn=False"
    return None


# ------------------------------------------------------------------ arrays


class _Slot:
    """One torch array and the Keras variable it fills; the conversions take and give backend tensors."""

    def __init__(self, key, variable, shape, to_keras, to_torch, flattened=False):
        self.key, self.variable, self.shape = key, variable, shape
        self.to_keras, self.to_torch = to_keras, to_torch
        self.flattened = flattened  # a dense kernel reading a flattened feature map


def _flatten_input(layer):
    """``(H, W, C)`` when ``layer`` (a Dense) reads a flattened map larger than 1x1, else ``None``."""
    producer = layer.input._keras_history.operation
    if not isinstance(producer, keras.layers.Flatten):
        return None
    shape = tuple(producer.input.shape[1:])
    if len(shape) != 3 or shape[0] * shape[1] == 1:
        return None
    return tuple(int(d) for d in shape)


def _slots(model, family, source_epsilon):
    """Every array the torchvision layout has for ``model``, with its conversions."""
    names = _NAMES[family](model)
    slots, unmapped = [], []
    for layer in _weighted(model):
        prefix = names.get(layer.name)
        if prefix is None:
            unmapped.append(f"{layer.name} ({type(layer).__name__})")
            continue
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
            slots.append(_Slot(f"{prefix}.weight", layer.kernel, (cout, cin, kh, kw),
                               lambda a: ops.transpose(a, (2, 3, 1, 0)), lambda a: ops.transpose(a, (3, 2, 0, 1))))
            if layer.use_bias:
                slots.append(_Slot(f"{prefix}.bias", layer.bias, (cout,), _same, _same))
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = (int(d) for d in layer.kernel.shape)
            hwc = _flatten_input(layer)
            if hwc is None:
                to_keras = to_torch = ops.transpose
            else:
                h, w, c = hwc
                # torch input index c*H*W + h*W + w  ->  Keras input index (h*W + w)*C + c
                to_keras = (lambda a, h=h, w=w, c=c: ops.reshape(
                    ops.transpose(ops.reshape(a, (-1, c, h, w)), (2, 3, 1, 0)), (h * w * c, -1)))
                to_torch = (lambda a, h=h, w=w, c=c: ops.reshape(
                    ops.transpose(ops.reshape(a, (h, w, c, -1)), (3, 2, 0, 1)), (-1, c * h * w)))
            slots.append(_Slot(f"{prefix}.weight", layer.kernel, (cout, cin), to_keras, to_torch,
                               flattened=hwc is not None))
            if layer.use_bias:
                slots.append(_Slot(f"{prefix}.bias", layer.bias, (cout,), _same, _same))
        elif isinstance(layer, keras.layers.BatchNormalization):
            if not (layer.scale and layer.center):
                unmapped.append(f"{layer.name} (batch norm without scale or center)")
                continue
            channels = (int(layer.gamma.shape[0]),)
            slots.append(_Slot(f"{prefix}.weight", layer.gamma, channels, _same, _same))
            slots.append(_Slot(f"{prefix}.bias", layer.beta, channels, _same, _same))
            slots.append(_Slot(f"{prefix}.running_mean", layer.moving_mean, channels, _same, _same))
            shift = float(source_epsilon) - float(layer.epsilon)  # var' + eps_ours == var + eps_torch
            slots.append(_Slot(f"{prefix}.running_var", layer.moving_variance, channels,
                               lambda a, s=shift: a + s, lambda a, s=shift: a - s))
        else:
            unmapped.append(f"{layer.name} ({type(layer).__name__})")
    if unmapped:
        raise ValueError(
            f"Model {model.name!r} has weighted layers with no place in torchvision's {family} layout: "
            f"{', '.join(unmapped[:8])}{', …' if len(unmapped) > 8 else ''}. Build it with the options the "
            "torchvision weights need (see keras-classics weights list)."
        )
    return slots


def _same(a):
    return a


def _layout_slots(model, family, variant_message):
    """The slots of ``model`` in torchvision's ``family`` layout, after refusing a family without one
    and a variant torchvision does not have (``variant_message`` formats the reason)."""
    if family not in _NAMES:
        raise ValueError(
            f"No torchvision layout for the {family!r} family. Families with one: {', '.join(FAMILIES)}."
        )
    variant = _variant_problem(model, family)
    if variant:
        raise ValueError(variant_message.format(variant))
    return _slots(model, family, SOURCE_BN_EPSILON.get(family, 0.0))


def normalize_keys(state: dict, family: str) -> dict:
    """torchvision's key names for a state dict that may use timm's or carry a ``module.`` prefix.

    ``num_batches_tracked`` entries are dropped (a counter, not a weight).
    """
    out = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if key.startswith("module."):
            key = key[len("module."):]
        if family == "vgg":
            if key.startswith("pre_logits.fc1."):
                key = "classifier.0." + key.rsplit(".", 1)[1]
                value = value.reshape(value.shape[0], -1) if value.ndim == 4 else value
            elif key.startswith("pre_logits.fc2."):
                key = "classifier.3." + key.rsplit(".", 1)[1]
                value = value.reshape(value.shape[0], -1) if value.ndim == 4 else value
            elif key.startswith("head.fc."):
                key = "classifier.6." + key.rsplit(".", 1)[1]
        out[key] = value
    return out


def port_state_dict(state: dict, model, family: str) -> dict:
    """Load a torchvision-layout state dict into ``model``; all or nothing.

    Every array is checked (key present, shape) and converted before the
    first is written, so a failure leaves ``model`` unchanged.

    Args:
        state: ``{torchvision key: numpy array}`` (see :func:`normalize_keys`).
        model: our model, built with the options the layout needs.
        family: the registry family (``"resnet"``, ``"vgg"``, ``"alexnet"``,
            ``"googlenet"``, ``"inception_v3"``).

    Returns:
        A report: ``{"loaded": n_arrays, "values": n_values, "ignored": [keys]}``
        (``ignored``: auxiliary heads or classifier the model was built without).

    Raises:
        ValueError: missing keys, unexpected keys or shape mismatches, all listed.
    """
    slots = _layout_slots(model, family, f"Cannot load torchvision's weights into {model.name!r}: {{}}. "
                                         "Nothing was loaded.")
    state = normalize_keys(state, family)
    wanted = {s.key for s in slots}
    has_aux = any(s.key.startswith(_AUX_PREFIXES.get(family, ("\0",))) for s in slots)
    has_top = any(s.key.startswith(_TOP_PREFIXES[family]) for s in slots)
    optional = (() if has_aux else _AUX_PREFIXES.get(family, ())) + (() if has_top else _TOP_PREFIXES[family])
    problems = []
    missing = [s.key for s in slots if s.key not in state]
    if missing:
        problems.append(f"{len(missing)} key(s) the model needs are missing: {_listing(missing)}")
    unexpected = [k for k in state if k not in wanted and not k.startswith(optional or ("\0",))]
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    misshapen = [s for s in slots if s.key in state and tuple(state[s.key].shape) != s.shape]
    for s in misshapen:
        problems.append(f"{s.key}: the file has shape {tuple(state[s.key].shape)}, the model needs {s.shape}")
    if problems:
        hint = ""
        if unexpected or [k for k in missing if not k.startswith(_TOP_PREFIXES[family])]:
            hint = "\nWeights of another network, or of another variant? See keras-classics weights list."
        elif any(s.flattened for s in misshapen):
            hint = ("\nThe flattened feature map has another size: build the model at the input size the weights "
                    "were trained at (224x224 for torchvision's AlexNet and VGG), or with include_top=False.")
        elif any(s.key.startswith(_TOP_PREFIXES[family]) for s in misshapen):
            hint = "\nA classifier of another size: build with that many classes, or include_top=False."
        raise ValueError(
            f"The state dict does not fit {model.name!r} (torchvision {family} layout); nothing was loaded:\n  - "
            + "\n  - ".join(problems[:10]) + (f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else "")
            + hint
        )
    values = []
    for s in slots:
        # Converted by the backend (a 100-million-value transpose takes a fraction of NumPy's time).
        value = s.to_keras(ops.convert_to_tensor(np.asarray(state[s.key], dtype=np.float32)))
        if s.key.endswith("running_var") and float(ops.min(value)) < 0:
            raise ValueError(f"{s.key}: negative running variance after the epsilon adjustment; nothing was loaded.")
        values.append(ops.cast(value, s.variable.dtype))
    for s, value in zip(slots, values):
        s.variable.assign(value)
    return {
        "loaded": len(slots),
        "values": int(sum(int(np.prod(s.shape)) for s in slots)),
        "ignored": sorted(k for k in state if k not in wanted),
    }


def export_state_dict(model, family: str) -> dict:
    """``model``'s weights as a torchvision-layout state dict of NumPy arrays (the inverse of
    :func:`port_state_dict`; batch norms get ``num_batches_tracked = 0``, as a fresh torch model has)."""
    state = {}
    for s in _layout_slots(model, family, f"{model.name!r} has no torchvision counterpart as built: {{}}."):
        value = s.to_torch(ops.cast(ops.convert_to_tensor(s.variable), "float32"))
        state[s.key] = np.ascontiguousarray(ops.convert_to_numpy(value), dtype=np.float32)
        if s.key.endswith(".running_var"):
            state[s.key[: -len("running_var")] + "num_batches_tracked"] = np.array(0, dtype=np.int64)
    return state


def _listing(keys, n=6):
    return ", ".join(keys[:n]) + (f", … ({len(keys) - n} more)" if len(keys) > n else "")
