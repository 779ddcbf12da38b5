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
from dataclasses import dataclass, field

import numpy as np

from keras_classics import images
from keras_classics.data.shapes import generate_shapes
from keras_classics.training.config import RecipeConfig, source_arguments

__all__ = ["DEFAULT_SAMPLES", "Samples", "shared_counts", "encoded_samples", "image_samples", "source_samples",
           "parity_images", "export_samples"]

#: Default number of representative (calibration) images and of parity images.
DEFAULT_SAMPLES = 100


@dataclass
class Samples:
    """Calibration or parity images: the files, the same files through the one image path, where from, and
    which ones (``ids``: a file's absolute path, else ``"<source> #<index>"``)."""

    encoded: list  # encoded image files (bytes)
    images: np.ndarray  # float32 (n, h, w, 3) in [0, 255]: the files through the one image path
    description: str
    ids: list = field(default_factory=list)


def shared_counts(total: int, calibration: int, parity: int) -> tuple[int, int]:
    """How many images calibration and parity take from one listing of ``total`` images that serves both.

    Calibration takes the first ones and parity the last ones, so the two never share an image. When
    the listing holds fewer than ``calibration + parity`` images it is divided in proportion to the two
    counts (each at most what was asked); a listing of one image goes to calibration, leaving parity none.
    """
    if calibration + parity <= total or not calibration or not parity:
        return min(calibration, total), min(parity, total)
    if total < 2:
        return total, 0
    take = min(parity, total - 1, max(1, round(total * parity / (calibration + parity))))
    return min(calibration, total - take), take


def _span(total, n, purpose, other):
    """``(start, stop)``: the images ``purpose`` takes from a listing of ``total`` shared with ``other`` images
    of the other purpose (see :func:`shared_counts`)."""
    if purpose == "calibration":
        return 0, shared_counts(total, n, other)[0]
    take = shared_counts(total, other, n)[1]
    if not take:
        raise ValueError(
            f"The image source holds {total} image{'s' if total != 1 else ''}, all taken for calibration; parity "
            "needs different images. Pass more images, or parity images of their own (CLI: --parity-data)."
        )
    return total - take, total


def encoded_samples(spec, n: int = DEFAULT_SAMPLES, *, size=None, purpose: str = "calibration", seed: int = 0,
                    other: int | None = None):
    """Up to ``n`` encoded image files (``bytes``) and a description of where they came from.

    Calibration and parity images from one source are different images: calibration takes a source's
    first images, parity its last, and a source too small for both is divided between them
    (:func:`shared_counts`).

    Args:
        spec: ``"shapes"`` (the generated dataset,
            :func:`keras_classics.data.shapes.generate_shapes`: its training
            split for calibration, its validation split for parity), a
            directory of image files (sorted; the first ``n`` for calibration,
            the last ``n`` for parity), ``"noise"`` (uniform random pixels,
            seeded apart), a NumPy array ``(N, h, w, 3)`` or a ``tf.data.Dataset``
            of images or ``(image, label)`` pairs (arrays and datasets: values
            in [0, 255], rounded to uint8; first and last images as for a directory).
        size: ``(height, width)`` of generated images (``"shapes"``, ``"noise"``).
        purpose: ``"calibration"`` or ``"parity"``.
        other: how many images the other purpose takes from the same directory, array or
            dataset (default: ``n``; 0: none, so this purpose may take any image).

    Returns:
        ``(files, description)``: a folder's files as they are on disk (those
        TensorFlow cannot decode, such as TIFF, re-encoded as PNG); generated
        images, arrays and datasets encoded as PNG.
    """
    files, _, description = _encoded(spec, n, size, purpose, seed, n if other is None else other)
    return files, description


