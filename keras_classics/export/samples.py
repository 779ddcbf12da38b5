"""Calibration and parity images: which image files, from where, read through the one image path.

Parity and calibration images are encoded image files, read through the one
image path (:func:`keras_classics.images.load_image_bytes`: decode, resize the
shorter side, centre crop): the Keras reference, ``serving_default`` and TFLite
get the floats, ``serving_bytes`` the same files. A run's own data is listed,
and only the images taken are read.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass

import numpy as np

from keras_classics import images
from keras_classics.data.shapes import generate_shapes
from keras_classics.training.config import RecipeConfig, source_arguments

__all__ = ["DEFAULT_SAMPLES", "Samples", "encoded_samples", "image_samples", "source_samples", "parity_images"]

#: Default number of representative (calibration) images and of parity images.
DEFAULT_SAMPLES = 100


@dataclass
class Samples:
    """Calibration or parity images: the files, the same files through the one image path, where from."""

    encoded: list  # encoded image files (bytes)
    images: np.ndarray  # float32 (n, h, w, 3) in [0, 255]: the files through the one image path
    description: str


def encoded_samples(spec, n: int = DEFAULT_SAMPLES, *, size=None, purpose: str = "calibration", seed: int = 0):
    """Up to ``n`` encoded image files (``bytes``) and a description of where they came from.

    Args:
        spec: ``"shapes"`` (the generated dataset,
            :func:`keras_classics.data.shapes.generate_shapes`: its training
            split for calibration, its validation split for parity), a
            directory of image files (sorted; the first ``n`` for calibration,
            the last ``n`` for parity), ``"noise"`` (uniform random pixels,
            seeded), a NumPy array ``(N, h, w, 3)`` or a ``tf.data.Dataset``
            of images or ``(image, label)`` pairs (arrays and datasets: values
            in [0, 255], rounded to uint8).
        size: ``(height, width)`` of generated images (``"shapes"``, ``"noise"``).
        purpose: ``"calibration"`` or ``"parity"``.

    Returns:
        ``(files, description)``: a folder's files as they are on disk (those
        TensorFlow cannot decode, such as TIFF, re-encoded as PNG); generated
        images, arrays and datasets encoded as PNG.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"The number of samples must be a positive integer. Received: {n!r}")
    if purpose not in ("calibration", "parity"):
        raise ValueError(f"purpose must be 'calibration' or 'parity'. Received: {purpose!r}")
    height, width = (64, 64) if size is None else (int(size[0]), int(size[1]))
    if isinstance(spec, np.ndarray):
        arr = np.asarray(spec)
        if arr.ndim != 4 or arr.shape[-1] != 3 or not len(arr):
            raise ValueError(f"Expected an array of RGB images (N, h, w, 3); received shape {arr.shape}.")
        arr = arr[:n] if purpose == "calibration" else arr[-n:]
        return [_png(im) for im in arr], f"array of {len(spec)} images"
    if isinstance(spec, str) and spec == "noise":
        rng = np.random.default_rng(seed + (0 if purpose == "calibration" else 1))
        pixels = rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
        return [_png(im) for im in pixels], "uniform noise"
    if isinstance(spec, str) and spec == "shapes":
        return _shapes_samples(height, width, n, purpose, seed)
    if isinstance(spec, (str, os.PathLike)):
        directory = os.fspath(spec)
        if not os.path.exists(directory):
            raise FileNotFoundError(
                f"Image source {directory!r} not found. Accepted: 'shapes', 'noise' or a directory of images."
            )
        files = images.list_images(directory)
        if not files:
            raise ValueError(
                f"No image files ({', '.join(images.IMAGE_SUFFIXES)}) under {directory!r}."
            )
        chosen = files[:n] if purpose == "calibration" else files[-n:]
        encoded = _files_bytes(chosen, purpose)
        if not encoded:
            raise ValueError(f"None of the {len(chosen)} {purpose} image files taken from {directory!r} could be read.")
        return encoded, f"folder {os.path.abspath(directory)} ({len(files)} images)"
    try:
        import tensorflow as tf  # only to recognise a tf.data.Dataset: loaded when an export is made
    except ImportError:  # pragma: no cover
        tf = None
    if tf is not None and isinstance(spec, tf.data.Dataset):
        return [_png(im) for im in _dataset_images(spec, n)], "tf.data.Dataset"
    raise ValueError(
        f"Unknown image source {spec!r}. Accepted: 'shapes', 'noise', a directory of images, "
        "a NumPy array or a tf.data.Dataset."
    )


def image_samples(spec, size, n: int = DEFAULT_SAMPLES, *, purpose: str = "calibration", seed: int = 0,
                  crop_fraction: float = 1.0):
    """Up to ``n`` float32 RGB images ``(n, h, w, 3)`` in [0, 255], and a description of where they came from.

    The files of :func:`encoded_samples` read as ``predict`` reads image files
    (:func:`keras_classics.images.load_image_bytes`, with ``crop_fraction``).

    Args:
        spec, purpose, seed: see :func:`encoded_samples`.
        size: ``(height, width)``.

    Returns:
        ``(images, description)``.
    """
    samples = _samples(spec, size, n, purpose, crop_fraction, seed)
    return samples.images, samples.description


