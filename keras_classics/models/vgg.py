"""VGG: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale
Image Recognition", ICLR 2015.

One table, :data:`CONFIGS`, holds the paper's Table 1 configurations A, B, D
and E (11, 13, 16 and 19 weight layers); one builder reads it. Every
convolution is 3x3, stride 1, padding 1, followed by ReLU; each of the five
blocks ends in a 2x2 stride-2 max-pooling, so a 224x224 input leaves a 7x7x512
map, flattened into fc1 (4096) → fc2 (4096) → predictions (1000).

Map sizes at 224x224::

    block1  64 channels    224x224 -> block1_pool 112x112
    block2  128            112x112 -> block2_pool 56x56
    block3  256             56x56  -> block3_pool 28x28
    block4  512             28x28  -> block4_pool 14x14
    block5  512             14x14  -> block5_pool 7x7 -> flatten 25088

Layer names are those of keras.applications (``block{i}_conv{j}``,
``block{i}_pool``, ``flatten``, ``fc1``, ``fc2``, ``predictions``), so its
ImageNet weights for VGG16 and VGG19 load by name. The ``*_bn`` models add a
batch normalisation after every convolution (the convolution keeps its bias),
as torchvision's ``vgg*_bn``; they are not in the paper. ``vgg11_lrn`` is the
paper's configuration A-LRN: A with local response normalisation (AlexNet's
settings) after its first convolution, which the paper found did not help.
Configuration C (with 1x1 convolutions) is not built.
"""

from __future__ import annotations

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp, min_input_size
from keras_classics.models import _layers
from keras_classics.registry import (
    KERAS_APPLICATIONS_URL,
    TORCHVISION_EVAL,
    EvalTransform,
    WeightsSet,
    register_model,
    torchvision_weights,
)

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = [
    "vgg11",
    "vgg11_bn",
    "vgg11_lrn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "CONFIGS",
    "spatial_ops",
    "MIN_SIZE",
]

# Table 1: the output channels of each convolution, block by block.
CONFIGS = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),  # VGG11
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),  # VGG13
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),  # VGG16
    "E": ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),  # VGG19
}

# Reference trainable parameters at 1000 classes: (plain, with batch norm).
_PARAMS = {
    "A": (132_863_336, 132_868_840),
    "B": (133_047_848, 133_053_736),
    "D": (138_357_544, 138_365_992),
    "E": (143_667_240, 143_678_248),
}

# Multiply-adds at 224x224 and 1000 classes (batch norm adds none), and the weighted layers.
_MACS = {"A": 7_609_090_048, "B": 11_308_466_176, "D": 15_470_264_320, "E": 19_632_062_464}
_DEPTHS = {"A": 11, "B": 13, "D": 16, "E": 19}

# ILSVRC-2012 validation top-1 / top-5 error (%), Table 3 (dense evaluation, one test scale).
_ERRORS = {
    "A": (29.6, 10.4, "training scale S=256, test scale Q=256"),
    "B": (28.7, 9.9, "training scale S=256, test scale Q=256"),
    "D": (25.6, 8.1, "scale-jittered training S in [256, 512], test scale Q=384 (the released model)"),
    "E": (25.5, 8.0, "scale-jittered training S in [256, 512], test scale Q=384 (the released model)"),
    "A-LRN": (29.7, 10.5, "training scale S=256, test scale Q=256"),
}

# The models keras.applications publishes ImageNet weights for: fc1 expects a 224x224 input
# (keras.io/api/applications: file size in MiB (its "MB"), top-1 and top-5 accuracy, %).
_IMAGENET = {
    name: WeightsSet("imagenet", "keras.applications", EvalTransform(224, 0.875, "caffe"),
                     application=name.upper(), file=f"{name}_weights_tf_dim_ordering_tf_kernels.h5",
                     url=f"{KERAS_APPLICATIONS_URL}{name}/{name}_weights_tf_dim_ordering_tf_kernels.h5",
                     size_mib=size, top1=top1, top5=top5)
    for name, size, top1, top5 in (("vgg16", 528, 71.3, 90.1), ("vgg19", 549, 71.3, 90.0))
}

