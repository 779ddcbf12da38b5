"""The one training engine: ``train(config)`` runs every recipe and ``keras-classics train``.

What a run does, in order:

1. Checks the configuration, the model name and the run directory (nothing is
   written before the inputs are known to be good).
2. Sets the dtype policy (``float32``, ``mixed_float16``, ``mixed_bfloat16``),
   the seeds and, with ``deterministic=True``, TensorFlow's op determinism.
3. Loads the data source and builds one input pipeline per epoch: epoch ``e``'s
   order and augmentation are a pure function of ``(seed, e)``, so a resumed
   run sees exactly the batches an uninterrupted one would have seen.
4. Builds the model in the ``tf.distribute`` strategy's scope, optionally
   initialises it from a trained model (``init_from``), attaches the L2 penalty,
   the optimizer, the schedule, the losses (auxiliary heads weighted) and
   compiles it (``jit_compile`` for XLA). Under ``mixed_float16`` Keras wraps
   the optimizer in a ``LossScaleOptimizer``.
5. Restores the last checkpoint when resuming, then calls ``model.fit`` with a
   progress bar per epoch and the run's callbacks.
6. Writes ``final.keras`` and ``metrics.json`` and prints where.

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

import csv
import datetime
import difflib
import io
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass

from keras_classics import runs as _rundir
from keras_classics.metadata import make_metadata, read_keras_metadata, set_model_metadata
from keras_classics.runs import resolve_model_file
from keras_classics.training.config import (
    FROZEN_ON_RESUME,
    RecipeConfig,
    load_run_config,
)

__all__ = ["train", "resume", "TrainResult", "NonFiniteLossError", "TrainingInterrupted"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        run_dir: the run directory.
        metrics: the content of ``metrics.json``.
        model: the trained Keras model (with its auxiliary heads, if any).
        history: ``{metric: [value per epoch run in this call]}``.
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
        NonFiniteLossError: the loss became NaN or infinite.

    Example:
        >>> from keras_classics.training import RecipeConfig, train
        >>> result = train(RecipeConfig(model="resnet18", dataset="shapes", epochs=3))
        >>> result.metrics["top1"]
    """
    if not isinstance(config, RecipeConfig):
        raise ValueError(f"`config` must be a RecipeConfig. Received: {type(config).__name__}")
    config = config.replace()  # a validated copy
    started = time.time()

    from keras_classics.models import model_info

    info = model_info(config.model)  # unknown names suggest close ones
    task = _cluster_task(config)
    if task is not None and not task.chief:
        # Another worker writes the run directory; this one reads its config and checkpoints.
        run_dir, created, resume = os.path.abspath(os.path.expanduser(config.run_dir)), False, True
    else:
        if task is not None and resume is None and os.path.isfile(os.path.join(
                os.path.expanduser(config.run_dir), "config.json")):
            resume = config.run_dir  # a restarted job: every worker runs the same command again
        run_dir, created = _prepare_run_dir(config, resume)
    config = config.replace(run_dir=run_dir)
    if resume is None and not created and _rundir.is_stale(run_dir):
        # A killed run's lock: its files stay as they are, for --resume.
        leftovers = sorted(n for n in os.listdir(run_dir) if n != _rundir.LOCK_FILENAME)
        if leftovers:
            raise FileExistsError(
                f"The run directory {run_dir!r} holds an earlier run ({', '.join(leftovers[:4])}"
                f"{', ...' if len(leftovers) > 4 else ''}). Continue it with --resume {run_dir}, or choose another "
                "--run-dir (runs are never overwritten)."
            )
    try:
        lock = _rundir.claim(run_dir, note=print) if _rundir.writes_run_dir(config.strategy) else None
    except BaseException:
        if created:  # this call made the (still empty) directory: leave the tree as it was
            _remove_if_empty(run_dir)
        raise

    import keras
    import tensorflow as tf

    previous_policy = keras.config.dtype_policy()
    previous_determinism = _op_determinism()
    previous_sigterm = _raise_on_sigterm()
    ready = False
    try:
        keras.config.set_dtype_policy(config.precision)
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        result = _run(config, info, run_dir, source, callbacks, resume, started)
        ready = True
        return result
    except KeyboardInterrupt as e:
        # Ctrl-C or SIGTERM: keep what the run wrote (config, logs, checkpoints) once it has a config.
        if not os.path.isfile(os.path.join(run_dir, "config.json")):
            if created:
                _discard_if_unused(run_dir, lock)
            raise
        raise TrainingInterrupted(_interrupted_message(run_dir, e)) from None
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
        if task is None:
            raise
        from keras_classics.training.strategy import WorkerLostError, lost_worker_message

        raise WorkerLostError(lost_worker_message(task, e, "during training")) from None
    except BaseException:
        if created and not ready:
            _discard_if_unused(run_dir, lock)
        raise
    finally:
        if task is not None:
            from keras_classics.training.strategy import release_port

            release_port()
        _rundir.release(lock)
        _restore_sigterm(previous_sigterm)
        keras.config.set_dtype_policy(previous_policy)
        if config.deterministic and not previous_determinism:
            _disable_op_determinism()


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM; the message says how to continue."""


def _interrupted_message(run_dir, exc) -> str:
    from keras_classics.training.callbacks import latest_checkpoint

    why = "SIGTERM" if isinstance(exc, _Terminated) else "Ctrl-C"
    try:
        index = latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    except (OSError, ValueError):
        index = None
    where = (f"from its checkpoint after epoch {index['epoch']}" if index else
             "from the start (no epoch had finished; the directory keeps its config and logs)")
    return (f"Interrupted ({why}). The run directory {run_dir} is kept: `keras-classics train --resume {run_dir}` "
            f"continues it {where}.")


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a run stops as it does on Ctrl-C."""


