"""Parity of an export with its Keras model: the statistics, the tolerances and the check.

The reference is the float32 Keras model's probabilities on the parity images
(computed once per image set and source); an export outside the tolerance of its
format fails with :class:`ParityError` and nothing is written, unless the caller
allows it.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np

from keras_classics.transforms import preprocess

__all__ = ["TOLERANCES", "ParityError", "parity_report", "check_parity", "reference_predictions",
           "drift_from_trained"]

#: Parity required of each export, against the float32 Keras model, on probabilities.
TOLERANCES = {
    "none": {"max_abs_diff": 1e-4},  # SavedModel and TFLite float32
    "float16": {"top1_agreement": 0.99},
    "dynamic": {"top1_agreement": 0.95},
    "int8": {"top1_agreement": 0.95},
}


class ParityError(ValueError):
    """The exported model is further from the Keras model than its format allows."""


def parity_report(reference, exported, tolerance: dict | None = None, quantization_step: float | None = None) -> dict:
    """Compare two ``(N, classes)`` probability arrays.

    Args:
        reference, exported: the probabilities.
        tolerance: see :data:`TOLERANCES`.
        quantization_step: the resolution of ``exported`` (an int8 output's
            scale). Where the reference's two most probable classes are no
            more than one step apart, the quantized output may round them to
            one value, and which is "top-1" is then a tie: the top-1 agreement
            counts only the images whose reference margin exceeds the step.

    Returns:
        ``images``, ``max_abs_diff``, ``mean_abs_diff``, ``top1_agreement``
        (fraction of images whose most probable class is the same; ``None``
        when no image's margin exceeds ``quantization_step``), with a
        ``quantization_step``: that step, ``top1_ties`` (the images left out)
        and ``top1_agreement_all_images``; with a ``tolerance``: the tolerance
        and ``passed``.
    """
    reference = np.asarray(reference, np.float64)
    exported = np.asarray(exported, np.float64)
    if reference.shape != exported.shape:
        raise ValueError(f"Shapes differ: reference {reference.shape}, exported {exported.shape}.")
    diff = np.abs(reference - exported)
    report = {
        "images": int(reference.shape[0]),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "top1_agreement": float(np.mean(reference.argmax(-1) == exported.argmax(-1))),
    }
    if quantization_step is not None:
        agree = reference.argmax(-1) == exported.argmax(-1)
        top2 = np.sort(reference, axis=-1)[:, -2:] if reference.shape[-1] > 1 else np.zeros((len(reference), 2))
        decided = (top2[:, 1] - top2[:, 0]) > quantization_step
        report["quantization_step"] = float(quantization_step)
        report["top1_ties"] = int((~decided).sum())
        report["top1_agreement_all_images"] = report["top1_agreement"]
        report["top1_agreement"] = float(agree[decided].mean()) if decided.any() else None
    if tolerance:
        report["tolerance"] = dict(tolerance)
        report["passed"] = _within(report, tolerance)
    return report


def _within(report, tolerance) -> bool:
    ok = True
    if "max_abs_diff" in tolerance:
        ok &= report["max_abs_diff"] <= tolerance["max_abs_diff"]
    if "top1_agreement" in tolerance and report["top1_agreement"] is not None:  # None: every image a tie
        ok &= report["top1_agreement"] >= tolerance["top1_agreement"]
    return bool(ok)


def _describe_failure(report, what) -> str:
    tol = report["tolerance"]
    parts = []
    if "max_abs_diff" in tol and report["max_abs_diff"] > tol["max_abs_diff"]:
        parts.append(f"max abs difference of probabilities {report['max_abs_diff']:.3g} > {tol['max_abs_diff']:g}")
    if "top1_agreement" in tol and report["top1_agreement"] is not None and \
            report["top1_agreement"] < tol["top1_agreement"]:
        ties = f" (leaving out {report['top1_ties']} ties)" if report.get("top1_ties") else ""
        parts.append(f"top-1 agreement {report['top1_agreement']:.1%} < {tol['top1_agreement']:.0%}{ties}")
    for key, limit in (("bytes_signature_max_abs_diff", TOLERANCES["none"]["max_abs_diff"]),):
        if key in report and report[key] > limit:
            parts.append(f"the bytes signature differs from the float signature by {report[key]:.3g} > {limit:g}")
    return f"{what}: " + "; ".join(parts) + f" over {report['images']} images ({report.get('image_source', '')})"


def check_parity(report, what, allow_failure):
    """Raise :class:`ParityError` for a report outside its tolerance, or warn with ``allow_failure``."""
    if report["passed"]:
        return
    message = _describe_failure(report, what)
    if not allow_failure:
        raise ParityError(
            f"Parity check failed for {message}. Nothing was written. To keep the export anyway, "
            "pass allow_parity_failure=True (CLI: --allow-parity-failure); the model card records the figures."
        )
    warnings.warn(f"Parity outside tolerance for {message}; exported anyway (allow_parity_failure).",
                  stacklevel=3)


def _has_grouped_conv(layer) -> bool:
    return getattr(layer, "groups", 1) > 1 or any(_has_grouped_conv(inner) for inner in getattr(layer, "layers", ()))


def _run_keras(model, inputs, batch_size=16):
    """Probabilities of a Keras model, batch by batch, in inference mode.

    Eager (no tracing cost), except for a model with grouped convolutions
    (AlexNet): Keras runs an eager grouped convolution through a new XLA function
    at every call, compiled again each time (and TensorFlow warns of the
    retracing), so that model's forward pass is traced once instead.
    """
    import keras  # imported on use: the export package imports without Keras or TensorFlow

    forward = lambda x: model(x, training=False)  # noqa: E731
    if _has_grouped_conv(model):
        import tensorflow as tf  # imported on use, as Keras is

        forward = tf.function(forward, reduce_retracing=True)
    with warnings.catch_warnings():  # a model saved with its input as a one-element list
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        return np.concatenate([
            keras.ops.convert_to_numpy(forward(inputs[i : i + batch_size])).astype(np.float32)
            for i in range(0, len(inputs), batch_size)
        ])


def reference_predictions(source, images):
    """The Keras model's probabilities, and the model's input for the same images (kept per image set)."""

    def compute():
        inputs = np.asarray(preprocess(images, source.preprocessing), np.float32)
        return _run_keras(source.model, inputs), inputs

    key = hashlib.sha1(np.ascontiguousarray(images, np.float32).tobytes()).hexdigest()
    return source.cached(("reference", key), compute)


def drift_from_trained(source, inputs, reference):
    """Probabilities of the model as trained (reduced precision) against its float32 rebuild."""
    if source.trained_model is None:
        return None
    trained = _run_keras(source.trained_model, inputs)
    report = parity_report(trained, reference)
    report["note"] = f"float32 rebuild vs the model as trained ({source.source_policy}); informative, not checked"
    return report
