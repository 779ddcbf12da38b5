"""The one training engine: ``train(config)`` runs every recipe and ``keras-classics train``.

What a run does, in order (each step names the module that does it):

1. Resolves the configuration from the registry and the recipe (image size,
   preprocessing, policy: :mod:`.resolve`, the rule ``--print-config`` shows),
   checks the model name and the run directory and claims it
   (:mod:`.run_files`; for several workers, :mod:`.workers`). A resume of a
   run that has already trained its epochs stops here, having written nothing.
2. Sets the dtype policy (``float32``, ``mixed_float16``, ``mixed_bfloat16``),
   the seeds and, with ``deterministic=True``, TensorFlow's op determinism;
   Ctrl-C and SIGTERM stop the run as an interruption (:mod:`.interrupts`).
3. Starts the ``tf.distribute`` strategy (:mod:`.workers`), loads and checks
   the data source (:mod:`.inputs`), finds the checkpoint a resume continues
   from (:mod:`.fitting`).
4. Builds the model in the strategy's scope, optionally initialises it from a
   trained model (``init_from``), attaches the L2 penalty, the optimizer, the
   schedule, the losses (auxiliary heads weighted), compiles it and restores
   the checkpoint when resuming (:mod:`.model_build`).
5. Writes ``config.json``: every check is done by then, so a refused run or
   resume has changed no file. (With several workers the chief writes it
   before step 4: the others compare it with their own configuration before
   the model's build, the job's first collective.)
6. Builds one input pipeline per epoch (epoch ``e``'s order and augmentation
   are a pure function of ``(seed, e)``, so a resumed run sees exactly the
   batches an uninterrupted one would have seen) and calls ``model.fit`` with
   a progress bar per epoch and the run's callbacks (:mod:`.fitting`). A loss
   that diverges stops the run (:class:`~.callbacks.StopOnDivergence`).
7. Writes ``final.keras`` and ``metrics.json`` and prints where (:mod:`.report`).

The run directory::

    RUN_DIR/config.json        resolved configuration + class names, image size, preprocessing
    RUN_DIR/checkpoints/       full training state after each epoch (resume)
    RUN_DIR/best.keras         the model at its best validation epoch (no optimizer state)
    RUN_DIR/final.keras        the model at the end of training
    RUN_DIR/history.csv        one row per epoch (Keras CSVLogger; epochs counted from 1, as best_epoch)
    RUN_DIR/logs/              TensorBoard event files
    RUN_DIR/metrics.json       final top-1, top-5, loss, images/s, epochs, wall time
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

from keras_classics.training import interrupts, run_files, workers
from keras_classics import runs as _rundir
from keras_classics.training.config import (
    FROZEN_ON_RESUME,
    RecipeConfig,
    load_run_config,
)
from keras_classics.training.resolve import resolved_config
from keras_classics.training.strategy import WorkerLostError, cluster_task, lost_worker_message, release_port

__all__ = ["train", "resume", "TrainResult", "DivergenceError", "NonFiniteLossError", "TrainingInterrupted"]


class DivergenceError(RuntimeError):
    """The loss diverged (became NaN or infinite, or grew far above its start); the run stopped and kept
    its last good checkpoint."""


#: The name :class:`DivergenceError` had when only a NaN or infinite loss stopped a run.
NonFiniteLossError = DivergenceError


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM; the message says how to continue."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        metrics: the content of ``metrics.json``.
        model: the trained Keras model (with its auxiliary heads, if any); None when a resume
            found the run complete (nothing trained; its ``final.keras`` is on disk).
        history: ``{metric: [value per epoch run in this call]}`` (for a run stopped after its last
            checkpoint and resumed to write its final files, its epochs' rows of ``history.csv``).
        config: the resolved configuration.
    """

    run_dir: str
    metrics: dict
    model: object
    history: dict
    config: RecipeConfig


# ---------------------------------------------------------------------- public API
def resume(run_dir, **overrides) -> TrainResult:
    """Continue the run in ``run_dir`` from its last checkpoint.

    ``overrides`` may change how the run executes (``epochs`` to extend it,
    ``precision``, ``strategy``, the optimizer after a divergence, …) but not
    what it trains (:data:`~keras_classics.training.config.FROZEN_ON_RESUME`).
    A run that has already trained its epochs is said complete and left as it
    is (the result's ``model`` is None); every check comes before any write.

    Example:
        >>> resume("runs/quickstart-20250101-120000", epochs=20)
    """
    stored = RecipeConfig.from_dict(load_run_config(run_dir))
    for key in FROZEN_ON_RESUME:
        if key in overrides and overrides[key] != getattr(stored, key):
            raise ValueError(
                f"Cannot change `{key}` when resuming: the run was made with {key}={getattr(stored, key)!r}, "
                f"received {overrides[key]!r}. Start a new run instead."
            )
    overrides = {k: v for k, v in overrides.items() if k not in ("run_dir",)}
    config = stored.replace(run_dir=os.fspath(run_dir), **overrides)
    return train(config, resume=run_dir)


