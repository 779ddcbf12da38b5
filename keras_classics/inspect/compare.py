"""Models side by side: parameters, multiply-adds, depth, minimum input, reported error.

A registered model with its default options at its paper's input is described by
its registry entry, which states every figure (the counts, multiply-adds, depth
and minimum inputs, held equal to the built model by the tests): nothing is
built, and Keras is not imported. Any other model (builder options, another
input size, a ``.keras`` file, a Keras model) is built and measured by
:func:`~keras_classics.inspect.summary`.
"""

from __future__ import annotations

import gc
import sys

from keras_classics.inspect import _format as fmtlib
from keras_classics.inspect._model import BLOCKS, info_for, is_model_file, normalize_shape, parse_spec
from keras_classics.models import list_models, model_info

__all__ = ["compare", "Comparison", "model_table", "inception_reduction"]


class Comparison(list):
    """Rows of :func:`compare` or :func:`model_table` (dicts) with rendering."""

    def __init__(self, rows, columns, title, footer=()):
        super().__init__(rows)
        self.columns = tuple(columns)
        self.title = title
        self.footer = list(footer)

    def render(self, fmt: str = "table") -> str:
        """As ``"table"``, ``"markdown"``, ``"json"`` or ``"csv"``."""
        return fmtlib.render(
            self, self.columns, fmt, title=self.title, footer=self.footer, extra={"notes": self.footer} if fmt == "json" else None
        )

    def __str__(self) -> str:
        return self.render("table")


def _progress(enabled, i, n, label):
    if enabled:
        sys.stderr.write(f"\r[{i}/{n}] {label:<40}")
        sys.stderr.flush()


def _want_progress(progress):
    return sys.stderr.isatty() if progress is None else bool(progress)


def _label(entry) -> str:
    if isinstance(entry, str):
        return entry
    return getattr(entry, "name", repr(entry))


def _min_input(row) -> str:
    """``75``, or ``1 (aux 65)`` where the model has auxiliary heads that need a larger input."""
    shown = fmtlib.plain(row.get("min_input"))
    aux = row.get("min_input_aux")
    return f"{shown} (aux {aux})" if aux is not None and shown else shown


def _stated(entry, input_shape):
    """The registry entry whose stated figures describe ``entry`` at ``input_shape``, else ``None``.

    Those are a registered name without builder options at its paper's input (or none given).
    """
    if not isinstance(entry, str) or is_model_file(entry):
        return None
    name, options = parse_spec(entry)
    if options or name not in list_models():
        return None
    info = model_info(name)
    if info.macs is None or info.depth is None:
        return None
    if input_shape is not None and normalize_shape(input_shape) != (info.default_size, info.default_size, 3):
        return None
    return info


def _measured(entry, input_shape, info):
    """A row measured on the built model."""
    # The inspector's walker imports Keras: loaded only when a model has to be built.
    from keras_classics.inspect.summary import summary

    s = summary(entry, input_shape)
    if info is None and is_model_file(entry):
        info = info_for(s.model_name)
    shape = s.totals["input_shape"]
    row = {
        "model": _label(entry) if isinstance(entry, str) else s.model_name,
        "params": s.totals["trainable_params"],
        "macs": s.totals["macs"],
        "input_size": tuple(shape[:2]) if isinstance(shape, tuple) else None,
        "weighted_depth": s.totals["weighted_depth"],
    }
    del s
    gc.collect()
    return row, info


_COMPARE_COLUMNS = (
    fmtlib.Column("model", "model", align="<"),
    fmtlib.Column("params", "params", fmtlib.count),
    fmtlib.Column("params_ratio", "params ratio", fmtlib.ratio),
    fmtlib.Column("macs", "MACs", fmtlib.human),
    fmtlib.Column("macs_ratio", "MACs ratio", fmtlib.ratio),
    fmtlib.Column("input_size", "input", fmtlib.window),
    fmtlib.Column("weighted_depth", "depth"),
    fmtlib.Column("min_input", "min input", cell=_min_input),
    fmtlib.Column("top1_error", "top-1 err", fmtlib.error),
    fmtlib.Column("top5_error", "top-5 err", fmtlib.error),
)


