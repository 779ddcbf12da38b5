"""The package's own Keras layers, registered with Keras's serialization (``keras_classics>NAME``).

* :class:`LocalResponseNormalization`: the LRN of AlexNet, ZFNet and GoogLeNet,
  built from ``keras.ops`` only.
* :class:`ZeroPadShortcut`: the parameter-free "option A" shortcut of the CIFAR
  ResNets.

The builders reach these classes through a lazy stand-in, so that the model
families import without Keras; ``keras_classics.models`` registers them as soon
as Keras is imported, so ``keras.saving.load_model`` reads files holding them.
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = ["LocalResponseNormalization", "ZeroPadShortcut"]


@keras.saving.register_keras_serializable(package="keras_classics")
class LocalResponseNormalization(layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, §3.3).

    ``b_c = a_c / (k + alpha * S_c) ** beta`` where ``S_c`` is the sum of ``a**2``
    over the ``size`` channels centred on ``c`` (the paper's ``n``). With
    ``average=True`` the sum is divided by ``size`` first: Caffe's convention, used
    by the BVLC GoogLeNet release.

    Args:
        size: number of adjacent channels in the window (odd).
        alpha: scale of the sum of squares.
        beta: exponent.
        k: additive constant (the paper's ``k``; Caffe's ``k`` defaults to 1).
        average: divide the sum by ``size`` (Caffe) instead of using it as is.

    Example:
        >>> lrn = LocalResponseNormalization(size=5, alpha=1e-4, beta=0.75, k=2.0)
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0, average=False, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"`size` must be a positive odd integer. Received: size={size!r}")
        self.size, self.average = size, bool(average)
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)

    def call(self, inputs):
        channels = inputs.shape[-1]
        half = self.size // 2
        squared = ops.square(inputs)
        padded = ops.pad(squared, [[0, 0]] * (len(inputs.shape) - 1) + [[half, half]])
        window_sum = padded[..., 0:channels]
        for i in range(1, self.size):
            window_sum = window_sum + padded[..., i : i + channels]
        alpha = self.alpha / self.size if self.average else self.alpha
        return inputs / ops.power(self.k + alpha * window_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, alpha=self.alpha, beta=self.beta, k=self.k, average=self.average)
        return config


@keras.saving.register_keras_serializable(package="keras_classics")
class ZeroPadShortcut(layers.Layer):
    """Option A shortcut: subsample by ``strides`` and pad the channels with zeros.

    ``y = pad(x[:, ::s, ::s, :], channels up to filters)``, which has no
    parameters (He et al. 2016, Section 3.3, option A). The zero channels are
    appended after the input's channels.
    """

    def __init__(self, filters, strides=2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        s = self.strides
        return (n, None if h is None else -(-h // s), None if w is None else -(-w // s), self.filters)

    def call(self, x):
        s = self.strides
        x = x[:, ::s, ::s, :]
        extra = self.filters - x.shape[-1]
        if extra < 0:
            raise ValueError(f"ZeroPadShortcut pads channels up: {x.shape[-1]} -> {self.filters} is fewer.")
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides)
        return config
