"""The callbacks of a training run: checkpoints for resume, best model, plateau
decay, the divergence guard, throughput and learning-rate logging.

Files are written to a temporary name in the same directory and renamed into
place (:mod:`keras_classics.io`), so a run killed at any moment leaves either
the old or the new file, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import time

import keras
import numpy as np

from keras_classics.io import atomic_path, write_json_atomic
from keras_classics.metadata import keep_metadata, save_model

__all__ = [
    "DIVERGENCE_FACTOR",
    "StopOnDivergence",
    "LearningRateLogger",
    "Throughput",
    "AverageReplicaStatistics",
    "ReduceOnPlateau",
    "BestModel",
    "HistoryCSV",
    "Checkpointer",
    "inference_model",
    "latest_checkpoint",
    "usable_checkpoint",
    "restore_checkpoint",
    "monitor_mode",
]

CHECKPOINT_INDEX = "checkpoint.json"


# ---------------------------------------------------------------------- files
def inference_model(model):
    """The trained network as a new, uncompiled functional model sharing its layers.

    Saving it stores the architecture and weights without optimizer state: the
    file loads anywhere with ``keras.saving.load_model`` and is a third of the size.
    The model's metadata (class names, eval transform) goes with it.
    """
    return keep_metadata(model, keras.Model(model.inputs, model.output, name=model.name))


def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """``"max"`` for accuracies (``top1``, ``top5``, ``accuracy``), ``"min"`` otherwise."""
    if mode != "auto":
        return mode
    return "max" if any(k in monitor for k in ("top1", "top5", "acc")) else "min"


def _improved(value, best, mode, min_delta=0.0) -> bool:
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


# ---------------------------------------------------------------------- guards and logs
#: A run has diverged when its loss exceeds this multiple of its first step's loss (or is not finite).
DIVERGENCE_FACTOR = 1000.0


class StopOnDivergence(keras.callbacks.Callback):
    """Stop training once the loss diverges, and remember where.

    The rule: the training loss Keras logs after each step (the mean over the
    epoch's steps so far) is NaN or infinite, or exceeds :data:`DIVERGENCE_FACTOR`
    (1000) times the loss of the run's first step. The first step's loss of a
    classifier is about ``ln(classes)`` plus the L2 penalty; a bad start that
    still trains stays within a few times it (the ``resnet50_imagenet`` smoke
    command without its warm-up reached 4 times). A loss a thousand times its
    start (for cross-entropy, a mean probability of the true class near
    ``e**-1000``, unless the penalty itself grew that much) is no training
    that is still making progress. The first step's loss is part of the
    checkpoints' state, so a resumed run keeps the same reference.

    The engine reads :attr:`triggered` after ``fit`` and raises a clear error;
    :class:`Checkpointer` and :class:`BestModel` write nothing once it fired, so
    the last checkpoint and ``best.keras`` hold the last good state.
    """

    def __init__(self, factor=DIVERGENCE_FACTOR):
        super().__init__()
        self.factor = float(factor)
        self.reference = None
        self.epoch = 0
        self.batch = None
        self.value = None

    @property
    def triggered(self) -> bool:
        return self.batch is not None

    @property
    def non_finite(self) -> bool:
        """Whether the loss that stopped the run was NaN or infinite (not only too large)."""
        return self.value is not None and not math.isfinite(self.value)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or self.triggered:
            return
        loss = float(loss)
        if self.reference is None and math.isfinite(loss):
            self.reference = loss
        if not math.isfinite(loss) or (self.reference is not None and loss > self.factor * abs(self.reference)):
            self.batch, self.value = batch, loss
            self.model.stop_training = True

    def get_state(self) -> dict:
        return {"reference": self.reference}

    def set_state(self, state: dict) -> None:
        self.reference = state.get("reference")


class CheckAtBoundaries(keras.callbacks.Callback):
    """Calls ``check()`` after every training and validation batch and every epoch (the engine's check
    for an interruption whose exception a signal raised where it was lost)."""

    def __init__(self, check):
        super().__init__()
        self._check = check

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_test_batch_end(self, batch, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()


class LearningRateLogger(keras.callbacks.Callback):
    """Adds ``learning_rate`` (the rate in use at the epoch's end) to the epoch logs."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class Throughput(keras.callbacks.Callback):
    """Training images per second, validation and each epoch's first step excluded.

    The first step of an epoch pays for tracing and pipeline warm-up; the rate is
    measured from its end to the start of validation. It is added to the epoch
    logs as ``images_per_sec``; :attr:`images_per_sec` is the run's rate.
    """

    def __init__(self, global_batch_size: int):
        super().__init__()
        self.global_batch_size = int(global_batch_size)
        self.images = 0
        self.seconds = 0.0
        self._start = None
        self._steps = 0
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps, self._epoch_start = None, 0, time.perf_counter()
        self._done = False

    def on_train_batch_end(self, batch, logs=None):
        if self._start is None:
            self._start = time.perf_counter()
        else:
            self._steps += 1

    def _close(self):
        if self._done or self._epoch_start is None:
            return None
        self._done = True
        now = time.perf_counter()
        if self._steps:
            images, seconds = self._steps * self.global_batch_size, now - self._start
        else:  # a one-step epoch: count it whole
            images, seconds = self.global_batch_size, now - self._epoch_start
        self.images += images
        self.seconds += seconds
        return images / seconds if seconds > 0 else None

    def on_test_begin(self, logs=None):
        self._epoch_rate = self._close()

    def on_epoch_end(self, epoch, logs=None):
        rate = self._close()
        rate = getattr(self, "_epoch_rate", None) if rate is None else rate
        self._epoch_rate = None
        if logs is not None and rate:
            logs["images_per_sec"] = rate

    @property
    def images_per_sec(self) -> float | None:
        return self.images / self.seconds if self.seconds > 0 else None


class AverageReplicaStatistics(keras.callbacks.Callback):
    """Set the running statistics (batch norm's moving mean and variance) to their mean over the replicas.

    Each replica of a ``tf.distribute`` run updates its batch-norm statistics
    from its own part of the batch (they are not synchronised, as in the
    papers' multi-GPU training), so the replicas, and the workers, drift apart.
    Before each validation and at each epoch's end every float non-trainable
    variable is replaced by its mean over all replicas, as timm's
    ``distribute_bn(reduce=True)`` does: the saved model and the checkpoints
    hold the statistics of the whole batch's data, and every worker holds the
    same weights.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self._average = None

    def average(self):
        if self._average is None:
            import tensorflow as tf

            variables = [v.value for v in self.model.non_trainable_variables
                         if keras.backend.is_float_dtype(v.dtype)]
            strategy = self.strategy
            if not variables:  # no running statistics (GoogLeNet, AlexNet)
                self._average = lambda: None
                return

            @tf.function
            def average():
                def on_replica():
                    context = tf.distribute.get_replica_context()
                    means = context.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v) for v in variables])
                    for v, mean in zip(variables, means):
                        v.assign(mean)

                strategy.run(on_replica)

            self._average = average
        self._average()

    def on_test_begin(self, logs=None):
        self.average()

    def on_epoch_end(self, epoch, logs=None):
        self.average()


# ---------------------------------------------------------------------- schedule
class ReduceOnPlateau(keras.callbacks.Callback):
    """Divide the learning rate when the monitored metric stops improving.

    Works on :class:`~keras_classics.training.schedules.ClassicSchedule`: it
    lowers the schedule's ``factor`` (so warm-up and any other shape still
    apply) by ``decay_rate`` after ``patience`` epochs without an improvement of
    at least ``min_delta``, never below ``min_lr``.
    """

    def __init__(self, schedule, monitor, mode="auto", decay_rate=0.1, patience=5, min_delta=1e-4, min_lr=0.0,
                 verbose=1):
        super().__init__()
        self.schedule = schedule
        self.monitor = monitor
        self.mode = monitor_mode(monitor, mode)
        self.decay_rate = float(decay_rate)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.min_lr = float(min_lr)
        self.verbose = verbose
        self.best = None
        self.wait = 0

    @property
    def factor(self) -> float:
        return float(keras.ops.convert_to_numpy(self.schedule.factor))

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:  # no validation this epoch
            return
        value = float(value)
        if _improved(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait < self.patience:
            return
        self.wait = 0
        floor = self.min_lr / self.schedule.lr if self.schedule.lr else 0.0
        new = max(self.factor * self.decay_rate, floor)
        if new < self.factor:
            self.schedule.factor.assign(new)
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: {self.monitor} has not improved for {self.patience} epoch(s); "
                      f"learning rate × {self.decay_rate:g} → {self.schedule.lr * new:.3g}")

    def get_state(self) -> dict:
        return {"best": self.best, "wait": self.wait, "factor": self.factor}

    def set_state(self, state: dict) -> None:
        self.best = state.get("best")
        self.wait = int(state.get("wait", 0))
        self.schedule.factor.assign(float(state.get("factor", 1.0)))


# ---------------------------------------------------------------------- models on disk
class BestModel(keras.callbacks.Callback):
    """Save the inference model to ``path`` whenever ``monitor`` improves."""

    def __init__(self, path, monitor, mode="auto", guard=None, enabled=True):
        super().__init__()
        self.path = os.fspath(path)
        self.monitor = monitor
        self.mode = monitor_mode(monitor, mode)
        self.guard = guard
        self.enabled = enabled
        self.best = None
        self.best_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if self.guard is not None and self.guard.triggered:
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if _improved(value, self.best, self.mode):
            self.best, self.best_epoch = value, epoch + 1
            if self.enabled:
                save_model(inference_model(self.model), self.path)

    def get_state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def set_state(self, state: dict) -> None:
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch")


class HistoryCSV(keras.callbacks.CSVLogger):
    """Keras' ``CSVLogger`` with epochs counted from 1, as ``best_epoch``, the checkpoints and the
    training-curves plot count them (Keras counts from 0)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


class Checkpointer(keras.callbacks.Callback):
    """Write the full training state after every epoch, for ``--resume``.

    A checkpoint is ``ckpt-EEEE.npz`` (every model variable, batch-norm
    statistics and dropout seed states included, then every optimizer variable:
    step count, momenta, loss scale) and ``checkpoint.json`` (epoch, step, the
    file, and the state of the callbacks given in ``stateful``). The newest
    ``keep`` checkpoints are kept, each with its own index ``ckpt-EEEE.json``,
    so that a resume can fall back to the previous one when the newest is
    damaged (:func:`usable_checkpoint`).
    """

    def __init__(self, directory, keep=2, guard=None, stateful=None, enabled=True):
        super().__init__()
        self.directory = os.fspath(directory)
        self.keep = int(keep)
        self.guard = guard
        self.stateful = dict(stateful or {})
        self.enabled = enabled
        self.last_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if self.guard is not None and self.guard.triggered:
            return
        self.save(epoch + 1)

    def save(self, epoch: int) -> str | None:
        self.last_epoch = epoch
        if not self.enabled:
            return None
        arrays = {}
        for i, v in enumerate(self.model.variables):
            arrays[f"model/{i:06d}"] = keras.ops.convert_to_numpy(v)
        for i, v in enumerate(self.model.optimizer.variables):
            arrays[f"optimizer/{i:06d}"] = keras.ops.convert_to_numpy(v)
        os.makedirs(self.directory, exist_ok=True)
        name = f"ckpt-{epoch:04d}.npz"
        path = os.path.join(self.directory, name)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        index = {
            "epoch": epoch,
            "step": int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)),
            "file": name,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "num_model_variables": len(self.model.variables),
            "num_optimizer_variables": len(self.model.optimizer.variables),
            "callbacks": {k: cb.get_state() for k, cb in self.stateful.items()},
        }
        write_json_atomic(os.path.join(self.directory, name[: -len(".npz")] + ".json"), index)
        write_json_atomic(os.path.join(self.directory, CHECKPOINT_INDEX), index)
        self._prune(keep_name=name)
        return path

    def _prune(self, keep_name):
        files = sorted(f for f in os.listdir(self.directory) if f.startswith("ckpt-") and f.endswith(".npz"))
        for old in files[: max(len(files) - self.keep, 0)]:
            if old != keep_name:
                os.remove(os.path.join(self.directory, old))
                sidecar = os.path.join(self.directory, old[: -len(".npz")] + ".json")
                if os.path.exists(sidecar):
                    os.remove(sidecar)


