"""Inception v3 (Szegedy et al., CVPR 2016), as released.

Which variant is built, exactly: the network of the released code (tf-slim
``nets/inception_v3.py``, the same layout as keras.applications and
torchvision), which is the reference where the paper's Table 1 disagrees with
it (the paper lists the 35x35 stage as "3 x Inception" with 5x5 convolutions
factorised; the release keeps one 5x5 branch in ``mixed_5b``–``mixed_5d``):

* Stem: 3x3/2 conv 32, 3x3 conv 32, 3x3 conv 64, 3x3/2 max pool, 1x1 conv 80,
  3x3 conv 192, 3x3/2 max pool (299 → 35).
* ``mixed_5b``, ``mixed_5c``, ``mixed_5d`` (35x35, paper Fig. 5), the grid
  reduction ``mixed_6a`` (17x17), ``mixed_6b``–``mixed_6e`` (17x17, 1x7 / 7x1
  factorisation with 128, 160, 160, 192 channels, Fig. 6), the reduction
  ``mixed_7a`` (8x8) and ``mixed_7b``, ``mixed_7c`` (expanded filter banks,
  Fig. 7), then global average pooling, dropout and the classifier.
* Every convolution is followed by batch normalisation with gamma and beta and
  a ReLU; no convolution bias; BN epsilon 1e-3 (the release).
* ``aux_logits=True`` adds the auxiliary classifier on the 17x17 output of
  ``mixed_6e``: 5x5/3 average pooling → 1x1 conv 128 → 5x5 conv 768 → fully
  connected (batch-normalised convolutions: the paper's "BN-auxiliary").

Names follow the tf-slim end points in snake case: ``conv2d_1a_3x3`` …
``conv2d_4a_3x3``, ``maxpool_3a_3x3``, ``maxpool_5a_3x3``, ``mixed_5b`` …
``mixed_7c``; inside a module ``mixed_5b_branch1x1``, ``mixed_5b_branch5x5_1``,
``mixed_5b_branch3x3dbl_2``, ``mixed_5b_branch_pool`` (each with ``_conv``,
``_bn``, ``_relu``).

Reference: Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jonathon Shlens,
Zbigniew Wojna, "Rethinking the Inception Architecture for Computer Vision",
CVPR 2016 (arXiv:1512.00567).
"""

from __future__ import annotations

from keras_classics._lazy import lazy_module
from keras_classics.arithmetic import SpatialOp
from keras_classics.models import _layers
from keras_classics.registry import (
    KERAS_APPLICATIONS_URL,
    EvalTransform,
    Variant,
    WeightsSet,
    register_model,
    timm_weights,
    torchvision_weights,
)

layers = lazy_module("keras.layers")  # Keras loads at the first build, so the registry entries import without it

__all__ = ["inception_v3", "MIN_SIZE", "MIN_SIZE_AUX"]

PAPER = "Rethinking the Inception Architecture for Computer Vision"
DEFAULT_SIZE = 299
BN_EPSILON = 1e-3  # the release (tf-slim, keras.applications, torchvision)
DROPOUT = 0.2  # tf-slim: dropout_keep_prob=0.8 before the logits

# The spatial path to the last feature map (1x1 and 'same' layers left out).
_TRUNK_TO_6E = (
    SpatialOp("conv2d_1a_3x3", 3, 2),
    SpatialOp("conv2d_2a_3x3", 3),
    SpatialOp("maxpool_3a_3x3", 3, 2),
    SpatialOp("conv2d_4a_3x3", 3),
    SpatialOp("maxpool_5a_3x3", 3, 2),
    SpatialOp("mixed_6a", 3, 2),
)
SPATIAL_PATH = _TRUNK_TO_6E + (SpatialOp("mixed_7a", 3, 2),)
# The auxiliary head's 5x5/3 pooling and 'valid' 5x5 convolution must fit the
# 17x17 map of mixed_6e: only the paper's 299 (and larger) inputs allow it.
AUX_PATH = _TRUNK_TO_6E + (SpatialOp("aux_avgpool", 5, 3), SpatialOp("aux_conv1_conv", 5))
MIN_SIZE = _layers.min_size(SPATIAL_PATH)
MIN_SIZE_AUX = _layers.min_size(AUX_PATH)

