"""Per-layer summary of a built Keras model: shapes, parameters, multiply-adds,
receptive field.

The walker reads the functional graph (layer configs and the shapes of every
layer's inputs and outputs) in topological order and computes every number with
:mod:`keras_classics.arithmetic`:

* **parameters** of convolutions (grouped and depthwise too), dense and batch-norm
  layers from their configs; any other layer holding weights is counted from its
  weights (``params_source == "weights"``);
* **multiply-adds** (MACs) of convolutions and dense layers, bias additions not
  counted. Batch norm, activations, LRN, pooling, additions and concatenations
  are not multiply-adds and count 0: the convention of the published figures.
  1-D and 3-D convolutions (not in these models) count in the depth and by their
  weights, with unknown (``None``) multiply-adds;
* **receptive field and jump** (the distance in input pixels between two
  neighbouring outputs) per axis: a window of size ``F``, dilation ``D`` and
  stride ``S`` turns ``(r, j)`` into ``(r + D(F-1)j, jS)``; where branches merge
  (Inception concatenations, residual additions) the receptive field is the
  largest of the inputs'. A global pooling or a ``Flatten`` sees the whole map.
  The values are the theoretical ones (padding included), which can exceed the
  image;
* **weighted depth**: the number of convolution and dense layers on the longest
  path from the input to a layer (how the papers count "layers": VGG16 has 16,
  GoogLeNet 22, ResNet-50 50).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras

from keras_classics import arithmetic
from keras_classics.inspect import _format as fmtlib
from keras_classics.inspect._model import functional, is_model_file, resolve

__all__ = ["summary", "ModelSummary", "WEIGHT_KINDS", "MAC_KINDS"]

# Layers counted in the weighted depth and in multiply-adds.
CONV_KINDS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose")
WEIGHT_KINDS = CONV_KINDS + ("Dense", "Conv1D", "Conv3D", "Conv1DTranspose", "Conv3DTranspose", "EinsumDense")
MAC_KINDS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense")

_WINDOW_POOLS = ("MaxPooling2D", "AveragePooling2D")
_GLOBAL = ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten")
# Layers that move or crop pixels but do not widen what an output pixel sees.
_SHIFTS = ("ZeroPadding2D", "Cropping2D")


@dataclass
class _Flow:
    """What reaches a tensor: receptive field and jump per axis (``None`` if unknown), depth."""

    rf: tuple | None
    jump: tuple | None
    depth: int


def _hw(shape):
    """``(H, W)`` of a channels-last 4-D shape (batch included), else ``None``."""
    return tuple(shape[1:3]) if shape is not None and len(shape) == 4 else None


def _pair(v):
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _pad_amount(padding):
    """ZeroPadding2D config → ``(top, bottom, left, right)``."""
    (t, b), (l, r) = padding
    return t, b, l, r


def _merge(flows):
    """Receptive field where tensors meet: the largest per axis; unknown if any is."""
    if not flows:
        return _Flow((1, 1), (1, 1), 0)
    depth = max(f.depth for f in flows)
    if any(f.rf is None for f in flows):
        return _Flow(None, None, depth)
    rf = tuple(max(f.rf[a] for f in flows) for a in range(2))
    jumps = [f.jump for f in flows if f.jump is not None]
    jump = tuple(max(j[a] for j in jumps) for a in range(2)) if len(jumps) == len(flows) else None
    return _Flow(rf, jump, depth)


def _window(flow, kernel, stride, dilation=(1, 1)):
    if flow.rf is None or flow.jump is None:
        return _Flow(None, None, flow.depth)
    rf = tuple(flow.rf[a] + (arithmetic.effective_kernel(kernel[a], dilation[a]) - 1) * flow.jump[a] for a in range(2))
    jump = tuple(flow.jump[a] * stride[a] for a in range(2))
    return _Flow(rf, jump, flow.depth)


def _known(hw) -> bool:
    return hw is not None and None not in hw


def _layer_counts(layer):
    """Actual trainable / non-trainable weight counts of a layer."""
    t = sum(math.prod(w.shape) for w in layer.trainable_weights)
    n = sum(math.prod(w.shape) for w in layer.non_trainable_weights)
    return int(t), int(n)


# The layer settings the rows are computed from. They are read from the layer's attributes,
# which hold the same values as its get_config(): that serializes the dtype policy, which makes
# Keras import TensorFlow on every backend (and `keras-classics list` must not start it).
_SETTINGS = ("data_format", "kernel_size", "strides", "dilation_rate", "use_bias", "padding", "groups",
             "filters", "depth_multiplier", "units", "axis", "scale", "center", "pool_size", "cropping")


def _settings(op) -> dict:
    if not isinstance(op, keras.layers.Layer) or isinstance(op, keras.Model):
        return {}
    return {key: getattr(op, key) for key in _SETTINGS if hasattr(op, key)}


def _describe(op, in_shapes, out_shapes, in_flows, first_call):
    """Row fields and output flow of one call of ``op``."""
    kind = type(op).__name__
    row = {
        "kernel": None,
        "stride": None,
        "padding": None,
        "dilation": None,
        "groups": None,
        "trainable_params": 0,
        "non_trainable_params": 0,
        "params_source": None,
        "macs": 0,
    }
    flow = _merge(in_flows)
    in_shape = in_shapes[0] if in_shapes else None
    out_shape = out_shapes[0] if out_shapes else None
    cfg = _settings(op)
    if cfg.get("data_format", "channels_last") != "channels_last" and kind in CONV_KINDS + _WINDOW_POOLS:
        raise ValueError(
            f"Layer {op.name!r} is channels_first; the inspector reads channels_last models only."
        )
    formula = None  # (trainable, non_trainable) from the config
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"):
        kernel = _pair(cfg["kernel_size"])
        stride = _pair(cfg["strides"])
        dilation = _pair(cfg.get("dilation_rate", 1))
        cin = int(in_shape[-1])
        bias = bool(cfg.get("use_bias", True))
        out_hw = _hw(out_shape)
        in_hw = _hw(in_shape)
        row.update(kernel=kernel, stride=stride, padding=cfg["padding"], dilation=dilation)
        if kind == "Conv2D":
            groups = int(cfg.get("groups", 1))
            cout = int(cfg["filters"])
            row["groups"] = groups
            formula = arithmetic.conv_params(kernel, cin, cout, groups, bias)
            macs = arithmetic.conv_macs(kernel, cin, cout, out_hw, groups) if _known(out_hw) else None
        elif kind == "DepthwiseConv2D":
            cout = cin * int(cfg.get("depth_multiplier", 1))
            row["groups"] = cin
            formula = arithmetic.conv_params(kernel, cin, cout, cin, bias)
            macs = arithmetic.conv_macs(kernel, cin, cout, out_hw, cin) if _known(out_hw) else None
        elif kind == "SeparableConv2D":
            mid = cin * int(cfg.get("depth_multiplier", 1))
            cout = int(cfg["filters"])
            row["groups"] = cin
            formula = arithmetic.conv_params(kernel, cin, mid, cin, False) + arithmetic.conv_params(1, mid, cout, 1, bias)
            macs = (
                arithmetic.conv_macs(kernel, cin, mid, out_hw, cin) + arithmetic.conv_macs(1, mid, cout, out_hw)
                if _known(out_hw)
                else None
            )
        else:  # Conv2DTranspose: every input pixel spreads a kernel over the output
            cout = int(cfg["filters"])
            formula = arithmetic.conv_params(kernel, cin, cout, 1, bias)
            macs = arithmetic.conv_macs(kernel, cin, cout, in_hw) if _known(in_hw) else None
        row["macs"] = macs
        if kind == "Conv2DTranspose":
            flow = _Flow(None, None, flow.depth)  # the output grid is finer than the input's
        else:
            flow = _window(flow, kernel, stride, dilation)
        formula = (formula, 0)
    elif kind == "Dense":
        fin, units = int(in_shape[-1]), int(cfg["units"])
        positions = math.prod(in_shape[1:-1]) if None not in in_shape[1:-1] else None
        formula = (arithmetic.dense_params(fin, units, bool(cfg.get("use_bias", True))), 0)
        row["macs"] = None if positions is None else arithmetic.dense_macs(fin, units) * positions
    elif kind == "BatchNormalization":
        axis = cfg.get("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) else axis
        bn = arithmetic.batchnorm_params(int(in_shape[axis]), bool(cfg.get("scale", True)), bool(cfg.get("center", True)))
        formula = (bn["trainable"], bn["non_trainable"])
    elif kind in _WINDOW_POOLS:
        kernel, stride = _pair(cfg["pool_size"]), _pair(cfg["strides"] or cfg["pool_size"])
        row.update(kernel=kernel, stride=stride, padding=cfg["padding"])
        flow = _window(flow, kernel, stride)
    elif kind in _GLOBAL and _hw(in_shape) is not None:
        hw = _hw(in_shape)
        row["kernel"] = None if kind == "Flatten" else "global"
        if None in hw:
            flow = _Flow(None, None, flow.depth)
        else:
            flow = _window(flow, hw, (1, 1))
            flow.jump = None  # no spatial grid any more
    elif kind in _SHIFTS:
        pad = cfg.get("padding") or cfg.get("cropping")
        t, b, l, r = _pad_amount(pad)
        row["padding"] = t if len({t, b, l, r}) == 1 else (t, b, l, r)
    elif isinstance(op, keras.Model):
        inner = summary(op)
        formula = None
        row["macs"] = inner.totals["macs"]
        r, j = inner.totals["receptive_field_hw"], inner.totals["jump_hw"]
        if r is not None and flow.rf is not None and flow.jump is not None and j is not None:
            flow = _Flow(
                tuple(flow.rf[a] + (r[a] - 1) * flow.jump[a] for a in range(2)),
                tuple(flow.jump[a] * j[a] for a in range(2)),
                flow.depth,
            )
        else:
            flow = _Flow(None, None, flow.depth)
        flow.depth += inner.totals["weighted_depth"]
    elif kind in WEIGHT_KINDS:
        # 1-D / 3-D convolutions and einsum layers: weights counted, multiply-adds not modelled.
        row["macs"] = None
        flow = _Flow(None, None, flow.depth)
    else:
        # Element-wise layers and merges keep the receptive field; a layer that changes
        # the spatial grid in a way not modelled above makes it unknown.
        in_hws = {_hw(s) for s in in_shapes}
        out_hws = {_hw(s) for s in out_shapes}
        if in_hws != out_hws and not (len(in_hws) == 1 and None in in_hws):
            if all(h is not None for h in in_hws) and out_hws == {None}:
                hw = next(iter(in_hws))
                flow = _window(flow, hw, (1, 1)) if None not in hw else _Flow(None, None, flow.depth)
                flow.jump = None
            else:
                flow = _Flow(None, None, flow.depth)

    if kind in WEIGHT_KINDS:
        flow.depth += 1

    if isinstance(op, keras.layers.Layer) and first_call:
        actual = _layer_counts(op)
        if formula is not None:
            if not op.trainable:
                formula = (0, formula[0] + formula[1])
            if formula == actual:
                row["params_source"] = "formula"
            else:  # a subclass with extra weights: trust the weights, say so
                formula = None
        if formula is None:
            formula = actual
            row["params_source"] = "weights" if sum(actual) else None
        row["trainable_params"], row["non_trainable_params"] = formula
    elif not first_call and isinstance(op, keras.layers.Layer) and sum(_layer_counts(op)):
        row["params_source"] = "shared"
    return row, flow


def _node_of(tensor):
    op, node_index, _ = tensor._keras_history
    return op._inbound_nodes[node_index]


def _reading_order(graph) -> list:
    """The graph's nodes, each after its inputs, branch by branch as the code wrote them.

    A depth-first walk from the outputs that visits a node's inputs in call order
    (Inception branches 1x1, 3x3, 5x5, pool; a residual block's shortcut, then its
    main path) and lists a node once all its inputs are listed.
    """
    inputs = {id(t) for t in graph.inputs}
    order, done = [], set()
    for out in graph.outputs:
        stack = [(_node_of(out), False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded or node.is_input:
                done.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            for t in reversed(list(node.input_tensors)):
                parent = _node_of(t)
                if id(t) in inputs and not parent.is_input:
                    continue  # the graph starts at this intermediate tensor
                if id(parent) not in done:
                    stack.append((parent, False))
    # Inputs not reached from any output still get their row, first.
    unused = [_node_of(t) for t in graph.inputs if _node_of(t).is_input and id(_node_of(t)) not in done]
    return unused + order


def _square(v):
    if v is None:
        return None
    return v[0] if v[0] == v[1] else tuple(v)


class ModelSummary(list):
    """The rows of :func:`summary` (a list of dicts) with ``totals`` and rendering.

    Attributes:
        totals: ``params``, ``trainable_params``, ``non_trainable_params``,
            ``macs``, ``weighted_depth``, ``layers``, ``receptive_field`` and
            ``jump`` at the output, ``params_by_kind`` (e.g. how much sits in
            ``Dense`` layers) and ``input_shape``.
        model_name: the model's name.
    """

    COLUMNS = (
        fmtlib.Column("name", "layer", align="<"),
        fmtlib.Column("kind", "kind", align="<"),
        fmtlib.Column("output_shape", "output", fmtlib.shape, "<"),
        fmtlib.Column("kernel", "kernel", fmtlib.window),
        fmtlib.Column("stride", "stride", fmtlib.window),
        fmtlib.Column("padding", "pad", fmtlib.window),
        fmtlib.Column("groups", "groups", fmtlib.plain),
        fmtlib.Column("params", "params", fmtlib.count),
        fmtlib.Column("macs", "MACs", fmtlib.human),
        fmtlib.Column("receptive_field", "RF", fmtlib.window),
        fmtlib.Column("jump", "jump", fmtlib.window),
        fmtlib.Column("param_share", "share", lambda v: fmtlib.percent(v) if v else ""),
    )
    DILATION = fmtlib.Column("dilation", "dil", lambda v: "" if v in (None, (1, 1)) else fmtlib.window(v))

    def __init__(self, rows, totals, model_name):
        super().__init__(rows)
        self.totals = totals
        self.model_name = model_name

    def row(self, name: str) -> dict:
        """The (first) row of the layer called ``name``."""
        for r in self:
            if r["name"] == name:
                return r
        raise ValueError(
            f"No layer named {name!r} in {self.model_name!r}. Layers: {', '.join(r['name'] for r in self)}"
        )

    def footer(self) -> list[str]:
        t = self.totals
        lines = [
            f"{t['params']:,} parameters ({t['trainable_params']:,} trainable, "
            f"{t['non_trainable_params']:,} non-trainable); {fmtlib.human(t['macs'])} multiply-adds "
            f"at {fmtlib.shape(t['input_shape'])}; depth {t['weighted_depth']} (conv and dense layers on the "
            "longest path).",
        ]
        by_kind = t["params_by_kind"]
        if t["params"]:
            parts = [f"{k} {100 * v / t['params']:.1f}%" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1]) if v]
            lines.append("Parameters by kind: " + ", ".join(parts) + ".")
        return lines

    def columns(self, fmt: str = "table"):
        cols = list(self.COLUMNS)
        if fmt == "csv" or any(r.get("dilation") not in (None, (1, 1)) for r in self):
            cols.insert(cols.index(self.COLUMNS[5]) + 1, self.DILATION)
        if fmt == "csv":
            cols += [fmtlib.Column(k, k) for k in ("trainable_params", "non_trainable_params", "weighted_depth")]
        return cols

    def render(self, fmt: str = "table") -> str:
        """The summary as ``"table"``, ``"markdown"``, ``"json"`` or ``"csv"``."""
        totals_row = {
            "name": "total",
            "params": self.totals["params"],
            "macs": self.totals["macs"],
            "receptive_field": self.totals["receptive_field"],
            "param_share": 1.0 if self.totals["params"] else None,
            "trainable_params": self.totals["trainable_params"],
            "non_trainable_params": self.totals["non_trainable_params"],
            "weighted_depth": self.totals["weighted_depth"],
        }
        if fmt in ("json",):
            return fmtlib.render(self, self.columns(fmt), fmt, totals=self.totals, extra={"model": self.model_name})
        return fmtlib.render(
            self,
            self.columns(fmt),
            fmt,
            totals=totals_row,
            title=f"Model: {self.model_name}",
            footer=self.footer() if fmt != "csv" else (),
        )

    def __str__(self) -> str:
        return self.render("table")


def summary(model_or_name, input_shape=None, **builder_kwargs) -> ModelSummary:
    """Per-layer table of a model: shapes, windows, parameters, MACs, receptive field.

    Args:
        model_or_name: a registered name (``"vgg16"``), a name with builder
            options (``"resnet50:stride_in=3x3"``), a path to a ``.keras`` file, or a
            functional / Sequential ``keras.Model``.
        input_shape: ``(H, W, C)`` or an int for a square RGB input. Registered
            names default to the paper's resolution.
        **builder_kwargs: builder options for a registered name (``variant="owt"``).

    Returns:
        A :class:`ModelSummary`: a list with one dict per layer call, in
        topological order, with keys ``name, kind, output_shape, kernel, stride,
        padding, dilation, groups, params, trainable_params,
        non_trainable_params, params_source, macs, receptive_field, jump,
        weighted_depth, param_share, inputs``; its ``totals`` attribute holds the
        sums. ``receptive_field`` and ``jump`` are ints for square windows and
        ``(h, w)`` otherwise, ``None`` where undefined.

    Example:
        >>> rows = summary("vgg16")
        >>> rows.row("block5_conv3")["receptive_field"]
        196
        >>> print(rows.render("markdown"))
    """
    if isinstance(model_or_name, str) and not is_model_file(model_or_name):
        # Built from a name only to be read: real layers and weight shapes, but no
        # random initial values drawn (seconds saved on the large models).
        with keras.StatelessScope(initialize_variables=False):
            model, _, _ = resolve(model_or_name, input_shape, **builder_kwargs)
    else:
        model, _, _ = resolve(model_or_name, input_shape, **builder_kwargs)
    graph = functional(model)
    nodes = _reading_order(graph)

    flows: dict[int, _Flow] = {id(t): _Flow((1, 1), (1, 1), 0) for t in graph.inputs}
    producer: dict[int, str] = {}
    seen_ops: set[int] = set()
    rows = []
    for node in nodes:
        op = node.operation
        outs = list(node.outputs)
        if node.is_input:
            flow = _Flow((1, 1), (1, 1), 0)
            row = {"kernel": None, "stride": None, "padding": None, "dilation": None, "groups": None,
                   "trainable_params": 0, "non_trainable_params": 0, "params_source": None, "macs": 0}
            inputs = []
        else:
            ins = list(node.input_tensors)
            in_flows = [flows.get(id(t), _Flow(None, None, 0)) for t in ins]
            row, flow = _describe(
                op, [t.shape for t in ins], [t.shape for t in outs], in_flows, id(op) not in seen_ops
            )
            inputs = [producer.get(id(t), "?") for t in ins]
        seen_ops.add(id(op))
        for t in outs:
            flows[id(t)] = flow
            producer[id(t)] = op.name
        shapes = [tuple(t.shape[1:]) for t in outs]
        row = {
            "name": op.name,
            "kind": type(op).__name__,
            "output_shape": shapes[0] if len(shapes) == 1 else shapes,
            **row,
            "params": row["trainable_params"] + row["non_trainable_params"],
            "receptive_field": _square(flow.rf),
            "jump": _square(flow.jump),
            "weighted_depth": flow.depth,
            "inputs": inputs,
        }
        rows.append(row)

    out_flows = [flows.get(id(t)) for t in graph.outputs]
    out_flow = _merge([f for f in out_flows if f is not None])
    total_t = sum(r["trainable_params"] for r in rows)
    total_n = sum(r["non_trainable_params"] for r in rows)
    total = total_t + total_n
    by_kind: dict[str, int] = {}
    for r in rows:
        if r["params"]:
            by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + r["params"]
        r["param_share"] = r["params"] / total if total else None
    macs = [r["macs"] for r in rows]
    # The deepest point of the network: flows of every computed tensor.
    totals = {
        "params": total,
        "trainable_params": total_t,
        "non_trainable_params": total_n,
        "macs": None if any(m is None for m in macs) else sum(macs),
        "weighted_depth": max((r["weighted_depth"] for r in rows), default=0),
        "layers": sum(1 for r in rows if r["kind"] != "InputLayer"),
        "receptive_field": _square(out_flow.rf),
        "jump": _square(out_flow.jump),
        "receptive_field_hw": out_flow.rf,
        "jump_hw": out_flow.jump,
        "params_by_kind": by_kind,
        "input_shape": tuple(graph.inputs[0].shape[1:]) if len(graph.inputs) == 1 else [tuple(t.shape[1:]) for t in graph.inputs],
    }
    return ModelSummary(rows, totals, model.name)
