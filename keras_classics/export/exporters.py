"""The exporters: from a model to a checked export on disk, with its model card.

Each one checks the destination, prepares the model (:mod:`.source`), reads the
parity (and calibration) images (:mod:`.samples`), builds the export in a
temporary directory beside its destination (:mod:`.savedmodel`, :mod:`.tflite`),
compares it with the Keras model (:mod:`.parity`), writes the card
(:mod:`.card`) and renames everything into place (:mod:`.destination`).
"""

from __future__ import annotations

import copy
import os
import shutil

import numpy as np

from keras_classics import metadata
from keras_classics._interrupts import forget_temporary
from keras_classics import predict as _predict
from keras_classics.transforms import preprocess
from keras_classics.export.card import calibration_card, model_card, summary, write_card
from keras_classics.export.destination import check_destination, commit, scratch_dir, tflite_paths
from keras_classics.export.formats import FORMATS, check_format_options
from keras_classics.export.parity import TOLERANCES, check_parity, drift_from_trained, parity_report, reference_predictions
from keras_classics.export.samples import DEFAULT_SAMPLES, export_samples, parity_images
from keras_classics.export.savedmodel import SIGNATURES, bytes_check, size_on_disk
from keras_classics.export.source import prepare
from keras_classics.export.tflite import convert, output_step

__all__ = ["to_saved_model", "to_tflite", "export"]


def _check_backend():
    import keras  # imported on use: the export package imports without Keras or TensorFlow

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"Export writes TensorFlow graphs and needs Keras' TensorFlow backend; received KERAS_BACKEND="
            f"{keras.backend.backend()!r}. Run the export with KERAS_BACKEND=tensorflow (a .keras file is the same "
            "on every backend)."
        )


def _say(verbose, message):
    if verbose:
        print(message, flush=True)


