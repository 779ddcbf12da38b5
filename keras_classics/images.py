"""Image files: the formats and suffixes accepted, the pixel limit, listing, reading and decoding them.

One listing (:func:`list_images`, :func:`image_files`) serves dataset folders,
predict and export. One rule serves every reader of many files: a file that
cannot be used (:data:`UNREADABLE`: missing, deleted or changed after it was
listed, unreadable, not an image, corrupt) is skipped, counted and reported
with its reason (:func:`unreadable_reason`, :func:`load_images`,
:func:`listed_file_bytes`), never a traceback.

One path reads an image file for every user of the package (predict, export's
samples and ``serving_bytes`` signature, the inspector): the file is checked (a
known format, at most :data:`MAX_IMAGE_PIXELS` pixels, not truncated), decoded
to RGB (by TensorFlow, or Pillow for what TensorFlow cannot read), its shorter
side resized and the centre cropped to the model's input
(:func:`resize_and_crop`: the training evaluation transform itself). Dataset
folders list and decode their files with the same suffixes and decoders.

NumPy and the standard library are imported at module level; Pillow and
TensorFlow when an image is read.
"""

from __future__ import annotations

import io
import os
import re
import warnings

import numpy as np

from keras_classics.transforms import eval_crop

__all__ = [
    "MAX_IMAGE_PIXELS",
    "IMAGE_FORMATS",
    "IMAGE_SUFFIXES",
    "tensorflow_decodes",
    "pil_rgb",
    "read_image_file",
    "read_checked",
    "decode_rgb",
    "resize_and_crop",
    "decode_image",
    "load_image",
    "load_image_bytes",
    "load_images",
    "image_files",
    "listed_file_bytes",
    "UNREADABLE",
    "unreadable_reason",
    "file_id",
    "walk_images",
    "list_images",
]

#: Largest image accepted, in pixels (width × height): 40 megapixels, e.g. 8000 × 5000.
#: Larger files are refused before they are decoded.
MAX_IMAGE_PIXELS = 40_000_000

#: Image formats accepted (as Pillow names them). TensorFlow decodes them, except TIFF and
#: the BMP modes it cannot read, which Pillow decodes (see :func:`tensorflow_decodes`); the
#: SavedModel's ``serving_bytes`` signature decodes in the graph, so takes the others only.
IMAGE_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "TIFF")

#: File suffixes treated as images wherever a folder is scanned: dataset folders
#: (:func:`keras_classics.data.get_source`), export's parity and calibration folders.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


# --------------------------------------------------------------------------- reading and decoding


def tensorflow_decodes(fmt: str | None, mode: str | None) -> bool:
    """Whether ``tf.io.decode_image`` reads an image of this Pillow format and mode (else Pillow does)."""
    if fmt in ("JPEG", "MPO", "PNG", "GIF", "WEBP"):
        return True
    return fmt == "BMP" and mode in ("RGB", "RGBA", "L", "P")


def pil_rgb(data) -> np.ndarray:
    """Pillow's decoding of encoded image bytes (or a path) to uint8 RGB ``(h, w, 3)``."""
    from PIL import Image  # deferred: Pillow loads only when an image is read

    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(source) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)


def read_image_file(path, max_pixels: int = MAX_IMAGE_PIXELS) -> bytes:
    """The bytes of an image file, after checking that they decode.

    The header is read first (format and size), so an enormous image is
    refused before any pixel is decoded; then the whole image is decoded once
    to catch truncated or corrupt files.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not an image, a format outside :data:`IMAGE_FORMATS`,
            more than ``max_pixels`` pixels, truncated or corrupt data.
    """
    return read_checked(path, max_pixels)[0]