# The interruption a signal asked for, kept until the run ends: Python runs a handler between any
# two bytecodes, also inside a garbage-collection callback (TensorFlow imports JAX when it is
# installed, and JAX registers one), where an exception is printed as "ignored" and lost. There the
# handler only records it; a callback raises it at the next batch or epoch boundary.
_PENDING: dict = {}
_GC_CALLBACKS = ("_xla_gc_callback",)


def _raise_on_sigterm():
    """Turn SIGTERM into :class:`_Terminated` and Ctrl-C into ``KeyboardInterrupt`` while a run trains
    (main thread only), both remembered for :func:`_reraise_pending`; return the old handlers."""
    import signal
    import threading

    _PENDING.clear()
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        _PENDING["exception"] = _Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        if frame is not None and frame.f_code.co_name in _GC_CALLBACKS:
            return
        raise _PENDING["exception"]()

    try:
        return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # no signals here (an embedded interpreter)
        return None


def _reraise_pending():
    """Raise the interruption a signal asked for, if an earlier raise of it was swallowed."""
    if "exception" in _PENDING:
        raise _PENDING["exception"]()


def _restore_sigterm(previous):
    import signal

    _PENDING.clear()
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)


# ---------------------------------------------------------------------- the run
def _run(config, info, run_dir, source, extra_callbacks, resume, started):
    import keras
    import tensorflow as tf

    from keras_classics.training import callbacks as cb
    from keras_classics.training.losses import (
        compile_arguments,
        constrain_filter_rms,
        l2_regularize,
        metric_key,
        output_names,
    )
    from keras_classics.training.schedules import ClassicSchedule, scaled_learning_rate
    from keras_classics.training.strategy import cpu_kernels_note, describe, is_chief, make_strategy, missing_gpu_note

    verbose = config.verbose
    say = print if verbose else (lambda *a, **k: None)
    for note in (missing_gpu_note(config.strategy, config.devices, config.precision), cpu_kernels_note()):
        if note:
            say(note)

    strategy = make_strategy(config.strategy, config.devices, config.tpu)
    chief = is_chief(strategy)
    replicas = strategy.num_replicas_in_sync
    workers = _num_workers(strategy)
    if config.strategy == "multiworker" and workers == 1:
        say("Note: --strategy multiworker without a TF_CONFIG naming several workers: training as one worker, "
            "on this machine's devices. To train on several machines, set TF_CONFIG on each (docs/training.md, "
            "\"Several machines\").")
    batch = config.batch_size
    if batch % replicas:
        raise ValueError(
            f"The global batch size must be a multiple of the {replicas} replicas. Received: batch_size={batch}. "
            f"Use e.g. --batch-size {batch - batch % replicas or replicas}."
        )

    # ---- data
    image_size = _image_size(config, info)
    if source is None:
        source = _load_source(config, image_size)
    if workers > 1 and source.num_train < workers:
        raise ValueError(
            f"The training split of {source.name!r} has {source.num_train} image file(s), fewer than the {workers} "
            f"workers: each worker reads its own files and needs at least one. Accepted: at most "
            f"{source.num_train} worker(s), or more data."
        )
    num_classes = _check_source(source, config, batch)
    init_metadata = _init_metadata(config)
    preprocessing = config.preprocessing or init_metadata.get("preprocessing") or info.preprocessing
    policy = _policy(config, info, image_size)
    full_batches = source.num_train // batch
    steps = config.steps_per_epoch or full_batches
    if steps > full_batches:
        raise ValueError(
            f"--steps-per-epoch {steps} is more than the {full_batches} full batches of {batch} images in the "
            f"training split ({source.num_train} images)."
        )

    # ---- the model, its optimizer and losses, in the strategy's scope
    build_kwargs = dict(config.model_kwargs)
    if "classes" in build_kwargs and build_kwargs["classes"] != num_classes:
        raise ValueError(
            f"The dataset {source.name!r} has {num_classes} classes (labels 0..{num_classes - 1}) but "
            f"model_kwargs sets classes={build_kwargs['classes']}: labels would be out of range. "
            "Remove `classes` from --model-kwargs or use a matching dataset."
        )
    build_kwargs.update(classes=num_classes, input_shape=[image_size, image_size, 3])
    if init_metadata.get("registry_name") == config.model:  # converted pretrained weights: their variant
        for key, value in ((init_metadata.get("weights") or {}).get("options") or {}).items():
            if key in config.model_kwargs and config.model_kwargs[key] != value:
                raise ValueError(
                    f"--init-from {config.init_from} holds pretrained weights for {key}={value!r}; --model-kwargs "
                    f"sets {key}={config.model_kwargs[key]!r}. Leave {key} out (it is taken from the file)."
                )
            build_kwargs.setdefault(key, value)
    lr = scaled_learning_rate(config.lr, batch, config.lr_batch_size)
    checkpoint_dir = os.path.join(run_dir, "checkpoints")
    index, damaged = cb.usable_checkpoint(checkpoint_dir) if resume else (None, [])
    for line in damaged:  # the newest checkpoint is damaged: said even at verbose 0
        print(line, file=sys.stderr)
    initial_epoch = index["epoch"] if index else 0
    if initial_epoch > config.epochs:
        # Nothing is rewritten: config.json, metrics.json and history.csv would disagree on the epochs.
        raise ValueError(
            f"The run {run_dir} has already trained {initial_epoch} epochs; received --epochs {config.epochs}. "
            f"Accepted: --epochs {initial_epoch} or more (a resumed run is extended, never shortened). To compare "
            "with a shorter run, start a new one."
        )

    # ---- run directory files (chief only), written before the model: with several workers the others
    # check the chief's config.json against their own before the first collective of the model's build.
    record = _run_record(config, source, build_kwargs, image_size, preprocessing, policy, steps, lr, replicas)
    if chief:
        if workers > 1 and resume:
            _check_same_job(run_dir, record, "this restarted chief", FROZEN_ON_RESUME)
        cb.write_json_atomic(os.path.join(run_dir, "config.json"), record)
        if index is not None:
            _truncate_history(os.path.join(run_dir, "history.csv"), initial_epoch)
    if workers > 1:
        _barrier(strategy, tf)  # the chief has written config.json
        if not chief:
            from keras_classics.training.strategy import cluster_task

            _check_same_job(run_dir, record, f"this worker ({cluster_task().name})")

    one_hot = bool(config.label_smoothing or config.mixup or config.cutmix)
    with strategy.scope():
        model = _build_model(config.model, build_kwargs)
        # What best.keras and final.keras carry: class names, eval transform, registry name, backend.
        set_model_metadata(model, make_metadata(source.class_names, image_size, preprocessing, policy=policy,
                                                registry_name=config.model))
        if config.init_from and index is None:
            from keras_classics.training.warmstart import initialize_from

            initialize_from(model, config.model, config.init_from, verbose=bool(verbose))
        if config.optimizer != "adamw":
            l2_regularize(model, config.weight_decay)
        constrain_filter_rms(model, config.filter_rms_max)
        schedule = ClassicSchedule(
            config.schedule,
            lr,
            steps_per_epoch=steps,
            epochs=config.epochs,
            warmup_epochs=config.warmup_epochs,
            milestones=config.milestones,
            decay_every=config.decay_every,
            decay_rate=config.decay_rate,
            power=config.power,
            min_lr=config.min_lr,
        )
        optimizer = _make_optimizer(config, schedule, keras)
        aux_weights = config.aux_loss_weights if output_names(model) else {}
        compile_args = compile_arguments(
            model,
            num_classes=num_classes,
            one_hot=one_hot,
            label_smoothing=config.label_smoothing,
            aux_loss_weights=aux_weights,
        )
        model.compile(optimizer=optimizer, jit_compile=bool(config.jit_compile), run_eagerly=bool(config.run_eagerly),
                      **compile_args)
        if index is not None:
            cb.restore_checkpoint(model, checkpoint_dir, index)

    names = output_names(model)
    has_validation = source.validation is not None
    monitor_name = config.monitor
    if not has_validation and monitor_name.startswith("val_"):
        monitor_name = monitor_name[4:]
        say(f"No validation split: best.keras and the schedule follow the training {monitor_name}.")
    monitor = _monitor_key(monitor_name, model, metric_key)

    # ---- pipelines: one per remaining epoch, concatenated
    train_ds = _train_dataset(config, source, policy, image_size, preprocessing, num_classes, one_hot,
                              steps, initial_epoch, names, strategy)
    val_ds = _val_dataset(config, source, policy, image_size, preprocessing, num_classes, one_hot, names,
                          strategy) if has_validation else None

    guard = cb.StopOnNonFiniteLoss()
    throughput = cb.Throughput(batch)
    best = cb.BestModel(os.path.join(run_dir, "best.keras"), monitor, config.monitor_mode, guard=guard,
                        enabled=chief)
    stateful = {"best": best}
    callbacks = [cb.CheckAtBoundaries(_reraise_pending), guard, cb.LearningRateLogger(), throughput]
    if replicas > 1:  # first: validation, checkpoints and best.keras see the replicas' mean statistics
        callbacks.insert(0, cb.AverageReplicaStatistics(strategy))
    if config.schedule == "plateau":
        plateau = cb.ReduceOnPlateau(schedule, monitor, config.monitor_mode, decay_rate=config.decay_rate,
                                     patience=config.plateau_patience, min_delta=config.plateau_min_delta,
                                     min_lr=config.min_lr, verbose=verbose)
        callbacks.append(plateau)
        stateful["plateau"] = plateau
    checkpointer = cb.Checkpointer(checkpoint_dir, keep=config.keep_checkpoints, guard=guard, stateful=stateful,
                                   enabled=chief)
    callbacks += [best, checkpointer]
    if chief:
        callbacks.append(cb.HistoryCSV(os.path.join(run_dir, "history.csv"), append=True))
        if _tensorboard_available():
            callbacks.append(
                keras.callbacks.TensorBoard(os.path.join(run_dir, "logs"), write_graph=False, profile_batch=0)
            )
        else:
            say("TensorBoard logs skipped: the `tensorboard` package is not installed (pip install tensorboard).")
    callbacks += list(extra_callbacks or ())
    if index is not None:
        for key, state in index.get("callbacks", {}).items():
            if key in stateful:
                stateful[key].set_state(state)

    num_params = int(sum(math.prod(v.shape) for v in model.trainable_variables))
    say(f"Run directory: {run_dir}")
    say(f"Model: {config.model} ({num_params:,} trainable parameters, {image_size}x{image_size}, "
        f"{num_classes} classes, precision {config.precision}{', XLA' if config.jit_compile else ''}{', eager' if config.run_eagerly else ''})")
    say(f"Data: {source.name}: {source.num_train} training images"
        + (f", {source.num_val} validation images" if has_validation and source.num_val else "")
        + f"; policy {policy!r}, preprocessing {preprocessing!r}")
    say(f"Optimizer: {config.optimizer}, lr {lr:.4g} (base {config.lr:g}"
        + (f" at batch {config.lr_batch_size}" if config.lr_batch_size else "")
        + f"), schedule {config.schedule}; batch {batch} on {describe(strategy)}; {steps} steps per epoch")
    if index is not None:
        say(f"Resuming after epoch {initial_epoch} (step {index['step']}) from {checkpoint_dir}")

    history = {}
    if initial_epoch < config.epochs:
        try:
            fit = model.fit(
                train_ds,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps,
                validation_data=val_ds,
                validation_freq=config.validation_freq,
                shuffle=False,  # the pipelines shuffle, deterministically per epoch
                callbacks=callbacks,
                verbose=verbose,
            )
            history = fit.history
            _reraise_pending()  # a signal during the last steps: the run stops as interrupted
        except tf.errors.InvalidArgumentError as e:
            if "valid range" in str(e) or "out of range" in str(e).lower():
                raise ValueError(
                    f"A label of {source.name!r} is outside 0..{num_classes - 1} (the dataset declares "
                    f"{num_classes} classes). First line of the error: {str(e).splitlines()[0]}"
                ) from None
            raise
    else:
        say(f"The run already completed its {config.epochs} epochs; re-evaluating the final model.")

    if guard.triggered:
        last = checkpointer.last_epoch if checkpointer.last_epoch is not None else initial_epoch
        kept = (f"The last good checkpoint (after epoch {last}) is kept in {checkpoint_dir}; resume from it "
                f"with a lower learning rate: --resume {run_dir} --lr {lr / 10:g}"
                if last else "No checkpoint was written (it happened in the first epoch).")
        raise NonFiniteLossError(
            f"The training loss became {guard.value} at epoch {guard.epoch + 1}, batch {guard.batch + 1}; "
            f"training stopped. {kept} Lower --lr, add --warmup-epochs or --global-clipnorm."
        )

    # ---- final model and metrics
    final_path = os.path.join(run_dir, "final.keras")
    if chief:
        cb.save_model_atomic(cb.inference_model(model), final_path)
    final = _final_metrics(model, history, val_ds, config, names)
    if config.ten_crop and has_validation:
        final.update(_ten_crop_metrics(model, source, image_size, preprocessing, policy, batch, config))
    metrics = {
        "model": config.model,
        "dataset": source.name,
        **final,
        "best": best.best,
        "best_epoch": best.best_epoch,
        "monitor": monitor,
        "epochs": config.epochs,
        "epochs_this_run": max(config.epochs - initial_epoch, 0),
        "steps_per_epoch": steps,
        "batch_size": batch,
        "images_per_sec": throughput.images_per_sec,
        "wall_time_s": round(time.time() - started, 2),
        "num_params": num_params,
        "resumed_from_epoch": initial_epoch if index is not None else None,
        "run_dir": run_dir,
    }
    if chief:
        cb.write_json_atomic(os.path.join(run_dir, "metrics.json"), metrics)
    if workers > 1:
        # No worker leaves before the chief has written the run's files: an exit status of 0 on
        # any worker means the run is complete (and none is taken for lost while the chief saves).
        _barrier(strategy, tf)
    if metrics.get("top1") is not None:
        say(f"Validation top-1 {metrics['top1']:.2%}" + (f", top-5 {metrics['top5']:.2%}" if metrics.get("top5")
                                                           is not None else "")
            + f", loss {metrics['loss']:.4f}; {metrics['wall_time_s']:.0f} s")
    print(f"Saved the trained model to {final_path}" if chief else "Training finished (non-chief worker).")
    return TrainResult(run_dir=run_dir, metrics=metrics, model=model, history=history, config=config)


