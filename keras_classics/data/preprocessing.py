"""Input preprocessing by name, written with arithmetic and slicing only.

Works the same on NumPy arrays, TensorFlow tensors (tf.data, exported graphs)
and Keras tensors. Inputs are float RGB images in [0, 255], channels last.

* ``"caffe"``: RGB → BGR, minus the ImageNet mean per channel (VGG, ResNet:
  the convention of the keras.applications weights).
* ``"torch"``: scale to [0, 1], minus the ImageNet mean, over its std.
* ``"tf"``: scale to [-1, 1] (Inception v3).
* ``"none"``: unchanged.
"""

from __future__ import annotations

IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PREPROCESSING_MODES = ("caffe", "torch", "tf", "none")


def preprocess(images, mode: str):
    """Apply the named preprocessing to float RGB images in [0, 255].

    Raises:
        ValueError: for a mode not in :data:`PREPROCESSING_MODES`.
    """
    if mode == "caffe":
        bgr = images[..., ::-1]
        return bgr - [IMAGENET_MEAN_RGB[2], IMAGENET_MEAN_RGB[1], IMAGENET_MEAN_RGB[0]]
    if mode == "torch":
        return (images / 255.0 - list(IMAGENET_MEAN)) / list(IMAGENET_STD)
    if mode == "tf":
        return images / 127.5 - 1.0
    if mode == "none":
        return images
    raise ValueError(f"Unknown preprocessing {mode!r}. Accepted: {', '.join(PREPROCESSING_MODES)}.")