def train(config: RecipeConfig, *, source=None, callbacks=(), resume=None) -> TrainResult:
    """Train ``config.model`` as ``config`` says, in a new run directory (or resume one).

    Args:
        config: a :class:`~keras_classics.training.config.RecipeConfig`.
        source: optional data source object (the attributes of
            ``keras_classics.data.get_source``'s result: ``name, class_names,
            num_classes, num_train, num_val, train, validation``); default: built
            from ``config.dataset``.
        callbacks: extra Keras callbacks, run after the engine's own.
        resume: a run directory to continue (prefer :func:`resume`, which
            reads its configuration).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: bad names or values (unknown model or dataset, a batch larger
            than the dataset, labels out of range, ``init_from`` of another family).
        FileExistsError: ``run_dir`` exists and ``resume`` was not given.
        PermissionError: the run directory cannot be written.
        DivergenceError: the loss diverged (see
            :class:`~keras_classics.training.callbacks.StopOnDivergence` for the rule).

    Example:
        >>> from keras_classics.training import RecipeConfig, train
        >>> result = train(RecipeConfig(model="resnet18", dataset="shapes", epochs=3))
        >>> result.metrics["top1"]
    """
    if not isinstance(config, RecipeConfig):
        raise ValueError(f"`config` must be a RecipeConfig. Received: {type(config).__name__}")
    config = config.replace()  # a validated copy
    started = time.time()

    from keras_classics.models import model_info  # deferred: the models import Keras

    info = model_info(config.model)  # unknown names suggest close ones
    config = resolved_config(config, info)  # image size, preprocessing, policy: checked before anything is written
    task = workers.cluster_task_for(config)
    run_dir, created, resume, lock = run_files.open_run_dir(config, resume, task)
    config = config.replace(run_dir=run_dir)
    try:
        finished = run_files.finished_run(run_dir, config.epochs) if resume is not None else None
    except BaseException:
        _release(task, lock)
        raise
    if finished is not None:  # nothing to train: every file stays as it is
        _release(task, lock)
        return _finished_result(config, run_dir, finished)

    # Deferred: the configuration, the cluster and the run directory are checked before TensorFlow starts.
    try:
        import keras
        import tensorflow as tf
    except BaseException:  # Ctrl-C while TensorFlow starts: the directory just claimed is not left behind
        if created:
            run_files.discard_if_unused(run_dir, lock)
        _release(task, lock)
        raise

    previous_policy = keras.config.dtype_policy()
    previous_determinism = _op_determinism()
    previous_signals = interrupts.catch_signals()
    ready = False
    try:
        keras.config.set_dtype_policy(config.precision)
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        result = _run(config, run_dir, source, callbacks, resume, started)
        ready = True
        return result
    except KeyboardInterrupt as e:
        # Ctrl-C or SIGTERM: keep what the run wrote (config, logs, checkpoints) once it has a config.
        if not os.path.isfile(os.path.join(run_dir, "config.json")):
            if created:
                run_files.discard_if_unused(run_dir, lock)
            raise
        raise TrainingInterrupted(interrupts.interrupted_message(run_dir, e)) from None
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
        if task is None:
            raise
        raise WorkerLostError(lost_worker_message(task, e, "during training", run_dir)) from None
    except DivergenceError:
        raise  # the run directory stays: its metrics.json records the divergence, its history how it came
    except BaseException:
        if created and not ready:
            run_files.discard_if_unused(run_dir, lock)
        raise
    finally:
        _release(task, lock)
        interrupts.restore_signals(previous_signals)
        keras.config.set_dtype_policy(previous_policy)
        if config.deterministic and not previous_determinism:
            _disable_op_determinism()


# ---------------------------------------------------------------------- the run, step by step
def _run(config, run_dir, source, extra_callbacks, resume, started):
    """One run, once its directory is claimed: every check (devices, data, the checkpoint against the model),
    then config.json, fit, the final files and the report."""
    # Deferred: these steps import TensorFlow and Keras, loaded once train() has checked its inputs.
    from keras_classics.training import fitting, inputs, model_build, report
    from keras_classics.training.losses import output_names
    from keras_classics.training.schedules import scaled_learning_rate

    say = print if config.verbose else _silent
    placement = workers.start_strategy(config, say)
    data = inputs.prepare_data(config, source, placement.workers)
    build_kwargs = model_build.model_arguments(config, data)
    lr = scaled_learning_rate(config.lr, config.batch_size, config.lr_batch_size)
    start = fitting.starting_point(config, run_dir, resume)
    record = run_files.run_record(config, data, build_kwargs, lr, placement.replicas)
    if placement.workers > 1:
        # Several workers: the others compare the chief's config.json with their own before the first
        # collective, which the model's build is; so the chief writes it first.
        _write_config_and_agree_on_job(run_dir, record, start, placement, resume)

    model, schedule = model_build.compiled_model(config, data, build_kwargs, lr, start, placement.strategy)
    names = output_names(model)
    monitor = fitting.monitor_key(config, model, data.has_validation, say)
    train_ds = inputs.train_dataset(config, data, start.initial_epoch, names, placement.strategy, placement.workers)
    val_ds = inputs.val_dataset(config, data, names, placement.strategy)
    if placement.workers == 1:
        # One process: every check is done (the checkpoint restored into the model included), so a refused
        # resume has changed no file.
        _write_config_and_agree_on_job(run_dir, record, start, placement, resume)
    callbacks = fitting.run_callbacks(config, run_dir, monitor, schedule, start, placement, extra_callbacks, say)
    num_params = report.trainable_parameters(model)
    report.say_opening(config, run_dir, data, num_params, lr, placement, start, say)

    history = fitting.fit_epochs(model, config, train_ds, val_ds, data, start, callbacks, say)
    if start.initial_epoch >= config.epochs:  # stopped after its last checkpoint: the epochs' logged metrics
        history = run_files.read_history(run_dir, config.epochs)
    _stop_if_diverged(callbacks, start, run_dir, lr, placement.chief)

    final_path = run_files.save_final_model(model, run_dir) if placement.chief else None
    metrics = report.run_metrics(config, run_dir, data, model, history, val_ds, callbacks, start, num_params, started)
    if placement.chief:
        run_files.write_metrics(run_dir, metrics)
    if placement.workers > 1:
        # No worker leaves before the chief has written the run's files: an exit status of 0 on
        # any worker means the run is complete (and none is taken for lost while the chief saves).
        workers.barrier(placement.strategy)
    report.say_closing(metrics, final_path, placement.chief, say)
    return TrainResult(run_dir=run_dir, metrics=metrics, model=model, history=history, config=config)


