"""BN-Inception (Inception v2): Ioffe & Szegedy, "Batch Normalization: Accelerating
Deep Network Training by Reducing Internal Covariate Shift", ICML 2015.

The network of the paper's Figure 5: GoogLeNet with batch normalization after
every convolution, each 5x5 convolution replaced by two stacked 3x3 ones (the
"double 3x3" branch), average pooling in most pooling branches, and two
stride-2 modules (3c, 4e) that reduce the grid with a max-pool pass-through
and no 1x1 branch, in place of GoogLeNet's max pools between stages. There is
no LRN and, following §4.2.1 of the paper, no dropout by default.

``variant="paper"`` (default) has 11,194,984 trainable parameters at 1000
classes. osmr's imgclsmob reports 11,295,240 for its port of the released Caffe
model; ``variant="caffe"`` builds that layout and gives exactly that count. The
100,256 extra parameters are:

* 90,240 from 128-filter (instead of 96) pool projections in 4c and 4d: Figure 5
  gives every 14x14 module a 576-channel output and 96 is what makes the
  branches of 4c and 4d add up to it (as in tf-slim's ``inception_v2``); with 128
  they output 608 channels and 4e outputs 1056, which widens 4d's projection,
  4e's reductions and 5a's convolutions too;
* 10,016 conv biases: the Caffe model keeps a bias in every conv before its
  batch norm, which BN's beta makes redundant (one per output channel of the
  conv layers of that layout).

Layer names follow the Caffe release with ``/`` replaced by ``_``:
``conv1_7x7_s2_conv``, ``pool1``, ``conv2_3x3_reduce_conv``, ``conv2_3x3_conv``,
``pool2``, ``inception_3a_1x1_conv``, ``inception_3a_3x3_reduce_conv``,
``inception_3a_3x3_conv``, ``inception_3a_double_3x3_reduce_conv``,
``inception_3a_double_3x3_1_conv``, ``inception_3a_double_3x3_2_conv``,
``inception_3a_pool``, ``inception_3a_pool_proj_conv``, ``inception_3a_output``, …,
``avg_pool``, ``predictions`` (``_bn`` and ``_relu`` follow every ``_conv``).

Conventions: stride-2 3x3 convolutions pad 1 pixel on each side (Caffe), max and
average pools are Keras ``"same"``-padded; at 224x224 every map size matches the
paper's. The 3x3/1 average pools exclude the padding from the mean (TensorFlow's
``"same"``; Caffe counts the zero padding).
"""

from __future__ import annotations

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp, min_input_size
from keras_classics.models import _layers
from keras_classics.models._layers import conv_bn_act
from keras_classics.registry import Variant, register_model

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = ["inception_v2", "bn_inception_module", "INCEPTION_V2_SPEC", "VARIANTS"]

# Figure 5 of the paper, top to bottom:
# (#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, pool proj, stride).
# Stride-2 modules have no 1x1 branch (0) and pass the max-pooled input through
# unprojected (pool proj 0).
INCEPTION_V2_SPEC = (
    ("inception_3a", (64, 64, 64, 64, 96, "avg", 32, 1)),  # 28x28x256
    ("inception_3b", (64, 64, 96, 64, 96, "avg", 64, 1)),  # 28x28x320
    ("inception_3c", (0, 128, 160, 64, 96, "max", 0, 2)),  # 14x14x576
    ("inception_4a", (224, 64, 96, 96, 128, "avg", 128, 1)),  # 14x14x576
    ("inception_4b", (192, 96, 128, 96, 128, "avg", 128, 1)),  # 14x14x576
    ("inception_4c", (160, 128, 160, 128, 160, "avg", 96, 1)),  # 14x14x576
    ("inception_4d", (96, 128, 192, 160, 192, "avg", 96, 1)),  # 14x14x576
    ("inception_4e", (0, 128, 192, 192, 256, "max", 0, 2)),  # 7x7x1024
    ("inception_5a", (352, 192, 320, 160, 224, "avg", 128, 1)),  # 7x7x1024
    ("inception_5b", (352, 192, 320, 192, 224, "max", 128, 1)),  # 7x7x1024
)

