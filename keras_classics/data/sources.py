"""Data sources: the generated shapes set, folders of images, TFDS datasets.

:func:`get_source` turns a name into a :class:`Source`: class names and two
``tf.data`` datasets (train, validation) of ``(image, label)`` pairs, where
``image`` is uint8 ``[H, W, 3]`` (sizes may vary from image to image) and
``label`` an int64 scalar. The datasets are unbatched, unshuffled and always in
the same order; :func:`keras_classics.data.make_pipeline` shuffles, augments
and batches them.

Names:

* ``"shapes"``: the generated dataset of :mod:`keras_classics.data.shapes`.
* ``"folder:PATH"`` (or an existing directory): one sub-folder per class.
* ``"tfds:NAME"``: a TensorFlow Datasets image-classification dataset.

Example:
    >>> src = get_source("shapes", image_size=32, num_train=200, num_val=50)
    >>> src.num_classes, src.num_train, src.num_val
    (10, 200, 50)
"""

from __future__ import annotations

import concurrent.futures
import difflib
import inspect
import logging
import numbers
import os
import warnings
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from keras_classics.data import shapes as _shapes
from keras_classics.images import IMAGE_SUFFIXES, decode_rgb, file_id, pil_rgb, tensorflow_decodes, walk_images

log = logging.getLogger("keras_classics.data")

SOURCE_KINDS = ("shapes", "folder:", "tfds:")

DEFAULT_SHAPES_TRAIN = 10_000
DEFAULT_SHAPES_VAL = 1_000

IMAGE_EXTENSIONS = IMAGE_SUFFIXES  # data's public name for the package's one list (keras_classics.images)
VALIDATE_MODES = ("full", "header")

#: Images whose shorter side is below this many pixels are used, with a warning.
MIN_IMAGE_SIDE = 8


@dataclass
class Source:
    """A classification dataset: class names and unbatched train/validation splits.

    Attributes:
        name: the name it was loaded from (``"shapes"``, ``"folder:/data/train"``, ``"tfds:cifar10"``).
        class_names: label ``i`` is ``class_names[i]``.
        train: ``tf.data.Dataset`` of ``(image uint8 [H, W, 3], label int64 [])``, in a fixed order.
        validation: the same for validation, or None when there is no validation split.
        num_train: number of training examples.
        num_val: number of validation examples, or None.
        stats: what loading found, e.g. ``{"skipped": 2, "skipped_files": [...]}`` for folders.
    """

    name: str
    class_names: list[str]
    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    num_train: int
    num_val: int | None
    stats: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        val = "none" if self.num_val is None else f"{self.num_val:,}"
        return (
            f"Source({self.name!r}: {self.num_classes} classes, {self.num_train:,} train, {val} validation"
            + (f", {self.stats['skipped']} skipped" if self.stats.get("skipped") else "")
            + ")"
        )


# --------------------------------------------------------------------------- lazy access
# make_pipeline shuffles *before* decoding when it knows how a dataset was built:
# for datasets made here, a side table records either an indexed form (element i
# from a graph function, so an epoch is a permutation of indices) or a stream of
# small encoded records plus the decoder. Datasets from elsewhere are shuffled
# after decoding, with a buffer.


@dataclass(frozen=True)
class _Indexed:
    size: int
    fetch: Callable  # int64 index tensor -> (image uint8 [H, W, 3], label int64)
    may_fail: bool = False  # decoding can fail: skip failing elements


@dataclass(frozen=True)
class _Stream:
    records: tf.data.Dataset  # small encoded records
    decode: Callable  # record -> (image, label)
    size: int | None = None


_LAZY: "weakref.WeakKeyDictionary[tf.data.Dataset, _Indexed | _Stream]" = weakref.WeakKeyDictionary()


def lazy_form(dataset: tf.data.Dataset):
    """How ``dataset`` can be read before decoding (an ``_Indexed`` or ``_Stream``), or None."""
    try:
        return _LAZY.get(dataset)
    except TypeError:
        return None


def _indexed_dataset(size: int, fetch: Callable, may_fail: bool = False) -> tf.data.Dataset:
    ds = tf.data.Dataset.range(size).map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if may_fail:
        ds = ds.ignore_errors(log_warning=True)
    else:
        ds = ds.apply(tf.data.experimental.assert_cardinality(size))
    _LAZY[ds] = _Indexed(size, fetch, may_fail)
    return ds


def _stream_dataset(records: tf.data.Dataset, decode: Callable, size: int | None) -> tf.data.Dataset:
    ds = records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if size is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(size))
    _LAZY[ds] = _Stream(records, decode, size)
    return ds


