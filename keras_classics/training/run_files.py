"""A run's directory and the engine's files in it: opening it, config.json, history.csv, final.keras, metrics.json.

The directory is chosen, checked, created and claimed (:func:`open_run_dir`)
before anything else is written, and a directory this call created is removed
again when the run fails before a checkpoint made it worth keeping
(:func:`discard_if_unused`). The checkpoints, ``best.keras`` and the epochs'
rows of ``history.csv`` are written by the callbacks during ``fit``.

Nothing here imports TensorFlow at import time: the directory is checked and claimed before it starts.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import shutil

from keras_classics import __version__
from keras_classics import runs as _rundir
from keras_classics.io import write_json_atomic, write_text_atomic
from keras_classics.metadata import save_model
from keras_classics.training.config import load_run_config

__all__ = ["open_run_dir", "prepare_run_dir", "discard_if_unused", "finished_run", "check_not_shortened", "run_record",
           "write_config", "read_history", "save_final_model", "write_metrics"]


# ---------------------------------------------------------------------- the directory
def open_run_dir(config, resume, task):
    """Choose, check, create and claim the run's directory; nothing is written before it is known to be good.

    Args:
        config: the run's configuration.
        resume: the run directory to continue, or None.
        task: this process's multi-worker task (see
            :func:`keras_classics.training.workers.cluster_task_for`), or None.

    Returns:
        ``(run_dir, created, resume, lock)``: the absolute path; whether this call made the
        directory; the run to continue (a restarted multi-worker job continues its own); the
        claimed lock's path (None for a process that does not write the directory).
    """
    if task is not None and not task.chief:
        # Another worker writes the run directory; this one reads its config and checkpoints.
        run_dir, created, resume = os.path.abspath(os.path.expanduser(config.run_dir)), False, True
    else:
        if task is not None and resume is None and os.path.isfile(os.path.join(
                os.path.expanduser(config.run_dir), "config.json")):
            resume = config.run_dir  # a restarted job: every worker runs the same command again
        run_dir, created = prepare_run_dir(config, resume)
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
            for folder in _MADE_ABOVE.pop(run_dir, []):
                _remove_if_empty(folder)
        raise
    return run_dir, created, resume, lock


def _timestamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


# The folders above a run directory that creating it made (a new ``runs/``), by run directory: removed with it
# when a run that never started is discarded, so an interrupted first run leaves the tree as it was.
_MADE_ABOVE: dict[str, list[str]] = {}


def _missing_ancestors(path) -> list[str]:
    """The folders above ``path`` that do not exist yet, nearest first."""
    missing, parent = [], os.path.dirname(path)
    while parent and not os.path.exists(parent):
        missing.append(parent)
        if os.path.dirname(parent) == parent:
            break
        parent = os.path.dirname(parent)
    return missing


def prepare_run_dir(config, resume):
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
        above = _missing_ancestors(path)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.mkdir(path)
            created = True
            _MADE_ABOVE[path] = above
        except FileExistsError:
            created = False
        except OSError as e:
            raise PermissionError(f"Cannot create the run directory {path!r}: {e.strerror or e}") from None
        return path, created
    root = os.path.abspath(os.path.expanduser(config.runs_root))
    _check_writable(root)
    base = os.path.join(root, f"{config.name}-{_timestamp()}")
    above = _missing_ancestors(base)
    path = _rundir.new_run_dir(base)
    _MADE_ABOVE[path] = above
    return path, True


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


def discard_if_unused(run_dir, lock=None):
    """Remove a run directory this call created (and holds) if no checkpoint made it worth keeping."""
    ckpt = os.path.join(run_dir, "checkpoints", "checkpoint.json")
    if lock is None and os.path.lexists(os.path.join(run_dir, _rundir.LOCK_FILENAME)):
        return  # held by another process (a multi-worker chief): not ours to remove
    if os.path.isdir(run_dir) and not os.path.exists(ckpt) and not os.path.exists(
            os.path.join(run_dir, "final.keras")):
        shutil.rmtree(run_dir, ignore_errors=True)
        for folder in _MADE_ABOVE.pop(run_dir, []):  # made for this run: removed only while empty
            _remove_if_empty(folder)


def _remove_if_empty(path):
    try:
        os.rmdir(path)
    except OSError:
        pass


# ---------------------------------------------------------------------- a finished run
def finished_run(run_dir, epochs) -> dict | None:
    """The ``metrics.json`` of a run that has trained its ``epochs`` epochs and written its final files; None
    when a resume has something to do (train more epochs, or write the final files of a run stopped after
    its last checkpoint).

    Only files are read, so a resume of a complete run writes nothing.

    Raises:
        ValueError: the run has trained more than ``epochs`` epochs (see :func:`check_not_shortened`).
    """
    index = _read_json(os.path.join(run_dir, "checkpoints", "checkpoint.json"))
    trained = index.get("epoch") if isinstance(index, dict) else None
    if isinstance(trained, int):
        check_not_shortened(run_dir, trained, epochs)
    metrics = _read_json(os.path.join(run_dir, "metrics.json"))
    if not (isinstance(metrics, dict) and os.path.isfile(os.path.join(run_dir, "final.keras"))):
        return None
    done = metrics.get("epochs")
    if metrics.get("diverged") or not isinstance(done, int) or (isinstance(trained, int) and trained != done):
        return None
    check_not_shortened(run_dir, done, epochs)
    return metrics if done == epochs else None


def check_not_shortened(run_dir, trained, epochs):
    """Refuse ``epochs`` fewer than the ``trained`` epochs of the run in ``run_dir`` (before anything is written:
    config.json, metrics.json and history.csv would disagree on the epochs)."""
    if trained > epochs:
        raise ValueError(
            f"The run {run_dir} has already trained {trained} epochs; received --epochs {epochs}. "
            f"Accepted: --epochs {trained} or more (a resumed run is extended, never shortened). To compare "
            "with a shorter run, start a new one."
        )


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------- config.json and history.csv
def run_record(config, data, build_kwargs, lr, replicas) -> dict:
    """The content of ``config.json``: the resolved configuration, the data's facts and the versions.

    ``data`` is the run's :class:`~keras_classics.training.inputs.RunData`.
    """
    import keras  # deferred, for its version: this module serves the run directory's checks before Keras loads
    import tensorflow as tf  # deferred, for its version (as keras)

    source = data.source
    record = config.replace(
        model_kwargs=dict(build_kwargs), image_size=data.image_size, preprocessing=data.preprocessing,
        policy=data.policy
    ).to_dict()
    record.update(
        class_names=list(source.class_names),
        num_classes=int(source.num_classes),
        dataset_name=source.name,
        num_train=int(source.num_train),
        num_val=None if source.num_val is None else int(source.num_val),
        steps_per_epoch_resolved=data.steps,
        learning_rate=lr,
        num_replicas=replicas,
        keras_classics_version=__version__,
        keras_version=keras.__version__,
        keras_backend=keras.backend.backend(),
        tensorflow_version=tf.__version__,
        created=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    return record


def write_config(run_dir, record, resumed_epoch=None):
    """Write ``config.json``; a resumed run (``resumed_epoch``: its checkpoint's epoch) also drops the
    ``history.csv`` rows of the epochs it trains again."""
    write_json_atomic(os.path.join(run_dir, "config.json"), record)
    if resumed_epoch is not None:
        _truncate_history(os.path.join(run_dir, "history.csv"), resumed_epoch)


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
    write_text_atomic(path, buf.getvalue(), newline="")


def read_history(run_dir, epochs) -> dict:
    """``{metric: [value per epoch]}`` of the first ``epochs`` rows of ``history.csv`` (as ``model.fit`` returns
    it), for the final metrics of a run that stopped after its last checkpoint; a column with a value that is
    not a number (an epoch without validation) is left out."""
    path = os.path.join(run_dir, "history.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if (r.get("epoch") or "").isdigit() and int(r["epoch"]) <= epochs]
    history = {}
    for key in (rows[0] if rows else {}):
        if key == "epoch":
            continue
        try:
            history[key] = [float(r[key]) for r in rows]
        except (TypeError, ValueError):
            continue
    return history


# ---------------------------------------------------------------------- final.keras and metrics.json
def save_final_model(model, run_dir) -> str:
    """Save the trained model, without its auxiliary heads and optimizer, as ``final.keras``; return its path."""
    from keras_classics.training.callbacks import inference_model  # callbacks imports Keras

    path = os.path.join(run_dir, "final.keras")
    save_model(inference_model(model), path)
    return path


def write_metrics(run_dir, metrics):
    """Write ``metrics.json``."""
    write_json_atomic(os.path.join(run_dir, "metrics.json"), metrics)
