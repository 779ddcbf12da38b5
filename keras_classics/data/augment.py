"""The papers' augmentation policies as stateless TensorFlow image ops.

Every random choice comes from a stateless op seeded by the caller (a ``[2]``
int tensor), so an image's augmentation is a pure function of its seed:
:func:`keras_classics.data.make_pipeline` derives that seed from
``(seed, epoch, position in the epoch)``.

Images are RGB in [0, 255], channels last: uint8 or float32 in, float32 out (a
uint8 image is only converted where it is resampled). Sizes in the papers refer to
224-pixel crops; here they scale with ``image_size / 224`` so that the same
policy works at any input size (256 → ``round(image_size * 256 / 224)``).

Policies (training):

* ``"alexnet"``: Krizhevsky et al., NeurIPS 2012, §4.1: resize the shorter side
  to 256, centre 256x256, random 224 crop, horizontal flip, PCA lighting noise
  (sigma 0.1).
* ``"vgg"``: Simonyan & Zisserman, ICLR 2015, §3.1: scale jittering, shorter
  side S uniform in [256, 512], random crop, flip, the same RGB colour shift.
* ``"inception"``: Szegedy et al., CVPR 2015, §6: a random crop of 8-100% of
  the area with aspect ratio in [3/4, 4/3], resized to the input size, flip,
  photometric distortions (brightness, saturation, hue, contrast in one of
  four orders, as in TF-slim's inception preprocessing).
* ``"resnet"``: He et al., CVPR 2016, §3.4: scale augmentation, shorter side
  in [256, 480], random crop, flip, the standard colour augmentation of AlexNet.
* ``"cifar"``: He et al. §4.2: pad 4 pixels per side (of 32), random crop, flip.
* ``"none"``: resize the shorter side and take the centre.

Evaluation: :func:`keras_classics.transforms.eval_crop` with the policy's
:func:`keras_classics.transforms.eval_crop_fraction`: the shorter side resized to ``image_size * 256 / 224``
and the centre taken (``"cifar"`` and ``"none"``: resized to ``image_size``,
nothing cut off); AlexNet's 10-crop test with :func:`ten_crop`. The resampling
(:func:`keras_classics.transforms.resize` and its windowed forms) is the eval
transform's, shared by the training policies.
"""

from __future__ import annotations

import math

import tensorflow as tf

from keras_classics.transforms import (
    IMAGENET_CROP_FRACTION,
    POLICIES,
    eval_crop_fraction,
    crop_shorter_side,
    eval_crop,
    resize,
    resize_to,
    resized_window,
    shorter_side_size,
)


# Principal components of ImageNet RGB pixels in [0, 1] (the values released with
# fb.resnet.torch and used since): eigenvalues, and eigenvectors as columns.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)
LIGHTING_STD = 0.1  # AlexNet: alpha ~ N(0, 0.1)

# Scale ranges of the shorter side, in pixels for a 224 crop.
SCALE_RANGES = {"vgg": (256, 512), "resnet": (256, 480)}
INCEPTION_AREA = (0.08, 1.0)
INCEPTION_RATIO = (3 / 4, 4 / 3)
CIFAR_PAD = 4  # pixels per side for a 32-pixel image

_NUM_SEEDS = 8  # per-image seeds: crop, scale, flip, lighting, colour order, brightness, saturation, hue/contrast


def scaled(pixels: float, image_size: int) -> int:
    """A size given for 224-pixel crops, scaled to ``image_size``."""
    return int(round(pixels * image_size / 224))


# --------------------------------------------------------------------------- primitives


def resize_shorter(image, shorter):
    """Resize (bilinear, see :func:`resize`) so the shorter side is exactly ``shorter``, keeping the aspect ratio."""
    return resize_to(image, shorter_side_size(tf.shape(image), shorter))


def crop_offsets(height, width, size, seed):
    """Uniform ``(top, left)`` of a ``size x size`` window in a ``height x width`` image.

    The draw of ``tf.image.stateless_random_crop`` (same seed, same offsets).
    """
    limit = tf.stack([height - size + 1, width - size + 1, 1])
    if isinstance(height, int) and isinstance(width, int):  # known sizes: checked here, no op per image
        if min(height, width) < size:
            raise ValueError(f"random crop: a {height}x{width} image is smaller than {size} pixels")
    else:
        tf.debugging.assert_positive(limit, message=f"random crop: the image is smaller than {size} pixels")
    offset = tf.random.stateless_uniform([3], seed=seed, maxval=tf.int32.max, dtype=tf.int32) % limit
    return offset[0], offset[1]