# ---------------------------------------------------------------------- helpers: run directory
def _timestamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def _prepare_run_dir(config, resume):
    """Resolve and check the run directory; create it. Returns ``(path, created)``."""
    if resume is not None:
        path = os.path.abspath(os.fspath(resume))
        load_run_config(path)  # exists and is a run
        _check_writable(path)
        return path, False
    if config.run_dir:
        path = os.path.abspath(os.path.expanduser(config.run_dir))
        if os.path.lexists(path) and not os.path.isdir(path):
            raise NotADirectoryError(
                f"--run-dir {config.run_dir!r} is an existing file, not a directory. Accepted: a new path or an "
                "empty directory (runs are never written over other files)."
            )
        if os.path.isdir(path) and os.listdir(path) and not os.path.lexists(
                os.path.join(path, _rundir.LOCK_FILENAME)):  # a held directory is reported by the claim
            raise FileExistsError(
                f"The run directory {path!r} already exists. Continue it with --resume {config.run_dir}, or "
                "choose another --run-dir (runs are never overwritten)."
            )
        _check_writable(path)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.mkdir(path)
            created = True
        except FileExistsError:
            created = False
        except OSError as e:
            raise PermissionError(f"Cannot create the run directory {path!r}: {e.strerror or e}") from None
        return path, created
    root = os.path.abspath(os.path.expanduser(config.runs_root))
    _check_writable(root)
    return _rundir.new_run_dir(os.path.join(root, f"{config.name}-{_timestamp()}")), True


