"""Losses, auxiliary-head weights and metrics for ``model.compile``.

A model with auxiliary classifiers (GoogLeNet ``aux_1``/``aux_2``, Inception v3
``aux``) returns a dict of outputs. The recipe weights each auxiliary loss
(GoogLeNet 0.3, Inception v3 0.4) through Keras' ``loss`` / ``loss_weights``
dicts, so the compiled loss is ``main + sum(w_i * aux_i)``; metrics are
reported on the main head ``predictions`` only, top-k by the rule of
:mod:`keras_classics.training.metrics` (a tie is not a hit for free).
"""

from __future__ import annotations

import keras

from keras_classics.training.metrics import TopKAccuracy

__all__ = ["MAIN_OUTPUT", "compile_arguments", "output_names", "l2_regularize", "metric_key", "MaxFilterRMS",
           "constrain_filter_rms"]

MAIN_OUTPUT = "predictions"


def output_names(model) -> list[str] | None:
    """The names of a dict-output model's outputs, or ``None`` for a single output."""
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, dict):
        return list(struct)
    return None


def _crossentropy(one_hot: bool, label_smoothing: float):
    if one_hot or label_smoothing:
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing, name="crossentropy")
    return keras.losses.SparseCategoricalCrossentropy(name="crossentropy")


def _metrics(one_hot: bool, num_classes: int):
    # Top-k without free ties (keras_classics.training.metrics): Keras' in_top_k counts a tie as a hit.
    top1, top5 = TopKAccuracy(1, one_hot=one_hot), TopKAccuracy(5, one_hot=one_hot)
    # Top-5 of five classes or fewer is always 1: leave it out.
    return [top1, top5] if num_classes > 5 else [top1]


def compile_arguments(model, *, num_classes: int, one_hot: bool = False, label_smoothing: float = 0.0,
                      aux_loss_weights: dict | None = None) -> dict:
    """``loss``, ``loss_weights`` and ``metrics`` for ``model.compile``.

    Args:
        model: the model to train (one output, or a dict with ``"predictions"``).
        num_classes: classes of the classifier.
        one_hot: labels arrive one-hot (label smoothing, mixup, cutmix).
        label_smoothing: smoothing of the cross-entropy (needs ``one_hot`` labels
            or is applied to them).
        aux_loss_weights: weight of each auxiliary output's loss; every output
            other than ``"predictions"`` must have one.

    Raises:
        ValueError: when the weights do not name exactly the model's auxiliary outputs.

    Example:
        >>> args = compile_arguments(net, num_classes=10, aux_loss_weights={"aux_1": 0.3, "aux_2": 0.3})
        >>> net.compile(optimizer="sgd", **args)
    """
    aux_loss_weights = dict(aux_loss_weights or {})
    names = output_names(model)
    if names is None:
        if aux_loss_weights:
            raise ValueError(
                f"`aux_loss_weights` {aux_loss_weights} were given but model {model.name!r} has a single "
                "output. Build it with auxiliary heads (e.g. model_kwargs={'aux_logits': True}) or drop the weights."
            )
        return dict(loss=_crossentropy(one_hot, label_smoothing), metrics=_metrics(one_hot, num_classes))
    if MAIN_OUTPUT not in names:
        raise ValueError(f"Model {model.name!r} has outputs {names} but no {MAIN_OUTPUT!r} output.")
    aux = [n for n in names if n != MAIN_OUTPUT]
    if set(aux_loss_weights) != set(aux):
        raise ValueError(
            f"Model {model.name!r} has auxiliary outputs {aux}; `aux_loss_weights` must give a weight for "
            f"each of them. Received: {aux_loss_weights}"
        )
    loss = {n: _crossentropy(one_hot, label_smoothing) for n in names}
    weights = {n: (1.0 if n == MAIN_OUTPUT else float(aux_loss_weights[n])) for n in names}
    metrics = {n: (_metrics(one_hot, num_classes) if n == MAIN_OUTPUT else None) for n in names}
    return dict(loss=loss, loss_weights=weights, metrics=metrics)


def metric_key(model, name: str, validation: bool = False) -> str:
    """The key of a main-head metric in Keras' logs (``val_predictions_top1`` for dict outputs)."""
    key = name
    if output_names(model) is not None and name != "loss":
        key = f"{MAIN_OUTPUT}_{name}"
    return f"val_{key}" if validation else key


def l2_regularize(model, weight_decay: float) -> int:
    """Attach the papers' L2 penalty ``weight_decay / 2 * ||w||^2`` to every conv and dense kernel.

    Its gradient adds ``weight_decay * w`` to each kernel's gradient before the
    momentum update, as Caffe's and PyTorch's SGD do. Biases and batch-norm
    parameters are not decayed. Returns the number of kernels regularized.
    """
    if not weight_decay:
        return 0
    regularizer = keras.regularizers.L2(weight_decay / 2.0)
    count = 0
    for layer in model._flatten_layers(include_self=False):
        kernel = getattr(layer, "kernel", None) if isinstance(
            layer, (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D)
        ) else None
        if kernel is not None and kernel.trainable:
            kernel.regularizer = regularizer
            count += 1
    return count


@keras.saving.register_keras_serializable(package="keras_classics")
class MaxFilterRMS(keras.constraints.Constraint):
    """Rescale each conv filter whose root-mean-square exceeds ``radius`` down to ``radius``.

    Zeiler & Fergus (ECCV 2014, Sec. 3): "Each RMS value for filters in
    convolutional layers that exceeds a fixed radius of 10^-1 is renormalized to
    this fixed radius." A filter is one output channel of a ``(kh, kw, cin, cout)`` kernel.
    """

    def __init__(self, radius=0.1):
        self.radius = float(radius)

    def __call__(self, w):
        rms = keras.ops.sqrt(keras.ops.mean(keras.ops.square(w), axis=(0, 1, 2), keepdims=True))
        return w * keras.ops.minimum(1.0, self.radius / keras.ops.maximum(rms, 1e-12))

    def get_config(self):
        return {"radius": self.radius}


def constrain_filter_rms(model, radius: float | None) -> int:
    """Attach :class:`MaxFilterRMS` to every Conv2D kernel (applied after each optimizer step)."""
    if not radius:
        return 0
    count = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D) and getattr(layer, "kernel", None) is not None:
            layer.kernel.constraint = MaxFilterRMS(radius)
            count += 1
    return count
