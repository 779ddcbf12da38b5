"""keras_classics: exact Keras 3 reference implementations of the classic CNNs.

>>> from keras_classics import resnet152, create_model, list_models
>>> model = resnet152(classes=10, input_shape=(224, 224, 3))

Importing the package imports ``keras`` but never TensorFlow directly: the
models run on every Keras backend. Training, data and export live in
sub-packages that use TensorFlow and are imported on demand.
"""

__version__ = "0.1.0"

import os as _os

# TensorFlow turns its oneDNN kernels on by default only on some x86 CPUs; on the
# others (AMD EPYC, for one) a ResNet-18 training step on the CPU is about 4x
# slower without them (measured: 27 against 113 images/s at 32x32, batch 64).
# This takes effect when the package is imported before TensorFlow; set
# TF_ENABLE_ONEDNN_OPTS=0 to keep TensorFlow's own choice.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from keras_classics.models import *  # noqa: F401,F403
from keras_classics.models import __all__ as _models_all

__all__ = list(_models_all) + ["__version__"]
