"""Atomic file writes: every file the package writes goes to a temporary name beside it, then is renamed.

A reader (or a run killed mid-write) sees the old file or the new one, never a
part. The temporary file is hidden (its name starts with ``.``), lives in the
destination's folder (so the rename stays on one file system), gets the usual
permissions (``0o666`` less the umask) and is removed when the write fails, or
by the interrupt rule (:mod:`keras_classics._interrupts`) when a signal has to end
the process; after a Ctrl-C nothing more is renamed into place.

Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid

from keras_classics._interrupts import forget_temporary, raise_if_interrupted, register_temporary

__all__ = ["atomic_path", "check_name_length", "write_text_atomic", "write_json_atomic"]


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """A temporary path beside ``path``; renamed onto ``path`` when the block ends without an exception.

    The block writes the temporary file (by its name: ``model.save(tmp)``,
    ``np.savez(tmp, …)``); its bytes are flushed to disk, then it replaces
    ``path``. An exception in the block, or a failed rename, removes it and
    leaves ``path`` as it was.

    Args:
        path: the destination file.
        suffix: the temporary name's ending, for writers that choose a format by
            it (``".keras"``, ``".weights.h5"``).

    Example:
        >>> with atomic_path("runs/x/final.keras", suffix=".keras") as tmp:
        ...     model.save(tmp)
    """
    path = check_name_length(path)
    folder, base = os.path.split(os.path.abspath(path))
    tag = f".{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}"
    room = _name_max(folder) - len(os.fsencode(tag)) - 1
    stem = os.fsencode(base)[:max(room, 1)].decode("utf-8", "ignore")  # a name near the limit: a shorter temp name
    tmp = os.path.join(folder, f".{stem}{tag}")
    register_temporary(tmp)  # removed by the interrupt rule if a signal must end the process first
    try:
        yield tmp
        _fsync(tmp)
        raise_if_interrupted()  # a Ctrl-C that native code swallowed: nothing is committed after it
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)
        forget_temporary(tmp)


def _name_max(folder) -> int:
    """The longest file name, in bytes, that the file system holding ``folder`` takes (255 where it cannot say)."""
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        return int(os.pathconf(folder or ".", "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or a name it does not know
        return 255


def check_name_length(path) -> str:
    """``path`` (as a string) when every name in it fits the file system; checked before anything is written.

    Raises:
        ValueError: a file or folder name longer than the file system allows (naming it and the limit).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    limit = _name_max(folder)
    for name in path.replace(os.sep, "/").split("/"):
        size = len(os.fsencode(name))
        if size > limit:
            shown = name if len(name) <= 60 else f"{name[:40]}…{name[-12:]}"
            raise ValueError(
                f"The name {shown!r} in {'the path' if name != os.path.basename(path) else 'the destination'} is "
                f"{size} bytes long; this file system takes names of at most {limit} bytes. Accepted: a shorter "
                "name. Nothing was written."
            )
    return path


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path, text: str, newline: str | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename; a failed write leaves nothing.

    ``newline=""`` writes line endings as they are in ``text`` (CSV files).
    """
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)


def write_json_atomic(path, data, default=None) -> None:
    """Write ``data`` as indented JSON (and a final newline) to ``path`` through a temporary file and a rename.

    ``default``: as in :func:`json.dumps`, for values JSON does not know.
    """
    write_text_atomic(path, json.dumps(data, indent=2, default=default) + "\n")
