"""TensorFlow Datasets as a source: a prepared (or here prepared) image-classification dataset's splits."""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_classics.data.base import Source, SplitListing, stream_dataset


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
        before = _entries(builder.data_dir_root)
        try:
            try:
                builder.download_and_prepare()
            except BaseException:  # a failure or an interrupt: what this attempt left half-made goes
                _remove_partial(builder.data_dir_root, before)
                raise
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


def _entries(root) -> set[str]:
    """Every path under ``root`` (a TFDS data directory), ``root`` itself included when it exists."""
    found = set()
    for folder, dirs, files in os.walk(root):
        found.add(folder)
        found.update(os.path.join(folder, name) for name in dirs + files)
    return found


def _remove_partial(root, before: set[str]) -> None:
    """Remove what a failed preparation made under ``root``: new temporary downloads (``*.tmp.*``),
    unfinished folders (``*.incomplete*``) and new folders left empty. Nothing that was there before goes."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(folder, name)
            if path not in before and (".tmp." in name or ".incomplete" in name):
                with contextlib.suppress(OSError):
                    os.remove(path)
        for name in dirs:
            path = os.path.join(folder, name)
            if path in before:
                continue
            if ".tmp." in name or ".incomplete" in name:
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):  # only when empty
                    os.rmdir(path)
    if root not in before:
        with contextlib.suppress(OSError):
            os.rmdir(root)


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


def tfds_listing(name, data_dir, val, train_split, download) -> dict:
    builder, image_key, label_key = _tfds_builder(name, data_dir, download)
    val, num_train, num_val = _tfds_splits(builder, name, val, train_split)

    def listing(kind, split, size):
        def read(start, stop):
            records = _tfds_records(builder, split, image_key, label_key).skip(start).take(stop - start)
            return [np.asarray(image) for image, _ in records.map(decode_encoded)]

        return SplitListing(f"tfds:{name}", kind, size, read=read) if split is not None and size else None

    return {"train": listing("train", train_split, num_train), "validation": listing("validation", val, num_val)}


def tfds_source(name, data_dir, val, train_split, download) -> Source:
    builder, image_key, label_key = _tfds_builder(name, data_dir, download)
    val, num_train, num_val = _tfds_splits(builder, name, val, train_split)

    def dataset(split, size):
        return stream_dataset(_tfds_records(builder, split, image_key, label_key), decode_encoded, size)

    return Source(
        name=f"tfds:{name}",
        class_names=list(builder.info.features[label_key].names),
        train=dataset(train_split, num_train),
        validation=dataset(val, num_val) if val is not None else None,
        num_train=num_train,
        num_val=num_val,
        stats={"data_dir": builder.data_dir, "train_split": train_split, "val_split": val},
    )


def decode_encoded(encoded, label):
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
