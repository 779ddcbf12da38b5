"""A run's inputs: its data source and the checks on it, and the pipelines.

Epoch ``e``'s order and augmentation are a pure function of ``(seed, e)``, so
a resumed run sees exactly the batches an uninterrupted one would have seen;
with several workers, each makes only its own part of every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from keras_classics.data import get_source, make_pipeline
from keras_classics.training.config import source_arguments

__all__ = ["RunData", "prepare_data", "load_source", "train_dataset", "val_dataset"]


@dataclass
class RunData:
    """What a run trains on, resolved and checked.

    Attributes:
        source: the data source (``name, class_names, num_classes, num_train, num_val, train, validation``).
        num_classes: the source's classes (at least 2).
        image_size: the side of the square images the model sees.
        preprocessing: the input preprocessing mode (``caffe``, ``torch``, ``tf``, ``none``).
        policy: the augmentation policy.
        steps: training steps per epoch.
        one_hot: whether labels are one-hot vectors (label smoothing, mixup or CutMix).
    """

    source: object
    num_classes: int
    image_size: int
    preprocessing: str
    policy: str
    steps: int
    one_hot: bool

    @property
    def has_validation(self) -> bool:
        return self.source.validation is not None


def prepare_data(config, source, workers) -> RunData:
    """Load the run's data source (unless given) and check it; the steps per epoch.

    Args:
        config: the run's configuration, resolved by
            :func:`~keras_classics.training.resolve.resolved_config` (image size, preprocessing and policy set).
        source: a data source object, or None to load ``config.dataset``.
        workers: the job's worker processes (each needs at least one training file).
    """
    batch = config.batch_size
    if source is None:
        source = load_source(config, config.image_size)
    if workers > 1 and source.num_train < workers:
        raise ValueError(
            f"The training split of {source.name!r} has {source.num_train} image file(s), fewer than the {workers} "
            f"workers: each worker reads its own files and needs at least one. Accepted: at most "
            f"{source.num_train} worker(s), or more data."
        )
    num_classes = _check_source(source, config, batch)
    full_batches = source.num_train // batch
    steps = config.steps_per_epoch or full_batches
    if steps > full_batches:
        raise ValueError(
            f"--steps-per-epoch {steps} is more than the {full_batches} full batches of {batch} images in the "
            f"training split ({source.num_train} images)."
        )
    return RunData(source=source, num_classes=num_classes, image_size=config.image_size,
                   preprocessing=config.preprocessing, policy=config.policy, steps=steps,
                   one_hot=bool(config.label_smoothing or config.mixup or config.cutmix))


# ---------------------------------------------------------------------- the source and its checks
def load_source(config, image_size):
    """The run's data source."""
    name, kwargs = source_arguments(config, image_size)
    try:
        return get_source(name, **kwargs)
    except TypeError as e:
        raise ValueError(f"Bad --dataset-options {config.dataset_options}: {e}") from None


def _check_source(source, config, batch) -> int:
    num_classes = int(source.num_classes)
    if num_classes < 2:
        raise ValueError(
            f"The dataset {source.name!r} has {num_classes} class(es); classification needs at least 2 "
            f"(found: {list(source.class_names)})."
        )
    if len(source.class_names) != num_classes:
        raise ValueError(
            f"The dataset {source.name!r} declares {num_classes} classes but names {len(source.class_names)}."
        )
    if not source.num_train:
        raise ValueError(f"The training split of {source.name!r} is empty.")
    if batch > source.num_train:
        raise ValueError(
            f"--batch-size {batch} is larger than the training split of {source.name!r} "
            f"({source.num_train} images). Use --batch-size {min(source.num_train, 64)} or smaller."
        )
    return num_classes


# ---------------------------------------------------------------------- the pipelines
def _with_targets(ds, names):
    """Repeat the label for every output of an auxiliary-head model."""
    if not names:
        return ds
    return ds.map(lambda x, y: (x, {n: y for n in names}))


def _distribute_options(ds, strategy):
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds = ds.with_options(options)
    return ds


def train_dataset(config, data, initial_epoch, names, strategy, workers):
    """Epochs ``initial_epoch .. epochs-1`` of training batches, each a pure function of ``(seed, epoch)``.

    ``names`` are the model's outputs (an auxiliary-head model gets the label once per output);
    ``None`` when no epoch is left.
    """
    if initial_epoch >= config.epochs:
        return None
    if workers > 1:
        # Each worker makes only its own part of every batch (make_pipeline's `shard`): the parts are
        # disjoint and together are the batches one process would make, image for image.
        def per_worker(context):
            ds = _train_batches(config, data, initial_epoch, (context.input_pipeline_id, context.num_input_pipelines))
            per_replica = context.get_per_replica_batch_size(config.batch_size)
            if per_replica != config.batch_size // context.num_input_pipelines:  # several replicas per worker
                ds = ds.rebatch(per_replica, drop_remainder=True)
            return _with_targets(ds, names).prefetch(tf.data.AUTOTUNE)

        return strategy.distribute_datasets_from_function(per_worker)
    ds = _train_batches(config, data, initial_epoch)
    ds = _with_targets(ds, names).prefetch(tf.data.AUTOTUNE)
    return _distribute_options(ds, strategy)


def _train_batches(config, data, initial_epoch, shard=None):
    """The training batches of epochs ``initial_epoch ..``; with ``shard``, one worker's part of them."""
    source, steps = data.source, data.steps
    common = dict(
        **_pipeline_args(config, data),
        training=True,
        mixup=config.mixup,
        cutmix=config.cutmix,
        shuffle_buffer=config.shuffle_buffer,
        drop_remainder=True,
        shard=shard,
    )
    ds = None
    if steps == source.num_train // config.batch_size:
        # Whole epochs: one pipeline producing epoch e, e+1, ... (one cache for all).
        try:
            ds = make_pipeline(source.train, epoch=initial_epoch, cache=config.cache, repeat=True, **common)
        except (TypeError, tf.errors.OperatorNotAllowedInGraphError):
            # A dataset whose shuffle cannot take the epoch as a tensor: build the epochs one by one.
            ds = None
    if ds is None:
        # The first `steps` batches of each epoch: one pipeline per epoch, concatenated.
        parts = [make_pipeline(source.train, epoch=e, cache=False, repeat=False, **common).take(steps)
                 for e in range(initial_epoch, config.epochs)]
        ds = parts[0]
        for part in parts[1:]:
            ds = ds.concatenate(part)
    return ds


def _pipeline_args(config, data):
    """The :func:`~keras_classics.data.make_pipeline` arguments the training and validation batches share."""
    return dict(policy=data.policy, image_size=data.image_size, batch_size=config.batch_size, seed=config.seed,
                preprocessing=data.preprocessing, num_classes=data.num_classes, one_hot=data.one_hot)


def val_dataset(config, data, names, strategy):
    """The validation batches (``config.validation_steps`` of them, if set); None without a validation split."""
    if not data.has_validation:
        return None
    ds = make_pipeline(
        data.source.validation,
        **_pipeline_args(config, data),
        training=False,
        cache=config.cache,
        drop_remainder=config.strategy == "tpu",
        repeat=False,
    )
    if config.validation_steps:
        ds = ds.take(config.validation_steps)
    ds = _with_targets(ds, names).prefetch(tf.data.AUTOTUNE)
    return _distribute_options(ds, strategy)
