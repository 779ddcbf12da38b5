"""Shared layers and the plumbing every builder uses.

* :class:`LocalResponseNormalization`: the LRN of AlexNet, ZFNet and GoogLeNet,
  a serializable Keras layer built from ``keras.ops`` only.
* :func:`conv_bn_act`: convolution, optional batch norm, activation, with
  stable ``{name}_conv / {name}_bn / {name}_relu`` names.
* The keras.applications signature: :func:`check_args`, :func:`model_input`,
  :func:`classifier`, :func:`finish`. Builders call them in that order.
* :func:`strip_aux` and :func:`feature_extractor` for trained models.

Only ``keras`` is imported here: the models run on every Keras backend.
"""

from __future__ import annotations

import os

import keras
from keras import layers, ops

from keras_classics import arithmetic

__all__ = [
    "LocalResponseNormalization",
    "conv_bn_act",
    "check_args",
    "model_input",
    "classifier",
    "finish",
    "strip_aux",
    "feature_extractor",
    "output_dtype",
    "BASE_DOCSTRING",
]

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


@keras.saving.register_keras_serializable(package="keras_classics")
class LocalResponseNormalization(layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, §3.3).

    ``b_c = a_c / (k + alpha * S_c) ** beta`` where ``S_c`` is the sum of ``a**2``
    over the ``size`` channels centred on ``c`` (the paper's ``n``). With
    ``average=True`` the sum is divided by ``size`` first: Caffe's convention, used
    by the BVLC GoogLeNet release.

    Args:
        size: number of adjacent channels in the window (odd).
        alpha: scale of the sum of squares.
        beta: exponent.
        k: additive constant (the paper's ``k``; Caffe's ``k`` defaults to 1).
        average: divide the sum by ``size`` (Caffe) instead of using it as is.

    Example:
        >>> lrn = LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0)
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, average=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"`size` must be a positive odd integer. Received: size={size!r}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)
        self.average = bool(average)

    def call(self, inputs):
        channels = inputs.shape[-1]
        half = self.size // 2
        squared = ops.square(inputs)
        padded = ops.pad(squared, [[0, 0]] * (len(inputs.shape) - 1) + [[half, half]])
        window_sum = padded[..., 0:channels]
        for i in range(1, self.size):
            window_sum = window_sum + padded[..., i : i + channels]
        alpha = self.alpha / self.size if self.average else self.alpha
        return inputs / ops.power(self.k + alpha * window_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k, average=self.average)
        return config