# --------------------------------------------------------------------------- get_source


def _unknown(kind: str, name: str, accepted) -> ValueError:
    close = difflib.get_close_matches(name, list(accepted), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Accepted: {', '.join(accepted)}.")


def get_source(
    name: str,
    *,
    image_size: int | None = None,
    seed: int = 0,
    num_train: int | None = None,
    num_val: int | None = None,
    val: str | None = None,
    val_fraction: float = 0.1,
    data_dir: str | os.PathLike | None = None,
    train_split: str = "train",
    download: bool = True,
    validate: str = "full",
    cache: bool = True,
    verbose: bool = True,
) -> Source:
    """Load a classification dataset by name.

    Args:
        name: ``"shapes"``, ``"folder:PATH"`` (a bare existing directory also
            works) or ``"tfds:NAME"`` (TFDS name, optionally ``NAME/CONFIG:VERSION``).
        image_size: shapes only: side of the generated images (default 64).
            Other sources keep their images' own sizes (the pipeline resizes),
            so it is accepted and ignored there.
        seed: shapes: the generation seed; folders: the seed of the
            train/validation split. Ignored by TFDS.
        num_train, num_val: shapes only: split sizes (default 10,000 and 1,000).
        val: folders: a second folder (``"folder:PATH"`` or a path) for
            validation; TFDS: the validation split (default ``"validation"``,
            else ``"test"``, else none). Not for shapes.
        val_fraction: folders without ``val``: the fraction of each class held
            out for validation (0 for none), chosen with ``seed``.
        data_dir: TFDS only: where prepared datasets live (``~/tensorflow_datasets``
            by default); manually downloaded ones such as ``imagenet2012`` need it.
        train_split: TFDS only: the training split, e.g. ``"train[:90%]"``.
        download: TFDS only: download and prepare a dataset that is not prepared
            yet (False: raise, saying how to prepare it).
        validate: folders only: ``"full"`` decodes every file once with PIL
            before training (JPEGs at 1/8 scale), so unreadable files are
            skipped and counted up front; ``"header"`` only opens each file and
            drops files that fail to decode later, with a logged warning.
        cache: shapes only: keep rendered images in the cache folder.
        verbose: progress bars for long work, and warnings about skipped files.

    Returns:
        A :class:`Source`.

    Raises:
        ValueError: unknown names, options that do not apply to the source,
            folders that are missing, empty or have a single class.
        FileNotFoundError: a TFDS dataset that is not prepared (with ``download=False``
            or when downloading fails), with the steps to prepare it.

    Example:
        >>> src = get_source("shapes", image_size=32, num_train=100, num_val=20)
        >>> src.class_names[:3]
        ['circle', 'square', 'triangle']
    """
    kind, arg, seed = _kind(name, seed, val=val, data_dir=data_dir, train_split=train_split, num_train=num_train,
                            num_val=num_val)
    if kind == "shapes":
        return _shapes_source(image_size or 64, seed, num_train, num_val, cache)
    if kind == "folder":
        return _folder_source(arg, val, val_fraction, seed, validate, verbose)
    return _tfds_source(arg, data_dir, val, train_split, download)


def _kind(name, seed, *, val, data_dir, train_split, num_train, num_val) -> tuple[str, str, int]:
    """``(kind, argument, seed)`` of a dataset name (``("folder", "/data", 0)``), the options checked against it."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"A dataset name must be a non-empty string, received {name!r}. Accepted: {', '.join(SOURCE_KINDS)}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, received {seed!r}.")
    seed = int(seed)
    kind, sep, arg = name.partition(":")
    if not sep and kind != "shapes" and Path(name).expanduser().is_dir():
        kind, sep, arg = "folder", ":", name

    def only_for(allowed: str, **given):
        for key, (value, default) in given.items():
            if value != default:
                raise ValueError(f"{key}={value!r} applies only to {allowed} sources, not to {name!r}.")

    if kind == "shapes" and not sep:
        only_for("folder: and tfds:", val=(val, None))
        only_for("tfds:", data_dir=(data_dir, None), train_split=(train_split, "train"))
        return kind, "", seed
    if kind == "folder" and sep:
        only_for("shapes", num_train=(num_train, None), num_val=(num_val, None))
        only_for("tfds:", data_dir=(data_dir, None), train_split=(train_split, "train"))
        return kind, arg, seed
    if kind == "tfds" and sep:
        only_for("shapes", num_train=(num_train, None), num_val=(num_val, None))
        return kind, arg, seed
    error = _unknown("dataset", name, SOURCE_KINDS)
    if not sep and "/" not in name and not difflib.get_close_matches(name, SOURCE_KINDS, n=1, cutoff=0.5):
        import tensorflow_datasets as tfds

        close = difflib.get_close_matches(name.lower(), tfds.list_builders(with_community_datasets=False), n=3, cutoff=0.75)
        if close:
            error = ValueError(f"{error} For a TFDS dataset write {' or '.join('tfds:' + c for c in close)}.")
    raise error


# --------------------------------------------------------------------------- listing without reading


@dataclass(frozen=True)
class SplitListing:
    """One split of a source, listed without reading its images: a caller that needs a few reads just those.

    Attributes:
        name: the source's name (as :attr:`Source.name`).
        split: ``"train"`` or ``"validation"``.
        size: number of examples.
        files: folders: the split's image files, in the split's order (the caller reads them); else None.
        read: generated and TFDS sources: ``read(start, stop)`` decodes examples ``start`` to ``stop - 1``
            alone, uint8 ``[H, W, 3]`` images equal to the split's own; else None.
    """

    name: str
    split: str
    size: int
    files: list[str] | None = None
    read: Callable[[int, int], list] | None = None


def list_splits(name: str, **options) -> dict[str, SplitListing]:
    """The splits of :func:`get_source`'s source ``name``, listed without reading any image.

    A folder is listed and split as :func:`get_source` splits it, without
    opening a file: a file that cannot be read is found when it is read (where
    training skipped unreadable files before splitting, the split can differ).
    The generated images are rendered, and TFDS records decoded, only when read.

    Args:
        name, options: as :func:`get_source` (``validate``, ``cache`` and
            ``verbose`` do not apply).

    Returns:
        ``{"train": listing, "validation": listing}``; without a validation split, ``"train"`` alone.

    Raises:
        TypeError: an option :func:`get_source` does not take.
        ValueError, FileNotFoundError: as :func:`get_source`.
    """
    bound = inspect.signature(get_source).bind(name, **options)
    bound.apply_defaults()
    o = bound.arguments
    kind, arg, seed = _kind(name, o["seed"], val=o["val"], data_dir=o["data_dir"], train_split=o["train_split"],
                            num_train=o["num_train"], num_val=o["num_val"])
    if kind == "shapes":
        splits = _shapes_listing(o["image_size"] or 64, seed, o["num_train"], o["num_val"])
    elif kind == "folder":
        splits = _folder_listing(arg, o["val"], o["val_fraction"], seed)
    else:
        splits = _tfds_listing(arg, o["data_dir"], o["val"], o["train_split"], o["download"])
    return {split: listing for split, listing in splits.items() if listing is not None}


# --------------------------------------------------------------------------- shapes


def _shapes_sizes(image_size, num_train, num_val) -> tuple[int, int]:
    num_train = DEFAULT_SHAPES_TRAIN if num_train is None else num_train
    num_val = DEFAULT_SHAPES_VAL if num_val is None else num_val
    for key, value, minimum in (("num_train", num_train, 1), ("num_val", num_val, 0), ("image_size", image_size, 16)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{key} must be an integer >= {minimum} for the shapes dataset, received {value!r}.")
    return num_train, num_val


def _shapes_source(image_size, seed, num_train, num_val, cache) -> Source:
    num_train, num_val = _shapes_sizes(image_size, num_train, num_val)
    splits = {}
    for split, n in (("train", num_train), ("validation", num_val)):
        if n == 0 and split == "validation":
            splits[split] = None
            continue
        images, labels = _shapes.load_shapes(n, image_size, seed, split=split, cache=cache)
        splits[split] = _array_dataset(images, labels)
    return Source(
        name="shapes",
        class_names=list(_shapes.SHAPE_CLASSES),
        train=splits["train"],
        validation=splits["validation"],
        num_train=num_train,
        num_val=num_val or None,
        stats={"image_size": image_size, "seed": seed, "generator_version": _shapes.GENERATOR_VERSION},
    )


def _shapes_listing(image_size, seed, num_train, num_val) -> dict:
    num_train, num_val = _shapes_sizes(image_size, num_train, num_val)

    def listing(split, n):
        def read(start, stop):
            start, stop = max(0, start), min(stop, n)
            return list(_shapes._images_at(n, image_size, seed, split, start, stop)) if start < stop else []

        return SplitListing("shapes", split, n, read=read) if n else None

    return {"train": listing("train", num_train), "validation": listing("validation", num_val)}


def _array_dataset(images: np.ndarray, labels: np.ndarray) -> tf.data.Dataset:
    images_t = tf.constant(images)
    labels_t = tf.constant(labels, tf.int64)

    def fetch(i):
        return tf.gather(images_t, i), tf.gather(labels_t, i)

    return _indexed_dataset(len(labels), fetch)


# --------------------------------------------------------------------------- folders


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


def _check_image(path: str, full: bool) -> tuple[bool, str, int]:
    """(needs PIL to decode, "", shorter side in pixels) for a readable image, else (False, reason, 0)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                fmt, mode, side = im.format, im.mode, min(im.size)
                if full:
                    if fmt in ("JPEG", "MPO"):
                        im.draft(None, (max(1, im.width // 8), max(1, im.height // 8)))
                    im.load()
    except Exception as e:  # noqa: BLE001 - every unreadable file is skipped, whatever the cause
        return False, f"{type(e).__name__}: {e}", 0
    return not tensorflow_decodes(fmt, mode), "", side


def _pil_rgb(path) -> np.ndarray:
    return pil_rgb(path.decode() if isinstance(path, bytes) else path)


def _decode_with_tf(path):
    return decode_rgb(tf.io.read_file(path))


def _decode_file(path, use_pil):
    def with_pil():
        image = tf.numpy_function(_pil_rgb, [path], tf.uint8, stateful=False)
        return tf.ensure_shape(image, [None, None, 3])

    return tf.cond(use_pil, with_pil, lambda: _decode_with_tf(path))


def _files_dataset(paths: list[str], labels: list[int], use_pil: list[bool], may_fail: bool) -> tf.data.Dataset:
    paths_t = tf.constant(paths, tf.string)
    labels_t = tf.constant(labels, tf.int64)
    pil_t = tf.constant(use_pil, tf.bool)

    def fetch(i):
        if not any(use_pil):  # every file decodes with TensorFlow: no branch per image
            return _decode_with_tf(tf.gather(paths_t, i)), tf.gather(labels_t, i)
        return _decode_file(tf.gather(paths_t, i), tf.gather(pil_t, i)), tf.gather(labels_t, i)

    return _indexed_dataset(len(paths), fetch, may_fail)


def _validate_files(paths: list[str], full: bool, verbose: bool) -> list[tuple[bool, str]]:
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


def _folder_listing(spec, val, val_fraction, seed) -> dict:
    _check_val_fraction(val_fraction)
    root, class_names, train_files, val_files, _, _ = _folder_files(spec, val)
    if val_files is None and val_fraction > 0:
        train_files, val_files = _split(train_files, len(class_names), val_fraction, seed)

    def listing(split, files):
        return SplitListing(f"folder:{root}", split, len(files), files=[p for p, _ in files]) if files else None

    return {"train": listing("train", train_files), "validation": listing("validation", val_files)}


def _folder_source(spec, val, val_fraction, seed, validate, verbose) -> Source:
    if validate not in VALIDATE_MODES:
        raise _unknown("validate mode", str(validate), VALIDATE_MODES)
    _check_val_fraction(val_fraction)
    root, class_names, train_files, val_files, ignored, empty = _folder_files(spec, val)

    # Check every file once (in parallel) and keep the readable ones.
    every = train_files + (val_files or [])
    checks = _validate_files([p for p, _ in every], validate == "full", verbose)
    errors = {p: reason for (p, _), (_, reason, _) in zip(every, checks) if reason}
    needs_pil = {p: pil for (p, _), (pil, reason, _) in zip(every, checks) if not reason}
    tiny = [p for (p, _), (_, reason, side) in zip(every, checks) if not reason and side < MIN_IMAGE_SIDE]
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

    may_fail = validate != "full"

    def dataset(files):
        return _files_dataset([p for p, _ in files], [y for _, y in files], [needs_pil[p] for p, _ in files], may_fail)

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


# --------------------------------------------------------------------------- TFDS


def _tfds_builder(name, data_dir, download):
    """``(builder, image key, label key)`` of a prepared TFDS dataset (prepared here when ``download``)."""
    import tensorflow_datasets as tfds

    if not name:
        raise ValueError("Write tfds:NAME, e.g. tfds:cifar10.")
    base = name.split("/")[0].split(":")[0]
    known = tfds.list_builders(with_community_datasets=False)
    if base not in known:
        close = difflib.get_close_matches(base, known, n=5, cutoff=0.6)
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise ValueError(f"Unknown TFDS dataset {base!r}.{hint} See tfds.list_builders() for all {len(known)} names.")
    data_dir = None if data_dir is None else os.fspath(Path(data_dir).expanduser())
    builder = tfds.builder(name, data_dir=data_dir)
    image_key, label_key = _tfds_keys(builder, name)

    if not builder.is_prepared():
        how = (
            f"Prepare it once with `tfds build {name}"
            + (f" --data_dir {data_dir}" if data_dir else "")
            + "` on a machine with internet access"
        )
        if builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
            how = (
                f"It needs a manual download: put its files in {builder.data_dir_root}/downloads/manual "
                f"(instructions: {' '.join(str(builder.MANUAL_DOWNLOAD_INSTRUCTIONS).split())[:300]}), then run "
                f"`tfds build {name} --data_dir {builder.data_dir_root}`"
            )
        if not download:
            raise FileNotFoundError(f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root}. {how}.")
        try:
            builder.download_and_prepare()
        except ImportError as e:  # a module tensorflow-datasets needs: `tfds build` would stop at it too
            module = getattr(e, "name", None) or str(e)
            raise ImportError(
                f"Preparing TFDS dataset {name!r} needs the Python module {module!r}, which is not installed "
                f"({type(e).__name__}: {e}). Install it (pip install {module.split('.')[0]}) or reinstall "
                "keras-classics with its dependencies, then run the same command again."
            ) from e
        except Exception as e:  # noqa: BLE001 - network, manual-download and disk errors alike
            raise FileNotFoundError(
                f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root} and preparing it failed "
                f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}). {how}."
            ) from e

    return builder, image_key, label_key


def _tfds_splits(builder, name, val, train_split):
    """``(validation split or None, training examples, validation examples or None)``, from the metadata."""
    splits = builder.info.splits
    if val is None:
        val = next((s for s in ("validation", "test") if s in splits), None)

    def split_size(split):
        try:
            return int(splits[split].num_examples)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"TFDS dataset {name!r} has no split {split!r}. Splits: {', '.join(splits)}.") from e

    return val, split_size(train_split), split_size(val) if val is not None else None


