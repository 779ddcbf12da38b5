"""AlexNet: Krizhevsky, Sutskever & Hinton, NIPS 2012, and its "One weird trick" layout.

The default is the 2012 paper's network (Section 3, Figure 2): five
convolutions, local response normalisation after the first two, overlapping
3x3/2 max-pooling, two 4096-unit fully connected layers with dropout 0.5. The
paper split the network over two GPUs; the two "towers" are expressed here as
grouped convolutions (``groups=2``) in conv2, conv4 and conv5, the layers whose
kernels see only the feature maps on their own GPU. conv3 and the fully
connected layers connect across both towers, as in the paper.

Map sizes at the default 227x227 input (2012 variant)::

    conv1  96 11x11/4          55x55x96      -> norm1 (LRN)
    pool1  3x3/2               27x27x96
    conv2  256 5x5 pad 2, g=2  27x27x256     -> norm2 (LRN)
    pool2  3x3/2               13x13x256
    conv3  384 3x3 pad 1       13x13x384
    conv4  384 3x3 pad 1, g=2  13x13x384
    conv5  256 3x3 pad 1, g=2  13x13x256
    pool5  3x3/2               6x6x256       -> flatten 9216
    fc6 4096, fc7 4096 (ReLU, dropout 0.5), predictions 1000

``variant="owt"`` is the single-column network of Krizhevsky, "One weird trick
for parallelizing convolutional neural networks" (arXiv 2014) in the layout of
torchvision's ``alexnet``: widths 64-192-384-256-256, conv1 padded by 2 so a
224x224 input gives 55x55, no LRN, one tower.

The fully connected head and the LRN (:data:`keras_classics.models._layers.ALEXNET_LRN`)
are shared with ZFNet and VGG through ``_layers``.
"""

from __future__ import annotations

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp, min_input_size
from keras_classics.models import _layers
from keras_classics.registry import TORCHVISION_EVAL, Variant, register_model, torchvision_weights

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = ["alexnet", "SPATIAL_OPS", "MIN_SIZE"]

# Per variant: conv widths, conv1 padding, input size, and the defaults of the options.
_SPECS = {
    "2012": {"widths": (96, 256, 384, 384, 256), "conv1_padding": 0, "default_size": 227, "groups": 2, "lrn": True},
    "owt": {"widths": (64, 192, 384, 256, 256), "conv1_padding": 2, "default_size": 224, "groups": 1, "lrn": False},
}
_GROUPED = ("conv2", "conv4", "conv5")  # the convolutions that stay inside one tower

# The spatial path, for input validation and the inspector. Stride-1 convs are
# written with their Caffe padding; Keras "same" is the same symmetric padding there.
SPATIAL_OPS = {
    variant: (
        SpatialOp("conv1", 11, 4, spec["conv1_padding"]),
        SpatialOp("pool1", 3, 2),
        SpatialOp("conv2", 5, 1, 2),
        SpatialOp("pool2", 3, 2),
        SpatialOp("conv3", 3, 1, 1),
        SpatialOp("conv4", 3, 1, 1),
        SpatialOp("conv5", 3, 1, 1),
        SpatialOp("pool5", 3, 2),
    )
    for variant, spec in _SPECS.items()
}
MIN_SIZE = {variant: min_input_size(ops) for variant, ops in SPATIAL_OPS.items()}  # 2012: 67, owt: 63


def _resolve(variant, groups, lrn):
    """Check the family options and fill the variant's defaults."""
    if variant not in _SPECS:
        raise ValueError(
            f"Unknown AlexNet `variant`: {variant!r}. Accepted: '2012' (the NIPS 2012 paper, the default) "
            "or 'owt' (One weird trick widths, torchvision layout)."
        )
    spec = _SPECS[variant]
    groups = spec["groups"] if groups is None else groups
    if isinstance(groups, bool) or groups not in (1, 2):
        raise ValueError(
            f"`groups` must be 2 (the paper's two towers), 1 (one tower) or None (the variant's default). "
            f"Received: groups={groups!r}"
        )
    lrn = spec["lrn"] if lrn is None else lrn
    if not isinstance(lrn, bool):
        raise ValueError(f"`lrn` must be True, False or None (the variant's default). Received: lrn={lrn!r}")
    return spec, groups, lrn


def _endpoints(variant="2012", groups=None, lrn=None, **_):
    _, _, lrn = _resolve(variant, groups, lrn)
    # The last layer at each resolution: 55, 27, 13 and 6 pixels at the paper's size.
    return ["norm1" if lrn else "conv1", "norm2" if lrn else "conv2", "conv5", "pool5"]


# torchvision's ImageNet set (AlexNet_Weights.IMAGENET1K_V1): the "One weird trick" network.
TORCHVISION = torchvision_weights(
    "torchvision", "alexnet-owt-7be5be79.pth", TORCHVISION_EVAL, top1=56.522, top5=79.066, size_mib=233.087,
    requires={"variant": "owt"}, why="torchvision's AlexNet is the one-tower 'One weird trick' network",
    note="torchvision IMAGENET1K_V1",
)

# Krizhevsky et al. 2012, Sec. 5: SGD momentum 0.9, weight decay 5e-4, lr 0.01 at batch 128;
# random 224 crops of 256 images, flips and PCA lighting noise (the "alexnet" policy).
RECIPE = dict(policy="alexnet", optimizer="sgd", lr=0.01, lr_batch_size=128, momentum=0.9, weight_decay=5e-4)


