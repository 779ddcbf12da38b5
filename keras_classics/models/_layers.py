"""Shared layers and the plumbing every builder uses.

* :func:`lrn`: the LRN of AlexNet, ZFNet and GoogLeNet
  (:class:`~keras_classics.models.LocalResponseNormalization`), in float32 under
  mixed precision.
* :func:`conv_bn_act`: convolution, optional batch norm, activation, with
  stable ``{name}_conv / {name}_bn / {name}_relu`` names.
* :func:`make_builder`: the public builder of a model, with the
  keras.applications signature (``include_top, weights, input_tensor,
  input_shape, pooling, classes, classifier_activation, name``) plus the
  family's options, its arguments checked once and handed to the family's
  network function as :class:`BuildArgs`. That function calls
  :func:`model_input`, then :func:`classifier` or :func:`fc_classifier`, then
  :func:`finish`.
* :func:`strip_aux` and :func:`feature_extractor` for trained models.

Only ``keras`` is used here, imported at the first build: the models run on every Keras backend.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from keras_classics import arithmetic
from keras_classics._lazy import lazy_module
from keras_classics.registry import model_info
from keras_classics.metadata import keep_metadata
from keras_classics.models.weights_hook import weights_hook

__all__ = [
    "ALEXNET_LRN",
    "lrn",
    "conv_bn_act",
    "BuildArgs",
    "make_builder",
    "check_rate",
    "check_choice",
    "check_bool",
    "model_input",
    "classifier",
    "fc_classifier",
    "finish",
    "strip_aux",
    "feature_extractor",
    "output_dtype",
    "BASE_DOCSTRING",
]

keras = lazy_module("keras")  # Keras loads at the first build, so the registry entries import without it
layers = lazy_module("keras.layers")
_keras_layers = lazy_module("keras_classics.models._keras_layers")  # the package's own Keras layers

BASE_DOCSTRING = """
        include_top: whether to include the classifier on top.
        weights: ``None`` (random initialisation), ``"imagenet"`` (ported from
            keras.applications, where that model is published there) or the
            path to a ``.weights.h5`` file saved from the same architecture.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: optional ``(height, width, channels)``; defaults to the
            paper's resolution with the top on and ``(None, None, 3)`` without.
            Smaller than the architecture's minimum (computed from its layers)
            is refused.
        pooling: with ``include_top=False``: ``None`` (4-D feature map),
            ``"avg"`` or ``"max"`` (global pooling to a 2-D tensor).
        classes: number of classes of the classifier (``include_top=True``).
        classifier_activation: activation of the ``predictions`` layer
            (``"softmax"``, ``None`` for logits, or any Keras activation).
        name: model name."""


# AlexNet, Section 3.3: k = 2, n = 5, alpha = 1e-4, beta = 0.75, the sum of squares not
# averaged. ZFNet's "contrast normalisation" uses the same settings.
ALEXNET_LRN = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0, "average": False}


def output_dtype():
    """``"float32"`` under a mixed-precision global policy (classifier outputs stay
    float32), else ``None`` (the layer follows the global policy)."""
    policy = keras.config.dtype_policy()
    if policy.compute_dtype != policy.variable_dtype:
        return "float32"
    return None


def lrn(x, name, **params):
    """A :class:`LocalResponseNormalization` layer, computed in float32 under mixed
    precision: squared activations of a few hundred already overflow float16
    (the window sum of 484**2 is inf, and the output 0)."""
    return _keras_layers.LocalResponseNormalization(**params, dtype=output_dtype(), name=name)(x)


def conv_bn_act(
    x,
    filters,
    kernel_size,
    strides=1,
    padding="same",
    *,
    name,
    use_bias=False,
    batch_norm=True,
    activation="relu",
    groups=1,
    bn_epsilon=1e-3,
    bn_momentum=0.99,
    bn_scale=True,
    zero_gamma=False,
):
    """Conv2D → (BatchNormalization) → (activation), named ``{name}_conv/_bn/_relu``.

    ``padding`` is ``"same"``, ``"valid"`` or an int (explicit symmetric zero padding,
    Caffe/PyTorch style, added by a ``{name}_pad`` layer). ``zero_gamma`` starts the
    batch norm's scale at 0 (a residual branch that begins as the identity).
    """
    if isinstance(padding, int):
        if padding:
            x = layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=groups,
        use_bias=use_bias,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(
            epsilon=bn_epsilon, momentum=bn_momentum, scale=bn_scale,
            gamma_initializer="zeros" if zero_gamma else "ones", name=f"{name}_bn",
        )(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{'relu' if activation == 'relu' else 'act'}")(x)
    return x


# --------------------------------------------------------------------------- checks


def check_rate(arg, value):
    """Validate a dropout rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{arg}` must be a number in [0, 1). Received: {arg}={value!r}")


def check_choice(arg, value, choices, what=""):
    """Validate an option against its accepted values."""
    if value not in choices:
        raise ValueError(
            f"`{arg}` must be one of {', '.join(map(repr, choices))}{what}. Received: {arg}={value!r}"
        )


def check_activation(arg, value):
    """``value`` must be None, a callable or the name of a Keras activation (the names are listed if not)."""
    if value is None or callable(value):
        return
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        names = sorted(n for n in dir(keras.activations) if not n.startswith("_") and n not in ("get", "serialize",
                                                                                               "deserialize"))
        raise ValueError(
            f"`{arg}` must be None (logits), a callable or the name of a Keras activation: "
            f"{', '.join(names)}. Received: {arg}={value!r}"
        ) from None


def check_bool(arg, value):
    """Validate a True/False option."""
    if not isinstance(value, bool):
        raise ValueError(f"`{arg}` must be True or False. Received: {arg}={value!r}")


# --------------------------------------------------------------------------- builders

# The keras.applications arguments shared by every builder, with their defaults.
COMMON_DEFAULTS = {
    "include_top": True,
    "weights": None,
    "input_tensor": None,
    "input_shape": None,
    "pooling": None,
    "classes": 1000,
    "classifier_activation": "softmax",
}


@dataclass(frozen=True)
class BuildArgs:
    """The keras.applications arguments of one builder call, checked, and the registry name."""

    model: str
    include_top: bool
    weights: Any
    input_tensor: Any
    input_shape: Any
    pooling: str | None
    classes: int
    classifier_activation: Any
    name: str


def make_builder(model: str, network: Callable, options: dict, doc: str, module: str) -> Callable:
    """The public builder ``model(*, include_top=True, ..., name=model, **options)``.

    The keyword-only signature is the keras.applications one followed by the
    family's ``options`` (with their defaults), visible to ``help()`` and
    ``inspect.signature``. A call checks the shared arguments once
    (:func:`check_args`), then returns ``network(BuildArgs, **options)``.

    Args:
        model: registry name, also the default ``name``.
        network: the family's network function.
        options: the family's options and their defaults.
        doc: the docstring; ``{base_args}`` becomes :data:`BASE_DOCSTRING`.
        module: the family module's ``__name__``.
    """
    defaults = {**COMMON_DEFAULTS, "name": model, **options}
    signature = inspect.Signature(
        [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in defaults.items()]
    )

    def builder(*args, **kwargs):
        if args:
            raise TypeError(
                f"{model}() takes keyword arguments only (the keras.applications convention). "
                f"Received {len(args)} positional argument(s): {args!r}"
            )
        unknown = [k for k in kwargs if k not in defaults]
        if unknown:
            raise TypeError(
                f"{model}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}. "
                f"Accepted: {', '.join(defaults)}."
            )
        values = {**defaults, **kwargs}
        # Pretrained weights choose the variant they were trained as: fill in the options they
        # need unless given; a different value given explicitly is refused by check_args.
        if values["weights"] is not None:
            for key, needed in weights_hook().requires(model, values["weights"]).items():
                if key in options and key not in kwargs:
                    values[key] = needed
        # An option may also change a shared default (``classes=10`` for the CIFAR networks): that
        # value reaches the network through ``BuildArgs``, not as a family option.
        family = {k: values[k] for k in options if k not in COMMON_DEFAULTS}
        build = BuildArgs(model=model, **{k: values[k] for k in (*COMMON_DEFAULTS, "name")})
        check_args(build, family)
        return network(build, **family)

    builder.__signature__ = signature
    builder.__name__ = builder.__qualname__ = model
    builder.__module__ = module
    builder.__doc__ = doc.replace("{base_args}", BASE_DOCSTRING.strip("\n"))
    return builder


def check_args(args: BuildArgs, options=None):
    """Validate the keras.applications arguments shared by every builder.

    The weights sets a model can load, and the options they need, come from its
    registry entry.

    Raises:
        ValueError: naming the argument, what was received and what is accepted.
    """
    check_bool("include_top", args.include_top)
    if isinstance(args.classes, bool) or not isinstance(args.classes, int) or args.classes < 1:
        raise ValueError(f"`classes` must be a positive integer. Received: classes={args.classes!r}")
    check_choice("pooling", args.pooling, (None, "avg", "max"))
    check_activation("classifier_activation", args.classifier_activation)
    if not isinstance(args.name, str) or not args.name:
        raise ValueError(f"`name` must be a non-empty string. Received: name={args.name!r}")
    if (options or {}).get("aux_logits") and not args.include_top:
        raise ValueError(
            "`aux_logits=True` needs the classifier: the auxiliary heads are classifiers too. "
            "Received: aux_logits=True with include_top=False. Use include_top=True, or aux_logits=False."
        )
    weights = args.weights
    if weights is None:
        return
    sets = model_info(args.model).weights
    if isinstance(weights, str) and weights in sets:
        sets[weights].check_options(args.model, options or {})
        if args.include_top and args.classes != 1000:
            raise ValueError(
                f"With `weights={weights!r}` and `include_top=True`, `classes` must be 1000 (the classifier "
                f"the weights hold). Received: classes={args.classes}. Use include_top=False to put your own "
                "head on."
            )
        return
    weights_hook().check_file(args.model, weights, options or {})  # a weights file, or refused


def model_input(args: BuildArgs, *, default_size, min_size, fixed_top_size=False):
    """Resolve the input shape and return the image input tensor.

    Args:
        min_size: smallest accepted height and width (from
            :func:`keras_classics.arithmetic.min_input_size` on the model's path).
        fixed_top_size: the classifier flattens a feature map (AlexNet, ZFNet,
            VGG): with the top on, height and width must be given (not None).

    Returns:
        ``(img_input, inputs)``: the tensor the layers consume and the model's
        input (they differ only when ``input_tensor`` is not a Keras Input).
    """
    model_name, input_tensor, input_shape = args.name, args.input_tensor, args.input_shape
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_classics models are built channels_last. Received: "
            f"keras.config.image_data_format()={keras.config.image_data_format()!r}. "
            "Call keras.config.set_image_data_format('channels_last')."
        )
    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = (default_size, default_size, 3) if args.include_top else (None, None, 3)
    input_shape = _checked_shape(input_shape)
    h, w, c = input_shape
    if fixed_top_size and args.include_top and (h is None or w is None):
        raise ValueError(
            f"{model_name!r} flattens its last feature map into the fully connected layers, so with "
            f"include_top=True the input needs a fixed height and width. Received: input_shape={input_shape!r}. "
            f"Give a size (the paper's is {default_size}x{default_size}) or use include_top=False."
        )
    if args.weights is not None and isinstance(args.weights, str) and not args.weights.endswith(".h5") and c != 3:
        raise ValueError(
            f"Pretrained weights expect 3 input channels (RGB). Received: input_shape={input_shape!r}"
        )
    for d in (h, w):
        if d is not None and d < min_size:
            raise ValueError(
                f"`input_shape` {input_shape} is too small for {model_name!r}: its layers need at least "
                f"{min_size}x{min_size} pixels (computed from the model's strides, kernels and padding). "
                f"The paper's size is {default_size}x{default_size}."
            )
    if input_tensor is None:
        inputs = keras.Input(shape=input_shape, name="image")
        return inputs, inputs
    if not keras.utils.is_keras_tensor(input_tensor):
        inputs = keras.Input(tensor=input_tensor, shape=input_shape, name="image")
        return inputs, inputs
    return input_tensor, input_tensor


def _checked_shape(input_shape):
    """``input_shape`` as a tuple of three positive ints (height and width may be None)."""
    accepted = "a tuple of 3 integers (height, width, channels), channels_last, e.g. (224, 224, 3)"
    if isinstance(input_shape, (str, bytes)) or not isinstance(input_shape, (tuple, list)):
        raise ValueError(f"`input_shape` must be {accepted}. Received: input_shape={input_shape!r}")
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must have 3 entries: {accepted}. Received: input_shape={input_shape!r}")
    for d in input_shape:
        if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
            raise ValueError(
                f"`input_shape` must be {accepted}; each entry a positive integer (None for a free height or "
                f"width). Received: input_shape={input_shape!r}"
            )
    if input_shape[2] is None:
        raise ValueError(f"`input_shape` needs a positive channel count. Received: input_shape={input_shape!r}")
    return tuple(input_shape)


def classifier(x, args: BuildArgs, *, dropout=0.0, name="predictions"):
    """Global average pooling → (dropout) → dense ``predictions``, or the headless pooling.

    Used by the families whose paper ends in global average pooling (GoogLeNet,
    Inception, ResNet). AlexNet, ZFNet and VGG use :func:`fc_classifier`.
    """
    if args.include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        return layers.Dense(args.classes, activation=args.classifier_activation, dtype=output_dtype(),
                            name=name)(x)
    return headless_pooling(x, args.pooling)


def fc_classifier(x, args: BuildArgs, *, dropout, fc_names):
    """Flatten → fully connected 4096 + ReLU + dropout, twice → ``predictions``.

    The head of AlexNet, ZFNet and VGG. Without the top, ``pooling`` applies.
    The flattened size follows the last feature map, so the top needs a fixed
    input height and width, and a size other than the paper's changes the
    first fully connected layer's weight shape (as in keras.applications).

    Args:
        fc_names: names of the two hidden layers (``("fc6", "fc7")`` in Caffe's
            AlexNet naming, ``("fc1", "fc2")`` in keras.applications' VGG).
    """
    if not args.include_top:
        return headless_pooling(x, args.pooling)
    if any(d is None for d in x.shape[1:]):
        raise ValueError(
            f"With `include_top=True`, {args.name!r} flattens its last feature map, so the input needs a fixed "
            f"height and width. Received an input that gives a feature map of shape {tuple(x.shape[1:])}. "
            "Pass input_shape=(height, width, channels), or use include_top=False."
        )
    x = layers.Flatten(name="flatten")(x)
    for fc in fc_names:
        x = layers.Dense(4096, activation="relu", name=fc)(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{fc}_dropout")(x)
    return layers.Dense(args.classes, activation=args.classifier_activation, dtype=output_dtype(),
                        name="predictions")(x)


def headless_pooling(x, pooling):
    """The ``pooling`` argument with ``include_top=False``."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finish(inputs, outputs, args: BuildArgs, **options):
    """Create the functional model and load its weights.

    ``outputs`` is a tensor or a dict of named tensors (auxiliary heads).
    ``options`` (the family's) are passed to the weights hook's ``load``
    (:mod:`keras_classics.models.weights_hook`).
    """
    if args.input_tensor is not None and keras.utils.is_keras_tensor(args.input_tensor):
        inputs = keras.utils.get_source_inputs(args.input_tensor)
    model = keras.Model(inputs, outputs, name=args.name)
    if args.weights is not None:
        weights_hook().load(model, args.model, args.weights, options)
    return model


def strip_aux(model):
    """The main-output model of a model with auxiliary heads, sharing its weights.

    A model without auxiliary heads is returned unchanged.
    """
    if not isinstance(getattr(model, "_outputs_struct", None), dict) and len(model.outputs) == 1:
        return model
    try:
        main = model.get_layer("predictions").output
    except ValueError:
        raise ValueError(
            f"Model {model.name!r} has several outputs but no 'predictions' layer; "
            f"outputs: {[t.name for t in model.outputs]}"
        ) from None
    return keep_metadata(model, keras.Model(_model_inputs(model), main, name=model.name))


def feature_extractor(model, endpoints):
    """A model returning a dict ``{layer_name: output}`` of the given endpoint layers.

    Args:
        model: a built functional model.
        endpoints: layer names (see ``ModelInfo.endpoints``).
    """
    names = [l.name for l in model.layers]
    outs = {}
    for ep in endpoints:
        if ep not in names:
            raise ValueError(
                f"Unknown endpoint {ep!r} for model {model.name!r}. "
                f"Layers with outputs: {', '.join(names)}"
            )
        outs[ep] = model.get_layer(ep).output
    return keras.Model(_model_inputs(model), outs, name=f"{model.name}_features")


def _model_inputs(model):
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def min_size(ops, final_size=1):
    """Shorthand for :func:`keras_classics.arithmetic.min_input_size`."""
    return arithmetic.min_input_size(ops, final_size)
