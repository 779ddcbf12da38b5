"""The generated "shapes" dataset: a real, offline image-classification task.

Ten classes of geometric shapes and glyphs, rendered with NumPy (no files, no
network): each image shows one shape at a random position, scale, rotation and
colour over a cluttered background (a colour gradient, distractor blobs, thin
lines, one of which may cross the shape, and pixel noise). Shapes are
anti-aliased by 4-point supersampling. Everything follows from the seed: the
same ``(n, image_size, seed, split)`` always gives the same bytes.

Generation is vectorised (about 600 images per second at 64x64 and 2,500 at
32x32 per CPU core) and cached as ``.npz`` under ``$KERAS_CLASSICS_CACHE`` (default
``~/.cache/keras_classics``), written to a temporary file and renamed so a
killed run never leaves half a file. The cache is bounded
(``$KERAS_CLASSICS_SHAPES_CACHE_MB``, default 90 MiB): the least recently used
sets are removed to make room, and a set larger than the bound is rendered each
time instead of cached. The pixel noise leaves nothing for a compressor to take
(``np.savez_compressed`` keeps 94% of the bytes at 64x64, and writes 50 times
slower), so the files are stored as they are. :func:`cached_shapes` lists the
cache and :func:`clear_shapes_cache` empties it (``keras-classics cache``).

Example:
    >>> images, labels = generate_shapes(100, image_size=32, seed=0)
    >>> images.shape, images.dtype, np.bincount(labels).tolist()
    ((100, 32, 32, 3), dtype('uint8'), [10, 10, 10, 10, 10, 10, 10, 10, 10, 10])
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from keras_classics.io import atomic_path

log = logging.getLogger("keras_classics.data")

SHAPE_CLASSES = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "crescent",
    "heart",
    "arrow",
    "semicircle",
)
"""Class names of the generated dataset, in label order."""

SPLITS = ("train", "validation")

# Bump when the rendering changes, so stale cache files are never reused.
GENERATOR_VERSION = 2

_CHUNK = 256  # images rendered at once (bounds the working memory)
# Sub-pixel sample offsets for anti-aliasing (a rotated 2x2 grid).
_AA_OFFSETS = ((-0.125, -0.375), (0.375, -0.125), (0.125, 0.375), (-0.375, 0.125))


def cache_dir() -> Path:
    """The cache folder: ``$KERAS_CLASSICS_CACHE`` or ``~/.cache/keras_classics``."""
    env = os.environ.get("KERAS_CLASSICS_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "keras_classics"


#: Environment variable: the most the shapes cache holds, in MiB (0: nothing is cached).
CACHE_LIMIT_ENV = "KERAS_CLASSICS_SHAPES_CACHE_MB"
DEFAULT_CACHE_LIMIT_MIB = 90

# The cache's own files: a set, and a set being written (io.atomic_path's temporary name). Any other
# file in the folder is not the package's and is never listed, counted or removed.
_CACHE_FILE = re.compile(r"shapes-v\d+-(train|validation)-n\d+-s\d+-seed\d+\.npz")
_CACHE_TEMP = re.compile(r"\.(shapes-v\d+-(train|validation)-n\d+-s\d+-seed\d+\.npz)\.\d+-[0-9a-f]{8}\.tmp\.npz")


def cache_limit() -> int:
    """The shapes cache's bound in bytes: ``$KERAS_CLASSICS_SHAPES_CACHE_MB`` MiB, default 90."""
    text = os.environ.get(CACHE_LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_CACHE_LIMIT_MIB * 2**20
    try:
        mib = float(text)
    except ValueError:
        mib = -1
    if not mib >= 0:
        raise ValueError(f"{CACHE_LIMIT_ENV} must be a number of MiB, 0 or more (0: no cache). Received: {text!r}")
    return int(mib * 2**20)


def cached_shapes(folder=None) -> list[tuple[Path, int]]:
    """The shapes cache's own files, ``(path, bytes)``, oldest use first.

    Only files named as the cache names them count (``shapes-v2-train-n10000-s64-seed0.npz``, and
    the hidden temporary file of a write that was killed); symbolic links and anything else in the
    folder are not the package's and are left out.
    """
    folder = Path(folder) if folder is not None else cache_dir()
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        if (_CACHE_FILE.fullmatch(entry.name) or _CACHE_TEMP.fullmatch(entry.name)) and entry.is_file(
                follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            found.append((stat.st_mtime, Path(entry.path), stat.st_size))
    return [(path, size) for _, path, size in sorted(found)]


def clear_shapes_cache(folder=None) -> list[tuple[Path, int]]:
    """Remove the shapes cache's own files (:func:`cached_shapes`); return what was removed.

    Nothing else in the folder is touched, and the folder itself stays.
    """
    removed = []
    for path, size in cached_shapes(folder):
        try:
            path.unlink()
        except FileNotFoundError:  # removed meanwhile (another process made room)
            continue
        removed.append((path, size))
    return removed


def _make_room(folder: Path, needed: int, limit: int, replacing: Path) -> None:
    """Remove the least recently used sets until a file of ``needed`` bytes, written as ``replacing``, fits
    under ``limit``. Another process's write in progress (a temporary file) is left alone."""
    files = [(p, s) for p, s in cached_shapes(folder) if p != replacing and not p.name.startswith(".")]
    total = sum(s for _, s in files)
    for path, size in files:
        if total + needed <= limit:
            break
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        total -= size


# --------------------------------------------------------------------------- shapes
# Each shape is an implicit function of local coordinates (u, v) in the unit disc
# (v points down, as image rows do); True inside. Sizes are chosen so that the
# classes cover comparable areas.


def _regular_polygon(u, v, sides, radius):
    r = np.hypot(u, v)
    sector = 2 * np.pi / sides
    phi = np.mod(np.arctan2(v, u), sector) - sector / 2
    return r * np.cos(phi) <= radius * np.cos(np.pi / sides)


def _circle(u, v):
    return u * u + v * v <= 0.82**2


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.68


def _triangle(u, v):
    return _regular_polygon(u, v, 3, 1.0)


def _star(u, v, points=5, outer=1.0, inner=0.42):
    # Fold the angle into one half-spike [0, pi/points]; inside when the point
    # lies on the origin's side of the edge from the tip to the inner vertex.
    r = np.hypot(u, v)
    sector = 2 * np.pi / points
    a = np.mod(np.arctan2(v, u), sector)
    a = np.minimum(a, sector - a)
    px, py = r * np.cos(a), r * np.sin(a)
    ix, iy = inner * np.cos(np.pi / points), inner * np.sin(np.pi / points)
    ex, ey = ix - outer, iy  # edge direction from the tip (outer, 0)
    side = ex * py - ey * (px - outer)
    origin_side = ex * 0.0 - ey * (0.0 - outer)
    return side * origin_side >= 0


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    return ((au <= 0.27) & (av <= 0.92)) | ((av <= 0.27) & (au <= 0.92))


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 <= 0.92**2) & (r2 >= 0.55**2)


def _crescent(u, v):
    return (u * u + v * v <= 0.92**2) & ((u - 0.42) ** 2 + v * v >= 0.75**2)


def _heart(u, v):
    x, y = 1.25 * u, -1.25 * v + 0.2
    return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0


def _arrow(u, v):
    shaft = (np.abs(v) <= 0.17) & (u >= -0.95) & (u <= 0.2)
    head = (u >= 0.1) & (u <= 0.95) & (np.abs(v) <= 0.62 * (0.95 - u) / 0.85)
    return shaft | head


def _semicircle(u, v):
    return (u * u + (v - 0.35) ** 2 <= 0.98**2) & (v <= 0.35)


_SHAPE_FUNCS = (
    _circle, _square, _triangle, _star, _cross, _ring, _crescent, _heart, _arrow, _semicircle,
)  # fmt: skip
assert len(_SHAPE_FUNCS) == len(SHAPE_CLASSES)


# --------------------------------------------------------------------------- rendering


# How hard the task is: the ranges every image's random choices are drawn from.
# Sizes are fractions of the image side.
DIFFICULTY = {
    "radius": (0.25, 0.40),  # shape radius
    "margin": 0.04,  # the shape stays this far inside the border
    "stretch": (0.92, 1.08),  # anisotropic scale before rotation
    "min_contrast": 140.0,  # RGB distance of the shape colour from the background under it
    "blob_p": 0.5,  # probability of each of 3 distractor blobs
    "blob_radius": (0.02, 0.06),
    "line_p": (0.6, 0.4, 0.2, 0.12),  # 3 lines behind the shape, the last one over it
    "line_width": (0.4, 0.9),  # pixels at 64x64
    "noise": (2.0, 9.0),  # standard deviation of the pixel noise
}


def _sample_params(rng: np.random.Generator, labels: np.ndarray, size: int) -> dict:
    """All random choices for a set of images, drawn in one fixed order."""
    d = DIFFICULTY
    n = len(labels)
    p = {}
    p["bg0"] = rng.uniform(0, 255, (n, 3))
    p["bg1"] = rng.uniform(0, 255, (n, 3))
    p["bg_angle"] = rng.uniform(0, 2 * np.pi, n)
    # The shape lies fully inside the image, with a margin.
    radius = rng.uniform(*d["radius"], n) * size
    margin = d["margin"] * size
    p["radius"] = radius
    lo, hi = radius + margin, size - radius - margin
    p["cx"] = lo + rng.uniform(0, 1, n) * (hi - lo)
    p["cy"] = lo + rng.uniform(0, 1, n) * (hi - lo)
    p["angle"] = rng.uniform(0, 2 * np.pi, n)
    p["stretch"] = rng.uniform(*d["stretch"], n)
    # Shape colour: the first of 8 candidates far enough from the background
    # under the shape (the farthest one if none is).
    cand = rng.uniform(0, 255, (n, 8, 3))
    t = 0.5 + ((p["cx"] / size - 0.5) * np.cos(p["bg_angle"]) + (p["cy"] / size - 0.5) * np.sin(p["bg_angle"]))
    bg_at_shape = p["bg0"] + (p["bg1"] - p["bg0"]) * np.clip(t, 0, 1)[:, None]
    dist = np.linalg.norm(cand - bg_at_shape[:, None, :], axis=-1)
    ok = dist >= d["min_contrast"]
    pick = np.where(ok.any(axis=1), ok.argmax(axis=1), dist.argmax(axis=1))
    p["color"] = cand[np.arange(n), pick]
    # Clutter: distractor blobs (smaller than any shape), lines behind the
    # shape and one over it.
    p["blob_on"] = rng.uniform(0, 1, (n, 3)) < d["blob_p"]
    p["blob_xy"] = rng.uniform(0, size, (n, 3, 2))
    p["blob_r"] = rng.uniform(*d["blob_radius"], (n, 3)) * size
    p["blob_ratio"] = rng.uniform(0.5, 1.0, (n, 3))
    p["blob_color"] = rng.uniform(0, 255, (n, 3, 3))
    p["line_on"] = rng.uniform(0, 1, (n, 4)) < np.array(d["line_p"])
    p["line_ends"] = rng.uniform(-0.1 * size, 1.1 * size, (n, 4, 2, 2))
    p["line_width"] = rng.uniform(*d["line_width"], (n, 4)) * max(size / 64, 0.5)
    p["line_color"] = rng.uniform(0, 255, (n, 4, 3))
    p["noise_std"] = rng.uniform(*d["noise"], n)
    p["noise_seed"] = rng.integers(0, 2**63, n, dtype=np.int64)
    return {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in p.items()}


def _segment_distance(x, y, a, b):
    """Distance from pixel centres (x, y) [S, S] to segments a-b [n, 2]."""
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = (b[:, 0] - a[:, 0])[:, None, None], (b[:, 1] - a[:, 1])[:, None, None]
    length2 = np.maximum(dx * dx + dy * dy, 1e-6)
    t = np.clip(((x - ax) * dx + (y - ay) * dy) / length2, 0.0, 1.0)
    return np.hypot(x - ax - t * dx, y - ay - t * dy)


def _over(canvas, alpha, color):
    """Composite a colour with coverage alpha [n, S, S] onto canvas [n, S, S, 3], in place."""
    delta = color[:, None, None, :].astype(np.float32) - canvas
    delta *= alpha[..., None]
    canvas += delta


def _render(labels: np.ndarray, p: dict, size: int) -> np.ndarray:
    n = len(labels)
    coords = np.arange(size, dtype=np.float32) + 0.5
    x, y = coords[None, :], coords[:, None]  # pixel centres, [1, S] and [S, 1]

    # Background: a linear gradient between two colours.
    ca, sa = np.cos(p["bg_angle"])[:, None, None], np.sin(p["bg_angle"])[:, None, None]
    t = np.clip(0.5 + ((x / size - 0.5) * ca + (y / size - 0.5) * sa), 0.0, 1.0)
    img = (p["bg0"][:, None, None, :] + (p["bg1"] - p["bg0"])[:, None, None, :] * t[..., None]).astype(np.float32)

    # Distractor blobs (small ellipses, later ones on top), composited in one pass.
    top = np.zeros((n, size, size), np.intp)  # 1 + index of the topmost blob, 0 for none
    for k in range(p["blob_on"].shape[1]):
        bx, by = p["blob_xy"][:, k, 0, None, None], p["blob_xy"][:, k, 1, None, None]
        r = p["blob_r"][:, k, None, None]
        inside = ((x - bx) / r) ** 2 + ((y - by) / (r * p["blob_ratio"][:, k, None, None])) ** 2 <= 1.0
        top[inside & p["blob_on"][:, k, None, None]] = k + 1
    colors = np.concatenate([np.zeros((n, 1, 3)), p["blob_color"]], axis=1).astype(np.float32)
    blob_rgb = np.take_along_axis(colors, top.reshape(n, -1, 1), axis=1).reshape(img.shape)
    img = np.where((top > 0)[..., None], blob_rgb, img)

    def draw_line(img, k):
        on = np.flatnonzero(p["line_on"][:, k])  # draw only where this line is present
        if on.size:
            d = _segment_distance(x, y, p["line_ends"][on, k, 0], p["line_ends"][on, k, 1])
            alpha = np.clip(p["line_width"][on, k, None, None] + 0.5 - d, 0.0, 1.0)
            part = img[on]
            _over(part, alpha, p["line_color"][on, k])
            img[on] = part

    for k in range(3):
        draw_line(img, k)

    # The shape: coverage from 4 sub-pixel samples of its implicit function.
    coverage = np.zeros((n, size, size), np.float32)
    cos, sin = np.cos(p["angle"]), np.sin(p["angle"])
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        cx, cy = p["cx"][idx, None, None], p["cy"][idx, None, None]
        c, s = cos[idx, None, None], sin[idx, None, None]
        radius, stretch = p["radius"][idx, None, None], p["stretch"][idx, None, None]
        for ox, oy in _AA_OFFSETS:
            dx, dy = (x + ox - cx) / radius, (y + oy - cy) / radius
            u = (c * dx + s * dy) * stretch  # rotate by -angle, then stretch
            v = (-s * dx + c * dy) / stretch
            coverage[idx] += _SHAPE_FUNCS[label](u, v)
    _over(img, coverage / len(_AA_OFFSETS), p["color"])
    draw_line(img, 3)  # the occluding line

    # Pixel noise, from a per-image seed so it does not depend on the chunking.
    noise = np.stack([np.random.default_rng(s).standard_normal((size, size, 3), np.float32) for s in p["noise_seed"]])
    noise *= p["noise_std"][:, None, None, None].astype(np.float32)
    img += noise
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, received {value!r}.")


def _draw(n, image_size, seed, split):
    """The labels and every random choice of the ``n`` images of a split (nothing rendered yet)."""
    _check_int("n", n, 1)
    _check_int("image_size", image_size, 16)
    _check_int("seed", seed, 0)
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}. Accepted: {', '.join(SPLITS)}.")
    rng = np.random.default_rng([GENERATOR_VERSION, int(seed), SPLITS.index(split), int(image_size)])
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    return labels, _sample_params(rng, labels, image_size)