def _samples(spec, size, n, purpose, crop_fraction, seed=0) -> Samples:
    encoded, description = encoded_samples(spec, n, size=size, purpose=purpose, seed=seed)
    return Samples(encoded, _decode_all(encoded, size, crop_fraction), description)


def _decode_all(encoded, size, crop_fraction):
    return np.stack([
        images.load_image_bytes(data, size, crop_fraction, name=f"image {i}") for i, data in enumerate(encoded)
    ]).astype(np.float32)


def _png(image) -> bytes:
    """An RGB image (values in [0, 255], rounded to uint8) encoded as PNG."""
    from PIL import Image

    pixels = np.clip(np.round(np.asarray(image, np.float64)), 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _file_bytes(path) -> bytes:
    """An image file's bytes, checked; re-encoded as PNG where TensorFlow cannot decode it (TIFF …)."""
    data, fmt, mode = images.read_checked(path, images.MAX_IMAGE_PIXELS)
    return data if images.tensorflow_decodes(fmt, mode) else _png(images.pil_rgb(data))


def _files_bytes(paths, purpose) -> list[bytes]:
    """:func:`_file_bytes` of each file; one that cannot be read (the package's rule,
    :data:`keras_classics.images.UNREADABLE`) is skipped, counted and reported in one warning."""
    encoded, failed = [], []
    for path in paths:
        try:
            encoded.append(_file_bytes(path))
        except images.UNREADABLE as e:
            failed.append(images.unreadable_reason(e, path))
    if failed:
        warnings.warn(f"Skipped {len(failed)} of {len(paths)} {purpose} image file(s) that could not be read: "
                      + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else ""), stacklevel=3)
    return encoded


def _dataset_images(ds, n):
    spec = ds.element_spec
    if isinstance(spec, tuple):
        ds = ds.map(lambda *xs: xs[0])
        spec = ds.element_spec
    if spec.shape.rank == 4:
        ds = ds.unbatch()
    images = [np.asarray(image) for image in ds.take(n)]
    if not images:
        raise ValueError("The image dataset is empty.")
    return images


def _shapes_samples(height, width, n, purpose, seed):
    split = "train" if purpose == "calibration" else "validation"
    images, _ = generate_shapes(n, image_size=max(height, width, 16), seed=seed, split=split)
    return [_png(im) for im in images], f"shapes ({split} split, seed {seed})"


def _run_samples(source, n, purpose):
    """``(files, description)`` from the run's own validation split (its training split when it has
    none), or ``None`` when the model has no run ``config.json`` naming its dataset.

    The split is listed, not loaded: only the files taken are read (a folder's
    files as they are, generated and TFDS images encoded as PNG).
    """
    config = source.run_config or {}
    if not isinstance(config.get("dataset"), str):
        return None
    from keras_classics.data.sources import list_splits  # imports TensorFlow: loaded when an export is made

    size = config.get("image_size") if isinstance(config.get("image_size"), int) else source.input_size[0]
    try:
        name, options = source_arguments(RecipeConfig.from_dict(config), size)
        splits = list_splits(name, **{**options, "download": False})
    except Exception as e:  # noqa: BLE001 - a moved folder, an unprepared TFDS set: say so, use shapes
        warnings.warn(
            f"Could not load the run's dataset {config['dataset']!r} for {purpose} images "
            f"({type(e).__name__}: {e}); using the generated shapes instead. Pass the images explicitly "
            "(CLI: --parity-data / --representative) to choose.",
            stacklevel=3,
        )
        return None
    listing = splits.get("validation") or splits.get("train")
    if listing is None:
        return None
    k = min(n, listing.size)
    start = 0 if purpose == "calibration" else listing.size - k
    if listing.files is not None:
        encoded = _files_bytes(listing.files[start : start + k], purpose)
    else:
        encoded = [_png(image) for image in listing.read(start, start + k)]
    if not encoded:
        return None
    split = "validation" if listing.split == "validation" else "training"
    return encoded, f"{listing.name} {split} split (the run's data, {listing.size} images)"


def _source_samples(source, spec, n, purpose) -> Samples:
    """Images for ``source``: from ``spec``, else the run's own data, else the generated shapes."""
    found = _run_samples(source, n, purpose) if spec is None else None
    if found is None:
        encoded, description = encoded_samples("shapes" if spec is None else spec, n, size=source.input_size,
                                               purpose=purpose)
    else:
        encoded, description = found
    return Samples(encoded, _decode_all(encoded, source.input_size, source.crop_fraction), description)


def parity_images(source, parity_data, n, representative) -> Samples:
    """Parity images: ``parity_data``, else the representative source's held-out part, else the run's own
    validation images, else the generated shapes."""
    return source_samples(source, representative if parity_data is None else parity_data, n, "parity")


def source_samples(source, spec, n, purpose) -> Samples:
    """:func:`_source_samples`, kept per source for named sources (several exports of one model)."""
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        return _source_samples(source, spec, n, purpose)
    key = ("samples", None if spec is None else os.fspath(spec), n, purpose)
    return source.cached(key, lambda: _source_samples(source, spec, n, purpose))
