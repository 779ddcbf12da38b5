"""ResNet 18, 34, 50, 101 and 152 (He et al., CVPR 2016), the v1 of the paper.

Which variant is built, exactly:

* The ImageNet networks of the paper's Table 1: a 7x7/2 convolution and a 3x3/2
  max pooling (the stem), then four stages of residual blocks at 64, 128, 256
  and 512 filters (``conv2_x`` … ``conv5_x``), global average pooling and a
  1000-way fully connected layer.
* ResNet 18 and 34 use the *basic* block (two 3x3 convolutions), ResNet 50, 101
  and 152 the *bottleneck* block (1x1 reduce, 3x3, 1x1 expand by 4).
* Batch normalisation after every convolution, before the ReLU; no convolution
  bias (BN's beta replaces it). Epsilon 1e-5 and momentum 0.9, the values of the
  Caffe release, torchvision and the TF Model Garden.
* Shortcuts: identity, and a 1x1 projection with BN where the shape changes (the
  paper's option B, used for all its Table 3 and 4 results).
* Down-sampling at the first block of ``conv3_x``, ``conv4_x`` and ``conv5_x``.
  In a bottleneck block the paper (and keras.applications, whose ImageNet
  weights this family can load) puts the stride 2 on the first 1x1 convolution:
  that is the default, ``stride_in="1x1"``. ``stride_in="3x3"`` moves it to the
  3x3 convolution: "ResNet v1.5" of torchvision and NVIDIA, about 0.5 % better
  top-1 for 8 % more multiply-adds, with the same parameters.

Layer names are those of keras.applications (``conv1_conv``, ``conv2_block1_0_conv``
for a projection, ``conv2_block1_1_conv`` … ``conv2_block1_3_bn``,
``conv2_block1_add``, ``conv2_block1_out``, ``avg_pool``, ``predictions``), so its
weights port by name (:mod:`keras_classics.weights`) and stage outputs are easy
to find. Output sizes at 224x224 input are given as comments in :func:`_resnet`.

Reference: Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun, "Deep Residual
Learning for Image Recognition", CVPR 2016 (arXiv:1512.03385).
"""

from __future__ import annotations

from typing import NamedTuple

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp
from keras_classics.models import _layers
from keras_classics.registry import (
    KERAS_APPLICATIONS_URL,
    TORCHVISION_EVAL,
    EvalTransform,
    Variant,
    WeightsSet,
    register_model,
    timm_weights,
    torchvision_weights,
)

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = [
    "RESNET_SPECS",
    "STAGE_FILTERS",
    "basic_block",
    "bottleneck_block",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
]


class ResNetSpec(NamedTuple):
    block: str  # "basic" or "bottleneck"
    blocks: tuple  # residual blocks in conv2_x, conv3_x, conv4_x, conv5_x


# The paper's Table 1: the single source of truth for the five depths.
RESNET_SPECS = {
    18: ResNetSpec("basic", (2, 2, 2, 2)),
    34: ResNetSpec("basic", (3, 4, 6, 3)),
    50: ResNetSpec("bottleneck", (3, 4, 6, 3)),
    101: ResNetSpec("bottleneck", (3, 4, 23, 3)),
    152: ResNetSpec("bottleneck", (3, 8, 36, 3)),
}
STAGE_FILTERS = (64, 128, 256, 512)  # bottleneck blocks output 4x these
BOTTLENECK_EXPANSION = 4
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
STRIDE_IN_CHOICES = ("1x1", "3x3")

PAPER = "Deep Residual Learning for Image Recognition"
DEFAULT_SIZE = 224

# The spatial path (both stride placements shrink the same way: a 1x1/2 'valid'
# and a 3x3/2 with 1 pixel of padding both give ceil(N / 2)). The network is
# fully convolutional, so any input of at least one pixel passes.
SPATIAL_PATH = (
    SpatialOp("conv1_conv", 7, 2, 3),
    SpatialOp("pool1_pool", 3, 2, 1),
    SpatialOp("conv3_block1", 1, 2),
    SpatialOp("conv4_block1", 1, 2),
    SpatialOp("conv5_block1", 1, 2),
)
MIN_SIZE = _layers.min_size(SPATIAL_PATH)


# ----------------------------------------------------------------------- blocks