def _check_writable(path):
    probe = path
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise NotADirectoryError(f"Cannot create the run directory {path!r}: {probe!r} is a file.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PermissionError(
            f"Cannot write the run directory {path!r}: {probe!r} is not writable. Choose another --run-dir "
            "or --runs-root."
        )


def _discard_if_unused(run_dir, lock=None):
    """Remove a run directory this call created (and holds) if no checkpoint made it worth keeping."""
    ckpt = os.path.join(run_dir, "checkpoints", "checkpoint.json")
    if lock is None and os.path.lexists(os.path.join(run_dir, _rundir.LOCK_FILENAME)):
        return  # held by another process (a multi-worker chief): not ours to remove
    if os.path.isdir(run_dir) and not os.path.exists(ckpt) and not os.path.exists(
            os.path.join(run_dir, "final.keras")):
        shutil.rmtree(run_dir, ignore_errors=True)


def _remove_if_empty(path):
    try:
        os.rmdir(path)
    except OSError:
        pass


def _init_metadata(config) -> dict:
    """The metadata of the ``init_from`` model's file: the preprocessing its weights were trained with
    (a converted torchvision model says ``"torch"``) and, for converted pretrained weights, the variant
    options they need (``weights.options``), so fine-tuning builds the same function and feeds it what
    it expects."""
    if not config.init_from:
        return {}
    try:
        return read_keras_metadata(resolve_model_file(config.init_from)) or {}
    except (OSError, ValueError):  # reported with its reason when the weights are copied
        return {}


