"""The eval transform: the one resize/crop rule and its resampling, and the one table of preprocessing modes.

An image is prepared for a model in two steps, each stated once here and read by
training's validation, ``predict``, ``export`` (parity, calibration, the
SavedModel's ``serving_bytes`` signature), the weights sets and the inspector:

1. **Resize and crop** (:func:`eval_crop`): resize the shorter side to
   :func:`crop_shorter_side` ``= round(size / crop_fraction)`` (bilinear or
   bicubic, :data:`INTERPOLATIONS`; antialiased where it shrinks, aspect ratio
   kept), then take the centre ``size x size``. ``crop_fraction`` is the part
   of the resized shorter side the crop keeps: :data:`IMAGENET_CROP_FRACTION`
   (``224 / 256``, "resize 256, crop 224") for the ImageNet recipes, 0.95 or 1
   for timm's recent sets (its ``crop_pct``), 1 for the whole image.
2. **Preprocess** (:func:`preprocess`) by mode name, from :data:`PREPROCESSING`:

   * ``"caffe"``: RGB → BGR, minus the ImageNet mean per channel (VGG, ResNet:
     the convention of the keras.applications weights).
   * ``"torch"``: scale to [0, 1], minus the ImageNet mean, over its std.
   * ``"tf"``: scale to [-1, 1] (Inception v3).
   * ``"none"``: unchanged.

:class:`EvalTransform` names both for a weights set (torchvision's
``ImageClassification`` preset plays that part there).

A leaf: the standard library at import. The mode names serve the command line's
``--help`` without TensorFlow, so the resampling imports TensorFlow when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "POLICIES",
    "eval_crop_fraction",
    "IMAGENET_MEAN_RGB",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Preprocessing",
    "PREPROCESSING",
    "PREPROCESSING_MODES",
    "preprocessing_mode",
    "preprocess",
    "IMAGENET_CROP_FRACTION",
    "EVAL_CROP_DESCRIPTION",
    "is_crop_fraction",
    "check_crop_fraction",
    "crop_shorter_side",
    "EvalTransform",
    "TORCHVISION_EVAL",
    "INTERPOLATIONS",
    "check_interpolation",
    "preprocessing_for",
    "eval_crop",
    "resized_centre",
    "resized_window",
    "resize",
    "resize_to",
    "shorter_side_size",
]

# --------------------------------------------------------------------------- preprocessing

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """One preprocessing mode: ``(x / scale - mean) / std`` on RGB pixels ``x`` in [0, 255],
    with the channels in BGR order when ``bgr`` (``mean`` and ``std`` stay in RGB order here)."""

    name: str
    scale: float = 1.0
    mean: tuple = (0.0, 0.0, 0.0)
    std: tuple | None = None
    bgr: bool = False

    @property
    def zero_colour(self) -> tuple:
        """The RGB colour in [0, 255] that the mode maps to zero (padding with it is zero-padding after it)."""
        return tuple(self.scale * m for m in self.mean)


#: The preprocessing modes, by name.
PREPROCESSING = {
    p.name: p
    for p in (
        Preprocessing("caffe", mean=IMAGENET_MEAN_RGB, bgr=True),
        Preprocessing("torch", scale=255.0, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        Preprocessing("tf", scale=127.5, mean=(1.0, 1.0, 1.0)),
        Preprocessing("none"),
    )
}
PREPROCESSING_MODES = tuple(PREPROCESSING)


def preprocessing_mode(mode: str) -> Preprocessing:
    """The :data:`PREPROCESSING` entry of ``mode``.

    Raises:
        ValueError: for a mode not in :data:`PREPROCESSING_MODES`.
    """
    try:
        return PREPROCESSING[mode]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown preprocessing {mode!r}. Accepted: {', '.join(PREPROCESSING_MODES)}.") from None


def preprocessing_for(mean, std) -> str:
    """The mode whose per-channel ``mean`` and ``std`` (RGB, for pixels scaled to [0, 1]) are these.

    timm and torchvision state a weights set's normalisation as ``mean`` and
    ``std``: ImageNet's (``"torch"``) or 0.5 and 0.5 (``"tf"``, timm's
    ``IMAGENET_INCEPTION_MEAN``).

    Raises:
        ValueError: no mode has them, naming what was received and what is accepted.
    """
    try:
        mean = tuple(float(m) for m in mean)
        std = tuple(float(s) for s in std)
    except (TypeError, ValueError):
        mean = std = None
    for p in PREPROCESSING.values():
        if p.bgr or p.scale == 1.0:  # "caffe" and "none" do not scale to [0, 1] first
            continue
        # (x / scale - m) / s == (x / 255 - scale * m / 255) / (scale * s / 255)
        p_mean = tuple(p.scale * m / 255.0 for m in p.mean)
        p_std = tuple(p.scale * s / 255.0 for s in (p.std or (1.0, 1.0, 1.0)))
        if mean is not None and len(mean) == len(std) == 3 and all(
                abs(a - b) < 1e-6 for a, b in zip(mean + std, p_mean + p_std)):
            return p.name
    raise ValueError(
        f"No preprocessing mode normalises with mean={mean} and std={std}. Accepted: ImageNet's mean "
        f"{IMAGENET_MEAN} and std {IMAGENET_STD} ('torch'), or mean and std 0.5 ('tf')."
    )


def preprocess(images, mode: str):
    """Apply the named preprocessing to float RGB images in [0, 255], channels last.

    Arithmetic and slicing only, so it works the same on NumPy arrays,
    TensorFlow tensors (tf.data, exported graphs) and Keras tensors.

    Raises:
        ValueError: for a mode not in :data:`PREPROCESSING_MODES`.
    """
    p = preprocessing_mode(mode)

    def per_channel(values):
        values = values[::-1] if p.bgr else values
        return values[0] if len(set(values)) == 1 else list(values)

    if p.bgr:
        images = images[..., ::-1]
    if p.scale != 1.0:
        images = images / p.scale
    if any(p.mean):
        images = images - per_channel(p.mean)
    if p.std is not None:
        images = images / per_channel(p.std)
    return images


# --------------------------------------------------------------------------- the resize/crop rule

#: ImageNet evaluation as the papers and torchvision do it: shorter side 256, centre 224.
IMAGENET_CROP_FRACTION = 224 / 256

#: The rule in words, as model cards state it.
EVAL_CROP_DESCRIPTION = (
    "bilinear or bicubic (antialiased where it shrinks), aspect ratio kept, shorter side to "
    "round(size / crop_fraction), centre crop"
)

#: The resampling filters of the resize: ``"bilinear"`` (the default; torchvision's sets) and
#: ``"bicubic"`` (timm's recent sets, its ``interpolation``).
INTERPOLATIONS = ("bilinear", "bicubic")

# TensorFlow's kernels for them: tf.image.resize's methods, and ScaleAndTranslate's kernel_type
# (the kernels tf.image.resize itself uses with antialias=True).
_TF_KERNELS = {"bilinear": "triangle", "bicubic": "keyscubic"}


def check_interpolation(interpolation) -> str:
    """``interpolation``, refused unless it is one of :data:`INTERPOLATIONS`."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Unknown interpolation {interpolation!r}. Accepted: {', '.join(INTERPOLATIONS)}.")
    return interpolation