# torchvision's ImageNet sets (torchvision.models.VGG*_Weights.IMAGENET1K_V1): file, size in MiB,
# top-1, top-5. Same layers as ours; torchvision drops out before fc1 and fc2, we after (same weights).
_TORCHVISION = {
    "vgg11": ("vgg11-8a719046.pth", 506.84, 69.02, 88.628),
    "vgg13": ("vgg13-19584684.pth", 507.545, 69.928, 89.246),
    "vgg16": ("vgg16-397923af.pth", 527.796, 71.592, 90.382),
    "vgg19": ("vgg19-dcbb9e9d.pth", 548.051, 72.376, 90.876),
    "vgg11_bn": ("vgg11_bn-6002323d.pth", 506.881, 70.37, 89.81),
    "vgg13_bn": ("vgg13_bn-abd245e5.pth", 507.59, 71.586, 90.374),
    "vgg16_bn": ("vgg16_bn-6c64b313.pth", 527.866, 73.36, 91.516),
    "vgg19_bn": ("vgg19_bn-c79401a0.pth", 548.143, 74.218, 91.842),
}


def _weights_sets(name):
    sets = [_IMAGENET[name]] if name in _IMAGENET else []
    if name in _TORCHVISION:
        file, size, top1, top5 = _TORCHVISION[name]
        # hub: timm's safetensors copy of these weights (timm/models/vgg.py default_cfgs, tag tv_in1k), in
        # timm's layout: fc6/fc7 as convolutions (pre_logits.fc1 (4096, 512, 7, 7), pre_logits.fc2), head.fc.
        sets.append(torchvision_weights("torchvision", file, TORCHVISION_EVAL, top1=top1, top5=top5, size_mib=size,
                                        note="torchvision IMAGENET1K_V1", hub=f"timm/{name}.tv_in1k"))
    return sets

# Simonyan & Zisserman 2015, Sec. 3.1: SGD momentum 0.9, weight decay 5e-4, lr 0.01 at batch 256;
# scale jittering S in [256, 512], 224 crops and flips (the "vgg" policy).
RECIPE = dict(policy="vgg", optimizer="sgd", lr=0.01, lr_batch_size=256, momentum=0.9, weight_decay=5e-4)

# torchvision's batch-norm settings (eps 1e-5, momentum 0.1 in its convention).
_BN_EPSILON = 1e-5
_BN_MOMENTUM = 0.9


def spatial_ops(config="D"):
    """The spatial path of a configuration: 3x3 "same" convolutions and 2x2/2 pools."""
    ops = []
    for i, block in enumerate(CONFIGS[config], start=1):
        ops += [SpatialOp(f"block{i}_conv{j}", 3, 1, 1) for j in range(1, len(block) + 1)]
        ops.append(SpatialOp(f"block{i}_pool", 2, 2))
    return tuple(ops)


MIN_SIZE = min_input_size(spatial_ops("A"))  # 32 for every configuration: five halvings


def _endpoint_names(config, batch_norm):
    # The last layer at each resolution: 224, 112, 56, 28 and 14 pixels, then block5_pool (7).
    suffix = "_relu" if batch_norm else ""
    names = [f"block{i}_conv{len(block)}{suffix}" for i, block in enumerate(CONFIGS[config], start=1)]
    return names + ["block5_pool"]


def _vgg(args, config, batch_norm, *, dropout, lrn=False):
    _layers.check_rate("dropout", dropout)
    img_input, inputs = _layers.model_input(args, default_size=224, min_size=MIN_SIZE, fixed_top_size=True)
    if args.weights == "imagenet" and args.include_top and tuple(img_input.shape[1:3]) != (224, 224):
        raise ValueError(
            f"With `weights='imagenet'` and `include_top=True`, {args.model!r} needs a 224x224 input: fc1 was "
            f"trained on the 7x7x512 map it gives. Received: input_shape={tuple(img_input.shape[1:])}. "
            "Use include_top=False for other sizes."
        )

    x = img_input
    for i, block in enumerate(CONFIGS[config], start=1):
        for j, filters in enumerate(block, start=1):
            conv_name = f"block{i}_conv{j}"
            if batch_norm:
                x = layers.Conv2D(filters, 3, padding="same", name=conv_name)(x)
                x = layers.BatchNormalization(epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=f"{conv_name}_bn")(x)
                x = layers.Activation("relu", name=f"{conv_name}_relu")(x)
            else:
                x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=conv_name)(x)
        if lrn and i == 1:
            # Configuration A-LRN: LRN after the first convolution, with AlexNet's settings (Sec. 2.1).
            x = _layers.lrn(x, "block1_lrn", **_layers.ALEXNET_LRN)
        x = layers.MaxPooling2D(2, 2, name=f"block{i}_pool")(x)

    # Dropout 0.5 after fc1 and fc2 as in the paper (Section 3.1); keras.applications leaves
    # it out, which changes nothing at inference and nothing in the weights.
    outputs = _layers.fc_classifier(x, args, dropout=dropout, fc_names=("fc1", "fc2"))
    return _layers.finish(inputs, outputs, args)