def _run_record(config, source, build_kwargs, image_size, preprocessing, policy, steps, lr, replicas) -> dict:
    """The content of ``config.json``."""
    import keras
    import tensorflow as tf

    from keras_classics import __version__

    data = config.replace(
        model_kwargs=dict(build_kwargs), image_size=image_size, preprocessing=preprocessing, policy=policy
    ).to_dict()
    data.update(
        class_names=list(source.class_names),
        num_classes=int(source.num_classes),
        dataset_name=source.name,
        num_train=int(source.num_train),
        num_val=None if source.num_val is None else int(source.num_val),
        steps_per_epoch_resolved=steps,
        learning_rate=lr,
        num_replicas=replicas,
        keras_classics_version=__version__,
        keras_version=keras.__version__,
        keras_backend=keras.backend.backend(),
        tensorflow_version=tf.__version__,
        created=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    return data


# ---------------------------------------------------------------------- helpers: several workers
# Fields of config.json that may differ between the workers of one job.
_PER_WORKER_FIELDS = ("run_dir", "runs_root", "verbose", "devices", "tpu", "description", "keras_classics_version",
                      "keras_version", "tensorflow_version", "created")


def _cluster_task(config):
    """This process's task when ``--strategy multiworker`` names several workers in ``TF_CONFIG``, else None.

    Checks ``TF_CONFIG`` and this task's port before anything is written or TensorFlow starts.
    """
    if config.strategy != "multiworker":
        return None
    from keras_classics.training.strategy import cluster_task, reserve_port

    task = cluster_task()
    if task is None or task.num_workers < 2:
        return None
    if not config.run_dir:
        raise ValueError(
            f"--strategy multiworker with {task.num_workers} workers needs --run-dir: every worker must name the "
            "same run directory, on a file system they all share (the chief writes it, the others read its "
            "config and checkpoints). Received: no --run-dir (each worker would pick its own timestamped name)."
        )
    reserve_port(task)
    return task


def _num_workers(strategy) -> int:
    return int(getattr(strategy.extended, "_num_workers", 1) or 1)


def _barrier(strategy, tf):
    """Return once every worker has called it (a sum over the workers)."""
    total = strategy.reduce(tf.distribute.ReduceOp.SUM, tf.constant(1.0), axis=None)
    workers = _num_workers(strategy)
    if int(round(float(total))) != workers:  # not a cross-worker sum: the barrier would be no barrier
        raise RuntimeError(f"The workers' barrier summed to {float(total)}, expected {workers}.")


def _check_same_job(run_dir, record, who, keys=None):
    """Refuse to train when ``record`` differs from the chief's ``run_dir/config.json`` (on ``keys``, or every job field)."""
    import json

    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}, which the chief writes before training, is not visible to {who}: --run-dir must be on a file "
            "system that every worker shares, under the same path."
        )
    with open(path, encoding="utf-8") as f:
        theirs = json.load(f)
    mine = json.loads(json.dumps(record))
    names = keys if keys is not None else sorted(set(mine) | set(theirs))
    diffs = [f"{k}={mine.get(k)!r} here, {theirs.get(k)!r} in config.json" for k in names
             if k not in _PER_WORKER_FIELDS and mine.get(k) != theirs.get(k)]
    if diffs:
        raise ValueError(
            f"{who[0].upper()}{who[1:]} was started with a different job than the chief's {path}: {'; '.join(diffs[:6])}"
            f"{' ...' if len(diffs) > 6 else ''}. Every worker must run the same command (recipe, options, batch "
            "size); refusing to start."
        )


