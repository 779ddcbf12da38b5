"""GoogLeNet (Inception v1): Szegedy et al., "Going Deeper with Convolutions", CVPR 2015.

The network of Table 1 of the paper, the ILSVRC 2014 winner: a 7x7/2 stem, nine
Inception modules (3a–5b) in three stages separated by stride-2 max pools, global
average pooling, dropout 0.4 and a 1000-way classifier. Two auxiliary classifiers
on the outputs of 4a and 4d exist only with ``aux_logits=True``.

Three variants, chosen with ``variant=`` (trainable parameters at 1000 classes;
the second number is with ``aux_logits=True``):

* ``"paper"`` (default): conv bias, no batch norm, LRN after the first pool and
  after conv2, true 5x5 convolutions. 6,998,552 / 13,378,280.
* ``"bn"``: batch norm after every conv (conv bias dropped: BN's beta replaces
  it), no LRN, true 5x5. 7,005,832 / 13,385,816.
* ``"torchvision"``: the layout of torchvision's (and tf-slim's) GoogLeNet, whose
  "5x5" branch uses a 3x3 kernel, kept for weight compatibility; 2x2 pool4 and
  adaptive 4x4 pooling in the auxiliary heads. 6,624,904 / 13,004,888.

Layer names follow the BVLC Caffe release with ``/`` replaced by ``_``:
``conv1_7x7_s2_conv``, ``pool1``, ``norm1``, ``conv2_3x3_reduce_conv``,
``inception_3a_1x1_conv``, ``inception_3a_3x3_reduce_conv``, ``inception_3a_5x5_conv``,
``inception_3a_pool_proj_conv``, ``inception_3a_output``, ``pool3``, …,
``avg_pool``, ``predictions``; the auxiliary heads are ``aux_1_*`` and ``aux_2_*``
with output layers ``aux_1`` and ``aux_2``.

Convention: every max pool is Keras ``"same"``-padded. At 224x224 every pooled
map has an even size and this equals Caffe's ceil-mode pooling exactly; at odd
sizes the Keras map is one pixel larger.
"""

from __future__ import annotations

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp, min_input_size
from keras_classics.models import _layers
from keras_classics.models._layers import conv_bn_act
from keras_classics.registry import EvalTransform, Variant, register_model, torchvision_weights

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = ["googlenet", "inception_module", "naive_inception_module", "GOOGLENET_SPEC", "VARIANTS"]

# Table 1 of the paper, top to bottom. Module rows give
# (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); ``None`` rows are the
# 3x3/2 max pools between stages.
GOOGLENET_SPEC = (
    ("inception_3a", (64, 96, 128, 16, 32, 32)),  # 28x28x256
    ("inception_3b", (128, 128, 192, 32, 96, 64)),  # 28x28x480
    ("pool3", None),  # 14x14x480
    ("inception_4a", (192, 96, 208, 16, 48, 64)),  # 14x14x512
    ("inception_4b", (160, 112, 224, 24, 64, 64)),  # 14x14x512
    ("inception_4c", (128, 128, 256, 24, 64, 64)),  # 14x14x512
    ("inception_4d", (112, 144, 288, 32, 64, 64)),  # 14x14x528
    ("inception_4e", (256, 160, 320, 32, 128, 128)),  # 14x14x832
    ("pool4", None),  # 7x7x832
    ("inception_5a", (256, 160, 320, 32, 128, 128)),  # 7x7x832
    ("inception_5b", (384, 192, 384, 48, 128, 128)),  # 7x7x1024
)

# Where the auxiliary classifiers sit: output name -> module whose output they read.
AUX_HEADS = {"aux_1": "inception_4a", "aux_2": "inception_4d"}

VARIANTS = ("paper", "bn", "torchvision")

# The spatial path (layers that change the size; 'same' stride-1 convs left out).
_STEM_OPS = (
    SpatialOp("conv1_7x7_s2", 7, 2, 3),
    SpatialOp("pool1", 3, 2, "same"),
    SpatialOp("pool2", 3, 2, "same"),
)
_OPS_TO_4A = _STEM_OPS + (SpatialOp("pool3", 3, 2, "same"),)
_OPS_TO_5B = _OPS_TO_4A + (SpatialOp("pool4", 3, 2, "same"),)
# The paper's auxiliary heads start with a 5x5/3 'valid' average pool: 14 -> 4 at 224.
_AUX_POOL = SpatialOp("aux_pool", 5, 3, "valid")

MIN_SIZE = min_input_size(_OPS_TO_5B)  # 1: every pool is 'same'-padded
MIN_SIZE_AUX = min_input_size(_OPS_TO_4A + (_AUX_POOL,))  # 65: 4a must be at least 5x5