ENDPOINTS = ["conv2d_2b_3x3_relu", "conv2d_4a_3x3_relu", "mixed_5d", "mixed_6e", "mixed_7c"]


def _conv(x, filters, kernel_size, strides=1, padding="same", *, name):
    return _layers.conv_bn_act(x, filters, kernel_size, strides, padding, name=name, bn_epsilon=BN_EPSILON)


def _avg_pool_branch(x, filters, name, count_include_pad):
    if count_include_pad:
        # PyTorch's avg_pool2d(3, stride=1, padding=1) divides by 9 at the border too: pad with
        # zeros explicitly, then average 'valid' windows.
        x = layers.ZeroPadding2D(1, name=f"{name}_branch_pool_pad")(x)
        x = layers.AveragePooling2D(3, strides=1, padding="valid", name=f"{name}_branch_pool_avgpool")(x)
    else:
        # TensorFlow's 'same' average pool divides by the number of real pixels in the window.
        x = layers.AveragePooling2D(3, strides=1, padding="same", name=f"{name}_branch_pool_avgpool")(x)
    return _conv(x, filters, 1, name=f"{name}_branch_pool")


# ------------------------------------------------------------------ modules
# Branch order (and creation order) as in the release: keras.applications'
# auto-named layers are ported by this order (keras_classics.weights).


def _module_35(x, pool_filters, name, count_include_pad=False):
    """35x35 module (paper Fig. 5 as released): 1x1 | 1x1→5x5 | 1x1→3x3→3x3 | avgpool→1x1."""
    b1 = _conv(x, 64, 1, name=f"{name}_branch1x1")
    b5 = _conv(x, 48, 1, name=f"{name}_branch5x5_1")
    b5 = _conv(b5, 64, 5, name=f"{name}_branch5x5_2")
    b3 = _conv(x, 64, 1, name=f"{name}_branch3x3dbl_1")
    b3 = _conv(b3, 96, 3, name=f"{name}_branch3x3dbl_2")
    b3 = _conv(b3, 96, 3, name=f"{name}_branch3x3dbl_3")
    bp = _avg_pool_branch(x, pool_filters, name, count_include_pad)
    return layers.Concatenate(name=name)([b1, b5, b3, bp])  # 64 + 64 + 96 + pool_filters


def _reduction_6a(x, name="mixed_6a"):
    """35x35 → 17x17 grid reduction (paper Fig. 10): 3x3/2 | 1x1→3x3→3x3/2 | maxpool/2."""
    b3 = _conv(x, 384, 3, 2, "valid", name=f"{name}_branch3x3")
    bd = _conv(x, 64, 1, name=f"{name}_branch3x3dbl_1")
    bd = _conv(bd, 96, 3, name=f"{name}_branch3x3dbl_2")
    bd = _conv(bd, 96, 3, 2, "valid", name=f"{name}_branch3x3dbl_3")
    bp = layers.MaxPooling2D(3, strides=2, name=f"{name}_branch_pool")(x)
    return layers.Concatenate(name=name)([b3, bd, bp])  # 384 + 96 + 288 = 768


def _module_17(x, c7, name, count_include_pad=False):
    """17x17 module (paper Fig. 6, n = 7): 1x1 | 1x1→1x7→7x1 | 1x1→7x1→1x7→7x1→1x7 | avgpool→1x1."""
    b1 = _conv(x, 192, 1, name=f"{name}_branch1x1")
    b7 = _conv(x, c7, 1, name=f"{name}_branch7x7_1")
    b7 = _conv(b7, c7, (1, 7), name=f"{name}_branch7x7_2")
    b7 = _conv(b7, 192, (7, 1), name=f"{name}_branch7x7_3")
    bd = _conv(x, c7, 1, name=f"{name}_branch7x7dbl_1")
    bd = _conv(bd, c7, (7, 1), name=f"{name}_branch7x7dbl_2")
    bd = _conv(bd, c7, (1, 7), name=f"{name}_branch7x7dbl_3")
    bd = _conv(bd, c7, (7, 1), name=f"{name}_branch7x7dbl_4")
    bd = _conv(bd, 192, (1, 7), name=f"{name}_branch7x7dbl_5")
    bp = _avg_pool_branch(x, 192, name, count_include_pad)
    return layers.Concatenate(name=name)([b1, b7, bd, bp])  # 4 x 192 = 768


