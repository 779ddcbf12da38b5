"""Converting a torchvision-layout weights file into a Keras file, with a card that says what it holds.

:func:`convert` builds the model with the options the weights need, ports the
file, and writes ``OUT.weights.h5`` or ``OUT.keras`` and its card
(:mod:`keras_classics.weights._cards`), each through a temporary file and a
rename (:mod:`keras_classics.io`). It checks the destination before doing any
work, and never replaces a file that is not an earlier conversion's output.
"""

from __future__ import annotations

import json
import os

from keras_classics.io import atomic_path, write_json_atomic
from keras_classics.metadata import save_model
from keras_classics.models import create_model
from keras_classics.registry import torchvision_set
from keras_classics.weights._cards import CARD_KIND, card_path, is_conversion_card
from keras_classics.weights._files import sha256_of
from keras_classics.weights._load import attach_metadata, load_state_dict
from keras_classics.weights._sets import get_weights_set, identify_set, weights_sets

__all__ = ["convert"]


def _check_output(output, overwrite):
    """Refuse an output path that cannot be written, or holds anything but an earlier conversion."""
    if not (output.endswith(".weights.h5") or output.endswith(".keras")):
        raise ValueError(f"The output must end in .weights.h5 or .keras. Received: {output!r}")
    folder = os.path.dirname(os.path.abspath(output))
    parent = folder
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(f"Cannot write {output!r}: {parent!r} is a file, not a folder. Nothing was written.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"Cannot write {output!r}: the folder {parent!r} is not writable. Nothing was written.")
    card = card_path(output)
    for path in (output, card):
        if not os.path.lexists(path):
            continue
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path!r} is a folder; the output must be a file path. Nothing was written.")
        if not overwrite:
            raise FileExistsError(f"{path!r} exists. Pass --overwrite (overwrite=True) to replace an earlier "
                                  "conversion. Nothing was written.")
    if overwrite and os.path.lexists(output):
        try:
            with open(card, encoding="utf-8") as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = None
        if not is_conversion_card(previous, output):
            raise FileExistsError(
                f"{output!r} exists and is not an earlier conversion's output (no conversion card "
                f"{os.path.basename(card)} naming it), so it is not replaced, even with overwrite. Choose another "
                "output path. Nothing was written."
            )
    elif overwrite and os.path.lexists(card):
        raise FileExistsError(f"{card!r} exists without the output it describes; it is not replaced. Nothing was "
                              "written.")


def convert(model_name: str, source, output, *, set_name: str | None = None, include_top: bool = True,
            overwrite: bool = False, **options) -> dict:
    """Port a torchvision-layout file into ``model_name`` and save it, with a card.

    Args:
        model_name: a registered model with a torchvision set.
        source: a ``.safetensors`` or ``.pth`` file (torchvision's layout).
        output: ``OUT.weights.h5`` (weights only) or ``OUT.keras`` (the model,
            with its eval transform and class names). A card ``OUT.….card.json``
            (:func:`card_path`) is written beside it: the source file and its
            SHA-256, the set (recognised by hash, or ``set_name``), the variant
            options used and the porting report. Building a model with
            ``weights=OUT.weights.h5`` then takes the same options.
        set_name: the set the file is (default: the set whose published hash
            the file matches; else the model's first torchvision set's eval
            transform is assumed and the card says so).
        include_top: keep the classifier.
        overwrite: replace an earlier conversion's output (one its card names);
            anything else is never replaced.
        **options: builder options (checked against what the weights need).

    Returns:
        The card as a dict.
    """
    output = os.fspath(output)
    _check_output(output, overwrite)
    source = os.fspath(source)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"Weights file not found: {source!r}")
    layout = torchvision_set(model_name)  # refuses models without a torchvision counterpart
    if set_name is not None:
        weights_set = get_weights_set(model_name, set_name)
        if weights_set.source != "torchvision":
            sets = [s.name for _, s in weights_sets(model_name) if s.source == "torchvision"]
            raise ValueError(
                f"Set {set_name!r} of {model_name!r} is published by {weights_set.source}, not as a torchvision "
                f"file. torchvision sets of {model_name!r}: {', '.join(sets)}."
            )
    layout.check_options(model_name, options, what=f"A torchvision-layout file for {model_name!r}")
    builder_options = {**layout.requires, **options}
    model = create_model(model_name, include_top=include_top, **builder_options)
    report = load_state_dict(model, source, model_name)
    digest = sha256_of(source)
    if set_name is None:
        weights_set, recognised = identify_set(model_name, digest)
    else:
        recognised = digest.startswith(weights_set.sha256)
    attach_metadata(model, model_name, weights_set, os.path.basename(source), recognised)
    card = {
        "kind": CARD_KIND,
        "model": model_name,
        "options": {"include_top": include_top, **builder_options},
        "weights_set": weights_set.name,
        "set_recognised_by_hash": recognised,
        "source_file": os.path.abspath(source),
        "source_sha256": digest,
        "published_sha256_prefix": weights_set.sha256,
        "published_url": weights_set.url,
        "eval_transform": {"size": weights_set.eval_transform.size,
                           "resize": weights_set.eval_transform.resize,
                           "crop_fraction": weights_set.eval_transform.crop_fraction,
                           "preprocessing": weights_set.eval_transform.preprocessing},
        "loaded_arrays": report["loaded"],
        "loaded_values": report["values"],
        "ignored_keys": report["ignored"],
        "output": os.path.abspath(output),
        "card": os.path.abspath(card_path(output)),
    }
    if not recognised:
        others = [s.name for _, s in weights_sets(model_name) if s.source == "torchvision" and s is not weights_set]
        card["note"] = (
            f"The file's SHA-256 matches no published {model_name} set; the eval transform of "
            f"{weights_set.name!r} is assumed" + (f" (another set? give --set {others[0]})" if others else "") + "."
        )
    _write_output_and_card(model, output, card)
    return card


def _write_output_and_card(model, output, card):
    """Both written to temporary files first, then renamed: the output, then its card."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    try:
        if output.endswith(".keras"):
            save_model(model, output)
        else:
            with atomic_path(output, suffix=".weights.h5") as tmp:
                model.save_weights(tmp)
    except OSError as e:
        raise OSError(e.errno, f"Cannot write {output!r}: {e.strerror or e}", output) from None
    write_json_atomic(card_path(output), card)
