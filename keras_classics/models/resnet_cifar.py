"""The CIFAR-10 ResNets of He et al. (CVPR 2016, Section 4.2) and their plain twins.

Which variant is built, exactly:

* 6n+2 weighted layers: a 3x3 convolution with 16 filters, then three stages of
  ``n`` basic blocks (two 3x3 convolutions each) at 16, 32 and 64 filters on
  32x32, 16x16 and 8x8 maps, global average pooling and a 10-way fully
  connected layer. n = 3, 5, 7, 9, 18 give ResNet-20, 32, 44, 56 and 110.
* Batch normalisation after every convolution, before the ReLU; no convolution
  bias. Epsilon 1e-5 and momentum 0.9, as :mod:`keras_classics.models.resnet`.
* Shortcuts of option A (the paper's choice for CIFAR): identity, and where the
  shape changes (the first block of stages 3 and 4) a stride-2 subsampling of
  the input with the new channels padded with zeros. The shortcuts have no
  parameters, so a ResNet and its plain twin have exactly the same weights.
* ``plain=True`` builds the paper's "plain" network: the same layers, no
  shortcuts (Figure 6, left), the network that shows the degradation problem.

Map sizes at the paper's 32x32 input::

    conv1          16 3x3                32x32x16
    conv2_block*   n blocks, 16 filters  32x32x16
    conv3_block*   n blocks, 32 filters  16x16x32   (stride 2 in block 1)
    conv4_block*   n blocks, 64 filters   8x8x64    (stride 2 in block 1)
    avg_pool, predictions (10)

Layer names follow :mod:`keras_classics.models.resnet` (``conv1_conv``,
``conv2_block1_1_conv``, ``conv2_block1_add``, ``conv2_block1_out``, ``avg_pool``,
``predictions``); the plain twin keeps them, without the ``_add`` and
``_shortcut`` layers.

Reference: Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun, "Deep Residual
Learning for Image Recognition", CVPR 2016 (arXiv:1512.03385), Section 4.2 and
Table 6.
"""

from __future__ import annotations

from keras_classics._lazy import lazy_exports, lazy_module
from keras_classics.arithmetic import SpatialOp, min_input_size
from keras_classics.models import _layers
from keras_classics.registry import Variant, register_model

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it
_keras_layers = lazy_module("keras_classics.models._keras_layers")  # ZeroPadShortcut, with Keras
# The shortcut layer lives with the package's other Keras layers; its name here loads on first use.
__getattr__, __dir__ = lazy_exports(__name__, {"keras_classics.models._keras_layers": ("ZeroPadShortcut",)})

__all__ = [
    "CIFAR_DEPTHS",
    "STAGE_FILTERS",
    "ZeroPadShortcut",
    "resnet20_cifar",
    "resnet32_cifar",
    "resnet44_cifar",
    "resnet56_cifar",
    "resnet110_cifar",
]

# Depth 6n+2 -> n, the blocks per stage (Section 4.2, Table 6).
CIFAR_DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}
STAGE_FILTERS = (16, 32, 64)

# Trainable parameters at the paper's 10 classes (summed from Section 4.2; Table 6: 0.27 M,
# 0.46 M, 0.66 M, 0.85 M, 1.7 M). The plain twins have the same.
_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}
# Multiply-adds at 32x32 and 10 classes.
_MACS = {20: 40_551_040, 32: 68_862_592, 44: 97_174_144, 56: 125_485_696, 110: 252_887_680}

# CIFAR-10 test error of the paper, % (Table 6, best of 5 runs for 110: mean 6.61).
_ERRORS = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}

_BN = dict(bn_epsilon=1e-5, bn_momentum=0.9)

# Section 4.2: SGD momentum 0.9, weight decay 1e-4, lr 0.1 at batch 128, 4-pixel pad and
# random 32x32 crop with horizontal flips.
RECIPE = dict(policy="cifar", optimizer="sgd", lr=0.1, lr_batch_size=128, momentum=0.9, weight_decay=1e-4)
PAPER = "Deep Residual Learning for Image Recognition"
DEFAULT_SIZE = 32
# Every convolution is 'same'-padded; the two stride-2 stages halve the map.
SPATIAL_OPS = (
    SpatialOp("conv1", 3, 1, 1),
    SpatialOp("conv3_block1_1", 3, 2, "same"),
    SpatialOp("conv4_block1_1", 3, 2, "same"),
)
MIN_SIZE = min_input_size(SPATIAL_OPS)


