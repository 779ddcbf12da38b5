"""The SavedModel archive: ``serving_default`` on preprocessed float images, ``serving_bytes`` on image files.

``serving_bytes`` takes encoded JPEG/PNG/GIF/BMP/WebP files and decodes,
resizes, centre-crops and preprocesses them in the graph, with the one image
path's own function (:func:`keras_classics.images.decode_image`).
"""

from __future__ import annotations

import os

import numpy as np

from keras_classics.images import decode_image
from keras_classics import metadata
from keras_classics.transforms import check_interpolation, preprocess

__all__ = ["SIGNATURES", "write_archive", "bytes_check", "size_on_disk"]

#: The signatures of an exported SavedModel, as its model card describes them.
SIGNATURES = {
    "serving_default": {"inputs": {"images": "float32 (batch, h, w, 3), preprocessed"},
                        "outputs": ["probabilities"]},
    "serving_bytes": {"inputs": {"image_bytes": "string (batch,), encoded image files"},
                      "outputs": ["probabilities", "top_class", "top_class_name"]},
}


def write_archive(model, path, *, bytes_signature=None):
    """Write ``model`` as a SavedModel with Keras 3's ExportArchive.

    ``serving_default`` takes float32 images ``(batch, h, w, 3)`` in the model's
    input space and returns ``probabilities``; with ``bytes_signature`` (a dict
    of ``class_names``, ``preprocessing``, ``crop_fraction`` and optionally
    ``interpolation``, default bilinear) a second
    signature ``serving_bytes`` takes a batch of encoded image files.
    """
    import keras  # imported on use: TensorFlow loads only when an export is made
    import tensorflow as tf

    height, width = (int(d) for d in model.inputs[0].shape[1:3])
    # No archive.track(model): the endpoints track the variables they use, and tracking the model
    # as well would store every weight twice.
    archive = keras.export.ExportArchive()

    def serve(images):
        return {"probabilities": model(images, training=False)}

    archive.add_endpoint(
        "serving_default", serve,
        input_signature=[tf.TensorSpec((None, height, width, 3), tf.float32, name="images")],
    )
    if bytes_signature is not None:
        names = tf.constant(bytes_signature["class_names"])
        mode = bytes_signature["preprocessing"]
        crop = float(bytes_signature["crop_fraction"])
        interpolation = check_interpolation(bytes_signature.get("interpolation", "bilinear"))

        def serve_bytes(image_bytes):
            images = tf.map_fn(
                lambda b: decode_image(b, height, width, crop, interpolation),
                image_bytes,
                fn_output_signature=tf.TensorSpec((height, width, 3), tf.float32),
            )
            probs = model(preprocess(images, mode), training=False)
            top = tf.argmax(probs, axis=-1)
            return {"probabilities": probs, "top_class": top, "top_class_name": tf.gather(names, top)}

        archive.add_endpoint(
            "serving_bytes", serve_bytes,
            input_signature=[tf.TensorSpec((None,), tf.string, name="image_bytes")],
        )
    archive.write_out(path, verbose=False)


def bytes_check(runner, samples, inputs, count=8) -> float:
    """Max abs difference between ``serving_bytes`` on image files and ``serving_default`` on the same files
    read through the one image path (``inputs``: those images preprocessed)."""
    import tensorflow as tf  # imported on use, as above

    encoded = tf.constant(samples.encoded[:count])
    from_bytes = runner.loaded.signatures["serving_bytes"](image_bytes=encoded)["probabilities"].numpy()
    from_floats = runner(inputs[:count])
    return float(np.abs(from_bytes - from_floats).max())


def size_on_disk(path) -> int:
    """Bytes of a file, or of the files of a directory but its model card."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files if f != metadata.CARD_FILENAME)
    return total