def latest_checkpoint(directory) -> dict | None:
    """The index of the newest checkpoint in ``directory`` (``None`` when there is none)."""
    path = os.path.join(os.fspath(directory), CHECKPOINT_INDEX)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if not os.path.isfile(os.path.join(os.fspath(directory), index["file"])):
        raise FileNotFoundError(
            f"{path} names {index['file']!r}, which is missing: the checkpoint directory was modified."
        )
    return index


def _damage(path) -> str | None:
    """Why the checkpoint file at ``path`` cannot be read back (``None``: it is intact).

    Every array of an ``.npz`` is a zip member with its CRC-32: reading them all
    finds a truncated file (no central directory) and changed bytes alike.
    """
    import zipfile
    import zlib

    if not os.path.isfile(path):
        return "the file is missing"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, ValueError) as e:
        return f"unreadable: {e}"
    return f"member {bad!r} fails its CRC check" if bad else None


def usable_checkpoint(directory) -> tuple[dict | None, list[str]]:
    """The index of the newest intact checkpoint in ``directory``, and one line for each newer one that was damaged.

    ``checkpoint.json`` names the newest checkpoint; when its file is truncated,
    changed or missing (a disk that filled, a copy cut short), the previous
    checkpoint kept beside it (``ckpt-EEEE.npz`` with its index ``ckpt-EEEE.json``)
    is used instead, and the lines say so. ``(None, [])`` when there is no checkpoint.

    Raises:
        ValueError: checkpoints exist but none is intact (the damaged ones are named).
    """
    directory = os.fspath(directory)
    candidates = []
    try:
        with open(os.path.join(directory, CHECKPOINT_INDEX), encoding="utf-8") as f:
            candidates.append(json.load(f))
    except FileNotFoundError:
        pass
    except (OSError, ValueError):  # a damaged checkpoint.json: the per-checkpoint indexes remain
        pass
    sidecars = sorted((f for f in os.listdir(directory) if f.startswith("ckpt-") and f.endswith(".json")),
                      reverse=True) if os.path.isdir(directory) else []
    for name in sidecars:
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                candidates.append(json.load(f))
        except (OSError, ValueError):
            continue
    damaged, seen = [], set()
    for index in sorted(candidates, key=lambda i: -int(i["epoch"])):
        if index["file"] in seen:
            continue
        seen.add(index["file"])
        why = _damage(os.path.join(directory, index["file"]))
        if why is None:
            return index, [
                f"Checkpoint {name} is damaged ({reason}); resuming from {index['file']} (epoch {index['epoch']}) "
                "instead." for name, reason in damaged]
        damaged.append((index["file"], why))
    if damaged:
        raise ValueError(
            f"No intact checkpoint in {directory}: " + "; ".join(f"{n} ({why})" for n, why in damaged)
            + ". Accepted: a run directory with at least one readable checkpoint (--keep-checkpoints 2 or more keeps "
            "a previous one to fall back to); start a new run to train from the beginning."
        )
    return None, []


def restore_checkpoint(model, directory, index: dict) -> None:
    """Load the variables of checkpoint ``index`` into ``model`` and its (built) optimizer.

    Raises:
        ValueError: when the checkpoint does not match the model.
    """
    path = os.path.join(os.fspath(directory), index["file"])
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    with np.load(path) as data:
        for prefix, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
            keys = sorted(k for k in data.files if k.startswith(prefix + "/"))
            if len(keys) != len(variables):
                raise ValueError(
                    f"Checkpoint {path!r} holds {len(keys)} {prefix} variables but the model has "
                    f"{len(variables)}: it was written by a different model or optimizer configuration."
                )
            for key, variable in zip(keys, variables):
                value = data[key]
                if tuple(value.shape) != tuple(variable.shape):
                    raise ValueError(
                        f"Checkpoint {path!r}: {prefix} variable {variable.path} has shape {tuple(variable.shape)}"
                        f" but the checkpoint holds {tuple(value.shape)}."
                    )
                variable.assign(value)
