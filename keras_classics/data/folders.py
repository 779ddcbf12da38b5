"""Folders of images as a source: one sub-folder per class, listed, checked, split and decoded file by file."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_classics.data.base import Source, SplitListing, indexed_dataset, unknown_name
from keras_classics.images import (
    IMAGE_SUFFIXES,
    decode_rgb,
    file_id,
    listed_file_bytes,
    pil_rgb,
    tensorflow_decodes,
    walk_images,
)

log = logging.getLogger("keras_classics.data")

IMAGE_EXTENSIONS = IMAGE_SUFFIXES  # data's public name for the package's one list (keras_classics.images)
VALIDATE_MODES = ("full", "header")

#: Images whose shorter side is below this many pixels are used, with a warning.
MIN_IMAGE_SIDE = 8


def _folder_path(spec: str, what: str) -> Path:
    raw = spec[len("folder:"):] if spec.startswith("folder:") else spec
    if not raw:
        raise ValueError(f"The {what} folder is empty: write folder:/path/to/images.")
    path = Path(raw).expanduser()
    if not path.exists():
        raise ValueError(f"The {what} folder {str(path)!r} does not exist.")
    if not path.is_dir():
        raise ValueError(f"The {what} folder {str(path)!r} is a file, not a directory of class sub-folders.")
    return path


def _list_images(folder: Path) -> tuple[dict[str, list[str]], int, list[str]]:
    """Class name -> image paths; count of files that are not images; sub-folders without images.

    Files at the top level (beside the class sub-folders) are counted among the
    ignored files. Symbolic links are followed once per real directory (see
    :func:`keras_classics.images.walk_images`); what was skipped is logged as a warning.
    """
    classes, ignored, empty = {}, 0, []
    root_stat = os.stat(folder)
    seen, skipped = {(root_stat.st_dev, root_stat.st_ino)}, []
    top = sorted(os.scandir(folder), key=lambda e: e.name)
    class_dirs, loose = [], []
    for entry in top:
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            loose.append(entry.name)
            continue
        key = file_id(entry)
        if key in seen:
            skipped.append(f"{entry.path} -> {os.path.realpath(entry.path)} (already read)")
            continue
        seen.add(key)
        class_dirs.append(entry)
    for entry in class_dirs:
        files, n = walk_images(entry.path, seen, skipped)
        ignored += n
        if files:
            classes[entry.name] = files
        else:
            empty.append(entry.name)
    if loose:
        ignored += len(loose)
        log.warning("Ignoring %d file(s) at the top level of %s (expected only class sub-folders, images in "
                    "%s/<class name>/): %s%s", len(loose), folder, folder, ", ".join(loose[:5]),
                    " ..." if len(loose) > 5 else "")
    if skipped:
        log.warning(
            "Skipped %d symbolic link(s) or folder(s) under %s that lead to a folder or file already read (a link "
            "loop or a second path to the same images) or to nothing: %s%s", len(skipped), folder,
            "; ".join(skipped[:5]), " ..." if len(skipped) > 5 else "",
        )
    return classes, ignored, empty


def _check_image(path: str, full: bool) -> tuple[bool, str, int, int]:
    """(needs PIL to decode, "", shorter side in pixels, size in bytes) for a readable image,
    else (False, reason, 0, 0)."""
    from PIL import Image

    try:
        size = os.stat(path).st_size
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                fmt, mode, side = im.format, im.mode, min(im.size)
                if full:
                    if fmt in ("JPEG", "MPO"):
                        im.draft(None, (max(1, im.width // 8), max(1, im.height // 8)))
                    im.load()
    except Exception as e:  # noqa: BLE001 - every unreadable file is skipped, whatever the cause
        return False, f"{type(e).__name__}: {e}", 0, 0
    return not tensorflow_decodes(fmt, mode), "", side, size


def _decode_bytes(data, use_pil):
    def with_pil():
        image = tf.numpy_function(pil_rgb, [data], tf.uint8, stateful=False)
        return tf.ensure_shape(image, [None, None, 3])

    return tf.cond(use_pil, with_pil, lambda: decode_rgb(data))


class _ReadLog:
    """The files a dataset skipped while reading them (deleted, unreadable or changed after they were
    listed): each reported once, in a warning, and kept in ``skipped`` (path -> reason)."""

    def __init__(self, skipped: dict):
        self.skipped = skipped

    def read(self, path, listed_size) -> np.ndarray:
        data, reason = listed_file_bytes(path, listed_size)  # the package's one rule (keras_classics.images)
        if reason:
            name = os.fsdecode(path)
            if name not in self.skipped:
                self.skipped[name] = reason
                log.warning("Skipped an image while reading the dataset: %s", reason)
        return np.array(data, dtype=object)


def _files_dataset(paths: list[str], labels: list[int], use_pil: list[bool], sizes: list[int],
                   skipped: dict, checked: bool) -> tf.data.Dataset:
    """Element ``i``: file ``paths[i]`` decoded, and its label; a file that changed after it was listed is
    skipped (and recorded in ``skipped``), as are files that fail to decode."""
    paths_t = tf.constant(paths, tf.string)
    labels_t = tf.constant(labels, tf.int64)
    pil_t = tf.constant(use_pil, tf.bool)
    sizes_t = tf.constant(sizes, tf.int64)
    reader = _ReadLog(skipped)

    def fetch(i):
        data = tf.numpy_function(reader.read, [tf.gather(paths_t, i), tf.gather(sizes_t, i)], tf.string,
                                 stateful=True)
        data = tf.ensure_shape(data, [])
        # No bytes: the file was skipped (reported above); the failed element is dropped by the dataset.
        present = tf.debugging.assert_positive(tf.strings.length(data), message=(
            "An image file changed or vanished after it was listed (the warning above names it). A sharded "
            "(multi-worker) run stops there, since every worker must read as many images as the others; "
            "restore or remove the file, then resume the run."))
        with tf.control_dependencies([present]):
            data = tf.identity(data)
        if not any(use_pil):  # every file decodes with TensorFlow: no branch per image
            return decode_rgb(data), tf.gather(labels_t, i)
        return _decode_bytes(data, tf.gather(pil_t, i)), tf.gather(labels_t, i)

    return indexed_dataset(len(paths), fetch, may_fail=True, checked=checked)


def _validate_files(paths: list[str], full: bool, verbose: bool) -> list[tuple[bool, str, int, int]]:
    workers = min(32, 2 * (os.cpu_count() or 1))
    bar = None
    if verbose and len(paths) >= 2000:
        import keras

        print(f"Checking {len(paths):,} image files ({'decoding' if full else 'headers'})...")
        bar = keras.utils.Progbar(len(paths), unit_name="file")
    results = []
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for r in pool.map(lambda p: _check_image(p, full), paths):
            results.append(r)
            if bar is not None and len(results) % 500 == 0:
                bar.update(len(results))
    if bar is not None:
        bar.update(len(results), finalize=True)
    return results


def _check_val_fraction(val_fraction):
    if not isinstance(val_fraction, (int, float)) or not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be a number in [0, 1), received {val_fraction!r}.")


def _folder_files(spec, val):
    """``(root, class names, training files, validation files or None, ignored count, empty class folders)``:
    the folders listed, each file a ``(path, label)``; no file opened."""
    root = _folder_path(spec, "dataset")
    classes, ignored, empty = _list_images(root)
    if not classes:
        loose = sum(1 for f in os.listdir(root) if f.lower().endswith(IMAGE_SUFFIXES))
        subdirs = sum(1 for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
        raise ValueError(
            f"The dataset folder {str(root)!r} has no class sub-folders with images (found {subdirs} "
            f"sub-folder(s) without images and {loose} image file(s) at its top level). Expected "
            f"{root}/<class name>/<images> with extensions {', '.join(IMAGE_SUFFIXES)}."
        )
    if len(classes) == 1:
        (only,) = classes
        raise ValueError(
            f"The dataset folder {str(root)!r} has a single class sub-folder with images ({only!r}, "
            f"{len(classes[only])} files); a classification dataset needs at least 2 classes."
        )
    if empty:
        log.warning("Ignoring %d sub-folder(s) of %s without images: %s", len(empty), root, ", ".join(empty[:10]))
    class_names = list(classes)
    index = {c: i for i, c in enumerate(class_names)}

    val_files = None
    if val is not None:
        val_root = _folder_path(val, "validation")
        val_classes, val_ignored, _ = _list_images(val_root)
        unknown = sorted(set(val_classes) - set(classes))
        if unknown:
            raise ValueError(
                f"The validation folder {str(val_root)!r} has class(es) not in {str(root)!r}: "
                f"{', '.join(unknown[:10])}. Training classes: {', '.join(class_names[:20])}."
            )
        if not val_classes:
            raise ValueError(f"The validation folder {str(val_root)!r} has no class sub-folders with images.")
        ignored += val_ignored
        val_files = [(p, index[c]) for c, ps in val_classes.items() for p in ps]
    train_files = [(p, index[c]) for c, ps in classes.items() for p in ps]
    return root, class_names, train_files, val_files, ignored, empty


def folder_listing(spec, val, val_fraction, seed) -> dict:
    _check_val_fraction(val_fraction)
    root, class_names, train_files, val_files, _, _ = _folder_files(spec, val)
    if val_files is None and val_fraction > 0:
        train_files, val_files = _split(train_files, len(class_names), val_fraction, seed)

    def listing(split, files):
        return SplitListing(f"folder:{root}", split, len(files), files=[p for p, _ in files]) if files else None

    return {"train": listing("train", train_files), "validation": listing("validation", val_files)}


def folder_source(spec, val, val_fraction, seed, validate, verbose) -> Source:
    if validate not in VALIDATE_MODES:
        raise unknown_name("validate mode", str(validate), VALIDATE_MODES)
    _check_val_fraction(val_fraction)
    root, class_names, train_files, val_files, ignored, empty = _folder_files(spec, val)

    # Check every file once (in parallel) and keep the readable ones.
    every = train_files + (val_files or [])
    checks = _validate_files([p for p, _ in every], validate == "full", verbose)
    errors = {p: reason for (p, _), (_, reason, _, _) in zip(every, checks) if reason}
    needs_pil = {p: pil for (p, _), (pil, reason, _, _) in zip(every, checks) if not reason}
    sizes = {p: size for (p, _), (_, reason, _, size) in zip(every, checks) if not reason}
    tiny = [p for (p, _), (_, reason, side, _) in zip(every, checks) if not reason and side < MIN_IMAGE_SIDE]
    if tiny:
        log.warning("%d image(s) under %s are smaller than %d pixels on a side (they are resized up to the model's "
                    "input, a few flat patches of colour): %s%s", len(tiny), root, MIN_IMAGE_SIDE,
                    ", ".join(tiny[:5]), " ..." if len(tiny) > 5 else "")
    if len(errors) == len(every):
        raise ValueError(f"None of the {len(every)} image files under {str(root)!r} could be read; first error: {next(iter(errors.values()))}")
    if errors and verbose:
        shown = "; ".join(f"{p} ({r})" for p, r in list(errors.items())[:5])
        log.warning("Skipped %d unreadable image file(s): %s%s", len(errors), shown, " ..." if len(errors) > 5 else "")
    train_files = [(p, y) for p, y in train_files if p in needs_pil]
    if val_files is not None:
        val_files = [(p, y) for p, y in val_files if p in needs_pil]
    elif val_fraction > 0:
        train_files, val_files = _split(train_files, len(class_names), val_fraction, seed)

    skipped_while_reading = {}  # files that change under the running job: filled as they are read

    def dataset(files):
        return _files_dataset([p for p, _ in files], [y for _, y in files], [needs_pil[p] for p, _ in files],
                              [sizes[p] for p, _ in files], skipped_while_reading, validate == "full")

    per_class = np.bincount([y for _, y in train_files], minlength=len(class_names))
    for c in np.flatnonzero(per_class == 0):
        log.warning("Class %r has no readable training image in %s.", class_names[c], root)
    stats = {
        "skipped": len(errors),
        "skipped_files": list(errors),
        "errors": errors,
        "ignored_files": ignored,
        "ignored_folders": empty,
        "decoded_with_pil": sum(needs_pil.values()),
        "train_per_class": per_class.tolist(),
        "validate": validate,
        "skipped_while_reading": skipped_while_reading,
    }
    return Source(
        name=f"folder:{root}",
        class_names=class_names,
        train=dataset(train_files),
        validation=dataset(val_files) if val_files else None,
        num_train=len(train_files),
        num_val=len(val_files) if val_files else None,
        stats=stats,
    )


def _split(files, num_classes, fraction, seed):
    """Hold out ``fraction`` of each class (at least one image of classes with two or more)."""
    by_class = [[] for _ in range(num_classes)]
    for f in files:
        by_class[f[1]].append(f)
    train, val = [], []
    for c, members in enumerate(by_class):
        k = int(round(fraction * len(members)))
        k = min(max(k, 1), len(members) - 1) if len(members) >= 2 else 0
        held = np.zeros(len(members), bool)
        held[np.random.default_rng([seed, c]).permutation(len(members))[:k]] = True
        train += [f for f, h in zip(members, held) if not h]
        val += [f for f, h in zip(members, held) if h]
    return train, val