def _reduction_7a(x, name="mixed_7a"):
    """17x17 → 8x8 grid reduction: 1x1→3x3/2 | 1x1→1x7→7x1→3x3/2 | maxpool/2."""
    b3 = _conv(x, 192, 1, name=f"{name}_branch3x3_1")
    b3 = _conv(b3, 320, 3, 2, "valid", name=f"{name}_branch3x3_2")
    b7 = _conv(x, 192, 1, name=f"{name}_branch7x7x3_1")
    b7 = _conv(b7, 192, (1, 7), name=f"{name}_branch7x7x3_2")
    b7 = _conv(b7, 192, (7, 1), name=f"{name}_branch7x7x3_3")
    b7 = _conv(b7, 192, 3, 2, "valid", name=f"{name}_branch7x7x3_4")
    bp = layers.MaxPooling2D(3, strides=2, name=f"{name}_branch_pool")(x)
    return layers.Concatenate(name=name)([b3, b7, bp])  # 320 + 192 + 768 = 1280


def _module_8(x, name, count_include_pad=False):
    """8x8 module with expanded filter banks (paper Fig. 7):
    1x1 | 1x1→(1x3, 3x1) | 1x1→3x3→(1x3, 3x1) | avgpool→1x1."""
    b1 = _conv(x, 320, 1, name=f"{name}_branch1x1")
    b3 = _conv(x, 384, 1, name=f"{name}_branch3x3_1")
    b3 = layers.Concatenate(name=f"{name}_branch3x3")([
        _conv(b3, 384, (1, 3), name=f"{name}_branch3x3_2a"),
        _conv(b3, 384, (3, 1), name=f"{name}_branch3x3_2b"),
    ])
    bd = _conv(x, 448, 1, name=f"{name}_branch3x3dbl_1")
    bd = _conv(bd, 384, 3, name=f"{name}_branch3x3dbl_2")
    bd = layers.Concatenate(name=f"{name}_branch3x3dbl")([
        _conv(bd, 384, (1, 3), name=f"{name}_branch3x3dbl_3a"),
        _conv(bd, 384, (3, 1), name=f"{name}_branch3x3dbl_3b"),
    ])
    bp = _avg_pool_branch(x, 192, name, count_include_pad)
    return layers.Concatenate(name=name)([b1, b3, bd, bp])  # 320 + 768 + 768 + 192 = 2048


def _aux_head(x, classes, classifier_activation):
    """Auxiliary classifier on mixed_6e (17x17x768): 5x5/3 avgpool (5x5) → 1x1 conv 128 →
    5x5 conv 768 (1x1) → fully connected."""
    x = layers.AveragePooling2D(5, strides=3, name="aux_avgpool")(x)
    x = _conv(x, 128, 1, name="aux_conv0")
    x = _conv(x, 768, 5, padding="valid", name="aux_conv1")
    x = layers.GlobalAveragePooling2D(name="aux_gap")(x)  # 1x1 at 299; larger inputs average
    return layers.Dense(classes, activation=classifier_activation, dtype=_layers.output_dtype(), name="aux")(x)


# -------------------------------------------------------------------- model


# keras.applications' ImageNet weights: 342 -> 299 centre crop (0.875), inputs scaled to [-1, 1]
# (keras.io/api/applications: 92 MB, top-1 77.9 %, top-5 93.7 %).
IMAGENET = WeightsSet("imagenet", "keras.applications", EvalTransform(DEFAULT_SIZE, 0.875, "tf"),
                      requires={"count_include_pad": False},
                      why="the TensorFlow release's average pools leave the zero padding out of the mean",
                      application="InceptionV3", file="inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                      url=f"{KERAS_APPLICATIONS_URL}inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                      size_mib=92, top1=77.9, top5=93.7)