def is_crop_fraction(value) -> bool:
    """Whether ``value`` is a crop fraction: a number in (0, 1]."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1


def check_crop_fraction(crop_fraction) -> float:
    """``crop_fraction`` as a float, refused unless it is a number in (0, 1]."""
    if not is_crop_fraction(crop_fraction):
        raise ValueError(f"`crop_fraction` must be in (0, 1]. Received: crop_fraction={crop_fraction!r}")
    return float(crop_fraction)


def crop_shorter_side(size, crop_fraction: float) -> int:
    """The side an image's shorter side is resized to before a centre crop of ``size`` keeping ``crop_fraction``.

    The one resize/crop rule: ``round(max(height, width) / crop_fraction)``, at
    least the crop. ``size`` is a side or ``(height, width)``.

    Example:
        >>> crop_shorter_side(224, 224 / 256), crop_shorter_side(224, 224 / 232), crop_shorter_side(299, 299 / 342)
        (256, 232, 342)
    """
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    side = max(height, width)
    return max(side, int(round(side / check_crop_fraction(crop_fraction))))


@dataclass(frozen=True)
class EvalTransform:
    """How an image is prepared for a model at evaluation: resize the shorter side to
    :attr:`resize` (:func:`crop_shorter_side`) with ``interpolation``, centre-crop
    ``size x size`` (:func:`eval_crop`), then ``preprocessing`` (:func:`preprocess`).

    ``size`` is the side the publisher evaluated at, which may be larger than
    ``train_size``, the side the weights were trained at (timm's
    ``test_input_size`` and ``input_size``: its ResNet ``a1_in1k`` sets train at
    224 and are evaluated at 288 with the whole image, ``crop_fraction=1``);
    ``train_size`` is ``None`` when they are the same.
    """

    size: int
    crop_fraction: float
    preprocessing: str
    interpolation: str = "bilinear"
    train_size: int | None = None

    def __post_init__(self):
        check_crop_fraction(self.crop_fraction)
        preprocessing_mode(self.preprocessing)
        check_interpolation(self.interpolation)
        for key in ("size", "train_size"):
            value = getattr(self, key)
            if (value is not None or key == "size") and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"`{key}` must be a positive integer. Received: {key}={value!r}")

    @property
    def resize(self) -> int:
        """The shorter side before the centre crop."""
        return crop_shorter_side(self.size, self.crop_fraction)


#: torchvision's ImageNet evaluation: resize the shorter side to 256, centre-crop 224,
#: RGB / 255 minus mean over std (``"torch"``).
TORCHVISION_EVAL = EvalTransform(224, IMAGENET_CROP_FRACTION, "torch")


# --------------------------------------------------------------------------- resampling (TensorFlow ops)


def eval_crop(image, size, crop_fraction: float = 1.0, interpolation: str = "bilinear"):
    """Resize ``image``'s shorter side to :func:`crop_shorter_side` and take the centre ``size``.

    The evaluation resize and crop of the package, in TensorFlow ops (usable in
    exported graphs): training's validation, ``predict``, export's parity and
    calibration images and the ``serving_bytes`` signature all call it.

    Args:
        image: uint8 or float ``[H, W, 3]`` RGB in [0, 255], any size.
        size: side of a square crop, or ``(height, width)``.
        crop_fraction: fraction of the resized shorter side the crop keeps
            (:data:`IMAGENET_CROP_FRACTION`: "resize 256, crop 224"; 1: the
            whole shorter side).
        interpolation: the resampling filter, one of :data:`INTERPOLATIONS`.

    Returns:
        float32 ``[height, width, 3]`` in the input's value range; a square
        image already of the target size is returned as is (with
        ``crop_fraction=1``).
    """
    size = size if isinstance(size, int) else (int(size[0]), int(size[1]))
    return resized_centre(image, crop_shorter_side(size, crop_fraction), size, interpolation)


def resized_centre(image, shorter, size, interpolation: str = "bilinear"):
    """``center_crop(resize_shorter(image, shorter), size)``, resampling only the centre window.

    The one evaluation resampling (see :func:`eval_crop`, which gives
    ``shorter`` by the rule).

    Args:
        image: uint8 or float ``[H, W, 3]`` RGB in [0, 255], any size.
        shorter: the side the image's shorter side is resized to (``>=`` the crop).
        size: side of a square crop, or ``(height, width)``.
        interpolation: the resampling filter, one of :data:`INTERPOLATIONS`.

    Returns:
        float32 ``[height, width, 3]``.
    """
    import tensorflow as tf  # deferred: the module's mode names load without TensorFlow

    check_interpolation(interpolation)
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    def general():
        resized = shorter_side_size(tf.shape(image), shorter)
        return resized_window(image, resized, (resized[0] - height) // 2, (resized[1] - width) // 2, height, width,
                              interpolation)

    if not (isinstance(shorter, int) and shorter == height == width):
        return general()
    # An image already size x size (CIFAR, the generated shapes) is returned as is, without the
    # size arithmetic: at 32x32 that arithmetic costs about as much as the rest of the policy.
    # When the shape is known statically (arrays, TFDS' CIFAR) no branch is built at all: each
    # branch of a tf.cond adds to the start-up of every epoch's iterator (~0.1 s for this one).
    if tuple(image.shape[:2]) == (height, width):
        return tf.cast(image, tf.float32)
    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], height))
    return tf.cond(same, lambda: tf.cast(image, tf.float32), general)


def shorter_side_size(shape, shorter):
    """``[height, width]`` (int32) of an image of ``shape`` resized so its shorter side is ``shorter``."""
    import tensorflow as tf  # deferred: the module's mode names load without TensorFlow

    h, w = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    shorter_f = tf.cast(shorter, tf.float64)
    scale = shorter_f / tf.minimum(h, w)
    new_h = tf.where(h <= w, shorter_f, tf.math.round(h * scale))
    new_w = tf.where(h <= w, tf.math.round(w * scale), shorter_f)
    return tf.cast(tf.stack([new_h, new_w]), tf.int32)


def resized_window(image, resized_size, top, left, height, width=None, interpolation: str = "bilinear"):
    """``resize(image, resized_size)[top:top + height, left:left + width]``, cheaper.

    When the resize shrinks the image (the antialiased path of :func:`resize`),
    the same resampling is evaluated at the window's pixels alone: a 224 crop
    of a 375x500 photo resized to 256 costs the 224x224 window, not 256x341
    pixels, about half the time. An enlarging resize (plain bilinear or
    bicubic, already cheap per pixel) is done whole and sliced; an image that
    keeps its size is only sliced.
    """
    import tensorflow as tf  # deferred: the module's mode names load without TensorFlow

    width = height if width is None else width
    shape = tf.shape(image)[:2]
    resized_size = tf.cast(resized_size, tf.int32)

    def window_only():
        scale = tf.cast(resized_size, tf.float32) / tf.cast(shape, tf.float32)
        translation = -tf.cast(tf.stack([top, left]), tf.float32)
        out = tf.raw_ops.ScaleAndTranslate(
            images=image[None], size=tf.stack([height, width]), scale=scale,  # uint8 or float: float32 out
            translation=translation, kernel_type=_TF_KERNELS[check_interpolation(interpolation)], antialias=True,
        )
        return out[0]

    def whole_then_slice():
        return resize_to(image, resized_size, interpolation)[top : top + height, left : left + width, :]

    return tf.cond(tf.reduce_any(resized_size < shape), window_only, whole_then_slice)


def resize_to(image, size, interpolation: str = "bilinear"):
    """:func:`resize` to ``size`` (``[height, width]``), skipping the work when the image already has it."""
    import tensorflow as tf  # deferred: the module's mode names load without TensorFlow

    return tf.cond(
        tf.reduce_all(tf.equal(size, tf.shape(image)[:2])),
        lambda: tf.cast(image, tf.float32),
        lambda: resize(image, size, interpolation),
    )


def resize(image, size, interpolation: str = "bilinear"):
    """Bilinear (or bicubic) resize to ``size`` (``[height, width]``), antialiased when it shrinks a side.

    Antialiasing only changes the result when downsampling (upsampling gives the
    same pixels to 1e-4), and costs about 3x: it is applied only there.
    """
    import tensorflow as tf  # deferred: the module's mode names load without TensorFlow

    method = check_interpolation(interpolation)
    shape = tf.shape(image)[-3:-1]
    shrinks = tf.reduce_any(size < shape)
    return tf.cond(
        shrinks,
        lambda: tf.image.resize(image, size, method=method, antialias=True),
        lambda: tf.cast(tf.image.resize(image, size, method=method), tf.float32),
    )


# --------------------------------------------------------------------------- the policies' evaluation crop

#: The augmentation policies (:mod:`keras_classics.data.augment` implements them); each has one
#: evaluation crop, :func:`eval_crop_fraction`.
POLICIES = ("alexnet", "vgg", "inception", "resnet", "cifar", "none")


def eval_crop_fraction(policy: str, image_size: int) -> float:
    """The evaluation crop of a run trained with ``policy`` at ``image_size`` (its ``crop_fraction``).

    ImageNet's "resize 256, crop 224" (:data:`IMAGENET_CROP_FRACTION`),
    rounded to the whole pixels the validation resizes to, so that
    :func:`crop_shorter_side` of the result gives those
    pixels back (``16 / 18`` at 16: shorter side 18); ``"cifar"`` and ``"none"``: 1,
    the whole image.
    """
    if policy not in POLICIES:
        raise ValueError(f"Unknown policy {policy!r}. Accepted: {', '.join(POLICIES)}.")
    if policy in ("cifar", "none"):
        return 1.0
    return image_size / crop_shorter_side(image_size, IMAGENET_CROP_FRACTION)