def _images_at(n, image_size, seed, split, start, stop) -> np.ndarray:
    """Images ``start`` to ``stop - 1`` of :func:`generate_shapes`'s ``n``, rendered alone (the same bytes)."""
    labels, params = _draw(n, image_size, seed, split)
    sl = slice(start, stop)
    return _render(labels[sl], {k: v[sl] for k, v in params.items()}, image_size)


def generate_shapes(
    n: int,
    image_size: int = 64,
    seed: int = 0,
    *,
    split: str = "train",
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` images of the shapes dataset (no cache; see :func:`load_shapes`).

    Classes are balanced: the labels are ``arange(n) % 10`` in a seeded random
    order, so each class has ``n // 10`` or ``n // 10 + 1`` images.

    Args:
        n: number of images.
        image_size: side of the square images in pixels (at least 16).
        seed: non-negative integer; the same ``(n, image_size, seed, split)``
            gives identical bytes.
        split: ``"train"`` or ``"validation"``: independent random streams, so
            the two splits are independent samples.
        progress: show a progress bar.

    Returns:
        ``(images, labels)``: uint8 ``[n, image_size, image_size, 3]`` and int64 ``[n]``.

    Example:
        >>> images, labels = generate_shapes(20, image_size=32, seed=1)
        >>> np.bincount(labels, minlength=10).tolist()
        [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    labels, params = _draw(n, image_size, seed, split)
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(n, unit_name="image")

    def render(start):
        sl = slice(start, min(start + _CHUNK, n))
        images[sl] = _render(labels[sl], {k: v[sl] for k, v in params.items()}, image_size)
        return sl.stop

    # Chunks are independent (all random choices are drawn above), and NumPy
    # releases the GIL in its array loops: render them on several threads.
    workers = max(1, min(8, os.cpu_count() or 1))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for done, _ in enumerate(pool.map(render, range(0, n, _CHUNK)), 1):
            if bar is not None:
                bar.update(min(done * _CHUNK, n))
    return images, labels


def load_shapes(
    n: int,
    image_size: int = 64,
    seed: int = 0,
    *,
    split: str = "train",
    cache: bool = True,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`generate_shapes` through the on-disk cache.

    The cache file ``shapes-v{version}-{split}-n{n}-s{size}-seed{seed}.npz`` is
    read when present and valid, else the images are rendered and written to a
    temporary file in the cache folder, then renamed into place, after the least
    recently used sets are removed to keep the cache under :func:`cache_limit`.
    A set larger than the bound is rendered and not cached. An unwritable cache
    folder only logs a warning.

    Args:
        n, image_size, seed, split: as in :func:`generate_shapes`.
        cache: read and write the cache (False: always render, write nothing).
        progress: show a progress bar while rendering; default: for 5,000 images or more.

    Returns:
        ``(images, labels)`` as :func:`generate_shapes`.
    """
    if progress is None:
        progress = n >= 5000
    if not cache:
        return generate_shapes(n, image_size, seed, split=split, progress=progress)
    _check_int("n", n, 1)
    _check_int("image_size", image_size, 16)
    _check_int("seed", seed, 0)
    folder = cache_dir()
    limit = cache_limit()
    path = folder / f"shapes-v{GENERATOR_VERSION}-{split}-n{n}-s{image_size}-seed{seed}.npz"
    if path.is_file() and not path.is_symlink():
        try:
            with np.load(path) as f:
                images, labels = f["images"], f["labels"]
            if images.shape == (n, image_size, image_size, 3) and labels.shape == (n,):
                _touch(path)
                return images, labels
            log.warning("Ignoring cache file %s: unexpected array shapes.", path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            log.warning("Ignoring unreadable cache file %s (%s).", path, e)
    size = n * image_size * image_size * 3 + 8 * n + 1024  # images, labels and the .npz headers
    fits = size <= limit
    if progress:
        where = f"cached in {folder}" if fits else (
            f"not cached: {size / 2**20:.0f} MiB is over the shapes cache's {limit / 2**20:.3g} MiB, "
            f"{CACHE_LIMIT_ENV}")
        print(f"Rendering the shapes dataset: {n:,} {split} images of {image_size}x{image_size} ({where})")
    images, labels = generate_shapes(n, image_size, seed, split=split, progress=progress)
    if not fits:
        return images, labels
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _make_room(folder, size, limit, replacing=path)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, images=images, labels=labels)
    except OSError as e:
        log.warning("Could not write the shapes cache to %s (%s); continuing without it.", folder, e)
    return images, labels


def _touch(path: Path) -> None:
    """Mark a set as just used: the cache removes the least recently used first."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache still serves its files
        pass
