"""The classic CNNs as Keras 3 functional models (``keras`` only, any backend).

Every builder takes the keras.applications signature (keyword-only)
``include_top, weights, input_tensor, input_shape, pooling, classes,
classifier_activation, name`` plus its family's options, and is registered in
the model registry under its paper name.
"""

from keras_classics.models._layers import LocalResponseNormalization, feature_extractor, strip_aux
from keras_classics.models._registry import (
    ModelInfo,
    Variant,
    create_model,
    get_builder,
    list_models,
    model_info,
    register_model,
)
from keras_classics.models.alexnet import alexnet
from keras_classics.models.googlenet import googlenet, inception_module, naive_inception_module
from keras_classics.models.inception_v2 import inception_v2
from keras_classics.models.inception_v3 import inception_v3
from keras_classics.models.resnet import (
    basic_block,
    bottleneck_block,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from keras_classics.models.resnet_cifar import (
    resnet20_cifar,
    resnet32_cifar,
    resnet44_cifar,
    resnet56_cifar,
    resnet110_cifar,
)
from keras_classics.models.small_nets import convnet4, mlp
from keras_classics.models.vgg import (
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)
from keras_classics.models.zfnet import zfnet


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

__all__ = [name for name in dir() if not name.startswith("_")]
