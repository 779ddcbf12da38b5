"""ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.

The network of the paper's Figure 3: AlexNet with a 7x7 stride-2 first layer
(instead of 11x11/4) and a stride-2 second layer, one tower (no grouped
convolutions), and the "contrast normalisation across feature maps" after the
first two poolings. ``wide=True`` is the Table 2 model whose layers 3, 4 and 5
have 512, 1024 and 512 maps.

Map sizes at 224x224, as printed in Figure 3::

    conv1  96 7x7/2, pad 1     110x110x96
    pool1  3x3/2               55x55x96      -> norm1 (contrast normalisation)
    conv2  256 5x5/2           26x26x256
    pool2  3x3/2               13x13x256     -> norm2
    conv3  384 3x3 pad 1       13x13x384     (wide: 512)
    conv4  384 3x3 pad 1       13x13x384     (wide: 1024)
    conv5  256 3x3 pad 1       13x13x256     (wide: 512)
    pool5  3x3/2               6x6x256       -> flatten 9216 (wide: 18432)
    fc6 4096, fc7 4096 (ReLU, dropout 0.5), predictions 1000

The paper gives the kernels, strides and map sizes but no padding; the
padding here is the one that reproduces every printed size:

* conv1 needs 1 pixel of padding: ``(224 + 2 - 7) // 2 + 1 = 110`` (unpadded: 109).
* pool1 and pool2 round up (Keras ``"same"``, equal here to the ceil-mode
  pooling of cuda-convnet and Caffe): ``ceil(110 / 2) = 55`` and
  ``ceil(26 / 2) = 13`` (a "valid" pool gives 54 and 12).
* conv2 is unpadded: ``(55 - 5) // 2 + 1 = 26``.
* pool5 is "valid": ``(13 - 3) // 2 + 1 = 6``.
"""

from __future__ import annotations

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp, min_input_size
from keras_classics.models import _layers
from keras_classics.registry import Variant, register_model

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = ["zfnet", "SPATIAL_OPS", "MIN_SIZE"]

# Widths of conv1..conv5: Figure 3, and the widened model of Table 2 (b).
_WIDTHS = {False: (96, 256, 384, 384, 256), True: (96, 256, 512, 1024, 512)}

SPATIAL_OPS = (
    SpatialOp("conv1", 7, 2, 1),
    SpatialOp("pool1", 3, 2, "same"),
    SpatialOp("conv2", 5, 2, 0),
    SpatialOp("pool2", 3, 2, "same"),
    SpatialOp("conv3", 3, 1, 1),
    SpatialOp("conv4", 3, 1, 1),
    SpatialOp("conv5", 3, 1, 1),
    SpatialOp("pool5", 3, 2, "valid"),
)
MIN_SIZE = min_input_size(SPATIAL_OPS)  # 53


def _endpoints(**_):
    # The last layer at each resolution: 110, 55, 26, 13 and 6 pixels at 224x224.
    return ["conv1", "norm1", "conv2", "conv5", "pool5"]


# Zeiler & Fergus 2014, Sec. 3: AlexNet's setup (SGD momentum 0.9, lr 1e-2 at batch 128,
# 224 crops and flips of 256 images).
RECIPE = dict(policy="alexnet", optimizer="sgd", lr=0.01, lr_batch_size=128, momentum=0.9, weight_decay=5e-4)


def _zfnet(args, *, wide, dropout):
    _layers.check_bool("wide", wide)
    _layers.check_rate("dropout", dropout)
    img_input, inputs = _layers.model_input(args, default_size=224, min_size=MIN_SIZE, fixed_top_size=True)
    w1, w2, w3, w4, w5 = _WIDTHS[wide]

    # NOTE(deviation): Keras default initialisation (Glorot uniform, zero bias); the paper
    # initialises weights to 1e-2 and biases to 0.
    x = layers.ZeroPadding2D(1, name="conv1_pad")(img_input)
    x = layers.Conv2D(w1, 7, strides=2, activation="relu", name="conv1")(x)  # 110x110
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool1")(x)  # 55x55 (rounds up)
    # The paper's "contrast normalisation" has no published constants; AlexNet's LRN is used.
    x = _layers.lrn(x, "norm1", **_layers.ALEXNET_LRN)
    x = layers.Conv2D(w2, 5, strides=2, activation="relu", name="conv2")(x)  # 26x26
    x = layers.MaxPooling2D(3, 2, padding="same", name="pool2")(x)  # 13x13 (rounds up)
    x = _layers.lrn(x, "norm2", **_layers.ALEXNET_LRN)
    x = layers.Conv2D(w3, 3, padding="same", activation="relu", name="conv3")(x)  # 13x13
    x = layers.Conv2D(w4, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.Conv2D(w5, 3, padding="same", activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, 2, name="pool5")(x)  # 6x6
    outputs = _layers.fc_classifier(x, args, dropout=dropout, fc_names=("fc6", "fc7"))
    return _layers.finish(inputs, outputs, args)


_DOC = """ZFNet as in Figure 3 of the paper.

    {counts}

    Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional
    Networks", ECCV 2014.

    Args:
{base_args}
        wide: ``True`` widens layers 3, 4 and 5 to 512, 1024 and 512 maps (the
            Table 2 model).
        dropout: dropout rate after fc6 and fc7 (the paper: 0.5).

    Returns:
        A functional ``keras.Model``.

    Example:
        >>> model = zfnet()                            # 224x224x3 -> 1000 classes
        >>> wide = zfnet(wide=True, classes=10)
    """

zfnet = register_model(
    "zfnet",
    paper="Visualizing and Understanding Convolutional Networks",
    venue="ECCV",
    year=2014,
    default_size=224,
    min_size=MIN_SIZE,
    preprocessing="torch",
    params=62_357_608,
    macs=1_168_032_896,
    depth=8,
    variants=(
        Variant(
            "wide=True",
            {"wide": True},
            107_627_624,
            note="layers 3, 4, 5 with 512, 1024, 512 maps; Table 2: 37.5 / 16.0 val top-1 / top-5",
        ),
    ),
    top1_error=38.4,
    top5_error=16.5,
    error_note=(
        "ILSVRC-2012 validation, one convnet as per Fig. 3 (Table 2 of the ECCV version); the paper "
        "does not say how many test crops were used."
    ),
    endpoints=_endpoints,
    recipe=RECIPE,
)(_layers.make_builder("zfnet", _zfnet, dict(wide=False, dropout=0.5), _DOC, __name__))