# torchvision's set (Inception_V3_Weights.IMAGENET1K_V1) is Google's TensorFlow model ported; the
# torchvision model feeds it inputs in [-1, 1] (``transform_input=True`` undoes its own mean/std),
# which is our "tf" preprocessing; resize 342, crop 299. Its 3x3 average pools count the padding.
TORCHVISION = torchvision_weights(
    "torchvision", "inception_v3_google-0cc3c7bd.pth", EvalTransform(DEFAULT_SIZE, DEFAULT_SIZE / 342, "tf"),
    top1=77.294, top5=93.45, size_mib=103.903, requires={"count_include_pad": True},
    why="torchvision's 3x3 average pools count the zero padding in the mean (PyTorch's default)",
    note="torchvision IMAGENET1K_V1 (Google's TensorFlow weights); transform_input becomes the 'tf' scaling",
    # timm's copy (inception_v3.tv_in1k) is of inception_v3_google-1a9a5a14.pth, torchvision's earlier file of
    # these weights (its pretrained_cfg's url), in torchvision's layout: read without PyTorch.
    hub="timm/inception_v3.tv_in1k",
)

# timm's other Inception v3 sets (huggingface/pytorch-image-models at aa4b5850: timm/models/inception_v3.py
# default_cfgs: 299, crop_pct 0.875, bicubic; tf_in1k with the inception mean/std 0.5 ("tf"), gluon_in1k
# with ImageNet's ("torch"); results/results-imagenet.csv for top-1/top-5). timm runs every set in
# torchvision's layout, its 3x3 average pools counting the padding.
TIMM = [
    timm_weights("timm/inception_v3.gluon_in1k", EvalTransform(DEFAULT_SIZE, 0.875, "torch", "bicubic"),
                 top1=78.806, top5=94.372, requires={"count_include_pad": True},
                 why="timm's Inception v3 is torchvision's: its 3x3 average pools count the zero padding",
                 note="GluonCV's Inception v3, ported by timm"),
    timm_weights("timm/inception_v3.tf_in1k", EvalTransform(DEFAULT_SIZE, 0.875, "tf", "bicubic"),
                 top1=77.866, top5=93.644, requires={"count_include_pad": True},
                 why="timm's Inception v3 is torchvision's: its 3x3 average pools count the zero padding",
                 note="TensorFlow-Slim's Inception v3 (inception_v3_2016_08_28), ported by timm; evaluated "
                      "with padding-counting pools, as timm does"),
]

# Szegedy et al. 2016, Sec. 8: RMSProp decay 0.9, epsilon 1.0, lr 0.045 at batch 32, gradient
# clipping 2.0, label smoothing 0.1; the auxiliary loss weighted 0.4 (torchvision's recipe).
RECIPE = dict(policy="inception", optimizer="rmsprop", lr=0.045, lr_batch_size=32, rho=0.9, momentum=0.9,
              epsilon=1.0, clipnorm=2.0, label_smoothing=0.1, weight_decay=4e-5, aux_loss_weights={"aux": 0.4})