# LRN as configured in the BVLC Caffe release: local_size 5, alpha 1e-4, beta 0.75,
# Caffe's k = 1 and its averaging of the window sum.
_LRN = dict(size=5, alpha=1e-4, beta=0.75, k=1.0, average=True)


def _conv(x, filters, kernel_size, strides=1, padding="same", *, name, batch_norm):
    # Without batch norm a conv carries its own bias (the paper); with it, BN's beta
    # takes the bias's place.
    return conv_bn_act(
        x, filters, kernel_size, strides, padding, name=name, use_bias=not batch_norm, batch_norm=batch_norm
    )


def inception_module(x, filters, *, name, batch_norm=False, kernel_5x5=5):
    """The Inception module with dimension reductions (paper Fig. 2b).

    Four branches on the same input, concatenated along channels: a 1x1 conv;
    1x1 reduce → 3x3; 1x1 reduce → 5x5; 3x3/1 max pool → 1x1 projection. The 1x1
    reductions keep the expensive 3x3 and 5x5 convolutions cheap, and the
    projection keeps the pooling branch from growing the width of every module.

    Args:
        x: input feature map ``(batch, H, W, C)``.
        filters: ``(#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)``, a row
            of Table 1.
        name: prefix of the layer names (``"inception_3a"``).
        batch_norm: batch norm after every conv (and no conv bias).
        kernel_5x5: kernel size of the "5x5" branch; 3 reproduces the
            torchvision/tf-slim port.

    Returns:
        The ``(batch, H, W, #1x1 + #3x3 + #5x5 + pool proj)`` map, layer
        ``{name}_output``.

    Example:
        >>> import keras
        >>> x = keras.Input((28, 28, 192))
        >>> inception_module(x, (64, 96, 128, 16, 32, 32), name="inception_3a").shape
        (None, 28, 28, 256)
    """
    if len(filters) != 6:
        raise ValueError(
            "`filters` must be (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj). "
            f"Received: filters={filters!r}"
        )
    c1, c3r, c3, c5r, c5, pool_proj = filters
    b1 = _conv(x, c1, 1, name=f"{name}_1x1", batch_norm=batch_norm)
    b2 = _conv(x, c3r, 1, name=f"{name}_3x3_reduce", batch_norm=batch_norm)
    b2 = _conv(b2, c3, 3, name=f"{name}_3x3", batch_norm=batch_norm)
    b3 = _conv(x, c5r, 1, name=f"{name}_5x5_reduce", batch_norm=batch_norm)
    # NOTE(deviation): with kernel_5x5=3 (variant="torchvision") this "5x5" branch
    # convolves 3x3, the known deviation of the torchvision/tf-slim port.
    b3 = _conv(b3, c5, kernel_5x5, name=f"{name}_5x5", batch_norm=batch_norm)
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b4 = _conv(b4, pool_proj, 1, name=f"{name}_pool_proj", batch_norm=batch_norm)
    return layers.Concatenate(axis=-1, name=f"{name}_output")([b1, b2, b3, b4])


def naive_inception_module(x, filters, *, name, batch_norm=False):
    """The naive Inception module (paper Fig. 2a): no 1x1 reductions.

    1x1, 3x3 and 5x5 convolutions and a 3x3/1 max pool on the same input,
    concatenated. The pooling branch passes all ``C`` input channels through, so
    the output has ``#1x1 + #3x3 + #5x5 + C`` channels and stacking such modules
    makes the width (and the cost of the next 5x5) grow at every step: the
    problem the reduced :func:`inception_module` solves.

    Args:
        x: input feature map ``(batch, H, W, C)``.
        filters: ``(#1x1, #3x3, #5x5)``.
        name: prefix of the layer names.
        batch_norm: batch norm after every conv (and no conv bias).

    Returns:
        The concatenated map, layer ``{name}_output``.

    Example:
        >>> import keras
        >>> x = keras.Input((28, 28, 192))
        >>> naive_inception_module(x, (64, 128, 32), name="naive_3a").shape
        (None, 28, 28, 416)
    """
    if len(filters) != 3:
        raise ValueError(f"`filters` must be (#1x1, #3x3, #5x5). Received: filters={filters!r}")
    c1, c3, c5 = filters
    b1 = _conv(x, c1, 1, name=f"{name}_1x1", batch_norm=batch_norm)
    b2 = _conv(x, c3, 3, name=f"{name}_3x3", batch_norm=batch_norm)
    b3 = _conv(x, c5, 5, name=f"{name}_5x5", batch_norm=batch_norm)
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    return layers.Concatenate(axis=-1, name=f"{name}_output")([b1, b2, b3, b4])