def _conv_bn(x, filters, kernel_size, stride, *, name, activation=True, zero_gamma=False,
             bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM):
    """:func:`conv_bn_act` without conv bias; a strided 3x3 (or 7x7) gets an explicit symmetric
    ``{name}_pad`` (as Caffe and PyTorch) instead of Keras' asymmetric ``'same'``."""
    padding = "valid" if kernel_size == 1 else "same" if stride == 1 else kernel_size // 2
    return _layers.conv_bn_act(x, filters, kernel_size, stride, padding, name=name,
                               activation="relu" if activation else None, bn_epsilon=bn_epsilon,
                               bn_momentum=bn_momentum, zero_gamma=zero_gamma)


def _shortcut(x, filters, stride, conv_shortcut, name, bn_epsilon, bn_momentum):
    if conv_shortcut is None:
        conv_shortcut = stride != 1 or x.shape[-1] != filters
    if not conv_shortcut:
        return x
    # Option B: a 1x1 projection (with BN) where the shape changes.
    return _conv_bn(x, filters, 1, stride, name=f"{name}_0", activation=False,
                    bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)


def basic_block(x, filters, *, stride=1, name, conv_shortcut=None, zero_init_residual=False,
                bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM):
    """The basic residual block of ResNet 18/34 (paper Fig. 5, left).

    ``3x3 conv → BN → ReLU → 3x3 conv → BN``, added to the shortcut, then ReLU.
    Output channels: ``filters``.

    Args:
        x: input tensor (``N, H, W, C``).
        filters: filters of both 3x3 convolutions.
        stride: stride of the first 3x3 convolution (and of the projection).
        name: block name; layers are ``{name}_1_conv`` … ``{name}_2_bn``,
            ``{name}_0_conv/_0_bn`` (projection), ``{name}_add``, ``{name}_out``.
{block_args}

    Example:
        >>> x = keras.Input((56, 56, 64))
        >>> y = basic_block(x, 128, stride=2, name="conv3_block1")   # (None, 28, 28, 128)
    """
    shortcut = _shortcut(x, filters, stride, conv_shortcut, name, bn_epsilon, bn_momentum)
    x = _conv_bn(x, filters, 3, stride, name=f"{name}_1", bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    x = _conv_bn(x, filters, 3, 1, name=f"{name}_2", activation=False, zero_gamma=zero_init_residual,
                 bn_epsilon=bn_epsilon, bn_momentum=bn_momentum)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


_BLOCK_ARGS_DOC = """        conv_shortcut: ``None`` (default): a projection exactly where the shape
            changes (option B); ``True`` / ``False`` force one or the identity.
        zero_init_residual: start the last BN's gamma at 0, so the block begins
            as the identity (Goyal et al. 2017); the paper starts it at 1.
        bn_epsilon, bn_momentum: batch-norm settings.

    Returns:
        The block's output tensor."""


def bottleneck_block(x, filters, *, stride=1, name, stride_in="1x1", conv_shortcut=None,
                     zero_init_residual=False, bn_epsilon=BN_EPSILON, bn_momentum=BN_MOMENTUM):
    """The bottleneck residual block of ResNet 50/101/152 (paper Fig. 5, right).

    ``1x1 conv (filters) → 3x3 conv (filters) → 1x1 conv (4 * filters)``, each
    followed by BN (and ReLU but the last), added to the shortcut, then ReLU.
    Output channels: ``4 * filters``.

    Args:
        x: input tensor (``N, H, W, C``).
        filters: width of the bottleneck (the 1x1 and 3x3 convolutions).
        stride: the block's down-sampling factor.
        name: block name; layers are ``{name}_1_conv`` … ``{name}_3_bn``,
            ``{name}_0_conv/_0_bn`` (projection), ``{name}_add``, ``{name}_out``.
        stride_in: ``"1x1"`` (paper, keras.applications; default): the stride is
            on the first 1x1 convolution; ``"3x3"``: on the 3x3 ("v1.5").
{block_args}

    Example:
        >>> x = keras.Input((56, 56, 256))
        >>> y = bottleneck_block(x, 128, stride=2, name="conv3_block1")   # (None, 28, 28, 512)
    """
    if stride_in not in STRIDE_IN_CHOICES:
        raise ValueError(f"`stride_in` must be one of {STRIDE_IN_CHOICES}. Received: stride_in={stride_in!r}")
    bn = {"bn_epsilon": bn_epsilon, "bn_momentum": bn_momentum}
    shortcut = _shortcut(x, BOTTLENECK_EXPANSION * filters, stride, conv_shortcut, name, bn_epsilon, bn_momentum)
    if stride_in == "1x1":
        stride_1x1, stride_3x3 = stride, 1
    else:
        # NOTE(deviation): ResNet v1.5 (torchvision, NVIDIA): the stride moves from
        # the first 1x1 convolution to the 3x3, so no input pixel is skipped.
        stride_1x1, stride_3x3 = 1, stride
    x = _conv_bn(x, filters, 1, stride_1x1, name=f"{name}_1", **bn)
    x = _conv_bn(x, filters, 3, stride_3x3, name=f"{name}_2", **bn)
    x = _conv_bn(x, BOTTLENECK_EXPANSION * filters, 1, 1, name=f"{name}_3", activation=False,
                 zero_gamma=zero_init_residual, **bn)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


basic_block.__doc__ = basic_block.__doc__.replace("{block_args}", _BLOCK_ARGS_DOC)
bottleneck_block.__doc__ = bottleneck_block.__doc__.replace("{block_args}", _BLOCK_ARGS_DOC)


# ------------------------------------------------------------------------ model


def _resnet(args, depth, *, stride_in="1x1", zero_init_residual=False):
    spec = RESNET_SPECS[depth]
    _layers.check_choice("stride_in", stride_in, STRIDE_IN_CHOICES)
    _layers.check_bool("zero_init_residual", zero_init_residual)
    img_input, inputs = _layers.model_input(args, default_size=DEFAULT_SIZE, min_size=MIN_SIZE)

    # Stem: 224 → 112 (conv1) → 56 (pool1).
    x = _conv_bn(img_input, 64, 7, 2, name="conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)  # after ReLU, so zeros never win the max
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    # conv2_x 56x56, conv3_x 28x28, conv4_x 14x14, conv5_x 7x7.
    for stage, (filters, blocks) in enumerate(zip(STAGE_FILTERS, spec.blocks), start=2):
        for index in range(1, blocks + 1):
            stride = 2 if index == 1 and stage > 2 else 1
            block_name = f"conv{stage}_block{index}"
            if spec.block == "basic":
                x = basic_block(x, filters, stride=stride, name=block_name,
                                zero_init_residual=zero_init_residual)
            else:
                x = bottleneck_block(x, filters, stride=stride, name=block_name, stride_in=stride_in,
                                     zero_init_residual=zero_init_residual)

    outputs = _layers.classifier(x, args)
    return _layers.finish(inputs, outputs, args, stride_in=stride_in)


def stage_endpoints(depth):
    """Names of the stage outputs: ``conv1_relu`` (1/2), ``conv2_blockN_out`` (1/4) … (1/32)."""
    blocks = RESNET_SPECS[depth].blocks
    return ["conv1_relu"] + [f"conv{stage}_block{n}_out" for stage, n in enumerate(blocks, start=2)]


# ------------------------------------------------------------ registered models

# keras.applications publishes ImageNet weights for the v1 bottleneck networks
# (keras.io/api/applications: file size in MiB (its "MB"), top-1 and top-5 accuracy, %).
_KERAS_APPLICATIONS = {50: (98, 74.9, 92.1), 101: (171, 76.4, 92.8), 152: (232, 76.6, 93.1)}
_IMAGENET = {
    depth: WeightsSet("imagenet", "keras.applications", EvalTransform(DEFAULT_SIZE, 0.875, "caffe"),
                      requires={"stride_in": "1x1"},
                      why="they are ResNet v1 weights, with the stride on the first 1x1 convolution, not v1.5",
                      application=f"ResNet{depth}", file=f"resnet{depth}_weights_tf_dim_ordering_tf_kernels.h5",
                      url=f"{KERAS_APPLICATIONS_URL}resnet/resnet{depth}_weights_tf_dim_ordering_tf_kernels.h5",
                      size_mib=size, top1=top1, top5=top5)
    for depth, (size, top1, top5) in _KERAS_APPLICATIONS.items()
}

# torchvision's ImageNet sets (torchvision.models.ResNet*_Weights): file, size in MiB, top-1, top-5.
# Its bottleneck networks are all v1.5 (stride on the 3x3 convolution). IMAGENET1K_V2 is the newer
# recipe (long schedule, TrivialAugment, mixup/cutmix, EMA…) evaluated at resize 232, crop 224.
_TORCHVISION = {
    18: [("torchvision", "resnet18-f37072fd.pth", 44.661, 69.758, 89.078)],
    34: [("torchvision", "resnet34-b627a593.pth", 83.275, 73.314, 91.42)],
    50: [("torchvision", "resnet50-0676ba61.pth", 97.781, 76.13, 92.862),
         ("torchvision-v2", "resnet50-11ad3fa6.pth", 97.79, 80.858, 95.434)],
    101: [("torchvision", "resnet101-63fe2227.pth", 170.511, 77.374, 93.546),
          ("torchvision-v2", "resnet101-cd907fc2.pth", 170.53, 81.886, 95.78)],
    152: [("torchvision", "resnet152-394f9c45.pth", 230.434, 78.312, 94.046),
          ("torchvision-v2", "resnet152-f82ba261.pth", 230.474, 82.284, 96.002)],
}


def _torchvision_sets(depth):
    sets = []
    for name, file, size, top1, top5 in _TORCHVISION[depth]:
        v2 = name.endswith("v2")
        sets.append(torchvision_weights(
            name, file, EvalTransform(DEFAULT_SIZE, DEFAULT_SIZE / 232, "torch") if v2 else TORCHVISION_EVAL,
            top1=top1, top5=top5, size_mib=size,
            requires={"stride_in": "3x3"} if depth >= 50 else None,
            why="torchvision's bottleneck ResNets are v1.5, with the stride on the 3x3 convolution",
            note="torchvision's new recipe (IMAGENET1K_V2)" if v2 else "torchvision IMAGENET1K_V1",
            # timm's safetensors copy: its pretrained_cfg's url is this very file (read without PyTorch)
            hub=f"timm/resnet{depth}.{'tv2_in1k' if v2 else 'tv_in1k'}",
        ))
    return sets


# timm's sets of the same networks on the Hugging Face Hub (timm/resnetN.TAG, model.safetensors;
# its ResNets are torchvision's layout, v1.5 from 50 layers), the best published for each depth.
# Sources, huggingface/pytorch-image-models at aa4b5850: timm/models/resnet.py default_cfgs (_rcfg:
# input_size 224, crop_pct 0.95, test_input_size 288, test_crop_pct 1.0, bicubic; resnet50.a1h_in1k
# input_size 176, test_input_size 224, test_crop_pct 1.0; _gcfg: 224, crop_pct 0.875, bicubic;
# ImageNet mean/std throughout) and results/results-imagenet.csv (top-1, top-5 at the test size).
# tag: (eval size, crop fraction, train size (None: the eval size), top-1, top-5)
_TIMM = {
    18: {"a1_in1k": (288, 1.0, 224, 73.164, 91.054), "gluon_in1k": (224, 0.875, None, 70.844, 89.750)},
    34: {"a1_in1k": (288, 1.0, 224, 77.930, 93.758), "gluon_in1k": (224, 0.875, None, 74.574, 91.988)},
    50: {"a1_in1k": (288, 1.0, 224, 81.240, 95.112), "a1h_in1k": (224, 1.0, 176, 80.654, 95.312),
         "gluon_in1k": (224, 0.875, None, 77.580, 93.704)},
    101: {"a1h_in1k": (288, 1.0, 224, 82.796, 96.324), "a1_in1k": (288, 1.0, 224, 82.326, 95.630),
          "gluon_in1k": (224, 0.875, None, 79.306, 94.538)},
    152: {"a1h_in1k": (288, 1.0, 224, 83.494, 96.522), "a1_in1k": (288, 1.0, 224, 82.742, 95.734),
          "gluon_in1k": (224, 0.875, None, 79.712, 94.720)},
}
_TIMM_NOTES = {
    "a1_in1k": "timm, 'ResNet strikes back' (Wightman et al. 2021, arXiv:2110.00476) procedure A1; "
               "trained at 224, evaluated at 288 on the whole image",
    "a1h_in1k": "timm, a variant of the 'ResNet strikes back' A1 procedure (timm's tag a1h)",
    "gluon_in1k": "GluonCV's ResNet v1b (stride on the 3x3 convolution), ported by timm",
}


def _timm_sets(depth):
    return [
        timm_weights(f"timm/resnet{depth}.{tag}", EvalTransform(size, crop, "torch", "bicubic", train),
                     top1=top1, top5=top5, requires={"stride_in": "3x3"} if depth >= 50 else None,
                     why="timm's bottleneck ResNets are v1.5, with the stride on the 3x3 convolution",
                     note=_TIMM_NOTES[tag])
        for tag, (size, crop, train, top1, top5) in _TIMM[depth].items()
    ]

# He et al. 2016, Sec. 3.4: SGD momentum 0.9, weight decay 1e-4, lr 0.1 at batch 256; scale
# augmentation (shorter side in [256, 480]), 224 crops and flips (the "resnet" policy).
RECIPE = dict(policy="resnet", optimizer="sgd", lr=0.1, lr_batch_size=256, momentum=0.9, weight_decay=1e-4)

# Trainable parameters at 1000 classes (torchvision, keras-hub; v1.5 has the same).
_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
# Multiply-adds at 224x224 and 1000 classes, v1 (the stride on the 1x1).
_MACS = {18: 1_814_073_344, 34: 3_663_761_408, 50: 3_857_973_248, 101: 7_570_194_432, 152: 11_282_415_616}

# ImageNet validation error of the paper, %: Table 3 (10-crop testing, option B
# shortcuts) for 34/50/101/152; ResNet-18 appears only in Table 2 (10-crop,
# top-1 only, option A zero-padding shortcuts).
_ERRORS = {18: (27.88, None), 34: (24.52, 7.46), 50: (22.85, 6.71), 101: (21.75, 6.05), 152: (21.43, 5.71)}

_STRIDE_IN_DOC = """
        stride_in: where a down-sampling bottleneck block puts its stride:
            ``"1x1"`` (default; the paper and keras.applications, "v1") or
            ``"3x3"`` ("v1.5", torchvision and NVIDIA; same parameters, about
            8 % more multiply-adds). keras.applications' ImageNet weights need
            ``"1x1"``, torchvision's ``"3x3"``."""

_DOC = """Instantiate ResNet-{depth} ({block} blocks {blocks}), the paper's v1.

Reference: Kaiming He et al., "Deep Residual Learning for Image Recognition",
CVPR 2016. {{counts}} {imagenet}

Args:
{{base_args}}{stride_in}
        zero_init_residual: start the last batch norm of every residual block
            with gamma = 0, so each block begins as the identity (Goyal et al.
            2017, "Accurate, Large Minibatch SGD"); default ``False`` as in the
            paper (gamma = 1).

Returns:
    A functional ``keras.Model``: class probabilities (``predictions``) with
    the top on, else the ``conv5_x`` features (pooled per ``pooling``).

Example:
    >>> model = resnet{depth}(classes=10, input_shape=(64, 64, 3))
    >>> features = resnet{depth}(include_top=False, pooling="avg")
"""


def _resnet_model(depth):
    """The public builder and registry entry of ResNet-``depth``, read from the tables above."""
    spec = RESNET_SPECS[depth]
    top1, top5 = _ERRORS[depth]
    if depth == 18:
        note = "10-crop testing, ImageNet validation; paper Table 2 (option A shortcuts), top-1 only"
    else:
        note = "10-crop testing, ImageNet validation; paper Table 3 (option B shortcuts)"
    options = dict(zero_init_residual=False)
    variants = ()
    if spec.block == "bottleneck":
        options = dict(stride_in="1x1", zero_init_residual=False)
        variants = (
            Variant(
                "stride_in=3x3 (v1.5)",
                {"stride_in": "3x3"},
                _PARAMS[depth],
                note="stride 2 on the 3x3 convolution (torchvision, NVIDIA); torchvision's weights",
            ),
        )
    doc = _DOC.format(
        depth=depth,
        block=spec.block,
        blocks="-".join(map(str, spec.blocks)),
        imagenet=(
            'ImageNet weights: ``weights="imagenet"`` ports keras.applications\' (v1); '
            + ", ".join(f'``weights="{s[0]}"``' for s in _TORCHVISION[depth])
            + " load torchvision's, "
            + ", ".join(f'``weights="{tag}"``' for tag in _TIMM[depth])
            + " timm's (from the Hugging Face Hub)"
            + (' (v1.5: the builder sets ``stride_in="3x3"``).' if depth in _IMAGENET else ".")
        ),
        stride_in=_STRIDE_IN_DOC if spec.block == "bottleneck" else "",
    )

    def network(args, **family):
        return _resnet(args, depth, **family)

    return register_model(
        f"resnet{depth}",
        paper=PAPER,
        venue="CVPR",
        year=2016,
        default_size=DEFAULT_SIZE,
        min_size=MIN_SIZE,
        preprocessing="caffe",
        params=_PARAMS[depth],
        macs=_MACS[depth],
        depth=depth,
        variants=variants,
        top1_error=top1,
        top5_error=top5,
        error_note=note,
        endpoints=lambda **kwargs: stage_endpoints(depth),
        weights=([_IMAGENET[depth]] if depth in _IMAGENET else []) + _torchvision_sets(depth) + _timm_sets(depth),
        recipe=RECIPE,
    )(_layers.make_builder(f"resnet{depth}", network, options, doc, __name__))


resnet18 = _resnet_model(18)
resnet34 = _resnet_model(34)
resnet50 = _resnet_model(50)
resnet101 = _resnet_model(101)
resnet152 = _resnet_model(152)
