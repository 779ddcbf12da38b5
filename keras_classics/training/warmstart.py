"""``--init-from``: start a model from the weights of a trained one.

VGG follows Simonyan & Zisserman (ICLR 2015, Sec. 3.1): a deeper configuration
is initialised from a trained shallower one by copying "the first four
convolutional layers and the last three fully-connected layers"; the other
layers keep their random initialisation. The first four conv layers of the
source are copied into the layers of the same name in the target (configuration
A's ``block1_conv1, block2_conv1, block3_conv1, block3_conv2`` exist with the
same shapes in B, D and E), together with their batch norm in the ``_bn``
variants; ``fc1``, ``fc2`` and ``predictions`` are copied whole.

Other families copy every layer whose name and weight shapes match (fine-tuning
from a run of the same model). A model of another family is refused.
"""

from __future__ import annotations

import json
import os

import keras

from keras_classics.metadata import read_keras_metadata
from keras_classics.models import model_info
from keras_classics.models.files import load_keras_model
from keras_classics.runs import resolve_model_file

__all__ = ["resolve_model_path", "source_model_name", "initialize_from", "VGG_FC_LAYERS"]

VGG_FC_LAYERS = ("fc1", "fc2", "predictions")
VGG_CONV_LAYERS_COPIED = 4


def resolve_model_path(path) -> str:
    """A ``.keras`` file, or a run directory: its ``best.keras``, else ``final.keras``, as everywhere
    (:func:`keras_classics.runs.resolve_model_file`)."""
    try:
        return resolve_model_file(path)
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(f"--init-from: {e}") from None


def source_model_name(path: str, model) -> str:
    """The registry name of a saved model: the file's metadata, else its run's ``config.json``, else the
    model name."""
    name = (read_keras_metadata(path) or {}).get("registry_name")
    if isinstance(name, str):
        return name
    config_path = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    if os.path.isfile(config_path):
        try:
            with open(config_path, encoding="utf-8") as f:
                name = json.load(f).get("model")
            if isinstance(name, str):
                return name
        except (OSError, ValueError):
            pass
    return model.name


def _weighted(model):
    return {layer.name: layer for layer in model.layers if layer.weights}


def initialize_from(model, model_name: str, path, verbose: bool = True) -> list[str]:
    """Copy weights from the trained model at ``path`` into ``model`` (registered as ``model_name``).

    Returns:
        The names of the layers copied, in order.

    Raises:
        ValueError: for a model of another family, or layers whose shapes differ
            (another class count, or for VGG another input size).
        FileNotFoundError: when ``path`` does not exist.

    Example:
        >>> net = create_model("vgg16", classes=10, input_shape=(64, 64, 3))
        >>> initialize_from(net, "vgg16", "runs/vgg11/final.keras")
        ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block3_conv2', 'fc1', 'fc2', 'predictions']
    """
    path = resolve_model_path(path)
    source = load_keras_model(path)
    src_name = source_model_name(path, source)
    target_info = model_info(model_name)
    try:
        src_family = model_info(src_name).family
    except ValueError:
        src_family = None
    if src_family != target_info.family:
        family = f"family {src_family!r}" if src_family else "not a registered model"
        raise ValueError(
            f"--init-from {path!r} holds a {src_name!r} model ({family}); it cannot initialise {model_name!r} "
            f"(family {target_info.family!r}). Use a trained model of the {target_info.family!r} family."
        )
    src_layers, dst_layers = _weighted(source), _weighted(model)
    if target_info.family == "vgg":
        convs = [l.name for l in source.layers if isinstance(l, keras.layers.Conv2D)][:VGG_CONV_LAYERS_COPIED]
        names = []
        for conv in convs:
            names.append(conv)
            if f"{conv}_bn" in src_layers and f"{conv}_bn" in dst_layers:
                names.append(f"{conv}_bn")
        names += list(VGG_FC_LAYERS)
        for name in names:
            if name not in src_layers or name not in dst_layers:
                where = "the source" if name not in src_layers else f"{model_name!r}"
                raise ValueError(
                    f"--init-from: layer {name!r} is missing from {where}; VGG initialisation copies the first "
                    f"four conv layers of the shallower net and {', '.join(VGG_FC_LAYERS)}."
                )
            _check_shapes(src_layers[name], dst_layers[name], path)
    else:
        names = [
            n for n, layer in src_layers.items()
            if n in dst_layers and [tuple(w.shape) for w in layer.weights]
            == [tuple(w.shape) for w in dst_layers[n].weights]
        ]
        if not names:
            raise ValueError(f"--init-from {path!r}: no layer of {src_name!r} matches {model_name!r} in name and shape.")
    for name in names:
        dst_layers[name].set_weights(src_layers[name].get_weights())
    if verbose:
        print(f"Initialised {len(names)} layer(s) of {model_name} from {path} ({src_name}): {', '.join(names)}")
    return names


def _check_shapes(src, dst, path):
    a = [tuple(w.shape) for w in src.weights]
    b = [tuple(w.shape) for w in dst.weights]
    if a != b:
        raise ValueError(
            f"--init-from {path!r}: layer {src.name!r} has weight shapes {a} in the source but {b} in the model "
            "being trained (another class count or input size?). Train both at the same size and classes."
        )