def _aux_head(x, *, name, classes, classifier_activation, dropout, batch_norm, adaptive):
    """Auxiliary classifier (paper §5): 5x5/3 avg pool → 1x1 conv 128 → fc 1024 → dropout → fc."""
    if adaptive:
        # NOTE(deviation): torchvision pools adaptively to 4x4 (equal in size to the
        # paper's 5x5/3 pool at 224, different windows: 4-pixel bins), so its head
        # works at any input size with the same 2048 -> 1024 fc.
        x = layers.AdaptiveAveragePooling2D(4, name=f"{name}_pool")(x)
    else:
        x = layers.AveragePooling2D(5, strides=3, padding="valid", name=f"{name}_pool")(x)  # 14 -> 4
    x = _conv(x, 128, 1, name=f"{name}_proj", batch_norm=batch_norm)  # 4x4x128
    x = layers.Flatten(name=f"{name}_flatten")(x)  # 2048
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, dtype=_layers.output_dtype(), name=name)(x)


def googlenet_endpoints(variant="paper", **_):
    """Stage outputs (strides 2, 4, 8, 16, 32) of :func:`googlenet`, as layer names."""
    stride4 = "norm2" if variant == "paper" else "conv2_3x3_relu"
    return ["conv1_7x7_s2_relu", stride4, "inception_3b_output", "inception_4e_output", "inception_5b_output"]


# Szegedy et al. 2015, Sec. 6: SGD momentum 0.9; lr 0.01 at batch 32 and weight decay 2e-4 from
# the BVLC release; each auxiliary loss weighted 0.3; Inception crops (the "inception" policy).
RECIPE = dict(policy="inception", optimizer="sgd", lr=0.01, lr_batch_size=32, momentum=0.9, weight_decay=2e-4,
              aux_loss_weights={"aux_1": 0.3, "aux_2": 0.3})


def _googlenet(args, *, aux_logits, variant, dropout, aux_dropout):
    _layers.check_choice("variant", variant, VARIANTS)
    _layers.check_bool("aux_logits", aux_logits)
    _layers.check_rate("dropout", dropout)
    _layers.check_rate("aux_dropout", aux_dropout)
    batch_norm = variant != "paper"
    adaptive_aux = variant == "torchvision"
    fixed_aux = aux_logits and not adaptive_aux
    img_input, inputs = _layers.model_input(args, default_size=224, min_size=MIN_SIZE_AUX if fixed_aux else MIN_SIZE)
    if fixed_aux and None in tuple(img_input.shape[1:3]):
        raise ValueError(
            f"`aux_logits=True` with variant={variant!r} needs a fixed input size: the auxiliary heads "
            "flatten their pooled map into a fully connected layer. Received: input shape "
            f"{tuple(img_input.shape[1:])}. Give input_shape=(224, 224, 3), or use variant='torchvision' "
            "(adaptive pooling, any size)."
        )

    # Stem. 224 -> 112 -> 56 -> 28.
    x = _conv(img_input, 64, 7, 2, 3, name="conv1_7x7_s2", batch_norm=batch_norm)  # 112x112x64
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)  # 56x56x64
    if variant == "paper":
        x = _layers.lrn(x, "norm1", **_LRN)
    x = _conv(x, 64, 1, name="conv2_3x3_reduce", batch_norm=batch_norm)  # 56x56x64
    x = _conv(x, 192, 3, name="conv2_3x3", batch_norm=batch_norm)  # 56x56x192
    if variant == "paper":
        x = _layers.lrn(x, "norm2", **_LRN)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)  # 28x28x192

    # Inception stages 3, 4, 5 (Table 1 order); shapes in GOOGLENET_SPEC.
    aux_inputs = {}
    for block, filters in GOOGLENET_SPEC:
        if filters is None:
            if block == "pool4" and variant == "torchvision":
                # NOTE(deviation): torchvision's maxpool4 is 2x2/2 (Table 1: 3x3/2); same 7x7 output.
                x = layers.MaxPooling2D(2, strides=2, padding="same", name=block)(x)
            else:
                x = layers.MaxPooling2D(3, strides=2, padding="same", name=block)(x)
            continue
        x = inception_module(
            x, filters, name=block, batch_norm=batch_norm, kernel_5x5=3 if variant == "torchvision" else 5
        )
        for head, source in AUX_HEADS.items():
            if aux_logits and block == source:
                aux_inputs[head] = x

    # The paper's 7x7/1 average pool over the 7x7x1024 map of 5b is a global
    # average pool at 224; GlobalAveragePooling2D keeps the model valid at any size.
    x = _layers.classifier(x, args, dropout=dropout)
    outputs = x
    if aux_logits:
        outputs = {"predictions": x}
        for head, source_output in aux_inputs.items():
            outputs[head] = _aux_head(
                source_output,
                name=head,
                classes=args.classes,
                classifier_activation=args.classifier_activation,
                dropout=aux_dropout,
                batch_norm=batch_norm,
                adaptive=adaptive_aux,
            )
    return _layers.finish(inputs, outputs, args)


