"""``make_pipeline``: shuffle, augment, batch, mix and preprocess a source split.

Determinism: the shuffle order and every random choice of epoch ``e`` are pure
functions of ``(seed, e)``. The order is a permutation drawn with a stateless
op from ``(seed, e)``; the augmentation of the image at position ``i`` uses the
seed ``fold_in((seed, e), i)``; mixup/cutmix of batch ``b`` uses
``fold_in((seed, e), b)``. So a resumed run can rebuild any epoch exactly, and
the result does not depend on thread scheduling (``deterministic=True``).
"""

from __future__ import annotations

import difflib
import functools
import numbers

import tensorflow as tf

from keras_classics.data import augment
from keras_classics.data.base import Indexed, Stream, lazy_form
from keras_classics.transforms import PREPROCESSING_MODES, preprocess, preprocessing_mode

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_SHUFFLE_BUFFER = 10_000

# Independent random streams derived from (seed, epoch).
_SHUFFLE, _AUGMENT, _MIX = 1, 2, 3


def _choice(kind, value, accepted):
    if value not in accepted:
        close = difflib.get_close_matches(str(value), accepted, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown {kind} {value!r}.{hint} Accepted: {', '.join(accepted)}.")


def _int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, received {value!r}.")
    return int(value)


def _key(seed, epoch, stream):
    """The ``[2]`` seed of one random stream of one epoch."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, stream)


def make_pipeline(
    dataset: tf.data.Dataset,
    policy: str = "resnet",
    image_size: int = 224,
    batch_size: int = 32,
    training: bool = True,
    seed: int = 0,
    epoch: int = 0,
    preprocessing: str = "caffe",
    num_classes: int | None = None,
    one_hot: bool = False,
    mixup: float = 0.0,
    cutmix: float = 0.0,
    shuffle_buffer: int | None = None,
    cache: bool | str = False,
    drop_remainder: bool | None = None,
    repeat: bool = False,
    eval_crops: int = 1,
    shard: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """A batched input pipeline over a split of a :class:`~keras_classics.data.Source`.

    Args:
        dataset: unbatched ``(image uint8 [H, W, 3], label int)`` pairs, e.g.
            ``source.train``. Images may differ in size; 1-channel images are
            made RGB.
        policy: augmentation policy, one of :data:`POLICIES` (see
            :mod:`keras_classics.data.augment`).
        image_size: side of the square output images.
        batch_size: images per batch.
        training: shuffle and augment (else: the evaluation transform, in order).
        seed: non-negative integer; with ``epoch`` it fixes the shuffle order
            and every augmentation choice.
        epoch: the epoch to produce (with ``repeat=True``: the first one).
        preprocessing: ``"caffe"``, ``"torch"``, ``"tf"`` or ``"none"``, applied last.
        num_classes: number of classes; needed for ``one_hot`` and used to
            check labels (out-of-range labels stop iteration with an error).
        one_hot: float32 one-hot labels ``[B, C]`` instead of int32 ``[B]``.
        mixup: alpha of mixup (Zhang et al., ICLR 2018); 0 disables it.
        cutmix: alpha of CutMix (Yun et al., ICCV 2019); 0 disables it. With
            both, each batch uses one of them with probability 1/2. Training
            only; they need ``one_hot=True``.
        shuffle_buffer: None: a full permutation for sources made by
            :func:`get_source` from arrays or files (shuffled before decoding),
            else a buffer of 10,000; an integer: that buffer size.
        cache: True keeps decoded images in memory after the first pass (a
            string: a cache file path prefix). Useful with ``repeat=True``, as
            every call builds a new pipeline.
        drop_remainder: drop the last partial batch; default: when training.
        repeat: produce epochs ``epoch, epoch + 1, ...`` endlessly, each with its
            own shuffle and augmentation (batches never straddle two epochs).
        eval_crops: 10 for AlexNet's 10-crop test (images ``[B, 10, S, S, 3]``);
            evaluation only.
        shard: ``(index, count)``: training only, this worker's part of every
            batch, for multi-worker training. Shard ``index`` of ``count`` holds
            rows ``index * b .. (index + 1) * b - 1`` (``b = batch_size // count``)
            of each batch the unsharded pipeline makes, so the shards are disjoint,
            together are exactly the unsharded batches (same images, same
            augmentation), and each has the same number of batches. Only the
            shard's own images are read and decoded when the dataset comes from
            :func:`get_source` (shapes, folder files, TFDS records). ``batch_size``
            stays the global batch; the batches are ``b`` images. Needs
            ``drop_remainder`` and a known dataset size; mixup and CutMix pair
            images within a shard's part of the batch.

    Returns:
        A ``tf.data.Dataset`` of ``(images float32 [B, S, S, 3], labels)``,
        prefetched, with deterministic order.

    Example:
        >>> from keras_classics.data import get_source, make_pipeline
        >>> src = get_source("shapes", image_size=32, num_train=100, num_val=20)
        >>> ds = make_pipeline(src.train, policy="cifar", image_size=32, batch_size=10)
        >>> images, labels = next(iter(ds))
        >>> images.shape, labels.dtype
        (TensorShape([10, 32, 32, 3]), tf.int32)
    """
    _choice("augmentation policy", policy, augment.POLICIES)
    _choice("preprocessing", preprocessing, PREPROCESSING_MODES)
    image_size = _int("image_size", image_size, 8)
    batch_size = _int("batch_size", batch_size, 1)
    seed = _int("seed", seed, 0)
    epoch = _int("epoch", epoch, 0)
    if num_classes is not None:
        num_classes = _int("num_classes", num_classes, 1)
    for name, alpha in (("mixup", mixup), ("cutmix", cutmix)):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
            raise ValueError(f"{name} must be a number >= 0 (0 disables it), received {alpha!r}.")
    mixing = training and (mixup > 0 or cutmix > 0)
    if (mixup > 0 or cutmix > 0) and not one_hot:
        raise ValueError(f"mixup={mixup} / cutmix={cutmix} mix labels, so they need one_hot=True (and num_classes).")
    if one_hot and num_classes is None:
        raise ValueError("one_hot=True needs num_classes.")
    if eval_crops not in (1, 10):
        raise ValueError(f"eval_crops must be 1 or 10, received {eval_crops!r}.")
    if eval_crops == 10 and training:
        raise ValueError("eval_crops=10 is a test-time transform: use it with training=False.")
    if shuffle_buffer is not None:
        shuffle_buffer = _int("shuffle_buffer", shuffle_buffer, 1)
    if shard is not None:
        shard_index, shard_count, local_batch = _check_shard(shard, batch_size, training, drop_remainder)
    _check_spec(dataset)
    if drop_remainder is None:
        drop_remainder = training

    lazy = lazy_form(dataset)
    # -1 infinite, -2 unknown; an indexed dataset that may skip elements knows how many it lists.
    size = lazy.size if isinstance(lazy, Indexed) else int(dataset.cardinality())
    if shard is not None:
        if size < 0:
            raise ValueError(
                f"shard={shard!r} needs a dataset of known size (every shard must make the same number of "
                f"batches); received one of {'infinite' if size == -1 else 'unknown'} size. Accepted: a split of "
                "get_source(...), or apply tf.data.experimental.assert_cardinality first."
            )
        if size < shard_count:
            raise ValueError(
                f"The dataset has {size} element(s) (images or files), fewer than the {shard_count} shards "
                f"(workers): every worker needs at least one. Accepted: at most {size} workers, or more data."
            )
        if getattr(lazy, "may_fail", False) and not getattr(lazy, "checked", False):
            raise ValueError(
                "shard= needs every image to be readable before training (a file that failed to decode "
                "would leave one worker a batch short, and the others would wait for it): load the folder "
                "with validate='full'."
            )
    if cache:
        dataset = dataset.cache(cache if isinstance(cache, str) else "")
        lazy = None  # read the cached, decoded images
    per_image, augment_batch, preprocess_batch, augment_and_preprocess = _transform_steps(
        policy, image_size, preprocessing_mode(preprocessing).zero_colour, preprocessing
    )
    transform_eval = augment.eval_transform(policy, image_size, eval_crops)
    out_shape = [10, image_size, image_size, 3] if eval_crops == 10 else [image_size, image_size, 3]

    def as_rgb(image):
        """RGB, uint8 kept as is (the transforms convert only the pixels they resample)."""
        if image.dtype != tf.uint8:
            image = tf.cast(image, tf.float32)
        if image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        return image

    def check_label(label):
        label = tf.cast(label, tf.int32)
        if num_classes is not None:
            tf.debugging.assert_equal(
                (label >= 0) & (label < num_classes),
                True,
                message=f"label out of range: labels must be in [0, {num_classes})",
            )
        return label

    def ordered(epoch_t):
        """The epoch's elements in order (shuffled when training), and the function, if any,
        that reads an element into ``(image, label)``: applied in the augmentation's map, so
        that decoding and augmenting an image is one step of the pipeline."""
        if not training:
            return dataset, None
        key = _key(seed, epoch_t, _SHUFFLE)
        if isinstance(lazy, Indexed) and shuffle_buffer is None:
            perm = tf.argsort(tf.random.stateless_uniform([lazy.size], seed=key))
            return tf.data.Dataset.from_tensor_slices(tf.cast(perm, tf.int64)), lazy.fetch
        buffer = shuffle_buffer or DEFAULT_SHUFFLE_BUFFER
        if isinstance(lazy, Stream):
            return seeded_shuffle(lazy.records, buffer, key), lazy.decode
        if shuffle_buffer is None and cache and size > 0:
            buffer = size  # everything is in memory already: a full shuffle costs nothing more
        if size > 0:
            buffer = min(buffer, size)
        return seeded_shuffle(dataset, buffer, key), None

    def one_epoch(epoch_t):
        ds, read = ordered(epoch_t)
        if training:
            aug_key = _key(seed, epoch_t, _AUGMENT)

            def train_map(i, element):
                if read is not None:  # an index or an encoded record, read here
                    element = read(*element) if isinstance(element, tuple) else read(element)
                image, label = element
                seed_i = tf.random.experimental.stateless_fold_in(aug_key, i)
                image, params = per_image(as_rgb(image), seed_i)
                return tf.ensure_shape(image, out_shape), check_label(label), params

            # The position i in the epoch seeds the image's augmentation (read failures, skipped,
            # leave their positions unused).
            ds = ds.enumerate()
            if shard is not None:  # before reading: a worker reads and decodes only its own images
                ds = ds.filter(_shard_filter(shard_index, local_batch, batch_size, (size // batch_size) * batch_size))
            ds = ds.map(train_map, num_parallel_calls=AUTOTUNE, deterministic=True)
            if read is not None and getattr(lazy, "may_fail", False):
                # Sharded, a skipped image would leave this worker a batch short while the others wait for
                # it: the read's error stops the run instead (its message names the rule).
                if shard is None:
                    ds = ds.ignore_errors(log_warning=True)
        else:

            def eval_map(image, label):
                return tf.ensure_shape(transform_eval(as_rgb(image)), out_shape), check_label(label)

            ds = ds.map(eval_map, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size if shard is None else local_batch, drop_remainder=drop_remainder,
                      num_parallel_calls=AUTOTUNE, deterministic=True)
        mix_key = _key(seed, epoch_t, _MIX) if mixing else None

        def batch_map(b, batch):
            """The batch-level steps in one map: the rest of the augmentation, one-hot, mixing, preprocessing."""
            images, labels, params = batch if training else (*batch, None)
            if one_hot:
                labels = tf.one_hot(labels, num_classes, dtype=tf.float32)
            if not mixing:
                return (augment_and_preprocess(images, params) if training else preprocess_batch(images)), labels
            images, labels = mix_batch(
                augment_batch(images, params), labels, tf.random.experimental.stateless_fold_in(mix_key, b), mixup, cutmix
            )
            return preprocess_batch(images), labels

        return ds.enumerate().map(batch_map, num_parallel_calls=AUTOTUNE, deterministic=True)

    if repeat:
        if training:
            ds = tf.data.Dataset.range(epoch, 2**62).flat_map(one_epoch)
        else:
            ds = one_epoch(tf.constant(epoch, tf.int64)).repeat()
    else:
        ds = one_epoch(tf.constant(epoch, tf.int64))
    options = tf.data.Options()
    options.deterministic = True
    # tf.data's autotuner, measured on a 2-core machine, left the pipeline at about one core in
    # half the runs (190 against 340 images/s for the alexnet policy at 224); without it every
    # AUTOTUNE stage runs on all cores, every run. A later `with_options` can turn it back on.
    options.autotune.enabled = False
    return ds.with_options(options).prefetch(AUTOTUNE)


def _check_shard(shard, batch_size, training, drop_remainder):
    """``(index, count, per-shard batch)`` of a valid ``shard=(index, count)``."""
    if not (isinstance(shard, (tuple, list)) and len(shard) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in shard)):
        raise ValueError(f"shard must be a pair (index, count) of integers, received {shard!r}.")
    index, count = int(shard[0]), int(shard[1])
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard=({index}, {count}): the index must be in 0..count-1 and count >= 1.")
    if not training:
        raise ValueError("shard= splits training batches between workers; evaluation is not sharded here "
                         "(tf.distribute splits validation batches itself).")
    if drop_remainder is False:
        raise ValueError("shard= needs drop_remainder=True: a last, partial batch would leave workers "
                         "with unequal numbers of batches.")
    if batch_size % count:
        raise ValueError(f"The batch of {batch_size} images does not split evenly between {count} shards "
                         f"(workers). Accepted: a batch size that is a multiple of {count}.")
    return index, count, batch_size // count


def _shard_filter(index, local_batch, batch_size, limit):
    """Keep the positions of shard ``index`` in each batch, and none of the last, partial batch."""

    def keep(position, element):
        del element
        return tf.logical_and(tf.equal((position % batch_size) // local_batch, index), position < limit)

    return keep


@functools.lru_cache(maxsize=32)
def _transform_steps(policy, image_size, pad_value, preprocessing):
    """The training transform's per-image part, and the batch-level steps compiled with XLA:
    ``(per_image, augment, preprocess, both)``.

    ``augment(images, params)`` is the per-batch part of the training transform
    (flips, colour shifts, CIFAR's pad and crop), ``preprocess(images)`` the
    preprocessing. They are a few elementwise passes over the whole batch, which
    TensorFlow's kernels run one by one, with slow broadcasting (a per-channel
    mean or a per-image flip costs about 4x a plain add). XLA fuses them into one
    pass with the same floats (``"torch"``'s division: within one rounding step):
    32 images at 224 cost ~15 instead of ~110 ms of CPU. One set per
    configuration and process, so a shape is compiled once.
    """
    per_image, per_batch = augment.train_transform_parts(policy, image_size, pad_value)

    def preprocess_batch(images):
        return preprocess(images, preprocessing)

    def both(images, params):
        return preprocess(per_batch(images, params), preprocessing)

    return (per_image, *(tf.function(fn, jit_compile=True) for fn in (per_batch, preprocess_batch, both)))


def seeded_shuffle(dataset: tf.data.Dataset, buffer_size: int, key) -> tf.data.Dataset:
    """``dataset.shuffle(buffer_size)`` with its order a pure function of the ``[2]`` seed ``key``.

    ``Dataset.shuffle`` mixes its seed with the global seed (``tf.random.set_seed``)
    and needs a Python seed inside ``flat_map``; the shuffle op itself takes two
    seeds, here derived from ``key`` alone. Elements must be plain tensors.
    """
    seeds = tf.random.stateless_uniform([2], seed=key, minval=None, maxval=None, dtype=tf.int64)
    spec = dataset.element_spec
    flat = tf.nest.flatten(spec)
    shuffled = tf.raw_ops.ShuffleDataset(
        input_dataset=tf.data.experimental.to_variant(dataset),
        buffer_size=tf.constant(buffer_size, tf.int64),
        seed=seeds[0],
        seed2=seeds[1],
        reshuffle_each_iteration=False,
        output_types=[s.dtype for s in flat],
        output_shapes=[s.shape for s in flat],
    )
    return tf.data.experimental.from_variant(shuffled, spec)


def mix_batch(images, labels, seed, mixup: float = 0.0, cutmix: float = 0.0):
    """Mixup or CutMix of a batch with a random permutation of itself.

    Mixup (Zhang et al., ICLR 2018): ``lam ~ Beta(a, a)``, images and labels
    become ``lam * x + (1 - lam) * x[perm]``. CutMix (Yun et al., ICCV 2019): a
    box of area ``1 - lam`` (clipped to the image) is pasted from ``x[perm]`` and
    the labels are mixed by the pasted area. With both alphas positive each
    batch uses one of them with probability 1/2. Labels stay distributions
    (each row sums to 1).

    Args:
        images: float32 ``[B, H, W, C]``.
        labels: float32 one-hot (or soft) ``[B, K]``.
        seed: ``[2]`` int seed.
        mixup, cutmix: the Beta alphas (0 disables one).

    Returns:
        ``(images, labels)`` mixed.
    """
    if mixup <= 0 and cutmix <= 0:
        return images, labels
    seeds = tf.random.experimental.stateless_split(seed, 6)
    b = tf.shape(images)[0]
    perm = tf.argsort(tf.random.stateless_uniform([b], seed=seeds[0]))
    other_images, other_labels = tf.gather(images, perm), tf.gather(labels, perm)

    def beta(alpha, s):
        ss = tf.random.experimental.stateless_split(s, 2)
        g1 = tf.random.stateless_gamma([], seed=ss[0], alpha=alpha)
        g2 = tf.random.stateless_gamma([], seed=ss[1], alpha=alpha)
        return g1 / tf.maximum(g1 + g2, 1e-12)

    def do_mixup():
        lam = beta(mixup, seeds[1])
        return lam * images + (1 - lam) * other_images, lam * labels + (1 - lam) * other_labels

    def do_cutmix():
        lam = beta(cutmix, seeds[2])
        shape = tf.shape(images)
        h, w = shape[1], shape[2]
        cut = tf.sqrt(1.0 - lam)
        ch = tf.cast(tf.cast(h, tf.float32) * cut, tf.int32)
        cw = tf.cast(tf.cast(w, tf.float32) * cut, tf.int32)
        cy = tf.random.stateless_uniform([], seed=seeds[3], minval=0, maxval=h, dtype=tf.int32)
        cx = tf.random.stateless_uniform([], seed=seeds[4], minval=0, maxval=w, dtype=tf.int32)
        y1, y2 = tf.clip_by_value(cy - ch // 2, 0, h), tf.clip_by_value(cy + ch // 2, 0, h)
        x1, x2 = tf.clip_by_value(cx - cw // 2, 0, w), tf.clip_by_value(cx + cw // 2, 0, w)
        rows = tf.range(h)
        cols = tf.range(w)
        inside = ((rows >= y1) & (rows < y2))[:, None] & ((cols >= x1) & (cols < x2))[None, :]
        mixed = tf.where(inside[None, :, :, None], other_images, images)
        kept = 1.0 - tf.cast((y2 - y1) * (x2 - x1), tf.float32) / tf.cast(h * w, tf.float32)
        return mixed, kept * labels + (1 - kept) * other_labels

    if mixup > 0 and cutmix > 0:
        use_cutmix = tf.random.stateless_uniform([], seed=seeds[5]) < 0.5
        return tf.cond(use_cutmix, do_cutmix, do_mixup)
    return do_cutmix() if cutmix > 0 else do_mixup()


def _check_spec(dataset):
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(f"make_pipeline expects a tf.data.Dataset of (image, label) pairs, received {type(dataset).__name__}.")
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(f"make_pipeline expects (image, label) elements, received element_spec {spec}.")
    image, label = spec
    if not (isinstance(image, tf.TensorSpec) and isinstance(label, tf.TensorSpec)):
        raise ValueError(f"Images and labels must be plain tensors, received {spec}.")
    if image.shape.rank != 3 or image.shape[-1] not in (1, 3, None):
        raise ValueError(f"Images must be [H, W, 3] (or [H, W, 1]), received {image.shape} (batch after make_pipeline, not before).")
    if not (image.dtype == tf.uint8 or image.dtype.is_floating):
        raise ValueError(f"Images must be uint8 (or float in [0, 255]), received {image.dtype.name}.")
    if label.shape.rank != 0 or not label.dtype.is_integer:
        raise ValueError(f"Labels must be integer scalars, received {label.dtype.name} {label.shape}.")
