"""Pictures of the models (matplotlib, PNG): filters, activation maps,
receptive-field growth and training curves.

Every function checks its output path before doing any work (the parent
directory must exist; an existing file is refused unless ``overwrite=True``),
draws on a standalone Agg figure (no pyplot, no display needed), writes a
temporary file next to the target and renames it into place, so a failure never
leaves a half-written picture. Each returns the path written.

Models built from a registry name have random weights unless ``weights`` is
given: their first-layer filters are noise and their activation maps show what
random filters respond to (edges and colour blobs still show). Load trained
weights (a ``.weights.h5`` or ``.keras`` file) to see learned ones.
"""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from keras_classics import images
from keras_classics.io import atomic_path, check_name_length
from keras_classics.metadata import model_metadata
from keras_classics.transforms import preprocess, preprocessing_mode

__all__ = [
    "plot_filters",
    "plot_activations",
    "plot_receptive_field",
    "plot_history",
    "load_image",
    "check_output_path",
]

_DPI = 100


# --- output files -------------------------------------------------------------


def check_output_path(path, overwrite: bool = False) -> str:
    """Validate where a PNG will go; return it as a string.

    Raises:
        ValueError: the name does not end in ``.png``, or a name in it is longer than the file system takes.
        FileNotFoundError: its directory does not exist.
        IsADirectoryError: the path is a directory.
        FileExistsError: the file exists and ``overwrite`` is false.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"The output must be a path ending in .png. Received: {path!r}")
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"Pictures are written as PNG: the output must end in .png. Received: {path!r}")
    check_name_length(path)  # a name the file system refuses: said now, before a model is built
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"The output directory does not exist: {parent!r} (for {path!r}). Create it first.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"The output path is a directory: {path!r}. Give a file name ending in .png.")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"{path!r} already exists; refusing to overwrite it. Pass overwrite=True (--overwrite) to replace it."
        )
    return path


def _new_figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str, dpi: int = _DPI) -> str:
    """Write ``fig`` as a PNG to ``path`` through a temporary file and a rename
    (:func:`keras_classics.io.atomic_path`; the package's pictures, the experiments' figures)."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


# --- models and images --------------------------------------------------------


def _load_weights(model, weights):
    path = os.fspath(weights)
    if not (path.endswith(".weights.h5") or path.endswith(".keras")):
        raise ValueError(f"`weights` must be a .weights.h5 or .keras file. Received: {path!r}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Weights file not found: {path!r}")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except ValueError as e:
            raise ValueError(f"Could not load {path!r} into {model.name!r}: {e}") from None
    # Keras warns, and keeps fresh weights, for parts of the model the file does not cover.
    partial = [str(w.message) for w in caught if "freshly-initialized" in str(w.message)
               or "no matching group" in str(w.message)]
    if partial:
        raise ValueError(f"Could not load {path!r} into {model.name!r}: the file does not match its layers "
                         f"({partial[0].splitlines()[0]})")
    for w in caught:
        if "optimizer" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _builder_weights(name, weights) -> bool:
    """Whether ``weights`` is for the builder: a weights set of ``name``, a .safetensors/.pth file, or a
    .weights.h5 file (with or without the classifier: the builder checks it against the model, array by array)."""
    from keras_classics.models import list_models, model_info

    if name not in list_models():
        return False
    text = os.fspath(weights)
    return text in model_info(name).weights or text.endswith((".safetensors", ".pth", ".pt", ".bin", ".weights.h5"))