_DOC = """GoogLeNet (Inception v1), Table 1 of the paper.

    {counts}

    Reference:
        Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842).

    Args:
{base_args}
        aux_logits: add the two auxiliary classifiers (on the outputs of 4a and
            4d). The model then returns a dict ``{"predictions", "aux_1",
            "aux_2"}``; the paper weights each auxiliary loss by 0.3 during
            training (set in the recipe, not here) and discards them at
            inference (:func:`keras_classics.strip_aux`). Needs
            ``include_top=True``. With the paper's 5x5/3 pooling (variants
            ``"paper"`` and ``"bn"``) the input must have a fixed size of at
            least 65x65; the auxiliary fc has the paper's ``4*4*128`` inputs
            for sizes 209–256 (224 in the paper) and another width elsewhere.
        variant: ``"paper"`` (conv bias, LRN, no BN), ``"bn"`` (BN after every
            conv, no conv bias, no LRN) or ``"torchvision"`` (``"bn"`` with a 3x3
            kernel in the "5x5" branch, a 2x2 pool4 and adaptive 4x4 pooling in
            the auxiliary heads, as in torchvision's port).
        dropout: dropout rate before the classifier (paper: 0.4; torchvision
            trains with 0.2).
        aux_dropout: dropout rate in the auxiliary heads (paper: 0.7).

    Returns:
        A ``keras.Model``: one output, or a dict of three with ``aux_logits=True``.

    Example:
        >>> model = googlenet(classes=10, input_shape=(224, 224, 3))
        >>> net = googlenet(aux_logits=True)
        >>> sorted(net.output)
        ['aux_1', 'aux_2', 'predictions']
    """

# torchvision's ImageNet set (GoogLeNet_Weights.IMAGENET1K_V1), Google's TensorFlow weights ported:
# torchvision's model turns its mean/std input back into [-1, 1] (transform_input=True), which is
# our "tf" preprocessing. The file's auxiliary heads are untrained (torchvision warns the same).
TORCHVISION = torchvision_weights(
    "torchvision", "googlenet-1378be20.pth", EvalTransform(224, 224 / 256, "tf"), top1=69.778, top5=89.53,
    size_mib=49.731, requires={"variant": "torchvision"},
    why="torchvision's GoogLeNet has a 3x3 kernel in the '5x5' branch, a 2x2 pool4 and batch norm",
    note="torchvision IMAGENET1K_V1 (Google's TensorFlow weights); the auxiliary heads are not trained",
)

googlenet = register_model(
    "googlenet",
    paper="Going Deeper with Convolutions",
    venue="CVPR",
    year=2015,
    default_size=224,
    min_size=MIN_SIZE,
    aux_min_size=MIN_SIZE_AUX,
    preprocessing="torch",
    params=6_998_552,
    aux_params=13_378_280,
    macs=1_582_671_872,
    depth=22,
    variants=(
        Variant(
            "variant='bn'",
            {"variant": "bn"},
            7_005_832,
            13_385_816,
            note="batch norm after every conv, no conv bias, no LRN, true 5x5",
        ),
        Variant(
            "variant='torchvision'",
            {"variant": "torchvision"},
            6_624_904,
            13_004_888,
            note="torchvision/tf-slim layout: BN, 3x3 kernel in the '5x5' branch, 2x2 pool4, adaptive aux pooling",
        ),
    ),
    top1_error=None,
    top5_error=10.07,
    error_note=(
        "Paper Table 3, one model and one crop: 10.07% top-5 on the validation set (no top-1 "
        "reported). The ILSVRC 2014 entry, an ensemble of 7 models with 144 crops each, reached "
        "6.67% top-5 (test set)."
    ),
    endpoints=googlenet_endpoints,
    weights=[TORCHVISION],
    recipe=RECIPE,
)(
    _layers.make_builder("googlenet", _googlenet, dict(aux_logits=False, variant="paper", dropout=0.4, aux_dropout=0.7),
                         _DOC, __name__)
)