# The released Caffe model (osmr's imgclsmob, Cadene's pretrainedmodels): 128-filter
# pool projections in 4c and 4d.
_CAFFE_POOL_PROJ = {"inception_4c": 128, "inception_4d": 128}

VARIANTS = ("paper", "caffe")

# The spatial path: stem, then the two stride-2 modules (their convs pad 1 and
# their max pool is 'same', both giving ceil(N / 2)).
_OPS = (
    SpatialOp("conv1_7x7_s2", 7, 2, 3),
    SpatialOp("pool1", 3, 2, "same"),
    SpatialOp("pool2", 3, 2, "same"),
    SpatialOp("inception_3c", 3, 2, 1),
    SpatialOp("inception_4e", 3, 2, 1),
)
MIN_SIZE = min_input_size(_OPS)  # 1: every layer pads


def bn_inception_module(x, filters, *, name, use_bias=False, bn_epsilon=1e-3):
    """One BN-Inception module (a row of the paper's Figure 5).

    Branches: 1x1; 1x1 reduce → 3x3; 1x1 reduce → 3x3 → 3x3 (the factorized 5x5);
    3x3 pool → 1x1 projection. With stride 2 the last 3x3 of both 3x3 branches
    strides, there is no 1x1 branch and the max-pooled input passes through
    unprojected. Every conv is followed by batch norm and ReLU.

    Args:
        x: input feature map ``(batch, H, W, C)``.
        filters: ``(#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3,
            pool, pool proj, stride)`` with ``pool`` ``"avg"`` or ``"max"`` and
            ``#1x1 = pool proj = 0`` for stride 2.
        name: prefix of the layer names (``"inception_3a"``).
        use_bias: conv bias before each batch norm (the Caffe release).
        bn_epsilon: batch-norm epsilon.

    Returns:
        The concatenated map, layer ``{name}_output``.

    Example:
        >>> import keras
        >>> x = keras.Input((28, 28, 192))
        >>> bn_inception_module(x, (64, 64, 64, 64, 96, "avg", 32, 1), name="inception_3a").shape
        (None, 28, 28, 256)
    """
    c1, c3r, c3, d3r, d3, pool, pool_proj, stride = filters
    if pool not in ("avg", "max") or stride not in (1, 2) or (stride == 2 and (c1 or pool_proj)):
        raise ValueError(
            "`filters` must be (#1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, 'avg'|'max', "
            f"pool proj, 1|2), with #1x1 = pool proj = 0 for stride 2. Received: filters={filters!r}"
        )

    def conv(t, f, k, s=1, *, suffix):
        # Stride-2 3x3 convs pad 1 on each side (Caffe); stride 1 is 'same'.
        return conv_bn_act(
            t, f, k, s, 1 if s == 2 else "same", name=f"{name}_{suffix}", use_bias=use_bias, bn_epsilon=bn_epsilon
        )

    branches = []
    if c1:
        branches.append(conv(x, c1, 1, suffix="1x1"))
    b = conv(x, c3r, 1, suffix="3x3_reduce")
    branches.append(conv(b, c3, 3, stride, suffix="3x3"))
    # Figure 5's "double 3x3": two stacked 3x3 convs in place of GoogLeNet's 5x5.
    b = conv(x, d3r, 1, suffix="double_3x3_reduce")
    b = conv(b, d3, 3, suffix="double_3x3_1")
    branches.append(conv(b, d3, 3, stride, suffix="double_3x3_2"))
    pool_layer = layers.AveragePooling2D if pool == "avg" else layers.MaxPooling2D
    b = pool_layer(3, strides=stride, padding="same", name=f"{name}_pool")(x)
    if pool_proj:
        b = conv(b, pool_proj, 1, suffix="pool_proj")
    branches.append(b)
    return layers.Concatenate(axis=-1, name=f"{name}_output")(branches)


def inception_v2_endpoints(**_):
    """Stage outputs (strides 2, 4, 8, 16, 32) of :func:`inception_v2`, as layer names."""
    return ["conv1_7x7_s2_relu", "conv2_3x3_relu", "inception_3b_output", "inception_4d_output", "inception_5b_output"]


