"""keras_classics: exact Keras 3 reference implementations of the classic CNNs.

>>> from keras_classics import resnet152, create_model, list_models
>>> model = resnet152(classes=10, input_shape=(224, 224, 3))

Importing the package is light: the builders and the registry functions
(``keras_classics.models``) load on first use, and Keras only when a model is
built, so the command line's ``--help`` and ``list`` start neither Keras nor
TensorFlow. The models use
``keras`` alone and run on every Keras backend. Training, data and export live
in sub-packages that use TensorFlow and are imported on demand.
"""

__version__ = "0.1.0"

import os as _os

from keras_classics._lazy import lazy_exports as _lazy_exports

# TensorFlow turns its oneDNN kernels on by default only on some x86 CPUs; on the
# others (AMD EPYC, for one) a ResNet-18 training step on the CPU is about 4x
# slower without them (measured: 27 against 113 images/s at 32x32, batch 64).
# This takes effect when the package is imported before TensorFlow; set
# TF_ENABLE_ONEDNN_OPTS=0 to keep TensorFlow's own choice.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# PEP 562: the public names of keras_classics.models (resnet152, create_model, …) and
# __all__ resolve on first use; a sub-package (training, inspect, …) is imported as usual.
# keras.applications' two helpers and the evaluation of a model on labelled images load the same way.
__getattr__, __dir__ = _lazy_exports(__name__, {
    "keras_classics.applications": ("preprocess_input", "decode_predictions"),
    "keras_classics.evaluation.measure": ("evaluate",),
}, everything_from="keras_classics.models", extra_all=("__version__",), submodules=True)
