"""The model card: what an export holds, where it came from and how it compares, as JSON.

A SavedModel or TFLite export directory holds its card as ``model_card.json``;
a ``NAME.tflite`` file has ``NAME.card.json`` beside it.
"""

from __future__ import annotations

import datetime
import json

import numpy as np

from keras_classics import __version__
from keras_classics.metadata import card_fields
from keras_classics.io import write_text_atomic
from keras_classics.transforms import EVAL_CROP_DESCRIPTION

__all__ = ["model_card", "calibration_card", "read_card", "write_card", "summary"]


def model_card(source, fmt, quantize, int8_io) -> dict:
    """The card of an export of ``source`` (an :class:`~keras_classics.export.ExportSource`); the exporters add
    the format's own entries (signatures or file, size, parity)."""
    import keras  # for the versions; imported on use, as TensorFlow is
    import tensorflow as tf

    model = source.model
    # The model's metadata sections (class names, input shape, preprocessing, crop, resize filter) in the
    # one schema.
    fields = card_fields({"class_names": source.class_names, "image_size": list(source.input_size),
                          "preprocessing": source.preprocessing, "crop_fraction": source.crop_fraction,
                          "interpolation": source.interpolation})
    return {
        "format": fmt,
        "quantization": quantize,
        "model": {
            "name": model.name,
            "registry_name": source.registry_name,
            "variant": (source.run_config or {}).get("model_kwargs"),
            "params": int(model.count_params()),
            "num_classes": source.num_classes,
        },
        "input": {
            **fields["input"],
            "dtype": "int8" if int8_io else "float32",
            "description": "RGB images already preprocessed (decode, resize, crop, then preprocessing)",
            "preprocessing_source": source.preprocessing_source,
            "resize": EVAL_CROP_DESCRIPTION,
        },
        "output": {
            "name": "probabilities",
            "dtype": "int8" if int8_io else "float32",
            "softmax": "appended to the model's logits" if source.softmax_added else "the model's own",
        },
        "class_names": fields["class_names"],
        "source": {
            "path": source.path,
            "run_dir": source.run_dir,
            "run_config": source.run_config,
            "metrics": source.metrics,
            "dtype_policy": source.source_policy or "float32",
            "rebuilt_in_float32": bool(source.source_policy),
            "aux_outputs_removed": source.removed_outputs,
        },
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"keras_classics": __version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    }


def calibration_card(calibration, parity) -> dict:
    """The card's ``representative_data`` section: where the calibration images came from, which ones, and
    whether any of them is also a parity image (``parity.images_used`` lists those)."""
    shared = sorted(set(calibration.ids) & set(parity.ids))
    return {
        "source": calibration.description,
        "samples": len(calibration.ids),
        "images_used": list(calibration.ids),
        "disjoint_from_parity": not shared,
        "note": ("no calibration image is a parity image" if not shared
                 else f"{len(shared)} calibration images are also parity images"),
    }


def read_card(path) -> dict | None:
    """The model card at ``path`` if it is a JSON card written by this package, else ``None``."""
    try:
        with open(path, encoding="utf-8") as f:
            card = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(card, dict) or "keras_classics" not in (card.get("versions") or {}):
        return None
    return card


def write_card(path, card) -> None:
    """Write ``card`` as JSON to ``path``, through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(card, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def summary(path, card) -> str:
    """The line printed after an export: where, how big, and its parity."""
    p = card["parity"]
    size = card["size_bytes"] / 2**20
    status = "passed" if p["passed"] else "OUTSIDE TOLERANCE"
    agreement = "n/a" if p["top1_agreement"] is None else f"{p['top1_agreement']:.1%}"
    ties = f" ({p['top1_ties']} ties within one quantization step left out)" if p.get("top1_ties") else ""
    return (
        f"Wrote {path} ({size:.2f} MiB, {card['format']} {card['quantization']}). Parity {status} on "
        f"{p['images']} images: max |Δp| {p['max_abs_diff']:.2e}, mean |Δp| {p['mean_abs_diff']:.2e}, "
        f"top-1 agreement {agreement}{ties}."
    )