# Ioffe & Szegedy 2015, Sec. 4.2: Inception's SGD with the rate raised x5 (0.0075 at batch 32) and
# the L2 weight lowered x5 (4e-5 from Inception's 2e-4); Inception crops.
RECIPE = dict(policy="inception", optimizer="sgd", lr=0.0075, lr_batch_size=32, momentum=0.9, weight_decay=4e-5)


def _inception_v2(args, *, variant, dropout):
    _layers.check_choice("variant", variant, VARIANTS)
    _layers.check_rate("dropout", dropout)
    img_input, inputs = _layers.model_input(args, default_size=224, min_size=MIN_SIZE)
    caffe = variant == "caffe"
    conv_kwargs = dict(use_bias=caffe, bn_epsilon=1e-5 if caffe else 1e-3)

    # Stem: 224 -> 112 -> 56 -> 28.
    x = conv_bn_act(img_input, 64, 7, 2, 3, name="conv1_7x7_s2", **conv_kwargs)  # 112x112x64
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)  # 56x56x64
    x = conv_bn_act(x, 64, 1, name="conv2_3x3_reduce", **conv_kwargs)  # 56x56x64
    x = conv_bn_act(x, 192, 3, name="conv2_3x3", **conv_kwargs)  # 56x56x192
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)  # 28x28x192

    # Modules 3a–5b (Figure 5 order; shapes in INCEPTION_V2_SPEC for the paper variant).
    for block, filters in INCEPTION_V2_SPEC:
        if caffe and block in _CAFFE_POOL_PROJ:
            # NOTE(deviation): the released Caffe model projects to 128, not 96 (608 channels out).
            filters = filters[:6] + (_CAFFE_POOL_PROJ[block],) + filters[7:]
        x = bn_inception_module(x, filters, name=block, **conv_kwargs)

    # Figure 5's 7x7 average pool over the 7x7x1024 map of 5b is a global average
    # pool at 224; GlobalAveragePooling2D keeps the model valid at any size.
    x = _layers.classifier(x, args, dropout=dropout)
    return _layers.finish(inputs, x, args)


_DOC = """BN-Inception (Inception v2), Figure 5 of the batch-normalization paper.

    {counts} The ``"caffe"`` count is the one osmr's imgclsmob reports; the
    module docstring itemizes the difference.

    Reference:
        Ioffe & Szegedy, "Batch Normalization: Accelerating Deep Network Training
        by Reducing Internal Covariate Shift", ICML 2015 (arXiv:1502.03167).

    Args:
{base_args}
        variant: ``"paper"`` (Figure 5, no conv bias, BN epsilon 1e-3) or
            ``"caffe"`` (the released Caffe model: conv bias before each BN,
            128-filter pool projections in 4c and 4d, BN epsilon 1e-5).
        dropout: dropout rate before the classifier. 0 by default: the paper
            removes dropout from the batch-normalized network (§4.2.1);
            tf-slim's ``inception_v2`` uses 0.2.

    Returns:
        A ``keras.Model``.

    Example:
        >>> model = inception_v2(classes=10, input_shape=(224, 224, 3))
        >>> model.output.shape
        (None, 10)
    """

inception_v2 = register_model(
    "inception_v2",
    paper="Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
    venue="ICML",
    year=2015,
    default_size=224,
    min_size=MIN_SIZE,
    preprocessing="torch",
    params=11_194_984,
    macs=2_018_851_840,
    depth=34,
    variants=(
        Variant(
            "variant='caffe'",
            {"variant": "caffe"},
            11_295_240,
            note="the released Caffe model as ported by osmr's imgclsmob: conv bias before BN, "
            "128-filter pool projections in 4c and 4d",
        ),
    ),
    top1_error=25.2,
    top5_error=7.82,
    error_note=(
        "Paper Figure 4, 'BN-Inception single crop' (one model, one 224 crop, validation set). "
        "144 crops: 21.99% / 5.82%; the 6-model ensemble: 20.1% / 4.9% (4.8% on the test set)."
    ),
    endpoints=inception_v2_endpoints,
    recipe=RECIPE,
)(
    _layers.make_builder("inception_v2", _inception_v2, dict(variant="paper", dropout=0.0), _DOC, __name__)
)
