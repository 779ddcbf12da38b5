"""Export trained classifiers to SavedModel and TFLite, each with a model card and a parity report.

One path for every model:

1. load the ``.keras`` file with safe mode on (:func:`load_for_export`);
2. strip the auxiliary heads (:func:`keras_classics.strip_aux`);
3. if any layer computes in float16/bfloat16 (a mixed-precision run), rebuild
   the model from its config in float32 and copy the weights
   (:func:`float32_copy`);
4. append a softmax when the model outputs logits;
5. export with Keras 3's :class:`keras.export.ExportArchive` (the SavedModel
   itself, and the SavedModel that the TFLite converter reads);
6. reload the written file and compare it with the Keras model on a fixed set
   of image files (:func:`parity_report`), read through the one image path
   (:func:`keras_classics.images.load_image_bytes`): the Keras model and the
   float signatures get those pixels, ``serving_bytes`` the same files; outside the tolerance of its format
   (:data:`TOLERANCES`) the export fails and nothing is written, unless
   ``allow_parity_failure=True``, which writes it with a warning naming the
   figure;
7. write the model card (JSON) and rename everything into place: an export
   is built under a temporary name beside its destination and renamed at the
   end, so a failed export never leaves a half-written one, and an existing
   destination is replaced only with ``overwrite=True``.

Exports take the model's own input: float32 RGB images of the model's input
size, already preprocessed (the card names the preprocessing). The
SavedModel's second signature, ``serving_bytes``, takes encoded JPEG/PNG/GIF/
BMP/WebP files and does decoding, resizing, centre-cropping and preprocessing
in the graph.

Example:
    >>> from keras_classics import export
    >>> card = export.to_tflite("runs/quickstart/best.keras", "saved_models/shapes_int8.tflite",
    ...                         quantize="int8", representative="shapes")
    >>> card["parity"]["top1_agreement"]
    1.0

One module per step: :mod:`.source` (what is exported), :mod:`.samples`
(calibration and parity images), :mod:`.parity` (the statistics and their
tolerances), :mod:`.savedmodel` (the archive and its bytes signature),
:mod:`.tflite` (the conversion), :mod:`.card` (the model card),
:mod:`.destination` (refusing, building beside, renaming into place),
:mod:`.formats` (the formats and their options) and :mod:`.exporters` (the
sequence). Importing the package loads neither Keras nor TensorFlow.
"""

from keras_classics.export.exporters import export, to_saved_model, to_tflite
from keras_classics.export.formats import FORMATS, QUANTIZATIONS, check_format_options
from keras_classics.export.parity import TOLERANCES, ParityError, parity_report
from keras_classics.export.samples import DEFAULT_SAMPLES, encoded_samples, image_samples
from keras_classics.export.source import ExportSource, float32_copy, load_for_export, prepare

__all__ = [
    "FORMATS",
    "QUANTIZATIONS",
    "check_format_options",
    "TOLERANCES",
    "DEFAULT_SAMPLES",
    "ParityError",
    "ExportSource",
    "load_for_export",
    "prepare",
    "float32_copy",
    "export",
    "to_saved_model",
    "to_tflite",
    "image_samples",
    "encoded_samples",
    "parity_report",
]