def _model_for_pictures(model_or_name, weights, input_shape=None, top=False, **builder_kwargs):
    """``(model, info, note)``: build a name headless (faster) unless weights need the top."""
    import keras

    from keras_classics.inspect._model import is_model_file, parse_spec, resolve

    named = isinstance(model_or_name, str) and not is_model_file(model_or_name)
    # A weights set (--weights torchvision) or a torchvision-layout file goes to the builder, which
    # picks the variant the weights need; the classifier is left out unless asked for.
    pretrained = named and weights is not None and _builder_weights(parse_spec(model_or_name)[0], weights)
    if named and (not weights or pretrained) and not top and "include_top" not in parse_spec(model_or_name)[1]:
        builder_kwargs.setdefault("include_top", False)
    if pretrained:
        builder_kwargs["weights"] = weights
    try:
        model, info, _ = resolve(model_or_name, input_shape, default_input=input_shape is not None, **builder_kwargs)
    except ValueError:
        # A .weights.h5 file saved with the classifier does not fit the headless model tried first: the whole one.
        headless = builder_kwargs.get("include_top") is False and "include_top" not in parse_spec(model_or_name)[1]
        if not (pretrained and headless and os.fspath(weights).endswith(".weights.h5")):
            raise
        builder_kwargs["include_top"] = True
        model, info, _ = resolve(model_or_name, input_shape, default_input=input_shape is not None, **builder_kwargs)
    if pretrained:
        note = f"weights: {weights}" if os.sep not in str(weights) else f"weights: {os.path.basename(weights)}"
    elif weights:
        _load_weights(model, weights)
        note = f"weights: {os.path.basename(os.fspath(weights))}"
    elif named:
        note = "random weights"
    elif is_model_file(model_or_name):
        note = f"weights: {os.path.basename(os.fspath(model_or_name))}"
    else:
        note = ""
    assert isinstance(model, keras.Model)
    return model, info, note


def _layer(model, name, want_conv=False, hint=""):
    from keras_classics.inspect.summary import CONV_KINDS

    names = [l.name for l in model.layers]
    convs = [l.name for l in model.layers if type(l).__name__ in CONV_KINDS]
    if name is None:
        if not convs:
            raise ValueError(f"Model {model.name!r} has no convolution layer.")
        return model.get_layer(convs[0])
    if name not in names:
        pool = convs if want_conv else names
        raise ValueError(
            f"No layer named {name!r} in {model.name!r}. Available{' convolution' if want_conv else ''} "
            f"layers: {', '.join(pool)}{hint}"
        )
    layer = model.get_layer(name)
    if want_conv and type(layer).__name__ not in CONV_KINDS:
        raise ValueError(
            f"Layer {name!r} is a {type(layer).__name__}, not a convolution: filters need a conv layer. "
            f"Convolution layers: {', '.join(convs)}"
        )
    return layer


def load_image(image, size, crop_fraction: float = 1.0, interpolation: str = "bilinear"):
    """An RGB image as a float32 ``(H, W, 3)`` array in [0, 255], resized and centre-cropped.

    The image path of ``predict`` and of training's validation
    (:func:`keras_classics.images.load_image`): shorter side resized, centre
    cropped, bilinear (or ``interpolation``) with antialiasing where it shrinks.

    Args:
        image: a path to an image file (JPEG, PNG, GIF, BMP, WebP, TIFF) or an
            array ``(H, W, 3)`` / ``(H, W)`` of values in [0, 255].
        size: ``(height, width)`` of the result.
        crop_fraction, interpolation: see :func:`keras_classics.images.resize_and_crop`.

    Raises:
        FileNotFoundError, IsADirectoryError: for a bad path.
        ValueError: for a file that is not an image, or an array of the wrong shape.
    """
    h, w = size
    if isinstance(image, (str, os.PathLike)):
        return images.load_image(image, (h, w), crop_fraction, interpolation=interpolation)
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"An image array must be (H, W), (H, W, 1) or (H, W, 3). Received shape {arr.shape}.")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    import tensorflow as tf

    pixels = tf.constant(np.clip(arr, 0, 255).astype(np.float32))
    return images.resize_and_crop(pixels, h, w, crop_fraction, interpolation).numpy()