def to_saved_model(
    model,
    output,
    *,
    class_names=None,
    preprocessing=None,
    crop_fraction: float | None = None,
    interpolation: str | None = None,
    parity_data=None,
    parity_samples: int = DEFAULT_SAMPLES,
    overwrite: bool = False,
    allow_parity_failure: bool = False,
    custom_objects=None,
    verbose: bool = True,
) -> dict:
    """Export a classifier as a SavedModel directory with a model card.

    Signatures:
        ``serving_default``: ``images`` float32 ``(batch, h, w, 3)``, already
        preprocessed → ``probabilities`` ``(batch, classes)``.
        ``serving_bytes``: ``image_bytes`` string ``(batch,)`` of encoded
        JPEG/PNG/GIF/BMP/WebP files → ``probabilities``, ``top_class``,
        ``top_class_name``; decoding, resizing, centre-cropping and
        preprocessing happen in the graph.

    Args:
        model: a Keras model, a ``.keras`` file, a training run directory or
            an :class:`ExportSource` from :func:`prepare`.
        output: the SavedModel directory to create (``model_card.json`` goes
            inside it). For TF Serving, export to ``BASE/NAME/1``.
        class_names: overrides the run's class names.
        preprocessing: overrides the run's (or the registry's) preprocessing.
        crop_fraction: centre crop used by the ``serving_bytes`` signature and
            by ``predict`` (see :func:`keras_classics.images.resize_and_crop`);
            default: the run's evaluation crop, else 1 (the whole shorter side).
        interpolation: the resize's filter there, ``"bilinear"`` or
            ``"bicubic"``; default: the model metadata's (a weights set's,
            e.g. timm's bicubic), else bilinear.
        parity_data: images for the parity report (see :func:`encoded_samples`);
            default: the run's own validation images (from its ``config.json``),
            else ``"shapes"``.
        parity_samples: number of parity images.
        overwrite: replace an existing ``output``.
        allow_parity_failure: write the export with a warning when parity is
            outside :data:`TOLERANCES` (default: raise :class:`ParityError`).
        custom_objects: for ``.keras`` files with custom layers.
        verbose: print progress.

    Returns:
        The model card (also written to ``output/model_card.json``).

    Raises:
        FileExistsError: ``output`` exists and ``overwrite`` is False.
        ParityError: parity outside the tolerance (nothing written).
    """
    _check_backend()
    dest = os.path.abspath(os.fspath(output))
    check_destination([(dest, "savedmodel")], overwrite)
    source = prepare(model, class_names=class_names, preprocessing=preprocessing, crop_fraction=crop_fraction,
                     interpolation=interpolation, custom_objects=custom_objects)
    samples = parity_images(source, parity_data, parity_samples, None)
    images, image_source = samples.images, samples.description

    scratch = scratch_dir(dest)
    try:
        work = os.path.join(scratch, "export")
        _say(verbose, f"Writing SavedModel of {source.model.name!r} ({source.input_size[0]}x{source.input_size[1]}, "
                      f"{source.num_classes} classes)")
        shutil.copytree(source.saved_model_dir(), work)
        _say(verbose, f"Parity against the Keras model on {len(images)} images ({image_source})")
        reference, inputs = reference_predictions(source, images)
        runner = _predict.SavedModelRunner(work)
        report = parity_report(reference, runner(inputs), TOLERANCES["none"])
        report["image_source"] = image_source
        report["images_used"] = list(samples.ids)
        report["reference"] = "Keras model, float32"
        report["bytes_signature_max_abs_diff"] = bytes_check(runner, samples, inputs)
        report["passed"] = report["passed"] and report["bytes_signature_max_abs_diff"] <= TOLERANCES["none"][
            "max_abs_diff"]
        drift = drift_from_trained(source, inputs, reference)
        card = model_card(source, "savedmodel", "none", False)
        card["signatures"] = copy.deepcopy(SIGNATURES)
        card["size_bytes"] = size_on_disk(work)
        card["parity"] = report
        if drift:
            card["drift_from_trained_model"] = drift
        check_parity(report, "SavedModel", allow_parity_failure)
        write_card(os.path.join(work, metadata.CARD_FILENAME), card)
        commit([(work, dest)], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        forget_temporary(scratch)
        if source is not model:  # prepared here: drop its cached SavedModel now
            source.close()
    _say(verbose, summary(dest, card))
    return card


def to_tflite(
    model,
    output,
    *,
    quantize: str = "none",
    representative=None,
    representative_samples: int = DEFAULT_SAMPLES,
    int8_io: bool = False,
    class_names=None,
    preprocessing=None,
    crop_fraction: float | None = None,
    interpolation: str | None = None,
    parity_data=None,
    parity_samples: int = DEFAULT_SAMPLES,
    overwrite: bool = False,
    allow_parity_failure: bool = False,
    custom_objects=None,
    num_threads: int | None = None,
    verbose: bool = True,
) -> dict:
    """Export a classifier to TFLite (LiteRT) with a model card.

    Args:
        model: a Keras model, a ``.keras`` file, a training run directory or
            an :class:`ExportSource` from :func:`prepare`.
        output: a path ending in ``.tflite`` (the card is written beside it as
            ``NAME.card.json``) or a directory to create (``model.tflite`` and
            ``model_card.json`` inside).
        quantize: ``"none"`` (float32), ``"float16"`` (float16 weights),
            ``"dynamic"`` (int8 weights, float activations) or ``"int8"``
            (full-integer: weights and activations, calibrated on
            ``representative``).
        representative: calibration images for ``"int8"`` (see
            :func:`encoded_samples`: ``"shapes"``, a directory, an array, a
            dataset); default: the run's own training images (from its
            ``config.json``). They are read as image files are and
            preprocessed like the model's inputs, and are never parity
            images too: from one source, calibration takes the first images
            and parity the last (see :func:`~keras_classics.export.samples.export_samples`).
        representative_samples: how many calibration images (default 100).
        int8_io: with ``"int8"``, int8 input and output tensors (quantization
            parameters in the card and in the file); default float32 input
            and output.
        parity_data: images for the parity report; default: the
            representative source's held-out part, else the run's own
            validation images, else ``"shapes"``.
        num_threads: interpreter threads for the parity run.
        Other arguments: see :func:`to_saved_model`.

    Returns:
        The model card.

    Raises:
        ValueError: an unknown ``quantize``, ``int8`` without
            ``representative``, ``int8_io`` without ``int8``.
        FileExistsError: the output exists and ``overwrite`` is False.
        ParityError: parity outside :data:`TOLERANCES` (nothing written).
    """
    check_format_options("tflite", quantize, int8_io)
    _check_backend()
    dest = os.path.abspath(os.fspath(output))
    tflite_dest, card_dest = tflite_paths(dest)
    targets = [(dest, "tflite_file"), (card_dest, "card")] if dest.endswith(".tflite") else [(dest, "tflite")]
    check_destination(targets, overwrite)
    source = prepare(model, class_names=class_names, preprocessing=preprocessing, crop_fraction=crop_fraction,
                     interpolation=interpolation, custom_objects=custom_objects)
    if quantize == "int8" and representative is None and not isinstance((source.run_config or {}).get("dataset"), str):
        raise ValueError(
            "Full-integer int8 quantization needs representative data to calibrate activation ranges, and "
            f"{source.path or 'this model'!r} has no training run config.json naming its dataset (whose "
            "training images are the default): pass representative='shapes', a directory of images or an "
            "array (CLI: --representative DIR|shapes). For weights-only int8 use quantize='dynamic'."
        )

    calibration = raw = None
    if quantize == "int8":  # calibration and parity: different images (see samples.export_samples)
        raw, samples = export_samples(source, representative, representative_samples, parity_data, parity_samples)
        calibration = np.asarray(preprocess(raw.images, source.preprocessing), np.float32)
    else:
        samples = parity_images(source, parity_data, parity_samples, representative)
    images, image_source = samples.images, samples.description

    scratch = scratch_dir(dest)
    try:
        saved = source.saved_model_dir()
        what = f"TFLite {'float32' if quantize == 'none' else quantize}"
        _say(verbose, f"Converting {source.model.name!r} to {what}"
                      + (f", calibrating on {len(calibration)} images ({raw.description})" if quantize == "int8" else ""))
        flatbuffer = convert(saved, quantize, calibration, int8_io, verbose)
        work = os.path.join(scratch, "export")
        os.makedirs(work)
        work_file = os.path.join(work, _predict.TFLITE_FILENAME)
        with open(work_file, "wb") as f:
            f.write(flatbuffer)

        _say(verbose, f"Parity against the Keras model on {len(images)} images ({image_source})")
        reference, inputs = reference_predictions(source, images)
        runner = _predict.TFLiteRunner(work_file, num_threads)
        step = output_step(runner) if quantize == "int8" else None
        report = parity_report(reference, runner(inputs), TOLERANCES[quantize], quantization_step=step)
        report["image_source"] = image_source
        report["images_used"] = list(samples.ids)
        report["reference"] = "Keras model, float32"
        drift = drift_from_trained(source, inputs, reference)

        card = model_card(source, "tflite", quantize, int8_io)
        card["file"] = os.path.basename(tflite_dest)
        card["size_bytes"] = len(flatbuffer)
        card["runtime"] = "LiteRT interpreter (ai_edge_litert)"
        if int8_io:
            card["input"]["quantization"] = {"scale": float(runner.input["quantization"][0]),
                                             "zero_point": int(runner.input["quantization"][1])}
            card["output"]["quantization"] = {"scale": float(runner.output["quantization"][0]),
                                              "zero_point": int(runner.output["quantization"][1])}
        if quantize == "int8":
            card["representative_data"] = calibration_card(raw, samples)
        card["parity"] = report
        if drift:
            card["drift_from_trained_model"] = drift
        check_parity(report, what, allow_parity_failure)

        if dest.endswith(".tflite"):
            card_tmp = os.path.join(scratch, "card.json")
            write_card(card_tmp, card)
            commit([(work_file, tflite_dest), (card_tmp, card_dest)], scratch)
        else:
            write_card(os.path.join(work, metadata.CARD_FILENAME), card)
            commit([(work, dest)], scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        forget_temporary(scratch)
        if source is not model:  # prepared here: drop its cached SavedModel now
            source.close()
    _say(verbose, summary(tflite_dest, card))
    return card


def export(model, output, format: str = "savedmodel", **kwargs) -> dict:
    """:func:`to_saved_model` or :func:`to_tflite` by ``format`` (``"savedmodel"`` / ``"tflite"``)."""
    check_format_options(format, kwargs.get("quantize"), kwargs.get("int8_io", False))
    if format == "savedmodel":
        for key in ("quantize", "representative", "representative_samples", "int8_io", "num_threads"):
            kwargs.pop(key, None)
        return to_saved_model(model, output, **kwargs)
    if format == "tflite":
        return to_tflite(model, output, **kwargs)
    raise ValueError(f"Unknown export format {format!r}. Accepted: {', '.join(FORMATS)}.")