def center_crop(image, height, width=None):
    """The central ``height x width`` window (``width`` defaults to ``height``)."""
    width = height if width is None else width
    shape = tf.shape(image)
    top = (shape[-3] - height) // 2
    left = (shape[-2] - width) // 2
    return image[..., top : top + height, left : left + width, :]


def random_flip(image, seed):
    """Mirror left-right with probability 0.5."""
    return tf.image.stateless_random_flip_left_right(image, seed=seed)


def flip_draw(seed):
    """True where :func:`random_flip` with this seed mirrors (the draw of
    ``tf.image.stateless_random_flip_left_right``: a uniform below 0.5)."""
    return tf.random.stateless_uniform([], seed=seed, minval=0, maxval=1.0) < 0.5


def lighting(image, seed, std=LIGHTING_STD):
    """AlexNet's PCA colour augmentation (§4.1) on [0, 255] images.

    Adds ``eigvec @ (alpha * eigval)`` to every pixel, with ``alpha ~ N(0, std)``
    per image and the ImageNet principal components (scaled to [0, 255]).
    The result is not clipped, as in the paper.
    """
    return image + lighting_shift(seed, std)


def lighting_shift(seed, std=LIGHTING_STD):
    """The RGB shift (``[3]``, in [0, 255] units) that :func:`lighting` adds with this seed."""
    alpha = tf.random.stateless_normal([3], seed=seed, stddev=std)
    return tf.linalg.matvec(tf.constant(IMAGENET_EIGVEC), alpha * tf.constant(IMAGENET_EIGVAL)) * 255.0


def inception_crop_window(shape, seed, area_range=INCEPTION_AREA, ratio_range=INCEPTION_RATIO, attempts=10):
    """A random crop window covering ``area_range`` of the image with aspect ratio in ``ratio_range``.

    The area fraction is uniform and the aspect ratio (width / height)
    log-uniform; of ``attempts`` candidates the first that fits is used, else the
    whole image cut to the nearest allowed aspect ratio.

    Args:
        shape: ``[height, width, ...]`` of the image.
        seed: ``[2]`` int seed.

    Returns:
        ``(top, left, height, width)`` int32 scalars.
    """
    h = tf.cast(shape[0], tf.float32)
    w = tf.cast(shape[1], tf.float32)
    u = tf.random.stateless_uniform([attempts, 4], seed=seed)
    area = h * w * (area_range[0] + u[:, 0] * (area_range[1] - area_range[0]))
    log_lo, log_hi = math.log(ratio_range[0]), math.log(ratio_range[1])
    ratio = tf.exp(log_lo + u[:, 1] * (log_hi - log_lo))
    cw = tf.math.round(tf.sqrt(area * ratio))
    ch = tf.math.round(tf.sqrt(area / ratio))
    fits = (cw <= w) & (ch <= h) & (cw >= 1) & (ch >= 1)
    first = tf.argmax(tf.cast(fits, tf.int32))

    # Fallback: the whole image, cut to the allowed aspect range.
    in_ratio = w / h
    fw = tf.where(in_ratio > ratio_range[1], tf.math.round(h * ratio_range[1]), w)
    fh = tf.where(in_ratio < ratio_range[0], tf.math.round(w / ratio_range[0]), h)
    any_fit = tf.reduce_any(fits)
    crop_h = tf.where(any_fit, ch[first], fh)
    crop_w = tf.where(any_fit, cw[first], fw)
    top = tf.where(any_fit, tf.floor(u[first, 2] * (h - crop_h + 1)), tf.floor((h - crop_h) / 2))
    left = tf.where(any_fit, tf.floor(u[first, 3] * (w - crop_w + 1)), tf.floor((w - crop_w) / 2))
    as_int = lambda x: tf.cast(x, tf.int32)  # noqa: E731
    return as_int(top), as_int(left), as_int(crop_h), as_int(crop_w)


