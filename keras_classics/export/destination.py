"""Where an export goes: refuse what it may not replace, build it beside its destination, rename it into place.

An export is built under a temporary name beside its destination and renamed at
the end, so a failed export never leaves a half-written one; an existing
destination is replaced only with ``overwrite`` and only when it is this
package's own export of the same kind.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from keras_classics import metadata
from keras_classics._interrupts import raise_if_interrupted, register_temporary
from keras_classics import predict as _predict
from keras_classics.export.card import read_card

__all__ = ["scratch_dir", "check_destination", "commit", "tflite_paths"]


def scratch_dir(dest) -> str:
    """A temporary directory beside ``dest``, where the export is built before it is renamed into place."""
    parent = os.path.dirname(dest)
    try:
        os.makedirs(parent, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=parent)
    except OSError as e:
        raise PermissionError(
            f"Cannot write {dest!r}: {parent!r} does not accept new files ({e.strerror or e}). Choose an output "
            "in a writable directory."
        ) from None
    register_temporary(scratch)  # removed by the interrupt rule if a signal must end the process first
    return scratch


def _describe(path) -> str:
    """What ``path`` is, in words, for a refusal."""
    if os.path.islink(path):
        return f"a symbolic link to {os.readlink(path)!r}"
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")) or os.path.isdir(os.path.join(path, "checkpoints")):
            return "a training run directory"
        card = read_card(os.path.join(path, metadata.CARD_FILENAME))
        if card is not None:
            return f"a {card.get('format')} export directory"
        return f"a directory with {len(os.listdir(path))} entries and no model card"
    if path.endswith(".keras"):
        return "a .keras model file"
    card = read_card(path)
    if card is not None:
        return f"the model card of a {card.get('format')} export"
    return f"a file of {os.path.getsize(path):,} bytes that is not an export of this package"


def _own_output(path, kind) -> bool:
    """Whether ``path`` is this package's own export of ``kind`` (what ``overwrite`` may replace).

    ``kind``: ``"savedmodel"`` or ``"tflite"`` (export directories, identified by
    their model card), ``"tflite_file"`` (a TFLite flatbuffer whose card lies
    beside it) or ``"card"`` (a TFLite file's ``NAME.card.json``).
    """
    if os.path.islink(path):
        return False
    if kind in ("savedmodel", "tflite"):
        card = read_card(os.path.join(path, metadata.CARD_FILENAME)) if os.path.isdir(path) else None
        inner = "saved_model.pb" if kind == "savedmodel" else _predict.TFLITE_FILENAME
        return bool(card) and card.get("format") == kind and os.path.isfile(os.path.join(path, inner))
    if not os.path.isfile(path):
        return False
    if kind == "card":
        return (read_card(path) or {}).get("format") == "tflite"
    with open(path, "rb") as f:
        magic = f.read(8)[4:]
    card = read_card(os.path.splitext(path)[0] + ".card.json")
    return magic == b"TFL3" and (card or {}).get("format") == "tflite"


def check_destination(targets, overwrite):
    """Refuse a destination that cannot be written: ``targets`` is a list of ``(path, kind)``.

    An existing path is replaced only with ``overwrite`` and only when it is this
    package's own export of the same kind: a run directory, a dataset, a model
    file or an export of another format is never replaced.
    """
    for p, kind in targets:
        probe = os.path.dirname(p)
        while probe and not os.path.lexists(probe):
            probe = os.path.dirname(probe) if os.path.dirname(probe) != probe else ""
        if probe and not os.path.isdir(probe):
            raise NotADirectoryError(
                f"Cannot write {p!r}: {probe!r} is a file, not a directory. Choose an output whose parent "
                "folders are directories (or do not exist yet)."
            )
        if not os.path.lexists(p):
            continue
        what = kind.replace("_file", " file").replace("card", "TFLite model card")
        if not _own_output(p, kind):
            raise FileExistsError(
                f"{p!r} already exists and is {_describe(p)}, not a {what} export written by keras_classics. "
                "An export replaces only this package's own exports of the same kind, even with overwrite "
                "(CLI: --overwrite): choose another output."
            )
        if not overwrite:
            raise FileExistsError(f"{p!r} already exists. Choose another output or pass overwrite=True "
                                  "(CLI: --overwrite).")


def commit(pairs, scratch):
    """Rename each ``(src, dst)`` into place; existing ``dst`` are moved into ``scratch`` first
    and restored if a rename fails."""
    raise_if_interrupted()  # a Ctrl-C that native code (the converter) swallowed: nothing is committed
    moved, placed = [], []
    try:
        for i, (src, dst) in enumerate(pairs):
            if os.path.lexists(dst):
                aside = os.path.join(scratch, f"previous-{i}")
                os.rename(dst, aside)
                moved.append((aside, dst))
            os.rename(src, dst)
            placed.append(dst)
    except OSError:
        for dst in placed:
            if os.path.isdir(dst):
                shutil.rmtree(dst, ignore_errors=True)
            else:
                os.remove(dst)
        for aside, dst in moved:
            os.rename(aside, dst)
        raise


def tflite_paths(dest):
    """``(tflite_file, card_file)`` for a ``.tflite`` path or an export directory."""
    if dest.endswith(".tflite"):
        return dest, os.path.splitext(dest)[0] + ".card.json"
    return os.path.join(dest, _predict.TFLITE_FILENAME), os.path.join(dest, metadata.CARD_FILENAME)
