"""The export formats and TFLite quantizations, and the check that a format and its options go together.

Nothing here imports TensorFlow: the command line reads these for its choices and checks them before any work.
"""

from __future__ import annotations

__all__ = ["FORMATS", "QUANTIZATIONS", "check_format_options"]

FORMATS = ("savedmodel", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


def check_format_options(format: str, quantize: str | None = None, int8_io: bool = False) -> None:
    """Refuse a format and options that do not go together, before any work.

    Raises:
        ValueError: an unknown ``format`` or ``quantize``, quantization or
            int8 input/output asked of a SavedModel, ``int8_io`` without int8.
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown export format {format!r}. Accepted: {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantize!r}. Accepted: {', '.join(QUANTIZATIONS)}.")
    if format == "savedmodel" and quantize not in (None, "none"):
        raise ValueError(
            f"Quantization applies to TFLite only (format='tflite'; CLI: --format tflite). Received: "
            f"format='savedmodel', quantize={quantize!r} (CLI: --format savedmodel --quantize {quantize})."
        )
    if format == "savedmodel" and int8_io:
        raise ValueError("int8 input/output applies to TFLite only (format='tflite', quantize='int8'; CLI: "
                         "--format tflite --quantize int8 --int8-io). Received: format='savedmodel' (CLI: --format "
                         "savedmodel --int8-io).")
    if int8_io and quantize != "int8":
        raise ValueError(f"int8 input/output needs quantize='int8' (CLI: --quantize int8). Received: "
                         f"quantize={quantize!r}")