def cifar_block(x, filters, *, strides, plain, name):
    """A basic block: 3x3 conv-BN-ReLU, 3x3 conv-BN, (+ option A shortcut), ReLU."""
    y = _layers.conv_bn_act(x, filters, 3, strides, "same", name=f"{name}_1", **_BN)
    y = _layers.conv_bn_act(y, filters, 3, 1, "same", name=f"{name}_2", activation=None, **_BN)
    if not plain:
        shortcut = x
        if strides != 1 or x.shape[-1] != filters:
            shortcut = _keras_layers.ZeroPadShortcut(filters, strides, name=f"{name}_shortcut")(x)
        y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def stage_endpoints(depth):
    """Names of the stage outputs: ``conv1_relu`` (32x32), ``conv2_blockN_out`` … ``conv4_blockN_out`` (8x8)."""
    n = CIFAR_DEPTHS[depth]
    return ["conv1_relu"] + [f"conv{stage}_block{n}_out" for stage in (2, 3, 4)]


def _resnet_cifar(args, depth, *, plain):
    _layers.check_bool("plain", plain)
    img_input, inputs = _layers.model_input(args, default_size=DEFAULT_SIZE, min_size=MIN_SIZE)
    n = CIFAR_DEPTHS[depth]
    x = _layers.conv_bn_act(img_input, STAGE_FILTERS[0], 3, 1, "same", name="conv1", **_BN)  # 32x32x16
    for stage, filters in enumerate(STAGE_FILTERS, start=2):  # conv2: 32x32, conv3: 16x16, conv4: 8x8
        for block in range(1, n + 1):
            strides = 2 if (block == 1 and stage > 2) else 1
            x = cifar_block(x, filters, strides=strides, plain=plain, name=f"conv{stage}_block{block}")
    outputs = _layers.classifier(x, args)
    return _layers.finish(inputs, outputs, args)


_DOC = """ResNet-{depth} for CIFAR-10 (n={n}), or its plain twin.

    {{counts}}

    Reference: He, Zhang, Ren & Sun, "Deep Residual Learning for Image
    Recognition", CVPR 2016, Section 4.2 (CIFAR-10 test error {error}%, Table 6).

    Args:
{{base_args}}
        plain: ``True`` builds the plain network (no shortcuts; same layers,
            same parameters), the paper's baseline for the degradation problem.

    ``classes`` defaults to the paper's 10 (CIFAR-10), not 1000.

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> model = resnet{depth}_cifar()                  # 32x32x3 -> 10 classes
        >>> baseline = resnet{depth}_cifar(plain=True)
"""


def _resnet_cifar_model(depth):
    doc = _DOC.format(depth=depth, n=CIFAR_DEPTHS[depth], error=_ERRORS[depth])

    def network(args, **family):
        return _resnet_cifar(args, depth, **family)

    # NOTE(deviation): the paper's 10 classes by default (CIFAR-10), not ImageNet's 1000.
    options = dict(classes=10, plain=False)
    return register_model(
        f"resnet{depth}_cifar",
        paper=PAPER,
        venue="CVPR",
        year=2016,
        default_size=DEFAULT_SIZE,
        min_size=MIN_SIZE,
        preprocessing="torch",
        # The count at the builder's default 10 classes (Table 6's 0.27M ... 1.7M).
        params=_PARAMS[depth],
        macs=_MACS[depth],
        depth=depth,
        variants=(Variant("plain=True", {"plain": True}, _PARAMS[depth],
                          note="no shortcuts (the paper's plain baseline)"),),
        top1_error=_ERRORS[depth],
        error_note="CIFAR-10 test error, Table 6 (not ImageNet)",
        endpoints=lambda **kwargs: stage_endpoints(depth),
        recipe=RECIPE,
    )(_layers.make_builder(f"resnet{depth}_cifar", network, options, doc, __name__))


resnet20_cifar = _resnet_cifar_model(20)
resnet32_cifar = _resnet_cifar_model(32)
resnet44_cifar = _resnet_cifar_model(44)
resnet56_cifar = _resnet_cifar_model(56)
resnet110_cifar = _resnet_cifar_model(110)
