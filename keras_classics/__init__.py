"""keras_classics: exact Keras 3 reference implementations of the classic CNNs.

>>> from keras_classics import resnet152, create_model, list_models
>>> model = resnet152(classes=10, input_shape=(224, 224, 3))

Importing the package imports ``keras`` but never TensorFlow directly: the
models run on every Keras backend. Training, data and export live in
sub-packages that use TensorFlow and are imported on demand.
"""

__version__ = "0.1.0"

from keras_classics.models import *  # noqa: F401,F403
from keras_classics.models import __all__ as _models_all

__all__ = list(_models_all) + ["__version__"]
