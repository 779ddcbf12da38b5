"""The generated shapes set as a source: its two splits as datasets, or listed to be rendered on demand."""

from __future__ import annotations

import numbers

import numpy as np
import tensorflow as tf

from keras_classics.data import shapes as _shapes
from keras_classics.data.base import Source, SplitListing, indexed_dataset

DEFAULT_SHAPES_TRAIN = 10_000
DEFAULT_SHAPES_VAL = 1_000


def _shapes_sizes(image_size, num_train, num_val) -> tuple[int, int]:
    num_train = DEFAULT_SHAPES_TRAIN if num_train is None else num_train
    num_val = DEFAULT_SHAPES_VAL if num_val is None else num_val
    for key, value, minimum in (("num_train", num_train, 1), ("num_val", num_val, 0), ("image_size", image_size, 16)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{key} must be an integer >= {minimum} for the shapes dataset, received {value!r}.")
    return num_train, num_val


def shapes_source(image_size, seed, num_train, num_val, cache) -> Source:
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


def shapes_listing(image_size, seed, num_train, num_val) -> dict:
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

    return indexed_dataset(len(labels), fetch)