def _ratio(a, b):
    return None if a is None or not b else a / b


def compare(models, input_shape=None, *, progress=None) -> Comparison:
    """One row per model: parameters, multiply-adds, weighted depth, minimum input,
    the paper's ImageNet error, and the ratios of parameters and MACs to the first.

    Args:
        models: registered names (``"alexnet"``), names with builder options
            (``"resnet50:stride_in=3x3"``), ``"inception_module"`` /
            ``"naive_inception_module"`` (one GoogLeNet module, ``:module=4e`` for
            another row of Table 1), ``.keras`` paths or Keras models.
        input_shape: one input for all (``None``: each model's paper resolution).
        progress: print progress to stderr (default: when it is a terminal).

    Returns:
        A :class:`Comparison` of dicts with keys ``model, params`` (trainable),
        ``macs, input_size, weighted_depth, min_input, min_input_aux`` (with the
        auxiliary heads, for a registered name without options; else ``None``), ``top1_error, top5_error,
        error_note, params_ratio, macs_ratio``. A registered name without
        options, at its paper's input, is read from its registry entry; any
        other model is built.

    Example:
        >>> rows = compare(["alexnet", "googlenet"])
        >>> rows[1]["params_ratio"]        # GoogLeNet / AlexNet parameters
        0.1148...
    """
    if isinstance(models, (str, bytes)) or not hasattr(models, "__iter__"):
        models = [models]
    models = list(models)
    if not models:
        raise ValueError("`compare` needs at least one model. Received an empty list.")
    show = _want_progress(progress)
    rows, built = [], False
    for i, entry in enumerate(models, 1):
        info = _stated(entry, input_shape)
        if info is not None:
            size = info.default_size
            row = {"model": entry, "params": info.params, "macs": info.macs, "input_size": (size, size),
                   "weighted_depth": info.depth}
        else:
            _progress(show, i, len(models), f"building {_label(entry)}")
            built = True
            info = None if isinstance(entry, str) and parse_spec(entry)[0] in BLOCKS else info_for(entry)
            row, info = _measured(entry, input_shape, info)
        # The registry's minimum with aux heads is its default options' (GoogLeNet's torchvision
        # variant pools its aux heads adaptively and takes any size): shown for plain names only.
        plain_name = isinstance(entry, str) and not is_model_file(entry) and not parse_spec(entry)[1]
        row.update({
            "min_input": info.min_size if info else None,
            "min_input_aux": info.aux_min_size if info and plain_name else None,
            "top1_error": info.top1_error if info else None,
            "top5_error": info.top5_error if info else None,
            "error_note": info.error_note if info else None,
        })
        rows.append(row)
    if show and built:
        sys.stderr.write("\n")
    first = rows[0]
    for r in rows:
        r["params_ratio"] = _ratio(r["params"], first["params"])
        r["macs_ratio"] = _ratio(r["macs"], first["macs"])
    footer = []
    for r in rows[1:]:
        footer.append(
            f"{r['model']} has {_words(r['params_ratio'])} the parameters of {first['model']} "
            f"and needs {_words(r['macs_ratio'])} its multiply-adds."
        )
    footer.append(
        "params: trainable parameters; MACs: multiply-adds of convolutions and dense layers "
        "per image at the input shown; depth: conv and dense layers on the longest path; "
        "errors: ImageNet validation as reported in each paper (see `error_note` in JSON)."
    )
    return Comparison(rows, _COMPARE_COLUMNS, "Model comparison", footer)


def _words(ratio) -> str:
    if ratio is None:
        return "an unknown share of"
    if ratio < 0.5:
        return f"{ratio:.3g}x (about 1/{1 / ratio:.1f} of)"
    return f"{ratio:.3g}x"


