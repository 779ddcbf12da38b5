"""Two small networks that the experiments train: ``convnet4`` and ``mlp``.

Which variant is built, exactly:

* ``convnet4``: the "four-layer convolutional neural network" of Krizhevsky et
  al.'s Figure 1 (ReLU against tanh on CIFAR-10). The paper does not give its
  layers; this is the layout of the CIFAR-10 example of the authors' cuda-convnet:
  three 5x5 convolutions (32, 32, 64 filters, padding 2), each followed by the
  activation and a 3x3/2 pooling (max after the first, average after the
  others), and one fully connected classifier: four weight layers. No
  normalisation, no dropout ("no regularization of any kind", Figure 1's
  caption). ``activation`` chooses ``"relu"`` (the paper's solid line) or
  ``"tanh"`` (its dashed line).
* ``mlp``: a fully connected network on the flattened image (``hidden`` units
  per layer, ReLU), the baseline against which LeCun et al. (1998, Section II)
  argue for local receptive fields and shared weights.

Map sizes of ``convnet4`` at 32x32::

    conv1 32 5x5 pad 2  32x32x32 -> pool1 max 3x3/2  16x16x32
    conv2 32 5x5 pad 2  16x16x32 -> pool2 avg 3x3/2   8x8x32
    conv3 64 5x5 pad 2   8x8x64  -> pool3 avg 3x3/2   4x4x64 -> flatten 1024
    predictions 10

References: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012, Figure 1. LeCun, Bottou, Bengio &
Haffner, "Gradient-Based Learning Applied to Document Recognition", Proceedings
of the IEEE, 1998.
"""

from __future__ import annotations

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp, min_input_size
from keras_classics.models import _layers
from keras_classics.registry import Variant, register_model

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = ["convnet4", "mlp", "CONVNET4_FILTERS", "ACTIVATIONS", "mlp_params"]

CONVNET4_FILTERS = (32, 32, 64)
ACTIVATIONS = ("relu", "tanh")
DEFAULT_SIZE = 32
_POOLS = ("max", "avg", "avg")
SPATIAL_OPS = tuple(
    op
    for i in (1, 2, 3)
    for op in (SpatialOp(f"conv{i}", 5, 1, 2), SpatialOp(f"pool{i}", 3, 2, "same"))
)
MIN_SIZE = min_input_size(SPATIAL_OPS)

# Trainable parameters at 32x32 and the builders' default 10 classes.
_CONVNET4_PARAMS = 89_578
_MLP_PARAMS = 3_157_002  # hidden=(1024,)

# Figure 1: plain SGD training without regularisation or augmentation; the paper tuned each
# network's learning rate (not published), so this rate is a starting point.
RECIPE = dict(policy="none", optimizer="sgd", lr=0.01, lr_batch_size=128, momentum=0.9, weight_decay=0.0)


def mlp_params(input_features, hidden, classes):
    """Trainable parameters of :func:`mlp` (every layer a dense layer with bias)."""
    total, fan_in = 0, input_features
    for units in tuple(hidden) + (classes,):
        total += fan_in * units + units
        fan_in = units
    return total


def _convnet4(args, *, activation):
    _layers.check_choice("activation", activation, ACTIVATIONS)
    img_input, inputs = _layers.model_input(args, default_size=DEFAULT_SIZE, min_size=MIN_SIZE, fixed_top_size=True)
    x = img_input
    for i, (filters, pool) in enumerate(zip(CONVNET4_FILTERS, _POOLS), start=1):
        # NOTE(deviation): Keras' Glorot-uniform initialisation; cuda-convnet drew N(0, 1e-4..1e-2).
        x = layers.Conv2D(filters, 5, padding="same", activation=activation, name=f"conv{i}")(x)
        pool_layer = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
        x = pool_layer(3, strides=2, padding="same", name=f"pool{i}")(x)  # 16, 8, 4 at 32x32
    if args.include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(args.classes, activation=args.classifier_activation, dtype=_layers.output_dtype(),
                         name="predictions")(x)
    else:
        x = _layers.headless_pooling(x, args.pooling)
    return _layers.finish(inputs, x, args)


