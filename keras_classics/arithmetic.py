"""Convolution arithmetic: the one place the package computes sizes and costs.

Pure Python (no Keras, no TensorFlow). The model builders use it to validate
``input_shape`` and the inspector uses it for its per-layer tables, so the two
can never disagree.

Formulas (one spatial axis; apply per axis for rectangular inputs):

* output size of a convolution or pooling window::

      out = floor((N + 2P - D*(F - 1) - 1) / S) + 1        # 'valid' is P = 0
      out = ceil(N / S)                                      # Keras 'same'

  which for dilation D = 1 is the course formula ``(N + 2P - F) / S + 1``.
* receptive field growth, layer by layer (``j`` is the jump, the distance in
  input pixels between two neighbouring outputs)::

      r_out = r_in + (F_eff - 1) * j_in        j_out = j_in * S

* parameters of a convolution: ``F_h * F_w * (C_in / groups) * C_out`` (+ C_out
  bias); multiply-adds: that product (without bias) times ``H_out * W_out``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence, Union

# The eval resize rule lives with the eval transform; it stays one of this module's public names.
from keras_classics.transforms import crop_shorter_side

Padding = Union[int, str]

__all__ = [
    "SpatialOp",
    "crop_shorter_side",
    "conv_output_size",
    "pool_output_size",
    "effective_kernel",
    "receptive_field",
    "output_sizes",
    "min_input_size",
    "conv_params",
    "conv_macs",
    "dense_params",
    "dense_macs",
    "batchnorm_params",
    "pool_ops",
]


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, (int,)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Size of the window a dilated kernel spans: ``D * (F - 1) + 1``."""
    _check_positive("kernel", kernel)
    _check_positive("dilation", dilation)
    return dilation * (kernel - 1) + 1


def conv_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output length of a convolution or pooling window along one axis.

    Args:
        size: input length N.
        kernel: window length F.
        stride: step S.
        padding: pixels of zero padding P added on *each* side, or ``"valid"``
            (P = 0) or ``"same"`` (Keras/TensorFlow: output ``ceil(N / S)``).
        dilation: dilation rate D.
        ceil_mode: round up instead of down (Caffe pooling).

    Returns:
        The output length; 0 or less means the window does not fit.

    Example:
        >>> conv_output_size(227, 11, stride=4)        # AlexNet conv1
        55
        >>> conv_output_size(224, 3, 1, "same")
        224
    """
    if not isinstance(size, int) or isinstance(size, bool):
        raise ValueError(f"`size` must be an integer. Received: size={size!r}")
    _check_positive("stride", stride)
    f = effective_kernel(kernel, dilation)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "same":
            return -(-size // stride) if size > 0 else 0
        if mode != "valid":
            raise ValueError(
                f"`padding` must be an int, 'valid' or 'same'. Received: padding={padding!r}"
            )
        padding = 0
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"`padding` must be a non-negative int. Received: padding={padding!r}")
    span = size + 2 * padding - f
    if span < 0:
        return 0
    if ceil_mode:
        out = -(-span // stride) + 1
        # PyTorch/Caffe rule: the last window must start inside the input (or left padding).
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def pool_output_size(
    size: int, pool: int, stride: int | None = None, padding: Padding = "valid", ceil_mode: bool = False
) -> int:
    """Output length of a pooling layer (stride defaults to the pool size, as in Keras)."""
    return conv_output_size(size, pool, stride or pool, padding, 1, ceil_mode)


@dataclass(frozen=True)
class SpatialOp:
    """One layer on a network's spatial path: a window that slides over the input.

    ``padding`` is an int (each side), ``"valid"`` or ``"same"``. Layers that do not
    change the spatial size (1x1 stride-1 convs, BN, activations) can be left out.
    """

    name: str
    kernel: int
    stride: int = 1
    padding: Padding = "valid"
    dilation: int = 1
    ceil_mode: bool = False

    def out(self, size: int) -> int:
        return conv_output_size(size, self.kernel, self.stride, self.padding, self.dilation, self.ceil_mode)


def output_sizes(size: int, ops: Sequence[SpatialOp]) -> list[int]:
    """Spatial size after each op of ``ops`` for an input of length ``size``."""
    sizes = []
    for op in ops:
        size = op.out(size)
        sizes.append(size)
    return sizes


def min_input_size(ops: Sequence[SpatialOp], final_size: int = 1) -> int:
    """Smallest input length for which every op of the path yields at least one pixel.

    ``final_size`` asks for at least that many pixels at the end of the path (a
    classifier that flattens a fixed map, an auxiliary head's 5x5 window). Output
    sizes are monotonic in the input size, so a doubling then bisection search is
    exact.
    """
    _check_positive("final_size", final_size)

    def fits(n: int) -> bool:
        sizes = output_sizes(n, ops)
        return all(s >= 1 for s in sizes) and (not sizes or sizes[-1] >= final_size) and n >= final_size

    hi = 1
    while not fits(hi):
        hi *= 2
        if hi > 1 << 20:  # pragma: no cover - a path no image can satisfy
            raise ValueError(f"No input size up to {hi} fits the path {[op.name for op in ops]}.")
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi if hi == 1 or not fits(lo) else lo


def receptive_field(ops: Iterable[SpatialOp]) -> list[dict]:
    """Receptive field and jump after each op (square windows, one axis).

    Returns:
        One dict per op: ``{"name", "receptive_field", "jump"}``. The input image
        has receptive field 1 and jump 1.

    Example:
        >>> rf = receptive_field([SpatialOp("c1", 3, 1, 1), SpatialOp("c2", 3, 1, 1)])
        >>> [r["receptive_field"] for r in rf]
        [3, 5]
    """
    r, j = 1, 1
    rows = []
    for op in ops:
        r = r + (effective_kernel(op.kernel, op.dilation) - 1) * j
        j = j * op.stride
        rows.append({"name": op.name, "receptive_field": r, "jump": j})
    return rows


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def conv_params(kernel, in_channels: int, out_channels: int, groups: int = 1, bias: bool = True) -> int:
    """Weights of a (grouped) 2-D convolution: ``Fh*Fw*(Cin/groups)*Cout`` (+ Cout bias)."""
    kh, kw = _pair(kernel)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"Channels must divide by groups. Received: in_channels={in_channels}, "
            f"out_channels={out_channels}, groups={groups}"
        )
    return kh * kw * (in_channels // groups) * out_channels + (out_channels if bias else 0)


def conv_macs(kernel, in_channels: int, out_channels: int, output_hw, groups: int = 1) -> int:
    """Multiply-adds of a (grouped) 2-D convolution producing an ``output_hw`` map.

    Bias additions are not counted (the convention of the published figures).
    """
    oh, ow = _pair(output_hw)
    return conv_params(kernel, in_channels, out_channels, groups, bias=False) * oh * ow


def dense_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """Weights of a fully connected layer."""
    return in_features * out_features + (out_features if bias else 0)


def dense_macs(in_features: int, out_features: int) -> int:
    """Multiply-adds of a fully connected layer (bias not counted)."""
    return in_features * out_features


def batchnorm_params(channels: int, scale: bool = True, center: bool = True) -> dict:
    """Batch-norm weights: trainable gamma/beta and the non-trainable moving mean/variance."""
    return {"trainable": channels * (int(scale) + int(center)), "non_trainable": 2 * channels}


def pool_ops(pool, channels: int, output_hw) -> int:
    """Comparisons or additions a pooling layer performs (not multiply-adds; reported separately)."""
    ph, pw = _pair(pool)
    oh, ow = _pair(output_hw)
    return ph * pw * channels * oh * ow