def distort_color(image, seeds):
    """Photometric distortions of Inception training on a [0, 1] image.

    Brightness (±32/255), saturation (×0.5–1.5), hue (±0.2) and contrast
    (×0.5–1.5), applied in one of four orders picked at random (the orders of
    TF-slim's ``distort_color``), then clipped to [0, 1].

    Args:
        image: float32 ``[H, W, 3]`` in [0, 1].
        seeds: ``[5, 2]`` int seeds: order, brightness, saturation, hue, contrast.
    """
    ops = {
        "b": lambda x: tf.image.stateless_random_brightness(x, 32.0 / 255.0, seed=seeds[1]),
        "s": lambda x: tf.image.stateless_random_saturation(x, 0.5, 1.5, seed=seeds[2]),
        "h": lambda x: tf.image.stateless_random_hue(x, 0.2, seed=seeds[3]),
        "c": lambda x: tf.image.stateless_random_contrast(x, 0.5, 1.5, seed=seeds[4]),
    }

    def branch(order):
        def run():
            x = image
            for op in order:
                x = ops[op](x)
            return x

        return run

    order = tf.random.stateless_uniform([], seed=seeds[0], minval=0, maxval=4, dtype=tf.int32)
    out = tf.switch_case(order, [branch(o) for o in ("bshc", "sbch", "chbs", "hscb")])
    return tf.clip_by_value(out, 0.0, 1.0)