def _finished_result(config, run_dir, metrics) -> TrainResult:
    """Say that the run in ``run_dir`` is complete (nothing trained, nothing written) and return what it holds."""
    top1 = metrics.get("top1")
    print(f"The run {run_dir} is complete: it has trained its {metrics['epochs']} epochs"
          + (f" (validation top-1 {top1:.2%})" if isinstance(top1, (int, float)) else "")
          + f" and its files are unchanged. To train it longer: --resume {run_dir} --epochs N, "
          f"N > {metrics['epochs']}.")
    return TrainResult(run_dir=run_dir, metrics=metrics, model=None, history={}, config=config)


def _release(task, lock):
    """Free this task's port (several workers) and the run directory's lock."""
    if task is not None:
        release_port()
    _rundir.release(lock)


def _silent(*args, **kwargs):
    pass


def _write_config_and_agree_on_job(run_dir, record, start, placement, resume):
    """The chief writes ``config.json`` (and trims ``history.csv`` when resuming), before the model: with
    several workers, the others check it against their own before the first collective of the model's build."""
    if placement.chief:
        if placement.workers > 1 and resume:
            workers.check_same_job(run_dir, record, "this restarted chief", FROZEN_ON_RESUME)
        run_files.write_config(run_dir, record, start.initial_epoch if start.index is not None else None)
    if placement.workers > 1:
        workers.barrier(placement.strategy)  # the chief has written config.json
        if not placement.chief:
            workers.check_same_job(run_dir, record, f"this worker ({cluster_task().name})")


def _stop_if_diverged(callbacks, start, run_dir, lr, chief):
    """Raise :class:`DivergenceError` when the loss diverged (the rule of
    :class:`~keras_classics.training.callbacks.StopOnDivergence`); ``metrics.json`` records it."""
    guard, checkpointer = callbacks.guard, callbacks.checkpointer
    if not guard.triggered:
        return
    last = checkpointer.last_epoch if checkpointer.last_epoch is not None else start.initial_epoch
    epoch, step = guard.epoch + 1, guard.batch + 1
    what = (f"became {guard.value}" if guard.non_finite else
            f"reached {guard.value:.4g}, more than {guard.factor:g} times its first step's {guard.reference:.4g}")
    if chief:
        run_files.write_metrics(run_dir, {
            "diverged": {"epoch": epoch, "step": step, "loss": _json_number(guard.value),
                         "first_step_loss": guard.reference, "factor": guard.factor},
            "last_good_epoch": last or None,
            "epochs": None,
            "run_dir": run_dir,
        })
    kept = (f"The last good checkpoint (after epoch {last}) is kept in {start.checkpoint_dir}; resume from it "
            f"with a lower learning rate: --resume {run_dir} --lr {lr / 10:g}."
            if last else "No checkpoint was written (it happened in the first epoch); no model was saved.")
    raise DivergenceError(
        f"The training diverged at epoch {epoch}, step {step}: the loss {what}. Training stopped; final.keras "
        f"was not written and metrics.json records the divergence. {kept} What to try: a lower --lr (now "
        f"{lr:.4g}), a warm-up (--warmup-epochs), a larger --batch-size, or gradient clipping (--global-clipnorm)."
    )


def _json_number(value):
    """``value``, or its name when JSON has no number for it (NaN, infinities)."""
    return value if value is not None and math.isfinite(value) else str(value)


# ---------------------------------------------------------------------- determinism
def _op_determinism() -> bool:
    try:
        from tensorflow.python.framework import config as tf_config  # deferred: TensorFlow

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        return False


def _disable_op_determinism():
    try:
        from tensorflow.python.framework import config as tf_config  # deferred: TensorFlow

        tf_config.disable_op_determinism()
    except (ImportError, AttributeError):
        pass