def output_dtype():
    """``"float32"`` under a mixed-precision global policy (classifier outputs stay
    float32), else ``None`` (the layer follows the global policy)."""
    policy = keras.config.dtype_policy()
    if policy.compute_dtype != policy.variable_dtype:
        return "float32"
    return None


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
):
    """Conv2D → (BatchNormalization) → (activation), named ``{name}_conv/_bn/_relu``.

    ``padding`` is ``"same"``, ``"valid"`` or an int (explicit symmetric zero padding,
    Caffe/PyTorch style, added by a ``{name}_pad`` layer).
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
            epsilon=bn_epsilon, momentum=bn_momentum, scale=bn_scale, name=f"{name}_bn"
        )(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_{'relu' if activation == 'relu' else 'act'}")(x)
    return x


def check_args(
    model_name,
    *,
    include_top,
    weights,
    pooling,
    classes,
    imagenet=False,
    aux_logits=False,
):
    """Validate the keras.applications arguments shared by every builder.

    Raises:
        ValueError: naming the argument, what was received and what is accepted.
    """
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False. Received: include_top={include_top!r}")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be a positive integer. Received: classes={classes!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be one of None, 'avg', 'max'. Received: pooling={pooling!r}")
    if aux_logits and not include_top:
        raise ValueError(
            "`aux_logits=True` needs the classifier: the auxiliary heads are classifiers too. "
            "Received: aux_logits=True with include_top=False. Use include_top=True, or aux_logits=False."
        )
    if weights is None:
        return
    if weights == "imagenet":
        if not imagenet:
            raise ValueError(
                f"`weights='imagenet'` is not available for {model_name!r}: ImageNet weights are "
                "ported from keras.applications, which publishes them for resnet50, resnet101, "
                "resnet152 (v1), vgg16, vgg19 and inception_v3. Received: weights='imagenet'. "
                "Use weights=None or a path to a .weights.h5 file."
            )
        if include_top and classes != 1000:
            raise ValueError(
                "With `weights='imagenet'` and `include_top=True`, `classes` must be 1000. "
                f"Received: classes={classes}. Use include_top=False to put your own head on."
            )
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "`weights` must be None, 'imagenet' or a path to a .weights.h5 file. "
            f"Received: weights={weights!r}"
        )
    path = os.fspath(weights)
    if not path.endswith(".h5"):
        raise ValueError(f"`weights` must be None, 'imagenet' or a path ending in .weights.h5. Received: {path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"`weights` file not found: {path!r}")


def model_input(
    model_name,
    *,
    input_tensor,
    input_shape,
    include_top,
    default_size,
    min_size,
    weights=None,
    fixed_top_size=False,
):
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
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_classics models are built channels_last. Received: "
            f"keras.config.image_data_format()={keras.config.image_data_format()!r}. "
            "Call keras.config.set_image_data_format('channels_last')."
        )
    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = (default_size, default_size, 3) if include_top else (None, None, 3)
    try:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`input_shape` must be a tuple (height, width, channels). Received: input_shape={input_shape!r}"
        ) from None
    if len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must have 3 entries (height, width, channels), channels_last. "
            f"Received: input_shape={input_shape!r}"
        )
    h, w, c = input_shape
    if fixed_top_size and include_top and (h is None or w is None):
        raise ValueError(
            f"{model_name!r} flattens its last feature map into the fully connected layers, so with "
            f"include_top=True the input needs a fixed height and width. Received: input_shape={input_shape!r}. "
            f"Give a size (the paper's is {default_size}x{default_size}) or use include_top=False."
        )
    if c is None or c < 1:
        raise ValueError(f"`input_shape` needs a positive channel count. Received: input_shape={input_shape!r}")
    if weights == "imagenet" and c != 3:
        raise ValueError(
            f"ImageNet weights expect 3 input channels (RGB). Received: input_shape={input_shape!r}"
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


def classifier(x, *, include_top, pooling, classes, classifier_activation, dropout=0.0, name="predictions"):
    """Global average pooling → (dropout) → dense ``predictions``, or the headless pooling.

    Used by the families whose paper ends in global average pooling (GoogLeNet,
    Inception, ResNet). AlexNet, ZFNet and VGG build their FC stacks themselves.
    """
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        return layers.Dense(classes, activation=classifier_activation, dtype=output_dtype(), name=name)(x)
    return headless_pooling(x, pooling)


def headless_pooling(x, pooling):
    """The ``pooling`` argument with ``include_top=False``."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finish(inputs, outputs, *, name, weights, input_tensor=None, model_name=None, **imagenet_kwargs):
    """Create the functional model and load its weights.

    ``outputs`` is a tensor or a dict of named tensors (auxiliary heads).
    ``imagenet_kwargs`` are passed to :func:`keras_classics.weights.load_imagenet_weights`.
    """
    if input_tensor is not None and keras.utils.is_keras_tensor(input_tensor):
        inputs = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, outputs, name=name)
    if weights == "imagenet":
        from keras_classics.weights import load_imagenet_weights

        load_imagenet_weights(model, model_name or name, **imagenet_kwargs)
    elif weights is not None:
        from keras_classics.weights import load_weights_file

        load_weights_file(model, weights)
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


#: Attribute holding a model's metadata in memory (class names, eval transform, registry
#: name, backend: see ``keras_classics.predict.make_metadata``); ``.keras`` files carry it.
METADATA_ATTRIBUTE = "_keras_classics_metadata"


def keep_metadata(source, target):
    """``target``, given the metadata of ``source`` (a model derived from it keeps it); returns ``target``."""
    metadata = vars(source).get(METADATA_ATTRIBUTE)
    if metadata is not None and target is not source:
        object.__setattr__(target, METADATA_ATTRIBUTE, metadata)  # untracked by Keras
    return target


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