def _truncate_history(path, initial_epoch):
    """Drop history rows of epochs that the resumed run will train again."""
    if not os.path.isfile(path):
        return
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    col = header.index("epoch") if "epoch" in header else 0
    kept = [r for r in body if r and r[col].isdigit() and int(r[col]) <= initial_epoch]  # epochs from 1
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(kept)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)


def _tensorboard_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


# ---------------------------------------------------------------------- helpers: determinism
def _op_determinism() -> bool:
    try:
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):
        return False


def _disable_op_determinism():
    try:
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()
    except (ImportError, AttributeError):
        pass


# ---------------------------------------------------------------------- helpers: data
def _image_size(config, info) -> int:
    if config.image_size is not None:
        size = config.image_size
    elif config.dataset == "shapes":
        size = 64
    else:
        size = info.default_size
    if size < info.min_size:
        raise ValueError(
            f"--image-size {size} is too small for {info.name!r}: it needs at least {info.min_size}x{info.min_size} "
            f"(the paper's size is {info.default_size})."
        )
    return size


def _load_source(config, image_size, **options):
    """The run's data source; ``options`` (``download``, ``validate``, ``verbose``) override its dataset options
    (export reads a finished run's validation images with ``download=False``)."""
    from keras_classics.data import get_source

    kwargs = dict(config.dataset_options)
    kwargs.setdefault("seed", config.seed)
    if config.dataset == "shapes":
        kwargs.setdefault("image_size", image_size)
    if config.val:
        kwargs["val"] = config.val
    if config.data_dir:
        kwargs["data_dir"] = os.path.expanduser(config.data_dir)
    kwargs.update(options)
    try:
        return get_source(config.dataset, **kwargs)
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


