"""What every data source is made of: the Source and SplitListing records and the lazily read datasets.

A source (:mod:`keras_classics.data.sources`) hands out unbatched ``tf.data``
datasets; those built here are also recorded in a side table
(:func:`lazy_form`), so that :func:`keras_classics.data.make_pipeline` can
shuffle indices or encoded records before anything is decoded.
"""

from __future__ import annotations

import difflib
import weakref
from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

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
class Indexed:
    size: int
    fetch: Callable  # int64 index tensor -> (image uint8 [H, W, 3], label int64)
    may_fail: bool = False  # reading can fail: skip failing elements
    # Every element was read once when the dataset was made (a folder's validate="full"): only a file that
    # changes under the running job can still fail. Sharded training reads such a dataset (and stops if a
    # file does change: the workers' batch counts must stay equal).
    checked: bool = False


@dataclass(frozen=True)
class Stream:
    records: tf.data.Dataset  # small encoded records
    decode: Callable  # record -> (image, label)
    size: int | None = None


_LAZY: "weakref.WeakKeyDictionary[tf.data.Dataset, Indexed | Stream]" = weakref.WeakKeyDictionary()


def lazy_form(dataset: tf.data.Dataset):
    """How ``dataset`` can be read before decoding (an ``Indexed`` or ``Stream``), or None."""
    try:
        return _LAZY.get(dataset)
    except TypeError:
        return None


def indexed_dataset(size: int, fetch: Callable, may_fail: bool = False, checked: bool = False) -> tf.data.Dataset:
    ds = tf.data.Dataset.range(size).map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if may_fail:
        ds = ds.ignore_errors(log_warning=True)
    else:
        ds = ds.apply(tf.data.experimental.assert_cardinality(size))
    _LAZY[ds] = Indexed(size, fetch, may_fail, checked)
    return ds


def stream_dataset(records: tf.data.Dataset, decode: Callable, size: int | None) -> tf.data.Dataset:
    ds = records.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if size is not None:
        ds = ds.apply(tf.data.experimental.assert_cardinality(size))
    _LAZY[ds] = Stream(records, decode, size)
    return ds


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



def unknown_name(kind: str, name: str, accepted) -> ValueError:
    """A ValueError for an unknown ``name`` of ``kind``: the close matches and every accepted name."""
    close = difflib.get_close_matches(name, list(accepted), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Accepted: {', '.join(accepted)}.")
