"""The run's model, compiled: build arguments, warm start, penalties, optimizer, schedule, losses, restored state.

The model is built in the ``tf.distribute`` strategy's scope, optionally
initialised from a trained model (``init_from``), given the L2 penalty, the
optimizer, the schedule and the losses (auxiliary heads weighted) and compiled
(``jit_compile`` for XLA). Under ``mixed_float16`` Keras wraps the optimizer in
a ``LossScaleOptimizer``. A resumed run then restores its last checkpoint.
"""

from __future__ import annotations

import keras

from keras_classics.models import create_model
from keras_classics.metadata import make_metadata, set_model_metadata
from keras_classics.training.callbacks import restore_checkpoint
from keras_classics.training.losses import compile_arguments, constrain_filter_rms, l2_regularize, output_names
from keras_classics.training.schedules import ClassicSchedule
from keras_classics.training.warmstart import initialize_from

__all__ = ["model_arguments", "compiled_model", "make_optimizer"]


def model_arguments(config, data) -> dict:
    """The keyword arguments the model is built with: the resolved ``config.model_kwargs`` (input shape and the
    variant options of converted ``init_from`` weights, from
    :func:`~keras_classics.training.resolve.resolved_config`) and the data's classes.

    ``data`` is the run's :class:`~keras_classics.training.inputs.RunData`.
    """
    num_classes, source = data.num_classes, data.source
    build_kwargs = dict(config.model_kwargs)
    if "classes" in build_kwargs and build_kwargs["classes"] != num_classes:
        raise ValueError(
            f"The dataset {source.name!r} has {num_classes} classes (labels 0..{num_classes - 1}) but "
            f"model_kwargs sets classes={build_kwargs['classes']}: labels would be out of range. "
            "Remove `classes` from --model-kwargs or use a matching dataset."
        )
    build_kwargs.update(classes=num_classes, input_shape=[data.image_size, data.image_size, 3])
    return build_kwargs


def compiled_model(config, data, build_kwargs, lr, start, strategy):
    """Build and compile the model in ``strategy``'s scope; restore ``start``'s checkpoint when resuming.

    Args:
        config: the run's configuration.
        data: the run's :class:`~keras_classics.training.inputs.RunData`.
        build_kwargs: from :func:`model_arguments`.
        lr: the learning rate, scaled to the batch.
        start: the run's :class:`~keras_classics.training.fitting.StartingPoint`.
        strategy: the ``tf.distribute`` strategy.

    Returns:
        ``(model, schedule)``.
    """
    with strategy.scope():
        model = _build_model(config.model, build_kwargs)
        # What best.keras and final.keras carry: class names, eval transform, registry name, backend.
        set_model_metadata(model, make_metadata(data.source.class_names, data.image_size, data.preprocessing,
                                                policy=data.policy, registry_name=config.model))
        if config.init_from and start.index is None:
            initialize_from(model, config.model, config.init_from, verbose=bool(config.verbose))
        if config.optimizer != "adamw":
            l2_regularize(model, config.weight_decay)
        constrain_filter_rms(model, config.filter_rms_max)
        schedule = ClassicSchedule(
            config.schedule,
            lr,
            steps_per_epoch=data.steps,
            epochs=config.epochs,
            warmup_epochs=config.warmup_epochs,
            milestones=config.milestones,
            decay_every=config.decay_every,
            decay_rate=config.decay_rate,
            power=config.power,
            min_lr=config.min_lr,
        )
        optimizer = make_optimizer(config, schedule)
        aux_weights = config.aux_loss_weights if output_names(model) else {}
        compile_args = compile_arguments(
            model,
            num_classes=data.num_classes,
            one_hot=data.one_hot,
            label_smoothing=config.label_smoothing,
            aux_loss_weights=aux_weights,
        )
        model.compile(optimizer=optimizer, jit_compile=bool(config.jit_compile), run_eagerly=bool(config.run_eagerly),
                      **compile_args)
        if start.index is not None:
            restore_checkpoint(model, start.checkpoint_dir, start.index)
    return model, schedule


def _build_model(name, kwargs):
    try:
        return create_model(name, **kwargs)
    except TypeError as e:
        raise ValueError(f"Bad --model-kwargs for {name!r}: {e}. Received: {kwargs}") from None


def make_optimizer(config, schedule):
    """The optimizer ``config`` names, with its options, following ``schedule`` (a schedule or a rate)."""
    extra = {}
    if config.ema is not None:  # Polyak averaging; fit() puts the averages in the model at the end
        extra.update(use_ema=True, ema_momentum=config.ema)
    if config.clipnorm is not None:
        extra["clipnorm"] = config.clipnorm
    if config.global_clipnorm is not None:
        extra["global_clipnorm"] = config.global_clipnorm
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=config.momentum, nesterov=config.nesterov,
                                    **extra)
    if config.optimizer == "rmsprop":
        # Keras' RMSprop adds epsilon inside the square root, as TensorFlow's
        # original RMSProp did: the convention of Inception v3's epsilon = 1.0.
        return keras.optimizers.RMSprop(learning_rate=schedule, rho=config.rho, momentum=config.momentum,
                                        epsilon=config.epsilon, **extra)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate=schedule, epsilon=config.epsilon, **extra)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay,
                                      epsilon=config.epsilon, **extra)
    raise ValueError(f"Unknown optimizer {config.optimizer!r}.")