_TABLE_COLUMNS = (
    fmtlib.Column("name", "model", align="<"),
    fmtlib.Column("params", "params", fmtlib.count),
    fmtlib.Column("macs", "MACs", fmtlib.human),
    fmtlib.Column("weighted_depth", "depth"),
    fmtlib.Column("default_size", "input"),
    fmtlib.Column("min_input", "min input", cell=_min_input),
    fmtlib.Column("top1_error", "top-1 err", fmtlib.error),
    fmtlib.Column("top5_error", "top-5 err", fmtlib.error),
    fmtlib.Column("year", "year"),
    fmtlib.Column("paper", "paper", align="<"),
)


def model_table(pattern: str | None = None, *, progress=None) -> Comparison:
    """Every registered model: parameters, multiply-adds, depth, inputs, paper, year.

    Every figure is the one its registry entry states (``params``: trainable,
    1000 classes or the builder's default; ``macs`` and ``depth`` at the paper's
    input; ``min_input`` and, for models with auxiliary heads,
    ``min_input_aux``). Nothing is built and Keras is not imported; the tests
    hold each stated figure equal to what the built model computes.

    Args:
        pattern: a glob on the names (``"resnet*"``).
        progress: accepted as before; there is nothing to report progress on.
    """
    names = list_models(pattern)
    if not names:
        raise ValueError(
            f"No registered model matches {pattern!r}. Available: {', '.join(list_models())}."
        )
    rows = []
    for name in names:
        info = model_info(name)
        rows.append(
            {
                "name": name,
                "family": info.family,
                "params": info.params,
                "macs": info.macs,
                "weighted_depth": info.depth,
                "default_size": info.default_size,
                "min_input": info.min_size,
                "min_input_aux": info.aux_min_size,
                "top1_error": info.top1_error,
                "top5_error": info.top5_error,
                "paper": info.paper,
                "venue": info.venue,
                "year": info.year,
            }
        )
    footer = [
        "params: trainable, 1000 classes; MACs: multiply-adds of convolutions and dense layers "
        "at the paper's input size; depth: conv and dense layers on the longest path; "
        "min input: the smallest square input (aux: with the auxiliary classifiers on); "
        "errors: ImageNet validation as reported in the paper."
    ]
    return Comparison(rows, _TABLE_COLUMNS, "Registered models", footer)


def inception_reduction(module: str = "3a", input_shape=None, batch_norm: bool = False) -> Comparison:
    """The naive Inception module against the one with 1x1 reductions (paper Fig. 2).

    Both have the same 1x1, 3x3 and 5x5 widths (a row of GoogLeNet's Table 1); the
    reduced module puts 1x1 convolutions before the 3x3 and 5x5 and after the
    pool. At 3a (28x28x192 input) the reductions cut the multiply-adds from about
    304 M to 128 M and the output from 416 to 256 channels.

    Args:
        module: the Table 1 row (``"3a"`` … ``"5b"``).
        input_shape: defaults to the module's input in GoogLeNet at 224.
        batch_norm: batch norm after every conv.
    """
    from keras_classics.inspect._model import inception_block

    naive = inception_block("naive_inception_module", module, input_shape, batch_norm)
    reduced = inception_block("inception_module", module, input_shape, batch_norm)
    rows = compare([naive, reduced], progress=False)
    for r, m in zip(rows, (naive, reduced)):
        r["output_channels"] = int(m.outputs[0].shape[-1])
    saved = rows[0]["macs"] - rows[1]["macs"]
    rows.title = f"Inception {module}: naive module vs 1x1 reductions at {fmtlib.shape(naive.inputs[0].shape[1:])}"
    rows.columns = (
        fmtlib.Column("model", "module", align="<"),
        fmtlib.Column("params", "params", fmtlib.count),
        fmtlib.Column("macs", "MACs", fmtlib.human),
        fmtlib.Column("macs_ratio", "MACs ratio", fmtlib.ratio),
        fmtlib.Column("output_channels", "out channels"),
        fmtlib.Column("weighted_depth", "depth"),
    )
    rows.footer = [
        f"The 1x1 reductions save {fmtlib.human(saved)} multiply-adds ({100 * saved / rows[0]['macs']:.0f}%) "
        f"and {rows[0]['output_channels'] - rows[1]['output_channels']} output channels, "
        f"which every later module would have paid for again."
    ]
    return rows