def _encoded(spec, n, size, purpose, seed, other):
    """:func:`encoded_samples` with the ids of the images taken: ``(files, ids, description)``."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"The number of samples must be a positive integer. Received: {n!r}")
    if purpose not in ("calibration", "parity"):
        raise ValueError(f"purpose must be 'calibration' or 'parity'. Received: {purpose!r}")
    height, width = (64, 64) if size is None else (int(size[0]), int(size[1]))
    if isinstance(spec, np.ndarray):
        arr = np.asarray(spec)
        if arr.ndim != 4 or arr.shape[-1] != 3 or not len(arr):
            raise ValueError(f"Expected an array of RGB images (N, h, w, 3); received shape {arr.shape}.")
        start, stop = _span(len(arr), n, purpose, other)
        return ([_png(im) for im in arr[start:stop]], [f"array #{i}" for i in range(start, stop)],
                f"array of {len(spec)} images")
    if isinstance(spec, str) and spec == "noise":
        stream = seed + (0 if purpose == "calibration" else 1)  # calibration and parity: different seeds
        pixels = np.random.default_rng(stream).integers(0, 256, (n, height, width, 3), dtype=np.uint8)
        return [_png(im) for im in pixels], [f"noise seed {stream} #{i}" for i in range(n)], "uniform noise"
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
        start, stop = _span(len(files), n, purpose, other)
        chosen = files[start:stop]
        encoded, kept = _files_bytes(chosen, purpose)
        if not encoded:
            raise ValueError(f"None of the {len(chosen)} {purpose} image files taken from {directory!r} could be read.")
        return encoded, [os.path.abspath(f) for f in kept], f"folder {os.path.abspath(directory)} ({len(files)} images)"
    try:
        import tensorflow as tf  # only to recognise a tf.data.Dataset: loaded when an export is made
    except ImportError:  # pragma: no cover
        tf = None
    if tf is not None and isinstance(spec, tf.data.Dataset):
        taken = _dataset_images(spec, n + other)
        start, stop = _span(len(taken), n, purpose, other)
        return ([_png(im) for im in taken[start:stop]], [f"dataset #{i}" for i in range(start, stop)],
                "tf.data.Dataset")
    raise ValueError(
        f"Unknown image source {spec!r}. Accepted: 'shapes', 'noise', a directory of images, "
        "a NumPy array or a tf.data.Dataset."
    )


def image_samples(spec, size, n: int = DEFAULT_SAMPLES, *, purpose: str = "calibration", seed: int = 0,
                  crop_fraction: float = 1.0, other: int | None = None, interpolation: str = "bilinear"):
    """Up to ``n`` float32 RGB images ``(n, h, w, 3)`` in [0, 255], and a description of where they came from.

    The files of :func:`encoded_samples` read as ``predict`` reads image files
    (:func:`keras_classics.images.load_image_bytes`, with ``crop_fraction`` and ``interpolation``).

    Args:
        spec, purpose, seed, other: see :func:`encoded_samples`.
        size: ``(height, width)``.

    Returns:
        ``(images, description)``.
    """
    encoded, ids, description = _encoded(spec, n, size, purpose, seed, n if other is None else other)
    return _decode_all(encoded, size, crop_fraction, interpolation), description


def _decode_all(encoded, size, crop_fraction, interpolation):
    return np.stack([
        images.load_image_bytes(data, size, crop_fraction, name=f"image {i}", interpolation=interpolation)
        for i, data in enumerate(encoded)
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


def _files_bytes(paths, purpose) -> tuple[list[bytes], list]:
    """``(bytes, paths)``: :func:`_file_bytes` of each file, and the files read; one that cannot be read (the
    package's rule, :data:`keras_classics.images.UNREADABLE`) is skipped, counted and reported in one warning."""
    encoded, kept, failed = [], [], []
    for path in paths:
        try:
            encoded.append(_file_bytes(path))
            kept.append(path)
        except images.UNREADABLE as e:
            failed.append(images.unreadable_reason(e, path))
    if failed:
        warnings.warn(f"Skipped {len(failed)} of {len(paths)} {purpose} image file(s) that could not be read: "
                      + "; ".join(failed[:3]) + (" ..." if len(failed) > 3 else ""), stacklevel=3)
    return encoded, kept


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
    split = "train" if purpose == "calibration" else "validation"  # independent streams: different images
    pictures, _ = generate_shapes(n, image_size=max(height, width, 16), seed=seed, split=split)
    return ([_png(im) for im in pictures], [f"shapes {split} seed {seed} #{i}" for i in range(n)],
            f"shapes ({split} split, seed {seed})")


def _run_samples(source, n, purpose, other):
    """``(files, ids, description)`` from the run's own data, or ``None`` when the model has no run
    ``config.json`` naming its dataset.

    Calibration reads the run's training split and parity its validation split, so the two never share
    an image; a run with one split divides it between them (:func:`shared_counts`, ``other`` images
    for the other purpose). The split is listed, not loaded: only the files taken are read (a folder's
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
    order = ("train", "validation") if purpose == "calibration" else ("validation", "train")
    listing = splits.get(order[0]) or splits.get(order[1])
    if listing is None or not listing.size:
        return None
    shared = len([s for s in splits.values() if s.size]) < 2  # one split serves both purposes
    start, stop = _span(listing.size, n, purpose, other if shared else 0)
    split = "validation" if listing.split == "validation" else "training"
    encoded, ids = [], []
    if listing.files is not None:
        encoded, kept = _files_bytes(listing.files[start:stop], purpose)
        ids = [os.path.abspath(path) for path in kept]
    else:
        encoded = [_png(image) for image in listing.read(start, stop)]
        ids = [f"{listing.name} {split} #{i}" for i in range(start, start + len(encoded))]
    if not encoded:
        return None
    return encoded, ids, f"{listing.name} {split} split (the run's data, {listing.size} images)"


def _source_samples(source, spec, n, purpose, other) -> Samples:
    """Images for ``source``: from ``spec``, else the run's own data, else the generated shapes."""
    found = _run_samples(source, n, purpose, other) if spec is None else None
    if found is None:
        found = _encoded("shapes" if spec is None else spec, n, source.input_size, purpose, 0, other)
    encoded, ids, description = found
    return Samples(encoded, _decode_all(encoded, source.input_size, source.crop_fraction, source.interpolation),
                   description, ids)


def parity_images(source, parity_data, n, representative, calibration: int = 0) -> Samples:
    """Parity images: ``parity_data``, else the representative source's held-out part, else the run's own
    validation images, else the generated shapes. ``calibration``: how many images calibration takes from
    the same source (0: no calibration), which parity then leaves alone."""
    spec = representative if parity_data is None else parity_data
    shared = calibration if (parity_data is None or parity_data is representative) else 0
    return source_samples(source, spec, n, "parity", other=shared)


def source_samples(source, spec, n, purpose, other: int = 0) -> Samples:
    """:func:`_source_samples`, kept per source for named sources (several exports of one model)."""
    if spec is not None and not isinstance(spec, (str, os.PathLike)):
        return _source_samples(source, spec, n, purpose, other)
    key = ("samples", None if spec is None else os.fspath(spec), n, purpose, other)
    return source.cached(key, lambda: _source_samples(source, spec, n, purpose, other))


def export_samples(source, representative, calibration_samples, parity_data, parity_samples):
    """``(calibration, parity)`` images of a full-integer export, never the same image twice.

    From one source (the default: parity from the representative source, or from the run's data),
    calibration takes the first images and parity the last (:func:`shared_counts`); from two
    folders, parity leaves out any file calibration took. ``ids`` of both are disjoint; an
    overlap would raise.
    """
    shared = parity_data is None or parity_data is representative
    calibration = source_samples(source, representative, calibration_samples, "calibration",
                                 other=parity_samples if shared else 0)
    parity = parity_images(source, parity_data, parity_samples, representative, calibration=calibration_samples)
    taken = set(calibration.ids)
    if taken & set(parity.ids):
        parity = _without(parity, taken, source)
    overlap = taken & set(parity.ids)
    if overlap:  # pragma: no cover - the rules above make this impossible; never report a flattering figure
        raise RuntimeError(f"Calibration and parity images overlap: {sorted(overlap)[:3]} ...")
    return calibration, parity


def _without(samples, taken, source) -> Samples:
    """``samples`` less the images calibration took (two folders that share files)."""
    keep = [i for i, name in enumerate(samples.ids) if name not in taken]
    if not keep:
        raise ValueError(
            f"Every parity image ({samples.description}) is also a calibration image; parity needs different "
            "images. Pass parity images of their own (CLI: --parity-data)."
        )
    encoded = [samples.encoded[i] for i in keep]
    return Samples(encoded, samples.images[keep], samples.description + f", {len(samples.ids) - len(keep)} "
                   "calibration images left out", [samples.ids[i] for i in keep])