def _alexnet(args, *, variant, groups, lrn, dropout):
    spec, groups, lrn = _resolve(variant, groups, lrn)
    _layers.check_rate("dropout", dropout)
    img_input, inputs = _layers.model_input(
        args,
        # NOTE(deviation): 227, not the paper's 224 (see the docstring); "owt" pads conv1 and uses 224.
        default_size=spec["default_size"],
        min_size=MIN_SIZE[variant],
        fixed_top_size=True,
    )
    w1, w2, w3, w4, w5 = spec["widths"]

    def conv(x, filters, kernel, strides=1, padding="same", *, name):
        # "same" at stride 1 is the paper's symmetric padding (2 for 5x5, 1 for 3x3).
        # NOTE(deviation): Keras default initialisation (Glorot uniform, zero bias), not the paper's
        # N(0, 0.01) weights with unit biases in conv2/4/5 and fc6/7 (Section 5).
        return layers.Conv2D(
            filters,
            kernel,
            strides=strides,
            padding=padding,
            groups=groups if name in _GROUPED else 1,
            activation="relu",
            name=name,
        )(x)

    x = img_input
    if spec["conv1_padding"]:
        x = layers.ZeroPadding2D(spec["conv1_padding"], name="conv1_pad")(x)
    x = conv(x, w1, 11, 4, "valid", name="conv1")  # 55x55
    if lrn:
        x = _layers.lrn(x, "norm1", **_layers.ALEXNET_LRN)
    x = layers.MaxPooling2D(3, 2, name="pool1")(x)  # 27x27, overlapping pooling (Section 3.4)
    x = conv(x, w2, 5, name="conv2")  # 27x27
    if lrn:
        x = _layers.lrn(x, "norm2", **_layers.ALEXNET_LRN)
    x = layers.MaxPooling2D(3, 2, name="pool2")(x)  # 13x13
    x = conv(x, w3, 3, name="conv3")  # 13x13, sees both towers
    x = conv(x, w4, 3, name="conv4")
    x = conv(x, w5, 3, name="conv5")
    x = layers.MaxPooling2D(3, 2, name="pool5")(x)  # 6x6
    # Dropout follows fc6 and fc7, as in the paper and the Caffe release (torchvision's
    # "owt" model drops the fc6 and fc7 inputs instead; the weights are the same).
    outputs = _layers.fc_classifier(x, args, dropout=dropout, fc_names=("fc6", "fc7"))
    return _layers.finish(inputs, outputs, args)


_DOC = """AlexNet, the 2012 paper's network by default.

    {counts}

    Reference: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with
    Deep Convolutional Neural Networks", NIPS 2012. ``variant="owt"``:
    Krizhevsky, "One weird trick for parallelizing convolutional neural
    networks", arXiv:1404.5997, 2014. ``weights="torchvision"`` loads
    torchvision's ImageNet weights (the builder sets ``variant="owt"``).

    The default input is 227x227, not the 224x224 the paper states: an
    unpadded 11x11 stride-4 convolution gives the paper's 55x55 map only from
    227 (224 gives 54x54), which is why the Caffe release uses 227 as well.

    Args:
{base_args}
        variant: ``"2012"`` (the paper) or ``"owt"`` (One weird trick widths
            64-192-384-256-256 in torchvision's layout: conv1 padded by 2,
            224x224 input, no LRN).
        groups: towers in conv2, conv4 and conv5: ``2`` (the paper's two GPUs),
            ``1`` (one tower) or ``None`` for the variant's default (2 for
            "2012", 1 for "owt").
        lrn: local response normalisation after conv1 and conv2; ``None`` for
            the variant's default (on for "2012", off for "owt").
        dropout: dropout rate after fc6 and fc7 (the paper: 0.5).

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> model = alexnet()                          # 227x227x3 -> 1000 classes
        >>> small = alexnet(variant="owt", classes=10, input_shape=(224, 224, 3))
    """

alexnet = register_model(
    "alexnet",
    paper="ImageNet Classification with Deep Convolutional Neural Networks",
    venue="NIPS",
    year=2012,
    default_size=_SPECS["2012"]["default_size"],
    min_size=MIN_SIZE["2012"],
    preprocessing="torch",
    params=60_965_224,
    macs=724_406_816,
    depth=8,
    variants=(
        Variant("groups=1", {"groups": 1}, 62_378_344, note="one tower, the paper's widths"),
        Variant(
            "variant='owt'",
            {"variant": "owt"},
            61_100_840,
            note="One weird trick widths 64-192-384-256-256, torchvision layout, no LRN, 224x224 input",
        ),
    ),
    top1_error=40.7,
    top5_error=18.2,
    error_note=(
        "ILSVRC-2012 validation, one CNN (Table 2), averaged over ten 224x224 patches "
        "(corners, centre and their reflections); the paper gives no single-crop figure."
    ),
    endpoints=_endpoints,
    weights=[TORCHVISION],
    recipe=RECIPE,
)(_layers.make_builder("alexnet", _alexnet, dict(variant="2012", groups=None, lrn=None, dropout=0.5), _DOC, __name__))