_DOC = """VGG{depth}{bn_title}: configuration {config} of the paper{bn_clause}.

    {{counts}}

    Reference: Simonyan & Zisserman, "Very Deep Convolutional Networks for
    Large-Scale Image Recognition", ICLR 2015.{imagenet_line}

    With ``include_top=True`` and an input other than 224x224 the flattened
    map, and so fc1's weight shape, changes (as in keras.applications).

    Args:
{{base_args}}
        dropout: dropout rate after fc1 and fc2 (the paper: 0.5).

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> model = {fn}()                              # 224x224x3 -> 1000 classes
        >>> small = {fn}(classes=10, input_shape=(64, 64, 3))
"""


def _vgg_model(fn_name, config, batch_norm, lrn=False):
    """The public builder and registry entry of one configuration, read from the tables above."""
    depth = {"A": 11, "B": 13, "D": 16, "E": 19}[config]
    if lrn:
        top1, top5, setting = _ERRORS[f"{config}-LRN"]
        note = f"ILSVRC-2012 validation, Table 3, dense evaluation at one test scale: {setting}."
    elif batch_norm:
        top1, top5 = None, None
        note = "Not in the paper: batch normalisation was published after it (torchvision's vgg*_bn)."
    else:
        top1, top5, setting = _ERRORS[config]
        note = f"ILSVRC-2012 validation, Table 3, dense evaluation at one test scale: {setting}."
    doc = _DOC.format(
        depth=depth,
        bn_title=" with batch normalisation" if batch_norm else " with LRN" if lrn else "",
        config=f"{config}-LRN" if lrn else config,
        bn_clause=(", with batch normalisation after every convolution" if batch_norm
                   else ", local response normalisation after the first convolution" if lrn else ""),
        imagenet_line=(
            ("\n\n    ``weights=\"imagenet\"`` ports the keras.applications weights; " if fn_name in _IMAGENET
             else "\n\n    ") + "``weights=\"torchvision\"`` loads torchvision's." if fn_name in _TORCHVISION else ""
        ),
        fn=fn_name,
    )

    def network(args, *, dropout):
        return _vgg(args, config, batch_norm, dropout=dropout, lrn=lrn)

    return register_model(
        fn_name,
        paper="Very Deep Convolutional Networks for Large-Scale Image Recognition",
        venue="ICLR",
        year=2015,
        default_size=224,
        min_size=MIN_SIZE,
        preprocessing="caffe",
        params=_PARAMS[config][batch_norm],
        macs=_MACS[config],
        depth=_DEPTHS[config],
        top1_error=top1,
        top5_error=top5,
        error_note=note,
        endpoints=lambda **_: _endpoint_names(config, batch_norm),
        weights=_weights_sets(fn_name),
        recipe=RECIPE,
    )(_layers.make_builder(fn_name, network, dict(dropout=0.5), doc, __name__))


vgg11 = _vgg_model("vgg11", "A", batch_norm=False)
vgg11_lrn = _vgg_model("vgg11_lrn", "A", batch_norm=False, lrn=True)
vgg11_bn = _vgg_model("vgg11_bn", "A", batch_norm=True)
vgg13 = _vgg_model("vgg13", "B", batch_norm=False)
vgg13_bn = _vgg_model("vgg13_bn", "B", batch_norm=True)
vgg16 = _vgg_model("vgg16", "D", batch_norm=False)
vgg16_bn = _vgg_model("vgg16_bn", "D", batch_norm=True)
vgg19 = _vgg_model("vgg19", "E", batch_norm=False)
vgg19_bn = _vgg_model("vgg19_bn", "E", batch_norm=True)
