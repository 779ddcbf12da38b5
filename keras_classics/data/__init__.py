"""Data for training and evaluating the classic CNNs, as ``tf.data`` pipelines.

* :func:`get_source`: a dataset by name: the generated ``"shapes"`` set
  (offline), ``"folder:PATH"`` (class sub-folders) or ``"tfds:NAME"``.
* :func:`make_pipeline`: shuffle, augment with a paper's policy
  (:data:`POLICIES`), batch, mixup/CutMix and preprocess, deterministically
  under ``(seed, epoch)``.
* :func:`ten_crop`: AlexNet's 10-crop test.
* :func:`preprocess`: named input preprocessing (``caffe``, ``torch``, ``tf``, ``none``;
  defined in :mod:`keras_classics.transforms`).

Example:
    >>> from keras_classics.data import get_source, make_pipeline
    >>> src = get_source("shapes", image_size=32, num_train=1000, num_val=200)
    >>> train = make_pipeline(src.train, policy="cifar", image_size=32, batch_size=50,
    ...                       preprocessing="tf", epoch=0)
"""

from keras_classics._lazy import lazy_exports

# Names re-exported here, by the module that defines them: a module of this package, or
# ``.transforms`` (keras_classics.transforms, one level up). They load on first use, so that
# light modules (``transforms``: the mode names the command line offers) import without
# TensorFlow.
__getattr__, __dir__ = lazy_exports(__name__, {
    "keras_classics.data.augment": ("IMAGENET_EIGVAL", "IMAGENET_EIGVEC", "POLICIES", "eval_transform", "lighting",
                                    "ten_crop", "train_transform"),
    "keras_classics.data.pipeline": ("make_pipeline", "mix_batch"),
    "keras_classics.transforms": ("PREPROCESSING_MODES", "preprocess"),
    "keras_classics.data.shapes": ("SHAPE_CLASSES", "cache_dir", "generate_shapes", "load_shapes"),
    "keras_classics.data.base": ("Source",),
    "keras_classics.data.folders": ("IMAGE_EXTENSIONS",),
    "keras_classics.data.generated": ("DEFAULT_SHAPES_TRAIN", "DEFAULT_SHAPES_VAL"),
    "keras_classics.data.sources": ("SOURCE_KINDS", "get_source"),
})

__all__ = [
    "DEFAULT_SHAPES_TRAIN",
    "DEFAULT_SHAPES_VAL",
    "IMAGENET_EIGVAL",
    "IMAGENET_EIGVEC",
    "IMAGE_EXTENSIONS",
    "POLICIES",
    "PREPROCESSING_MODES",
    "SHAPE_CLASSES",
    "SOURCE_KINDS",
    "Source",
    "cache_dir",
    "eval_transform",
    "generate_shapes",
    "get_source",
    "lighting",
    "load_shapes",
    "make_pipeline",
    "mix_batch",
    "preprocess",
    "ten_crop",
    "train_transform",
]