def read_checked(path, max_pixels: int = MAX_IMAGE_PIXELS, data: bytes | None = None) -> tuple[bytes, str, str]:
    """``(bytes, Pillow format, Pillow mode)`` of an image file (or of ``data`` named ``path``), checked as
    :func:`read_image_file` checks it."""
    from PIL import Image, UnidentifiedImageError  # deferred: Pillow loads only when an image is read

    path = os.fspath(path)
    if data is None:
        data = _file_bytes(path)
    if not data:
        raise ValueError(f"Image {path!r} is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            fmt, mode = image.format, image.mode
            width, height = image.size
            if fmt not in IMAGE_FORMATS:
                raise ValueError(
                    f"Image {path!r} is a {fmt} file. Accepted formats: {', '.join(IMAGE_FORMATS)}."
                )
            if width * height > max_pixels:
                raise ValueError(
                    f"Image {path!r} is {width}x{height} = {width * height:,} pixels, above the limit of "
                    f"{max_pixels:,} pixels. Downscale it first."
                )
            image.load()
    except UnidentifiedImageError:
        raise ValueError(
            f"{path!r} is not an image Pillow can identify. Accepted formats: {', '.join(IMAGE_FORMATS)}."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow refuses it while reading the header: far above this package's own limit.
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow opens"
        raise ValueError(
            f"Image {path!r} is {size}, above the limit of {max_pixels:,} pixels "
            f"({max_pixels / 1e6:g} megapixels). Downscale it first."
        ) from None
    except (OSError, SyntaxError, EOFError) as e:  # Pillow's truncated / corrupt data errors
        raise ValueError(f"Image {path!r} is corrupt or truncated: {e}") from None
    return data, fmt, mode


def _file_bytes(path: str) -> bytes:
    """The bytes of the file at ``path``; every way the file system refuses them said in one line with the path."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"Image not found: {path!r}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"Expected an image file, received a directory: {path!r}") from None
    except PermissionError:
        raise PermissionError(f"Image {path!r} cannot be read: permission denied (check its mode and owner).") from None
    except OSError as e:  # an I/O error, a special file, a name too long
        raise OSError(e.errno, f"Image {path!r} cannot be read: {e.strerror or e}") from None


#: What reading one image file raises when that file cannot be used: missing (or deleted after it was
#: listed), unreadable, a folder, not an image, corrupt, truncated or too large. Code that reads many
#: files catches these, skips the file, counts it and reports it (:func:`load_images`); nothing else.
UNREADABLE = (OSError, ValueError)


def unreadable_reason(error: BaseException, path=None) -> str:
    """One line saying why the image file ``path`` could not be used (``error``: one of :data:`UNREADABLE`),
    naming the file."""
    text = re.sub(r"^\[Errno \d+\] ", "", str(error).strip()).splitlines()
    reason = text[0] if text and text[0] else type(error).__name__
    if path is not None and os.fspath(path) not in reason:
        reason = f"{os.fspath(path)}: {reason}"
    return reason


def listed_file_bytes(path, listed_size: int) -> tuple[bytes, str]:
    """``(bytes, "")`` of a file listed earlier as ``listed_size`` bytes, or ``(b"", reason)`` when it changed.

    The rule for data that changes under a running job: a file that has gone,
    become unreadable, or changed size since it was listed (a truncated or
    rewritten file) is checked again; if it is no longer a usable image it is
    skipped with the reason, else its new bytes are used.
    """
    path = os.fsdecode(path)
    try:
        data = _file_bytes(path)
        if len(data) != int(listed_size):
            read_checked(path, data=data)  # changed since it was listed: used only if it is still a whole image
    except UNREADABLE as e:
        return b"", f"{unreadable_reason(e, path)} (it changed after the dataset was listed)"
    return data, ""


def image_files(paths) -> list[str]:
    """The image files that ``paths`` name: a file as given; a folder, its images listed as :func:`list_images` does.

    Raises:
        ValueError: a folder with no image file in it.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files = []
    for path in map(os.fspath, paths):
        if not os.path.isdir(path):
            files.append(path)
            continue
        found = list_images(path)
        if not found:
            raise ValueError(f"The folder {path!r} holds no image files (searched recursively for "
                             f"{', '.join(IMAGE_SUFFIXES)}; hidden files and folders are left out).")
        files += found
    return files


def load_images(paths, size, crop_fraction: float = 1.0, max_pixels: int = MAX_IMAGE_PIXELS,
                interpolation: str = "bilinear") -> list[tuple]:
    """:func:`load_image` of each file, a file that cannot be used kept with its reason instead.

    Returns:
        One ``(path, image, "")`` per file read (``image`` float32 ``(h, w, 3)``), or ``(path, None, reason)``
        for a file that could not be (``reason``: one line, see :func:`unreadable_reason`), in order.
    """
    results = []
    for path in paths:
        try:
            results.append((path, load_image(path, size, crop_fraction, max_pixels, interpolation), ""))
        except UNREADABLE as e:
            results.append((path, None, unreadable_reason(e, path)))
    return results


def resize_and_crop(image, height: int, width: int, crop_fraction: float = 1.0, interpolation: str = "bilinear"):
    """Resize the shorter side to ``round(max(height, width) / crop_fraction)``, then centre-crop.

    The training evaluation transform itself
    (:func:`keras_classics.transforms.eval_crop`, the one resize/crop rule and
    resampling of the package): TensorFlow ops only, usable in exported graphs.
    ``image`` is a uint8 or float ``(h, w, 3)`` tensor of any size, the result
    float32 ``(height, width, 3)`` in the input's value range. The aspect ratio
    is kept; ``interpolation`` filtering (bilinear by default), antialiased where
    it shrinks; a square image already of the target size is returned unchanged
    (with ``crop_fraction=1``).

    Args:
        crop_fraction: fraction of the resized image's shorter side kept by the
            crop (``0.875``: the ImageNet "resize 256, crop 224" convention;
            ``1.0``: the whole shorter side).
        interpolation: the resize's filter, one of
            :data:`keras_classics.transforms.INTERPOLATIONS` (a weights set's,
            e.g. timm's ``"bicubic"``; the model metadata's ``interpolation``).
    """
    return eval_crop(image, (int(height), int(width)), crop_fraction, interpolation)


def decode_image(data, height: int, width: int, crop_fraction: float = 1.0, interpolation: str = "bilinear"):
    """Encoded image bytes (JPEG, PNG, GIF, BMP, WebP) → float32 RGB ``(height, width, 3)`` in [0, 255].

    TensorFlow ops only: the same function runs inside the SavedModel's
    ``serving_bytes`` signature and in :func:`load_image`. Images over
    :data:`MAX_IMAGE_PIXELS` fail with ``InvalidArgumentError`` (checked after
    decoding, before resizing; :func:`read_image_file` checks the header first).
    """
    return resize_and_crop(_checked_size(decode_rgb(data)), height, width, crop_fraction, interpolation)


def decode_rgb(data):
    """Encoded image bytes (a string tensor) → uint8 RGB ``(h, w, 3)``: TensorFlow's decoding, as in the graph.

    The first frame of an animation; the formats of :func:`tensorflow_decodes`.
    """
    import tensorflow as tf  # deferred: TensorFlow starts only when an image is decoded

    return tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)


def _checked_size(image):
    import tensorflow as tf  # deferred: TensorFlow starts only when an image is decoded

    shape = tf.shape(image, out_type=tf.int64)
    check = tf.debugging.assert_less_equal(
        shape[0] * shape[1], tf.constant(MAX_IMAGE_PIXELS, tf.int64),
        message=f"image larger than {MAX_IMAGE_PIXELS:,} pixels",
    )
    with tf.control_dependencies([check]):
        return tf.identity(image)


def load_image(path, size, crop_fraction: float = 1.0, max_pixels: int = MAX_IMAGE_PIXELS,
               interpolation: str = "bilinear") -> np.ndarray:
    """Read, check, decode, resize and crop one image file: float32 RGB ``(h, w, 3)`` in [0, 255].

    Args:
        size: ``(height, width)`` of the model input.
        crop_fraction, interpolation: see :func:`resize_and_crop`.

    Raises:
        ValueError / FileNotFoundError: see :func:`read_image_file`.
    """
    return _load_checked(path, read_checked(path, max_pixels), size, crop_fraction, interpolation)


def load_image_bytes(data: bytes, size, crop_fraction: float = 1.0, max_pixels: int = MAX_IMAGE_PIXELS,
                     name: str = "<bytes>", interpolation: str = "bilinear") -> np.ndarray:
    """:func:`load_image` of an encoded image file held in memory (``name`` appears in errors)."""
    return _load_checked(name, read_checked(name, max_pixels, bytes(data)), size, crop_fraction, interpolation)


def _load_checked(path, checked, size, crop_fraction, interpolation):
    import tensorflow as tf  # deferred: TensorFlow starts only when an image is decoded

    data, fmt, mode = checked
    height, width = int(size[0]), int(size[1])
    if not tensorflow_decodes(fmt, mode):  # TIFF, unusual BMPs: decoded as the dataset folders decode them
        return resize_and_crop(tf.constant(pil_rgb(data)), height, width, crop_fraction, interpolation).numpy()
    try:
        return decode_image(tf.constant(data), height, width, crop_fraction, interpolation).numpy()
    except tf.errors.InvalidArgumentError as e:
        raise ValueError(f"Image {os.fspath(path)!r} could not be decoded: {e.message.splitlines()[-1]}") from None


def file_id(entry: os.DirEntry):
    """``(device, inode)`` of what ``entry`` names, following a symbolic link; None when it is dangling."""
    try:
        st = entry.stat(follow_symlinks=True)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def walk_images(top: str, seen: set, skipped: list) -> tuple[list[str], int]:
    """Image paths under ``top`` (sorted, depth first) and the count of other files.

    Symbolic links are followed, but each real directory and each file (hard
    links included) is read once per dataset (``seen`` holds their device and inode): a link back to
    a folder already read (a loop such as ``up -> ..``, or a second path to the
    same images) is skipped and recorded in ``skipped``.
    """
    files, ignored = [], 0
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            skipped.append(f"{folder} ({e.strerror or e})")
            continue
        subdirs = []
        device = os.stat(folder).st_dev
        for entry in entries:
            if entry.name.startswith("."):
                continue
            is_dir = entry.is_dir(follow_symlinks=True)
            # A plain file's inode comes with the directory listing (no stat per file).
            key = file_id(entry) if entry.is_symlink() or is_dir else (device, entry.inode())
            if key is None:
                skipped.append(f"{entry.path} (a broken link)")
                continue
            if key in seen:
                skipped.append(f"{entry.path} -> {os.path.realpath(entry.path)} (already read)")
                continue
            seen.add(key)
            if is_dir:
                subdirs.append(entry.path)
            elif entry.name.lower().endswith(IMAGE_SUFFIXES):
                files.append(entry.path)
            else:
                ignored += 1
        stack.extend(reversed(subdirs))
    return files, ignored


def list_images(directory) -> list[str]:
    """Image files (by suffix) under ``directory``, recursively, in sorted order, as dataset folders list them.

    Hidden files and folders are left out; symbolic links are followed, each
    folder and file read once (see :func:`walk_images`).
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"Expected a directory of images, received {directory!r}.")
    root = os.stat(directory)
    return walk_images(directory, {(root.st_dev, root.st_ino)}, [])[0]