def ten_crop(images, size: int):
    """AlexNet's 10-crop test: the four corners and the centre, and their mirror images.

    Args:
        images: ``[H, W, C]`` or ``[B, H, W, C]`` with ``H, W >= size``.
        size: side of the square crops.

    Returns:
        ``[10, size, size, C]`` (or ``[B, 10, size, size, C]``): top-left,
        top-right, bottom-left, bottom-right, centre, then the same five flipped
        left-right.

    Example:
        >>> crops = ten_crop(tf.zeros([256, 256, 3]), 224)
        >>> crops.shape
        TensorShape([10, 224, 224, 3])
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank not in (3, 4):
        raise ValueError(f"ten_crop expects [H, W, C] or [B, H, W, C] images, received shape {images.shape}.")
    shape = tf.shape(images)
    h, w = shape[-3], shape[-2]
    tf.debugging.assert_greater_equal(
        tf.minimum(h, w), size, message=f"ten_crop: images must be at least {size} pixels on each side"
    )
    corners = [(0, 0), (0, w - size), (h - size, 0), (h - size, w - size), ((h - size) // 2, (w - size) // 2)]
    crops = [images[..., t : t + size, l : l + size, :] for t, l in corners]
    crops += [tf.reverse(c, axis=[-2]) for c in crops]
    return tf.stack(crops, axis=-4)


# --------------------------------------------------------------------------- policies


def train_transform(policy: str, image_size: int, pad_value=(0.0, 0.0, 0.0), lighting_std: float = LIGHTING_STD):
    """The training augmentation of ``policy`` as ``fn(image, seed) -> [S, S, 3]``.

    Args:
        policy: one of :data:`POLICIES`.
        image_size: side ``S`` of the output.
        pad_value: the RGB colour of the ``"cifar"`` padding (the colour that
            the preprocessing maps to zero, as the papers padded after
            subtracting the mean).
        lighting_std: sigma of AlexNet's colour shift (``"alexnet"``, ``"vgg"``,
            ``"resnet"``); 0 turns it off.

    Returns:
        A function of a float32 [0, 255] ``[H, W, 3]`` image and a ``[2]`` seed.
    """
    per_image, per_batch = train_transform_parts(policy, image_size, pad_value, lighting_std)

    def fn(image, seed):
        x, params = per_image(image, seed)
        return per_batch(x[None], tf.nest.map_structure(lambda p: p[None], params))[0]

    return fn


def train_transform_parts(policy: str, image_size: int, pad_value=(0.0, 0.0, 0.0), lighting_std: float = LIGHTING_STD):
    """:func:`train_transform` in two parts: ``per_image(image, seed) -> (image, params)``, ``per_batch(images, params)``.

    The per-image part makes every random draw, from the image's own seed, and
    the work that depends on the image's size (crop windows, resampling); it
    returns the ``[S, S, 3]`` image and a dict of the draws left to apply. The
    per-batch part applies those (flip, colour shift, CIFAR's pad and crop) to a
    batch of such images and stacked params in a few whole-batch ops instead of
    several small ones per image. Together they give the pixels of
    :func:`train_transform` exactly; :func:`keras_classics.data.make_pipeline`
    runs the second part after batching.
    """
    if policy not in POLICIES:
        raise ValueError(f"Unknown policy {policy!r}. Accepted: {', '.join(POLICIES)}.")
    size = image_size
    pad = max(1, int(round(CIFAR_PAD * size / 32)))

    def per_image(image, seed):
        seeds = tf.random.experimental.stateless_split(seed, _NUM_SEEDS)
        # Resize-then-crop policies resample only the crop (resized_window): same pixels, less work.
        if policy in ("alexnet", *SCALE_RANGES):
            if policy == "alexnet":
                full = scaled(256, size)
                resized = shorter_side_size(tf.shape(image), full)
                top, left = crop_offsets(full, full, size, seeds[0])  # in the centre full x full square
                top, left = top + (resized[0] - full) // 2, left + (resized[1] - full) // 2
            else:
                lo, hi = (scaled(p, size) for p in SCALE_RANGES[policy])
                shorter = tf.random.stateless_uniform([], seed=seeds[1], minval=max(lo, size), maxval=hi + 1,
                                                      dtype=tf.int32)
                resized = shorter_side_size(tf.shape(image), shorter)
                top, left = crop_offsets(resized[0], resized[1], size, seeds[0])
            params = {"flip": flip_draw(seeds[2])}
            if lighting_std:
                params["shift"] = lighting_shift(seeds[3], lighting_std)
            return resized_window(image, resized, top, left, size), params
        if policy == "inception":
            top, left, h, w = inception_crop_window(tf.shape(image), seeds[0])
            x = image[top : top + h, left : left + w, :]
            x = resize(x, tf.constant([size, size]))
            x = random_flip(x, seeds[2])
            color_seeds = tf.random.experimental.stateless_split(seeds[4], 5)
            return distort_color(x / 255.0, color_seeds) * 255.0, {}
        if policy == "cifar":
            top, left = crop_offsets(size + 2 * pad, size + 2 * pad, size, seeds[0])  # in the padded image
            return eval_crop(image, size), {"offset": tf.stack([top, left]), "flip": flip_draw(seeds[2])}
        return eval_crop(image, size), {}  # "none": the whole image resized, as in evaluation

    def per_batch(images, params):
        if policy == "cifar":
            return crop_and_flip_batch(pad_batch(images, pad, pad_value), params["offset"], params["flip"], size)
        if "flip" in params:
            images = tf.where(params["flip"][:, None, None, None], tf.reverse(images, axis=[2]), images)
        if "shift" in params:
            images = images + params["shift"][:, None, None, :]
        return images

    return per_image, per_batch


def pad_batch(images, pad, pad_value=(0.0, 0.0, 0.0)):
    """Pad ``pad`` pixels of colour ``pad_value`` on each side of a ``[B, H, W, 3]`` batch."""
    return tf.pad(images - pad_value, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) + pad_value


def crop_and_flip_batch(images, offsets, flips, size):
    """Per-image ``size x size`` windows at ``offsets`` (``[B, 2]`` top, left), mirrored where ``flips`` (``[B]``)."""
    r = tf.range(size)
    rows = offsets[:, 0:1] + r
    cols = offsets[:, 1:2] + tf.where(flips[:, None], size - 1 - r, r)
    return tf.gather(tf.gather(images, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)


def eval_transform(policy: str, image_size: int, crops: int = 1):
    """The evaluation transform: ``fn(image) -> [S, S, 3]`` (``crops=10``: ``[10, S, S, 3]``)."""
    if policy not in POLICIES:
        raise ValueError(f"Unknown policy {policy!r}. Accepted: {', '.join(POLICIES)}.")
    if crops not in (1, 10):
        raise ValueError(f"crops must be 1 or 10, received {crops!r}.")
    size = image_size
    crop_fraction = eval_crop_fraction(policy, size)

    def fn(image):
        if crops == 10:  # AlexNet's test: ten crops of the centre "256" square, whatever the policy
            full = crop_shorter_side(size, IMAGENET_CROP_FRACTION)
            return ten_crop(center_crop(resize_shorter(image, full), full), size)
        return eval_crop(image, size, crop_fraction)

    return fn
