"""TFLite conversion of a SavedModel: float32, float16 weights, dynamic-range int8 or full-integer int8."""

from __future__ import annotations

import sys

from keras_classics._startup import quiet_native_log

__all__ = ["convert", "output_step"]


def convert(saved_model_dir, quantize, representative, int8_io, verbose) -> bytes:
    """The TFLite flatbuffer of a SavedModel's ``serving_default``; ``representative``: preprocessed float32
    calibration images ``(n, h, w, 3)`` for ``"int8"``."""
    import tensorflow as tf  # imported on use: TensorFlow loads only when an export is made

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        import keras  # the progress bar; imported on use, as TensorFlow is

        # A log that is not a terminal gets one line when calibration ends, not one per image.
        bar = keras.utils.Progbar(len(representative), unit_name="image",
                                  verbose=1 if sys.stdout.isatty() else 2) if verbose else None

        def representative_dataset():
            for i in range(len(representative)):
                if bar is not None:
                    bar.update(i + 1)
                yield [representative[i : i + 1]]

        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    try:
        with quiet_native_log():  # the quantizer's settings line; all of it if the conversion fails
            return converter.convert()
    except Exception as e:
        raise ConversionError(quantize, e) from e


class ConversionError(ValueError):
    """TensorFlow Lite's converter refused the model: what was asked, the converter's own reason (its first
    line), and what converts."""

    def __init__(self, quantize, error):
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        ops = next((line.split(":", 1)[1].strip() for line in lines if line.startswith(("Custom ops:", "Flex ops:"))),
                   None)
        if ops:  # the converter lists the operations it has no kernel for
            reason = f"operations without a TensorFlow Lite built-in kernel: {ops}"
        else:
            reason = f"{type(error).__name__}: " + next(
                (line for line in lines if "error:" in line.lower()), lines[0] if lines else "")[:400]
        super().__init__(
            f"TensorFlow Lite could not convert the model (--quantize {quantize}): {reason}. Accepted: models whose operations all have TensorFlow Lite built-in kernels "
            f"({'in int8, ' if quantize == 'int8' else ''}as every registered model does); a custom layer "
            "with other operations exports as a SavedModel only (keras-classics export --format savedmodel).")


def output_step(runner) -> float:
    """The resolution of an int8 model's probabilities: the scale of its int8 output, or (float32
    output) of the int8 tensor that the output is dequantized from."""
    scale = float(runner.output["quantization"][0])
    if scale:
        return scale
    try:
        index = runner.output["index"]
        for op in runner.interpreter._get_ops_details():
            if op["op_name"] == "DEQUANTIZE" and index in list(op["outputs"]):
                source = runner.interpreter._get_tensor_details(int(op["inputs"][0]), 0)
                if source["quantization"][0]:
                    return float(source["quantization"][0])
    except (AttributeError, KeyError, TypeError, ValueError):  # an interpreter without these details
        pass
    return 1 / 256  # TFLite's int8 softmax always outputs in steps of 1/256