def _policy(config, info, image_size) -> str:
    from keras_classics.data import POLICIES

    name = config.policy
    if name is None:
        name = info.recipe.get("policy", "resnet")
        if image_size <= 64 and "cifar" in POLICIES:
            name = "cifar"  # small images: pad-and-crop, flip
    if name not in POLICIES:
        close = difflib.get_close_matches(name, list(POLICIES), n=2)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown augmentation policy {name!r}.{hint} Accepted: {', '.join(POLICIES)}.")
    return name


def _with_targets(ds, names):
    """Repeat the label for every output of an auxiliary-head model."""
    if not names:
        return ds
    return ds.map(lambda x, y: (x, {n: y for n in names}))


def _distribute_options(ds, strategy):
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        ds = ds.with_options(options)
    return ds


def _train_dataset(config, source, policy, image_size, preprocessing, num_classes, one_hot, steps,
                   initial_epoch, names, strategy):
    """Epochs ``initial_epoch .. epochs-1`` of training batches, each a pure function of ``(seed, epoch)``."""
    import tensorflow as tf

    if initial_epoch >= config.epochs:
        return None
    workers = _num_workers(strategy)
    if workers > 1:
        # Each worker makes only its own part of every batch (make_pipeline's `shard`): the parts are
        # disjoint and together are the batches one process would make, image for image.
        def per_worker(context):
            ds = _train_batches(config, source, policy, image_size, preprocessing, num_classes, one_hot, steps,
                                initial_epoch, (context.input_pipeline_id, context.num_input_pipelines))
            per_replica = context.get_per_replica_batch_size(config.batch_size)
            if per_replica != config.batch_size // context.num_input_pipelines:  # several replicas per worker
                ds = ds.rebatch(per_replica, drop_remainder=True)
            return _with_targets(ds, names).prefetch(tf.data.AUTOTUNE)

        return strategy.distribute_datasets_from_function(per_worker)
    ds = _train_batches(config, source, policy, image_size, preprocessing, num_classes, one_hot, steps,
                        initial_epoch)
    ds = _with_targets(ds, names).prefetch(tf.data.AUTOTUNE)
    return _distribute_options(ds, strategy)


