"""The fit loop: where a run starts (the checkpoint it resumes from), its callbacks, ``model.fit`` over the epochs left.

The callbacks run in this order: the replicas' mean statistics (several
replicas), the check for a swallowed interruption, the stop on a diverging
loss, the learning rate and throughput in the logs, the plateau schedule,
``best.keras``, the checkpoints, ``history.csv`` and TensorBoard (the chief),
then the caller's own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass

import keras
import tensorflow as tf

from keras_classics.training.callbacks import (
    AverageReplicaStatistics,
    BestModel,
    CheckAtBoundaries,
    Checkpointer,
    HistoryCSV,
    LearningRateLogger,
    ReduceOnPlateau,
    StopOnDivergence,
    Throughput,
    usable_checkpoint,
)
from keras_classics.training.interrupts import reraise_pending
from keras_classics.training.losses import metric_key
from keras_classics.training.run_files import check_not_shortened

__all__ = ["StartingPoint", "starting_point", "monitor_key", "RunCallbacks", "run_callbacks", "fit_epochs"]


@dataclass
class StartingPoint:
    """Where a run starts.

    Attributes:
        checkpoint_dir: ``RUN_DIR/checkpoints``.
        index: the index of the checkpoint a resumed run continues from (None: from the start).
        initial_epoch: the epochs already trained.
    """

    checkpoint_dir: str
    index: dict | None
    initial_epoch: int


def starting_point(config, run_dir, resume) -> StartingPoint:
    """The newest intact checkpoint when resuming (a damaged newer one is said on stderr, even at verbose 0).

    Raises:
        ValueError: the run has already trained more epochs than ``config.epochs``.
    """
    checkpoint_dir = os.path.join(run_dir, "checkpoints")
    index, damaged = usable_checkpoint(checkpoint_dir) if resume else (None, [])
    for line in damaged:  # the newest checkpoint is damaged: said even at verbose 0
        print(line, file=sys.stderr)
    initial_epoch = index["epoch"] if index else 0
    check_not_shortened(run_dir, initial_epoch, config.epochs)
    return StartingPoint(checkpoint_dir=checkpoint_dir, index=index, initial_epoch=initial_epoch)


def monitor_key(config, model, has_validation, say) -> str:
    """The key Keras logs ``config.monitor`` under (``val_top1`` / ``top1`` / ``val_loss``); without a
    validation split, its training counterpart."""
    monitor = config.monitor
    if not has_validation and monitor.startswith("val_"):
        monitor = monitor[4:]
        say(f"No validation split: best.keras and the schedule follow the training {monitor}.")
    validation = monitor.startswith("val_")
    return metric_key(model, monitor[4:] if validation else monitor, validation=validation)


@dataclass
class RunCallbacks:
    """The callbacks ``fit`` runs, and those whose state the run reads afterwards.

    Attributes:
        callbacks: every callback, in order (the caller's last).
        guard: the stop on a diverging loss.
        throughput: the images per second.
        best: the ``best.keras`` writer (its best value and epoch).
        checkpointer: the checkpoint writer (its last epoch).
    """

    callbacks: list
    guard: StopOnDivergence
    throughput: Throughput
    best: BestModel
    checkpointer: Checkpointer


def run_callbacks(config, run_dir, monitor, schedule, start, placement, extra_callbacks, say) -> RunCallbacks:
    """The engine's callbacks and then ``extra_callbacks``; a resumed run's stateful ones get their saved state.

    Args:
        config: the run's configuration.
        run_dir: the run directory.
        monitor: the key from :func:`monitor_key`.
        schedule: the learning-rate schedule (the plateau schedule's callback drives it).
        start: the run's :class:`StartingPoint`.
        placement: the run's :class:`~keras_classics.training.workers.Placement`.
        extra_callbacks: the caller's callbacks.
        say: prints when the run is verbose.
    """
    chief = placement.chief
    guard = StopOnDivergence()
    throughput = Throughput(config.batch_size)
    best = BestModel(os.path.join(run_dir, "best.keras"), monitor, config.monitor_mode, guard=guard, enabled=chief)
    stateful = {"best": best, "guard": guard}
    callbacks = [CheckAtBoundaries(reraise_pending), guard, LearningRateLogger(), throughput]
    if placement.replicas > 1:  # first: validation, checkpoints and best.keras see the replicas' mean statistics
        callbacks.insert(0, AverageReplicaStatistics(placement.strategy))
    if config.schedule == "plateau":
        plateau = ReduceOnPlateau(schedule, monitor, config.monitor_mode, decay_rate=config.decay_rate,
                                  patience=config.plateau_patience, min_delta=config.plateau_min_delta,
                                  min_lr=config.min_lr, verbose=config.verbose)
        callbacks.append(plateau)
        stateful["plateau"] = plateau
    checkpointer = Checkpointer(start.checkpoint_dir, keep=config.keep_checkpoints, guard=guard, stateful=stateful,
                                enabled=chief)
    callbacks += [best, checkpointer]
    if chief:
        callbacks.append(HistoryCSV(os.path.join(run_dir, "history.csv"), append=True))
        if _tensorboard_available():
            callbacks.append(
                keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False, profile_batch=0)
            )
        else:
            say("TensorBoard logs skipped: the `tensorboard` package is not installed (pip install tensorboard).")
    callbacks += list(extra_callbacks or ())
    if start.index is not None:
        for key, state in start.index.get("callbacks", {}).items():
            if key in stateful:
                stateful[key].set_state(state)
    return RunCallbacks(callbacks=callbacks, guard=guard, throughput=throughput, best=best, checkpointer=checkpointer)


def _tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def fit_epochs(model, config, train_ds, val_ds, data, start, callbacks, say) -> dict:
    """Train the epochs left with ``model.fit``; return its history (``{}`` when none was left).

    Raises:
        ValueError: a label outside the dataset's classes.
        KeyboardInterrupt: a signal arrived during the last steps.
    """
    if start.initial_epoch >= config.epochs:
        # Stopped after its last checkpoint, before its final files (a complete run never gets here).
        say(f"The run trained its {config.epochs} epochs before it stopped; writing its final model and metrics.")
        return {}
    try:
        fit = model.fit(
            train_ds,
            epochs=config.epochs,
            initial_epoch=start.initial_epoch,
            steps_per_epoch=data.steps,
            validation_data=val_ds,
            validation_freq=config.validation_freq,
            shuffle=False,  # the pipelines shuffle, deterministically per epoch
            callbacks=callbacks.callbacks,
            verbose=config.verbose,
        )
        history = fit.history
        reraise_pending()  # a signal during the last steps: the run stops as interrupted
    except tf.errors.InvalidArgumentError as e:
        if "valid range" in str(e) or "out of range" in str(e).lower():
            num_classes = data.num_classes
            raise ValueError(
                f"A label of {data.source.name!r} is outside 0..{num_classes - 1} (the dataset declares "
                f"{num_classes} classes). First line of the error: {str(e).splitlines()[0]}"
            ) from None
        raise
    return history