def _tfds_records(builder, split, image_key, label_key) -> tf.data.Dataset:
    """``(encoded image, label)`` records of a split, in order, nothing decoded."""
    import tensorflow_datasets as tfds

    records = builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders={image_key: tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(add_tfds_id=False),
    )
    return records.map(lambda ex: (ex[image_key], tf.cast(ex[label_key], tf.int64)))


def _tfds_listing(name, data_dir, val, train_split, download) -> dict:
    builder, image_key, label_key = _tfds_builder(name, data_dir, download)
    val, num_train, num_val = _tfds_splits(builder, name, val, train_split)

    def listing(kind, split, size):
        def read(start, stop):
            records = _tfds_records(builder, split, image_key, label_key).skip(start).take(stop - start)
            return [np.asarray(image) for image, _ in records.map(_decode_encoded)]

        return SplitListing(f"tfds:{name}", kind, size, read=read) if split is not None and size else None

    return {"train": listing("train", train_split, num_train), "validation": listing("validation", val, num_val)}


def _tfds_source(name, data_dir, val, train_split, download) -> Source:
    builder, image_key, label_key = _tfds_builder(name, data_dir, download)
    val, num_train, num_val = _tfds_splits(builder, name, val, train_split)

    def dataset(split, size):
        return _stream_dataset(_tfds_records(builder, split, image_key, label_key), _decode_encoded, size)

    return Source(
        name=f"tfds:{name}",
        class_names=list(builder.info.features[label_key].names),
        train=dataset(train_split, num_train),
        validation=dataset(val, num_val) if val is not None else None,
        num_train=num_train,
        num_val=num_val,
        stats={"data_dir": builder.data_dir, "train_split": train_split, "val_split": val},
    )


def _decode_encoded(encoded, label):
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False, dtype=tf.uint8)
    return image, label


def _tfds_keys(builder, name):
    import tensorflow_datasets as tfds

    features = builder.info.features
    keys = builder.info.supervised_keys
    if keys and len(keys) == 2 and all(isinstance(k, str) for k in keys):
        image_key, label_key = keys
    else:
        image_key, label_key = "image", "label"
    image = features[image_key] if image_key in features else None
    label = features[label_key] if label_key in features else None
    if not isinstance(image, tfds.features.Image) or not isinstance(label, tfds.features.ClassLabel):
        raise ValueError(
            f"TFDS dataset {name!r} is not an image classification dataset (it needs an Image feature and "
            f"a ClassLabel; its features: {', '.join(features.keys())})."
        )
    if image.dtype != tf.uint8:
        raise ValueError(f"TFDS dataset {name!r} stores {image.dtype.name} images; only uint8 images are supported.")
    return image_key, label_key
