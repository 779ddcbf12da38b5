"""Run-directory rules: which model file a run directory means, what its files say, and its lock.

A training run directory holds the run's model files (``best.keras``,
``final.keras``), its ``config.json`` and ``metrics.json``. One rule says which
model file a run directory means (:func:`resolve_model_file`: ``best.keras``,
else ``final.keras``), for every command that takes one; :func:`keras_classics.predict.run_metadata`
reads what is known about a model file from its own metadata and its run's
files.

A run holds ``RUN_DIR/run.lock`` while it writes there. The lock file is
created with ``O_CREAT | O_EXCL``, so of two processes started together with
the same ``--run-dir`` exactly one gets it; the other is refused before it
writes anything. The lock records the process id, the host name and the start
time. A lock whose process is gone is stale: on the same host (where the
process id can be checked) it is taken over with a note; a lock written on
another host is reported with the way to clear it, since only that host can
tell whether its run is still going.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket


__all__ = ["RUN_MODEL_FILES", "resolve_model_file", "is_run_dir", "LOCK_FILENAME", "RunDirInUse",
           "claim", "release", "is_stale", "writes_run_dir", "new_run_dir"]

#: The model files a training run directory holds, in the order a run directory is read.
RUN_MODEL_FILES = ("best.keras", "final.keras")


# --------------------------------------------------------------------------- model files


def resolve_model_file(path) -> str:
    """The ``.keras`` file that ``path`` means: the file itself, or a run directory's model.

    One rule for every command that takes a run directory (predict, export,
    summary, visualize, ``--init-from``): its ``best.keras`` (the best
    validation epoch), else its ``final.keras``.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: a directory without either file, or a file that is not a ``.keras`` file.
    """
    path = os.path.expanduser(os.fspath(path))
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model not found: {path!r}")
    if os.path.isdir(path):
        for name in RUN_MODEL_FILES:
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise ValueError(
            f"{path!r} is a directory without {' or '.join(RUN_MODEL_FILES)}. Expected a .keras file or a "
            "training run directory."
        )
    if not path.endswith(".keras"):
        raise ValueError(f"Expected a .keras model file or a training run directory, received {path!r}.")
    return path


def is_run_dir(path) -> bool:
    """Whether ``path`` is a directory holding a run's model file (see :func:`resolve_model_file`)."""
    path = os.fspath(path)
    return os.path.isdir(path) and any(os.path.isfile(os.path.join(path, n)) for n in RUN_MODEL_FILES)


# --------------------------------------------------------------------------- the lock

LOCK_FILENAME = "run.lock"


class RunDirInUse(FileExistsError):
    """Another training process holds the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _read_lock(path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # being written, or unreadable: treated as held


def is_stale(run_dir: str) -> bool:
    """Whether ``run_dir``'s lock names a process of this host that is gone (a killed run)."""
    holder = _read_lock(os.path.join(run_dir, LOCK_FILENAME))
    pid = holder.get("pid")
    return (holder.get("host") == socket.gethostname() and isinstance(pid, int) and pid != os.getpid()
            and not _alive(pid))


def claim(run_dir: str, note=print) -> str:
    """Create ``run_dir/run.lock`` for this process; return its path.

    Raises:
        RunDirInUse: another live process holds the directory, or a process on
            another host did (the message says how to clear a stale lock).
    """
    path = os.path.join(run_dir, LOCK_FILENAME)
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": datetime.datetime.now().isoformat(timespec="seconds")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            pid, host = holder.get("pid"), holder.get("host")
            who = f"process {pid} on {host}, started {holder.get('started', '?')}" if pid else "another process"
            if host == record["host"] and isinstance(pid, int) and pid != record["pid"] and not _alive(pid):
                # Stale: its process is gone. Move it aside atomically (one process wins) and retry.
                aside = f"{path}.stale-{record['pid']}"
                try:
                    os.rename(path, aside)
                except FileNotFoundError:
                    continue
                if _read_lock(aside) != holder:  # another process took it over first: give its lock back
                    try:
                        os.link(aside, path)
                    except FileExistsError:
                        pass
                    os.remove(aside)
                    continue
                os.remove(aside)
                note(f"Note: {run_dir} was locked by {who}, which is no longer running (the run was killed); "
                     "the lock is taken over.")
                continue
            if host and host != record["host"]:
                raise RunDirInUse(
                    f"The run directory {run_dir!r} is in use by {who}. If that run is no longer going (this "
                    f"host cannot check), delete {path} and run the command again."
                ) from None
            raise RunDirInUse(
                f"The run directory {run_dir!r} is in use by {who}: two runs cannot share one directory. Wait "
                f"for it to finish, stop it, or choose another --run-dir."
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record, f)
        return path
    raise RunDirInUse(f"Could not claim the run directory {run_dir!r}: its lock {path} keeps changing.")


def release(lock_path: str | None) -> None:
    """Remove the lock if this process holds it."""
    if not lock_path:
        return
    if _read_lock(lock_path).get("pid") == os.getpid():
        try:
            os.remove(lock_path)
        except FileNotFoundError:
            pass


def writes_run_dir(strategy_name: str, tf_config: str | None = None) -> bool:
    """Whether this process writes (and so claims) the run directory.

    Every process but the multi-worker ones does; among those, the chief, or
    worker 0 of a cluster without a chief (read from ``TF_CONFIG``, as
    :func:`keras_classics.training.strategy.is_chief` decides once TensorFlow
    has built the strategy).
    """
    if strategy_name != "multiworker":
        return True
    raw = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    try:
        spec = json.loads(raw) if raw else {}
        kind, index = spec["task"]["type"], int(spec["task"]["index"])
    except (ValueError, KeyError, TypeError):
        return True  # no cluster (one worker), or a malformed TF_CONFIG that make_strategy reports
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in spec.get("cluster", {}))


def new_run_dir(base: str) -> str:
    """Create and return ``base``, else ``base-2``, ``base-3``, …: the first name no other run took."""
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    path, n = base, 1
    while True:
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            n += 1
            path = f"{base}-{n}"
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EROFS):
                raise PermissionError(f"Cannot create the run directory {path!r}: {e.strerror}") from None
            raise