def _inception_v3(args, *, aux_logits, dropout, count_include_pad):
    _layers.check_bool("aux_logits", aux_logits)
    _layers.check_bool("count_include_pad", count_include_pad)
    _layers.check_rate("dropout", dropout)
    img_input, inputs = _layers.model_input(
        args, default_size=DEFAULT_SIZE, min_size=MIN_SIZE_AUX if aux_logits else MIN_SIZE
    )

    # Stem: 299 → 149 → 147 → 147 → 73 → 73 → 71 → 35.
    x = _conv(img_input, 32, 3, 2, "valid", name="conv2d_1a_3x3")
    x = _conv(x, 32, 3, padding="valid", name="conv2d_2a_3x3")
    x = _conv(x, 64, 3, name="conv2d_2b_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="maxpool_3a_3x3")(x)
    x = _conv(x, 80, 1, padding="valid", name="conv2d_3b_1x1")
    x = _conv(x, 192, 3, padding="valid", name="conv2d_4a_3x3")
    x = layers.MaxPooling2D(3, strides=2, name="maxpool_5a_3x3")(x)

    # 35x35: 256, 288, 288 channels.
    x = _module_35(x, 32, "mixed_5b", count_include_pad)
    x = _module_35(x, 64, "mixed_5c", count_include_pad)
    x = _module_35(x, 64, "mixed_5d", count_include_pad)
    # 17x17: 768 channels.
    x = _reduction_6a(x)
    for c7, module in zip((128, 160, 160, 192), ("mixed_6b", "mixed_6c", "mixed_6d", "mixed_6e")):
        x = _module_17(x, c7, module, count_include_pad)
    aux = _aux_head(x, args.classes, args.classifier_activation) if aux_logits else None
    # 8x8: 1280, 2048, 2048 channels.
    x = _reduction_7a(x)
    x = _module_8(x, "mixed_7b", count_include_pad)
    x = _module_8(x, "mixed_7c", count_include_pad)

    outputs = _layers.classifier(x, args, dropout=dropout)
    if aux is not None:
        outputs = {"predictions": outputs, "aux": aux}
    return _layers.finish(inputs, outputs, args, count_include_pad=count_include_pad)


_DOC = f"""Instantiate Inception v3 as released (tf-slim / keras.applications layout).

Reference: Christian Szegedy et al., "Rethinking the Inception Architecture for
Computer Vision", CVPR 2016. {{counts}} ImageNet weights: ``weights="imagenet"``
ports keras.applications' (the auxiliary head, which keras.applications does not
have, then keeps its initial weights); ``weights="torchvision"`` loads
torchvision's, auxiliary head included (the builder sets ``count_include_pad=True``).

Args:
{{base_args}}
        aux_logits: add the auxiliary classifier on ``mixed_6e`` (needs the top
            and an input of at least {MIN_SIZE_AUX}x{MIN_SIZE_AUX}: its 5x5/3 pooling
            and 5x5 convolution must fit the 17x17 map). The model then returns a
            dict ``{{"predictions": ..., "aux": ...}}``; weight the ``aux`` loss in
            the recipe (0.4 in the torchvision recipe) and drop the head with
            ``strip_aux`` for inference.
        dropout: dropout rate before the classifier; default {DROPOUT}, the
            released tf-slim value (``dropout_keep_prob=0.8``). The paper gives no
            rate; torchvision uses 0.5, keras.applications none.
        count_include_pad: whether the 3x3 average pools of the ``branch_pool``
            branches count the zero padding in the mean at the border: ``False``
            (default) as in the TensorFlow release and keras.applications,
            ``True`` as in torchvision (PyTorch's default). Same parameters; the
            outputs differ near the borders, so each weights set needs its own
            (``weights="torchvision"`` sets ``True``).

Returns:
    A functional ``keras.Model``.

Example:
    >>> model = inception_v3(classes=10, input_shape=({MIN_SIZE}, {MIN_SIZE}, 3))
    >>> train_net = inception_v3(aux_logits=True)       # outputs {{"predictions", "aux"}}
"""

inception_v3 = register_model(
    paper=PAPER,
    venue="CVPR",
    year=2016,
    default_size=DEFAULT_SIZE,
    min_size=MIN_SIZE,
    aux_min_size=MIN_SIZE_AUX,
    preprocessing="tf",
    params=23_834_568,
    aux_params=27_161_264,
    macs=5_713_216_096,
    depth=48,
    top1_error=21.2,
    top5_error=5.6,
    error_note="single crop (299x299), ImageNet validation; paper Table 3, last row (Inception-v3)",
    endpoints=lambda **kwargs: list(ENDPOINTS),
    variants=(
        Variant("count_include_pad=True", {"count_include_pad": True}, 23_834_568, aux_params=27_161_264,
                note="torchvision's average pools: the zero padding counts in the mean"),
    ),
    weights=[IMAGENET, TORCHVISION, *TIMM],
    recipe=RECIPE,
)(
    _layers.make_builder("inception_v3", _inception_v3, dict(aux_logits=False, dropout=DROPOUT, count_include_pad=False), _DOC, __name__)
)