_CONVNET4_DOC = f"""The four-layer network of Krizhevsky et al.'s Figure 1 ({_CONVNET4_PARAMS:,} parameters at 32x32, 10 classes).

    Reference: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with
    Deep Convolutional Neural Networks", NIPS 2012, Figure 1.

    Args:
{{base_args}}
        activation: ``"relu"`` (the paper's solid line) or ``"tanh"`` (dashed).

    ``classes`` defaults to CIFAR-10's 10.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> relu_net = convnet4()                       # 32x32x3 -> 10 classes
        >>> tanh_net = convnet4(activation="tanh")
"""

convnet4 = register_model(
    "convnet4",
    paper="ImageNet Classification with Deep Convolutional Neural Networks (Figure 1)",
    venue="NIPS",
    year=2012,
    default_size=DEFAULT_SIZE,
    min_size=MIN_SIZE,
    preprocessing="torch",
    # NOTE(deviation): the count at 32x32 and the builder's default 10 classes (CIFAR-10).
    params=_CONVNET4_PARAMS,
    macs=12_298_240,
    depth=4,
    variants=(Variant("activation=tanh", {"activation": "tanh"}, _CONVNET4_PARAMS, note="Figure 1's dashed line"),),
    error_note="no ImageNet result: Figure 1 reports training error on CIFAR-10",
    endpoints=lambda **_: ["pool1", "pool2", "pool3"],
    recipe=RECIPE,
)(_layers.make_builder("convnet4", _convnet4, dict(classes=10, activation="relu"), _CONVNET4_DOC, __name__))


def _mlp(args, *, hidden):
    try:
        hidden = tuple(int(h) for h in hidden)
    except (TypeError, ValueError):
        raise ValueError(f"`hidden` must be a list of positive integers. Received: hidden={hidden!r}") from None
    if not hidden or not all(h >= 1 for h in hidden):
        raise ValueError(f"`hidden` must be a non-empty list of positive integers. Received: hidden={hidden!r}")
    img_input, inputs = _layers.model_input(args, default_size=DEFAULT_SIZE, min_size=1, fixed_top_size=True)
    x = layers.Flatten(name="flatten")(img_input)
    for i, units in enumerate(hidden, start=1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
    if args.include_top:
        x = layers.Dense(args.classes, activation=args.classifier_activation, dtype=_layers.output_dtype(),
                         name="predictions")(x)
    return _layers.finish(inputs, x, args)


_MLP_DOC = f"""A fully connected network on the flattened image ({_MLP_PARAMS:,} parameters at 32x32x3, 10 classes).

    Reference: LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning
    Applied to Document Recognition", Proceedings of the IEEE, 1998, Section II.

    Args:
{{base_args}}
        hidden: units of each hidden layer (ReLU), e.g. ``(1024,)``. Without
            the top the model ends at the last hidden layer (``pooling`` is
            ignored: there is no map to pool).

    ``classes`` defaults to 10. The input needs a fixed size with or without the top.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> net = mlp(hidden=(29,))                     # about convnet4's parameter budget
"""

mlp = register_model(
    "mlp",
    paper="Gradient-Based Learning Applied to Document Recognition (Section II)",
    venue="Proceedings of the IEEE",
    year=1998,
    default_size=DEFAULT_SIZE,
    min_size=1,
    preprocessing="torch",
    # NOTE(deviation): the count at 32x32x3, hidden=(1024,) and 10 classes.
    params=_MLP_PARAMS,
    macs=3_155_968,
    depth=2,
    error_note="a baseline, not an ImageNet model",
    endpoints=lambda hidden=(1024,), **_: [f"fc{i}" for i in range(1, len(hidden) + 1)],
    recipe=RECIPE,
)(_layers.make_builder("mlp", _mlp, dict(classes=10, hidden=(1024,)), _MLP_DOC, __name__))