def _train_batches(config, source, policy, image_size, preprocessing, num_classes, one_hot, steps, initial_epoch,
                   shard=None):
    """The training batches of epochs ``initial_epoch ..``; with ``shard``, one worker's part of them."""
    import tensorflow as tf

    from keras_classics.data import make_pipeline

    common = dict(
        **_pipeline_args(config, policy, image_size, preprocessing, num_classes, one_hot),
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


def _pipeline_args(config, policy, image_size, preprocessing, num_classes, one_hot):
    """The :func:`~keras_classics.data.make_pipeline` arguments the training and validation batches share."""
    return dict(policy=policy, image_size=image_size, batch_size=config.batch_size, seed=config.seed,
                preprocessing=preprocessing, num_classes=num_classes, one_hot=one_hot)


def _val_dataset(config, source, policy, image_size, preprocessing, num_classes, one_hot, names, strategy):
    import tensorflow as tf

    from keras_classics.data import make_pipeline

    ds = make_pipeline(
        source.validation,
        **_pipeline_args(config, policy, image_size, preprocessing, num_classes, one_hot),
        training=False,
        cache=config.cache,
        drop_remainder=config.strategy == "tpu",
        repeat=False,
    )
    if config.validation_steps:
        ds = ds.take(config.validation_steps)
    ds = _with_targets(ds, names).prefetch(tf.data.AUTOTUNE)
    return _distribute_options(ds, strategy)


# ---------------------------------------------------------------------- helpers: model
def _build_model(name, kwargs):
    from keras_classics.models import create_model

    try:
        return create_model(name, **kwargs)
    except TypeError as e:
        raise ValueError(f"Bad --model-kwargs for {name!r}: {e}. Received: {kwargs}") from None


def _make_optimizer(config, schedule, keras):
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


def _monitor_key(monitor, model, metric_key):
    """Translate ``val_top1`` / ``top1`` / ``val_loss`` into the key Keras logs it under."""
    validation = monitor.startswith("val_")
    return metric_key(model, monitor[4:] if validation else monitor, validation=validation)


def _final_metrics(model, history, val_ds, config, names):
    """Validation loss, top-1 and top-5 of the final weights (and the last training values)."""
    from keras_classics.training.losses import metric_key

    out = {"top1": None, "top5": None, "loss": None}
    last_train = {k: v[-1] for k, v in history.items() if v}
    for name in ("top1", "top5", "loss"):
        key = metric_key(model, name)
        if key in last_train:
            out[f"train_{name}"] = float(last_train[key])
    if val_ds is None:
        return out
    # The last epoch's validation logs hold the final weights' metrics, except with weight
    # averaging (the averages replace the weights after the last validation).
    validated_last = (history and len(history.get("val_loss", [])) and config.epochs % config.validation_freq == 0
                      and config.ema is None)
    if validated_last:
        logs = {k[4:]: v[-1] for k, v in history.items() if k.startswith("val_")}
    else:
        logs = model.evaluate(val_ds, return_dict=True, verbose=0)
    for name in ("top1", "top5", "loss"):
        key = metric_key(model, name)
        if key in logs:
            out[name] = float(logs[key])
    return out


def _ten_crop_metrics(model, source, image_size, preprocessing, policy, batch, config):
    """AlexNet's test: average the softmax of 10 crops (corners, centre, and their flips)."""
    import numpy as np

    from keras_classics.data import make_pipeline
    from keras_classics.models import strip_aux

    main = strip_aux(model)
    ds = make_pipeline(source.validation, policy=policy, image_size=image_size, batch_size=max(batch // 10, 1),
                       training=False, preprocessing=preprocessing, eval_crops=10)
    if config.validation_steps:
        ds = ds.take(config.validation_steps)
    correct1 = correct5 = total = 0
    for crops, labels in ds:
        n, k = int(crops.shape[0]), int(crops.shape[1])
        probs = main.predict_on_batch(np.reshape(crops, (n * k,) + tuple(crops.shape[2:])))
        probs = np.asarray(probs).reshape(n, k, -1).mean(axis=1)
        labels = np.asarray(labels)
        order = np.argsort(-probs, axis=1)
        correct1 += int((order[:, 0] == labels).sum())
        correct5 += int((order[:, :5] == labels[:, None]).any(axis=1).sum())
        total += n
    return {"ten_crop_top1": correct1 / total,
            "ten_crop_top5": correct5 / total if probs.shape[-1] > 5 else None}
