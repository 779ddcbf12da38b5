"""Where a run trains and how its workers agree: the strategy and its replicas, the cluster checks, the handshakes.

With ``--strategy multiworker`` and a ``TF_CONFIG`` naming several workers,
every worker runs the same command. The chief (or worker 0) writes the run
directory; before the first collective of the model's build, the others check
the chief's ``config.json`` against their own (:func:`check_same_job`), and no
worker leaves before the chief has written the run's files (:func:`barrier`).

Nothing here imports TensorFlow at import time: the cluster checks run before it starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from keras_classics.training.strategy import (
    cluster_task,
    cpu_kernels_note,
    is_chief,
    make_strategy,
    missing_gpu_note,
    reserve_port,
)

__all__ = ["Placement", "start_strategy", "cluster_task_for", "num_workers", "barrier", "check_same_job"]

# Fields of config.json that may differ between the workers of one job.
PER_WORKER_FIELDS = ("run_dir", "runs_root", "verbose", "devices", "tpu", "description", "keras_classics_version",
                     "keras_version", "tensorflow_version", "created")


@dataclass
class Placement:
    """Where a run trains.

    Attributes:
        strategy: the ``tf.distribute`` strategy.
        chief: whether this process writes the run directory.
        replicas: the replicas in sync (the global batch is split among them).
        workers: the worker processes of the job (1 unless multi-worker).
    """

    strategy: object
    chief: bool
    replicas: int
    workers: int


def start_strategy(config, say) -> Placement:
    """Say what the devices lack, start the configured strategy and check that the batch divides among its replicas."""
    for note in (missing_gpu_note(config.strategy, config.devices, config.precision), cpu_kernels_note()):
        if note:
            say(note)

    strategy = make_strategy(config.strategy, config.devices, config.tpu)
    chief = is_chief(strategy)
    replicas = strategy.num_replicas_in_sync
    workers = num_workers(strategy)
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
    return Placement(strategy=strategy, chief=chief, replicas=replicas, workers=workers)


def cluster_task_for(config):
    """This process's task when ``--strategy multiworker`` names several workers in ``TF_CONFIG``, else None.

    Checks ``TF_CONFIG`` and this task's port before anything is written or TensorFlow starts.
    """
    if config.strategy != "multiworker":
        return None
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


def num_workers(strategy) -> int:
    """The worker processes of ``strategy``'s job (1 for every strategy but a multi-worker one)."""
    return int(getattr(strategy.extended, "_num_workers", 1) or 1)


def barrier(strategy):
    """Return once every worker has called it (a sum over the workers)."""
    import tensorflow as tf  # deferred: the cluster checks above run before TensorFlow starts

    total = strategy.reduce(tf.distribute.ReduceOp.SUM, tf.constant(1.0), axis=None)
    workers = num_workers(strategy)
    if int(round(float(total))) != workers:  # not a cross-worker sum: the barrier would be no barrier
        raise RuntimeError(f"The workers' barrier summed to {float(total)}, expected {workers}.")


def check_same_job(run_dir, record, who, keys=None):
    """Refuse to train when ``record`` differs from the chief's ``run_dir/config.json`` (on ``keys``, or every job field)."""
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
             if k not in PER_WORKER_FIELDS and mine.get(k) != theirs.get(k)]
    if diffs:
        raise ValueError(
            f"{who[0].upper()}{who[1:]} was started with a different job than the chief's {path}: {'; '.join(diffs[:6])}"
            f"{' ...' if len(diffs) > 6 else ''}. Every worker must run the same command (recipe, options, batch "
            "size); refusing to start."
        )