def _mosaic(tiles, cols, gap=1, fill=1.0):
    """Tiles ``(n, h, w[, 3])`` in a grid with ``gap``-pixel borders."""
    n, th, tw = tiles.shape[:3]
    rows = math.ceil(n / cols)
    shape = (rows * (th + gap) + gap, cols * (tw + gap) + gap) + tiles.shape[3:]
    out = np.full(shape, fill, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = gap + r * (th + gap), gap + c * (tw + gap)
        out[y : y + th, x : x + tw] = tiles[i]
    return out


# --- pictures -----------------------------------------------------------------


def plot_filters(
    model_or_name,
    path,
    *,
    layer: str | None = None,
    weights=None,
    max_filters: int = 96,
    overwrite: bool = False,
    **builder_kwargs,
) -> str:
    """Grid of a convolution layer's filters (default: the first conv layer).

    Filters with 3 input channels are drawn in colour, each scaled to its own
    range; deeper layers show each filter's mean over its input channels on a
    blue–red scale centred at zero. The picture is 10 inches (1000 px) wide.

    Args:
        model_or_name: registered name (built with random weights unless
            ``weights`` is given), ``.keras`` path or ``keras.Model``.
        path: the ``.png`` to write.
        layer: conv layer name; default the first one.
        weights: a ``.weights.h5`` or ``.keras`` file to load into the model.
        max_filters: draw at most this many (the first ones).
        overwrite: replace an existing file.
        **builder_kwargs: builder options for a name (``variant="owt"``).

    Returns:
        ``path``.

    Example:
        >>> plot_filters("alexnet", "filters.png", layer="conv1")
    """
    path = check_output_path(path, overwrite)
    if not isinstance(max_filters, int) or max_filters < 1:
        raise ValueError(f"`max_filters` must be a positive integer. Received: {max_filters!r}")
    model, _, note = _model_for_pictures(model_or_name, weights, **builder_kwargs)
    conv = _layer(model, layer, want_conv=True)
    kernel = np.asarray(conv.get_weights()[0], dtype=np.float32)  # (kh, kw, cin/groups, cout)
    if kernel.ndim != 4:
        raise ValueError(f"Layer {conv.name!r} has a kernel of shape {kernel.shape}; expected a 2-D convolution.")
    kh, kw, cin, cout = kernel.shape
    n = min(cout, max_filters)
    tiles = np.moveaxis(kernel[..., :n], -1, 0)  # (n, kh, kw, cin)
    if cin == 3:
        lo = tiles.min(axis=(1, 2, 3), keepdims=True)
        hi = tiles.max(axis=(1, 2, 3), keepdims=True)
        tiles = (tiles - lo) / np.maximum(hi - lo, 1e-12)
        how = "RGB, each filter scaled to its own range"
        cmap, vmin, vmax, fill = None, None, None, 1.0
    else:
        tiles = tiles.mean(axis=-1)
        scale = np.abs(tiles).max(axis=(1, 2), keepdims=True)
        tiles = tiles / np.maximum(scale, 1e-12)
        how = f"mean over {cin} input channels, blue < 0 < red"
        cmap, vmin, vmax, fill = "bwr", -1.0, 1.0, 0.0
    cols = max(1, math.ceil(math.sqrt(n * 1.6)))
    rows = math.ceil(n / cols)
    grid = _mosaic(tiles, cols, gap=max(1, kh // 5), fill=fill)
    width = 10.0
    height = min(14.0, max(3.0, width * grid.shape[0] / grid.shape[1] * 0.9 + 1.2))
    fig = _new_figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{n} of {cout} filters, {kh}x{kw}x{cin}, row by row ({how})")
    ax.set_ylabel(f"{rows} rows x {cols} columns")
    ax.set_title(f"{model.name}: {conv.name} filters" + (f" ({note})" if note else ""), fontsize=13)
    return save_figure(fig, path)


def plot_activations(
    model_or_name,
    image,
    path,
    *,
    layer: str,
    weights=None,
    max_maps: int = 15,
    input_size: int | None = None,
    preprocessing: str | None = None,
    overwrite: bool = False,
    **builder_kwargs,
) -> str:
    """The input image and the most active feature maps of one layer.

    The image is resized (shorter side) and centre-cropped to the model's input,
    preprocessed as the model expects (the registry's ``preprocessing``), and run
    up to ``layer``; the ``max_maps`` channels with the largest mean activation
    are drawn, each on its own colour scale: different kernels respond to
    different parts of the image. The picture is 12 inches (1200 px) wide.

    Args:
        model_or_name: registered name, ``.keras`` path or ``keras.Model``.
        image: path to an image file, or an ``(H, W, 3)`` array in [0, 255].
        path: the ``.png`` to write.
        layer: a layer with a 4-D ``(H, W, C)`` output.
        weights: a ``.weights.h5`` or ``.keras`` file to load into the model.
        max_maps: how many maps to draw.
        input_size: square input side for models without a fixed input (default:
            the paper's resolution, else 224).
        preprocessing: ``"caffe"``, ``"torch"``, ``"tf"`` or ``"none"``; default
            the registry's for the model, else ``"none"``.
        overwrite: replace an existing file.
        **builder_kwargs: builder options for a name.

    Returns:
        ``path``.

    Example:
        >>> plot_activations("resnet18", "cat.jpg", "maps.png", layer="conv2_block1_out")
    """
    import keras

    path = check_output_path(path, overwrite)
    if not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"`max_maps` must be a positive integer. Received: {max_maps!r}")
    if preprocessing is not None:
        preprocessing_mode(preprocessing)
    if isinstance(image, (str, os.PathLike)):
        load_image(image, (8, 8))  # fail on a bad image before building anything
    model, info, note = _model_for_pictures(
        model_or_name, weights, None if input_size is None else (input_size, input_size, 3), **builder_kwargs
    )
    headless = not any(l.name == "predictions" for l in model.layers)
    target = _layer(model, layer, hint=" (the classifier is not built: its outputs are not maps)" if headless else "")
    out_shape = tuple(target.output.shape) if hasattr(target, "output") else ()
    if len(out_shape) != 4:
        spatial = [l.name for l in model.layers if len(getattr(l.output, "shape", ())) == 4][1:]
        raise ValueError(
            f"Layer {layer!r} outputs shape {out_shape}; activation maps need a 4-D (batch, H, W, C) output. "
            f"Layers with maps: {', '.join(spatial)}"
        )
    h, w = model.inputs[0].shape[1:3]
    if h is None or w is None:
        side = input_size or (info.default_size if info else 224)
        h, w = side, side
    # A model built with a weights set carries that set's eval transform: the one image path.
    transform = model_metadata(model) or {}
    rgb = load_image(image, (h, w), transform.get("crop_fraction", 1.0), transform.get("interpolation", "bilinear"))
    mode = preprocessing or transform.get("preprocessing") or (info.preprocessing if info else "none")
    x = preprocess(rgb[None].astype(np.float32), mode).astype(np.float32)
    probe = keras.Model(model.inputs, target.output)
    maps = keras.ops.convert_to_numpy(probe([x], training=False))[0]  # (H', W', C)
    channels = maps.shape[-1]
    k = min(max_maps, channels)
    order = np.argsort(-maps.mean(axis=(0, 1)), kind="stable")[:k]
    panels = k + 1
    cols = min(panels, 8 if panels > 12 else 4 if panels > 4 else panels)
    rows = math.ceil(panels / cols)
    width = 12.0
    fig = _new_figure(width, rows * (width / cols + 0.3) + 0.8)
    ax = fig.add_subplot(rows, cols, 1)
    ax.imshow(rgb.astype(np.uint8))
    ax.set_title(f"input {w}x{h}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    for i, ch in enumerate(order, start=2):
        ax = fig.add_subplot(rows, cols, i)
        ax.imshow(maps[..., ch], cmap="viridis", interpolation="nearest")
        mean = float(maps[..., ch].mean())
        ax.set_title(f"ch {ch}, mean {mean:.0f}" if abs(mean) >= 10 else f"ch {ch}, mean {mean:.2g}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"{model.name}: {target.name} activations ({maps.shape[0]}x{maps.shape[1]}x{channels}), "
        f"the {k} most active channels" + (f" ({note})" if note else ""),
        fontsize=12,
    )
    fig.supxlabel("each map on its own colour scale: yellow = strongest response", fontsize=9)
    return save_figure(fig, path)


def plot_receptive_field(models, path, *, input_shape=None, overwrite: bool = False) -> str:
    """Receptive field against depth (conv and dense layers passed) for one or more models.

    Each curve follows a model's layers in order: x is the number of weight
    layers on the longest path to the layer, y the receptive field in input
    pixels (the larger axis). A dashed line marks each distinct input size.
    The picture is 9 by 5.5 inches (900 x 550 px).

    Args:
        models: a name, ``.keras`` path or model, or a list of them.
        path: the ``.png`` to write.
        input_shape: passed to :func:`~keras_classics.inspect.summary`.
        overwrite: replace an existing file.

    Example:
        >>> plot_receptive_field(["alexnet", "vgg16", "googlenet", "resnet50"], "rf.png")
    """
    from keras_classics.inspect._model import is_model_file
    from keras_classics.inspect.summary import summary

    path = check_output_path(path, overwrite)
    if isinstance(models, (str, os.PathLike)) or not hasattr(models, "__iter__"):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError("`plot_receptive_field` needs at least one model. Received an empty list.")
    curves = []
    for m in models:
        kwargs = {}
        if isinstance(m, str) and not is_model_file(m):
            kwargs["include_top"] = False  # the convolutional part is where the field grows
        s = summary(m, input_shape, **kwargs)
        depth_rf = {}
        for r in s:
            rf, depth = r["receptive_field"], r["weighted_depth"]
            if rf is None or r["jump"] is None or depth == 0:
                continue
            rf = max(rf) if isinstance(rf, tuple) else rf
            depth_rf[depth] = max(depth_rf.get(depth, 0), rf)
        if not depth_rf:
            raise ValueError(f"Model {s.model_name!r} has no convolution with a defined receptive field.")
        xs = sorted(depth_rf)
        ys = np.maximum.accumulate([depth_rf[d] for d in xs])
        shape = s.totals["input_shape"]
        curves.append((m if isinstance(m, str) else s.model_name, xs, ys, shape))
    fig = _new_figure(9.0, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    for label, xs, ys, _ in curves:
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.8,
                label=f"{label}: {xs[-1]} weight layers, RF {ys[-1]} px")
    sizes = sorted({sh[0] for *_, sh in curves if isinstance(sh, tuple) and sh[0]})
    for size in sizes:
        ax.axhline(size, color="grey", linestyle="--", linewidth=1)
    if sizes:
        ax.annotate(f"input {' / '.join(map(str, sizes))} px", (1, max(sizes)), xytext=(4, 3),
                    textcoords="offset points", color="grey", fontsize=9)
    max_depth = max(xs[-1] for _, xs, _, _ in curves)
    if max_depth > 40:
        ax.set_xscale("log")
    ax.set_xlabel("depth: conv and dense layers from the input" + (" (log scale)" if max_depth > 40 else ""))
    ax.set_ylabel("receptive field (input pixels)")
    ax.set_title("Receptive field growth by depth", fontsize=13)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9, loc="upper left")
    return save_figure(fig, path)


def _read_history(run_dir):
    path = os.fspath(run_dir)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Run directory not found: {path!r}")
    csv_path = os.path.join(path, "history.csv") if os.path.isdir(path) else path
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(
            f"No history.csv in {path!r}: expected the file Keras' CSVLogger writes during training "
            f"({csv_path!r})."
        )
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"Could not read {csv_path!r} as CSV: {e}") from None
    if len(rows) < 2 or "epoch" not in rows[0]:
        raise ValueError(
            f"{csv_path!r} is not a training history: expected a CSV header with an 'epoch' column "
            f"and at least one row. Received header: {rows[0] if rows else '(empty file)'}"
        )
    header = [h.strip() for h in rows[0]]
    columns = {h: [] for h in header}
    for row in rows[1:]:
        if not row:
            continue
        for h, v in zip(header, row):
            try:
                columns[h].append(float(v))
            except ValueError:
                columns[h].append(float("nan"))
    return csv_path, columns


_LR_NAMES = ("lr", "learning_rate")


def _lr_scale(values):
    """``"log"`` for learning rates that stay positive (step decays read best there), else
    ``"linear"``: a schedule that ends at 0, as the cosine does, would fall off a log axis."""
    arr = np.asarray(values, dtype=float)
    return "log" if arr.size and np.all(arr[np.isfinite(arr)] > 0) else "linear"


def plot_history(run_dir, path, *, overwrite: bool = False) -> str:
    """Training curves from a run directory's ``history.csv`` (Keras ``CSVLogger``).

    One panel per metric (``loss``, ``accuracy``, top-5 …): training and
    validation (``val_*``) against the epoch (counted from 1, as a run's
    ``history.csv`` and ``best_epoch`` count; a plain Keras ``CSVLogger`` file,
    which counts from 0, is shifted by one), the best validation
    value marked; the learning rate, when logged, on a log scale in its own
    panel. Panels are 5 inches (500 px) wide, at most three per row, 4 inches tall.

    Args:
        run_dir: a run directory holding ``history.csv``, or the CSV file itself.
        path: the ``.png`` to write.
        overwrite: replace an existing file.

    Example:
        >>> plot_history("runs/resnet18_cifar10", "curves.png")
    """
    path = check_output_path(path, overwrite)
    csv_path, cols = _read_history(run_dir)
    epochs = np.asarray(cols.pop("epoch"))
    if epochs.size and np.nanmin(epochs) == 0:  # Keras' own CSVLogger counts from 0; runs' history.csv from 1
        epochs = epochs + 1
    names = [h for h in cols if not h.startswith("val_") and h not in _LR_NAMES]
    names += [h[4:] for h in cols if h.startswith("val_") and h[4:] not in cols]
    lr = next((h for h in _LR_NAMES if h in cols), None)
    panels = names + ([lr] if lr else [])
    if not panels:
        raise ValueError(f"{csv_path!r} has an epoch column but no metric columns.")
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = _new_figure(5.0 * ncols, 4.0 * nrows + 0.5)
    for i, name in enumerate(panels, 1):
        ax = fig.add_subplot(nrows, ncols, i)
        if name == lr:
            ax.plot(epochs, cols[name], color="tab:green", marker=".")
            scale = _lr_scale(cols[name])
            ax.set_yscale(scale)
            ax.set_ylabel("learning rate (log scale)" if scale == "log" else "learning rate")
            ax.set_title("learning rate")
        else:
            lower_better = "loss" in name or "error" in name
            if name in cols:
                ax.plot(epochs, cols[name], marker=".", label="training")
            val = cols.get(f"val_{name}")
            if val is not None:
                arr = np.asarray(val)
                ax.plot(epochs, arr, marker=".", label="validation")
                if np.isfinite(arr).any():
                    best = int(np.nanargmin(arr) if lower_better else np.nanargmax(arr))
                    ax.scatter([epochs[best]], [arr[best]], s=60, facecolors="none", edgecolors="black", zorder=3,
                               label=f"best {arr[best]:.4g} (epoch {int(epochs[best])})")
            ax.set_ylabel(name)
            ax.set_title(name.replace("_", " "))
            ax.legend(fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    run_name = os.path.basename(os.path.normpath(os.path.dirname(csv_path) if os.path.basename(csv_path) == "history.csv" else csv_path))
    fig.suptitle(f"Training curves: {run_name} ({len(epochs)} epochs)", fontsize=13)
    return save_figure(fig, path)
