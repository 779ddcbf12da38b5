"""The classic CNNs as Keras 3 functional models (``keras`` only, any backend).

Every builder takes the keras.applications signature (keyword-only)
``include_top, weights, input_tensor, input_shape, pooling, classes,
classifier_activation, name`` plus its family's options, and is registered in
the model registry under its paper name.

Importing this package does not import Keras: the builders import it when they
first build, so the registry entries (``list_models``, ``model_info``) read fast.
The package's own Keras layers register with Keras as soon as Keras is imported.
"""

import importlib as _importlib

from keras_classics._lazy import lazy_exports as _lazy_exports, when_imported as _when_imported

# The order of these names is the order of __all__ (and of keras_classics.__all__).
from keras_classics.models._layers import feature_extractor, strip_aux
from keras_classics.registry import (
    EvalTransform,
    ModelInfo,
    Variant,
    WeightsSet,
    create_model,
    get_builder,
    list_models,
    model_info,
    register_model,
    torchvision_weights,
)
from keras_classics.models.googlenet import inception_module, naive_inception_module
from keras_classics.models.resnet import basic_block, bottleneck_block

# The family modules: importing one registers its models. A model added to a family file
# needs no line here: every registered builder is a public name of this package.
_FAMILIES = ("alexnet", "zfnet", "vgg", "googlenet", "inception_v2", "inception_v3", "resnet", "resnet_cifar",
             "small_nets")
for _family in _FAMILIES:
    _importlib.import_module(f"{__name__}.{_family}")
globals().update({_name: get_builder(_name) for _name in list_models()})

# The layers Keras reads from saved files by their registered names (keras_classics>NAME).
_KERAS_LAYERS = "keras_classics.models._keras_layers"
_when_imported("keras", lambda _keras: _importlib.import_module(_KERAS_LAYERS))
__getattr__, __dir__ = _lazy_exports(__name__, {_KERAS_LAYERS: ("LocalResponseNormalization",)})


def create_backbone(name, endpoints=None, **kwargs):
    """A headless registered model returning its stage outputs as a dict.

    Args:
        name: registry name.
        endpoints: layer names to return; default: the family's stage outputs
            (``model_info(name).endpoints``).
        **kwargs: builder arguments (``include_top`` is forced to False).

    Example:
        >>> feats = create_backbone("resnet50", input_shape=(224, 224, 3))
        >>> sorted(feats.output)   # conv1_relu, conv2_block3_out, …, conv5_block3_out
    """
    info = model_info(name)
    kwargs["include_top"] = False
    kwargs.pop("pooling", None)
    model = info.build(**kwargs)
    if endpoints is None:
        if info.endpoints is None:
            raise ValueError(f"Model {name!r} declares no endpoints; pass endpoints=[layer names].")
        endpoints = info.endpoints(**{k: v for k, v in kwargs.items() if k not in _COMMON})
    return feature_extractor(model, endpoints)


_COMMON = {"include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
           "classifier_activation", "name"}

__all__ = ["LocalResponseNormalization"] + [
    name for name, value in globals().items() if not name.startswith("_") and not isinstance(value, type(_importlib))]
