"""A dataset by name: picks its source (generated shapes, a folder, TFDS) and checks the options against it.

:func:`get_source` turns a name into a :class:`Source`: class names and two
``tf.data`` datasets (train, validation) of ``(image, label)`` pairs, where
``image`` is uint8 ``[H, W, 3]`` (sizes may vary from image to image) and
``label`` an int64 scalar. The datasets are unbatched, unshuffled and always in
the same order; :func:`keras_classics.data.make_pipeline` shuffles, augments
and batches them.

Names:

* ``"shapes"``: the generated dataset of :mod:`keras_classics.data.shapes`
  (:mod:`keras_classics.data.generated`).
* ``"folder:PATH"`` (or an existing directory): one sub-folder per class
  (:mod:`keras_classics.data.folders`).
* ``"tfds:NAME"``: a TensorFlow Datasets image-classification dataset
  (:mod:`keras_classics.data.tfds_source`).

What they share (:class:`Source`, :class:`SplitListing`, the lazily read
datasets) lives in :mod:`keras_classics.data.base`.

Example:
    >>> src = get_source("shapes", image_size=32, num_train=200, num_val=50)
    >>> src.num_classes, src.num_train, src.num_val
    (10, 200, 50)
"""

from __future__ import annotations

import difflib
import inspect
import numbers
import os
from pathlib import Path

from keras_classics.data.base import Source, SplitListing, lazy_form, unknown_name
from keras_classics.data.folders import IMAGE_EXTENSIONS, VALIDATE_MODES, folder_listing, folder_source
from keras_classics.data.generated import (
    DEFAULT_SHAPES_TRAIN,
    DEFAULT_SHAPES_VAL,
    shapes_listing,
    shapes_source,
)
from keras_classics.data.tfds_source import tfds_listing, tfds_source

# The names users import from here: this module's own, and those of the modules it was split into.
__all__ = [
    "DEFAULT_SHAPES_TRAIN",
    "DEFAULT_SHAPES_VAL",
    "IMAGE_EXTENSIONS",
    "SOURCE_KINDS",
    "VALIDATE_MODES",
    "Source",
    "SplitListing",
    "get_source",
    "lazy_form",
    "list_splits",
]

SOURCE_KINDS = ("shapes", "folder:", "tfds:")


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
        return shapes_source(image_size or 64, seed, num_train, num_val, cache)
    if kind == "folder":
        return folder_source(arg, val, val_fraction, seed, validate, verbose)
    return tfds_source(arg, data_dir, val, train_split, download)


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
    error = unknown_name("dataset", name, SOURCE_KINDS)
    if not sep and "/" not in name and not difflib.get_close_matches(name, SOURCE_KINDS, n=1, cutoff=0.5):
        import tensorflow_datasets as tfds

        close = difflib.get_close_matches(name.lower(), tfds.list_builders(with_community_datasets=False), n=3, cutoff=0.75)
        if close:
            error = ValueError(f"{error} For a TFDS dataset write {' or '.join('tfds:' + c for c in close)}.")
    raise error


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
        splits = shapes_listing(o["image_size"] or 64, seed, o["num_train"], o["num_val"])
    elif kind == "folder":
        splits = folder_listing(arg, o["val"], o["val_fraction"], seed)
    else:
        splits = tfds_listing(arg, o["data_dir"], o["val"], o["train_split"], o["download"])
    return {split: listing for split, listing in splits.items() if listing is not None}
