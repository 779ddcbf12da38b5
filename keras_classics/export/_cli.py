"""``keras-classics export`` and ``keras-classics predict``: thin wrappers over
:mod:`keras_classics.export` and :mod:`keras_classics.predict`."""

from __future__ import annotations

import json
import os
import sys

from keras_classics.transforms import INTERPOLATIONS, PREPROCESSING_MODES  # no TensorFlow: the help stays fast
from keras_classics.export.exporters import to_saved_model, to_tflite
from keras_classics.export.formats import FORMATS, QUANTIZATIONS, check_format_options
from keras_classics.export.source import prepare

DEFAULT_ROOT = "saved_models"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trained model to SavedModel or TFLite, with a model card and parity report",
        description=(
            "Export a .keras model (or a training run directory) to a SavedModel directory or a TFLite "
            "file. Auxiliary heads are stripped, mixed-precision models are rebuilt in float32, and the "
            "export is compared with the Keras model on fixed images: outside the tolerance of its "
            "format it fails and nothing is written."
        ),
    )
    p.add_argument("model", help="a .keras file or a training run directory (best.keras, else final.keras)")
    p.add_argument("--format", choices=FORMATS, default="savedmodel",
                   help="output format (default: savedmodel)")
    p.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                   help="TFLite only: none (float32), float16 weights, dynamic-range int8 weights, "
                        "or full-integer int8 (needs --representative)")
    p.add_argument("--representative", metavar="DIR|shapes",
                   help="calibration images for int8: a directory of images or 'shapes' (the generated dataset)")
    p.add_argument("--representative-samples", type=int, default=100, metavar="N",
                   help="number of calibration images (default: 100)")
    p.add_argument("--int8-io", action="store_true",
                   help="with --quantize int8: int8 input and output tensors (default: float32)")
    p.add_argument("--parity-data", metavar="DIR|shapes|noise",
                   help="images for the parity report (default: the representative source's images that "
                        "calibration did not take, else shapes)")
    p.add_argument("--parity-samples", type=int, default=100, metavar="N",
                   help="number of parity images (default: 100)")
    p.add_argument("--preprocessing", choices=PREPROCESSING_MODES,
                   help="override the preprocessing read from the run config or the registry")
    p.add_argument("--class-names", metavar="FILE",
                   help="a text file with one class name per line (default: the run config's, else 0..N-1)")
    p.add_argument("--crop-fraction", type=float, default=None,
                   help="centre crop applied to image files (SavedModel bytes signature, predict); "
                        "default: the run's evaluation crop, else 1.0")
    p.add_argument("--interpolation", choices=INTERPOLATIONS, default=None,
                   help="resize filter applied to image files (SavedModel bytes signature, predict); "
                        "default: the model's metadata (a weights set's), else bilinear")
    p.add_argument("-o", "--output",
                   help=f"destination: a SavedModel directory, a .tflite file or a TFLite export directory "
                        f"(default: {DEFAULT_ROOT}/NAME)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    p.add_argument("--allow-parity-failure", action="store_true",
                   help="write the export with a warning when parity is outside the tolerance")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the destination")
    p.add_argument("--unsafe-deserialization", action="store_true",
                   help="load a .keras file with Lambda layers, which runs the Python code stored in it: "
                        "only for files you trust (refused by default)")
    p.set_defaults(func=_export)

    q = subparsers.add_parser(
        "predict",
        help="classify images with a .keras file, a SavedModel directory or a .tflite file",
        description=(
            "Classify image files (JPEG, PNG, GIF, BMP, WebP, TIFF), or the image files in folders, with any "
            "exported model. A file that cannot be read is reported on its own line and the others are "
            "classified; the exit status is 2 if any file failed. Class names, "
            "preprocessing and crop come from the model card next to the export; for a .keras file, from the "
            "metadata it carries, else from the training run's config.json next to it."
        ),
    )
    q.add_argument("model", help="a .keras file, a training run directory (best.keras, else final.keras), a "
                                 "SavedModel directory, a .tflite file or a TFLite export directory")
    q.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files, or folders of them (searched recursively, as a folder dataset is)")
    q.add_argument("--top", type=int, default=5, help="number of classes shown per image (default: 5)")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.add_argument("--unsafe-deserialization", action="store_true",
                   help="load a .keras file with Lambda layers, which runs the Python code stored in it: "
                        "only for files you trust (refused by default)")
    q.set_defaults(func=_predict)


def _default_output(args) -> str:
    model = os.path.abspath(args.model).rstrip(os.sep)
    stem = os.path.splitext(os.path.basename(model))[0]
    if stem in ("best", "final"):  # a run's file: name it after the run directory
        stem = os.path.basename(os.path.dirname(model)) or stem
    if os.path.isdir(model):
        stem = os.path.basename(model)
    if args.format == "savedmodel":
        return os.path.join(DEFAULT_ROOT, stem)
    suffix = "float32" if args.quantize == "none" else args.quantize
    return os.path.join(DEFAULT_ROOT, f"{stem}_{suffix}.tflite")


def _read_class_names(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Class names file not found: {path!r}")
    with open(path) as f:
        names = [line.strip() for line in f if line.strip()]
    if not names:
        raise ValueError(f"Class names file {path!r} is empty.")
    return names


def _export(args) -> int:
    check_format_options(args.format, args.quantize, args.int8_io)
    if not os.path.exists(args.model):
        raise FileNotFoundError(f"Model not found: {args.model!r}")

    common = dict(
        class_names=_read_class_names(args.class_names) if args.class_names else None,
        preprocessing=args.preprocessing,
        crop_fraction=args.crop_fraction,
        interpolation=args.interpolation,
        parity_data=args.parity_data,
        parity_samples=args.parity_samples,
        overwrite=args.overwrite,
        allow_parity_failure=args.allow_parity_failure,
        verbose=not args.quiet,
    )
    output = args.output or _default_output(args)
    model = args.model
    if args.unsafe_deserialization:  # loaded here, with its overrides, so that the exporters take it as it is
        model = prepare(model, class_names=common.pop("class_names"), preprocessing=common.pop("preprocessing"),
                        crop_fraction=common.pop("crop_fraction"), interpolation=common.pop("interpolation"),
                        safe_mode=False)
    if args.format == "savedmodel":
        to_saved_model(model, output, **common)
    else:
        to_tflite(
            model, output, quantize=args.quantize, representative=args.representative,
            representative_samples=args.representative_samples, int8_io=args.int8_io, **common,
        )
    if model is not args.model:
        model.close()
    if args.quiet:
        print(output)
    return 0


def _predict(args) -> int:
    if args.top < 1:
        raise ValueError(f"--top must be a positive integer. Received: {args.top}")
    from keras_classics import predict
    from keras_classics.images import image_files

    files = image_files(args.images)  # a folder: its images, listed as a folder dataset lists them
    results = predict.load(args.model, safe_mode=not args.unsafe_deserialization).classify(files, top=args.top)
    failed = [r for r in results if "error" in r]
    if args.json:
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for result in results:
            if "error" in result:
                continue
            print(result["image"])
            width = max(len(p["class"]) for p in result["predictions"])
            for rank, p in enumerate(result["predictions"], 1):
                print(f"  {rank}. {p['class']:<{width}}  {p['probability']:8.2%}")
    for result in failed:  # each file that could not be read, on its own line; the others were classified
        print(f"keras-classics predict: error: {result['error']}", file=sys.stderr)
    if failed and len(failed) < len(results):
        print(f"keras-classics predict: {len(failed)} of {len(results)} image files could not be read; "
              "the others were classified.", file=sys.stderr)
    return 2 if failed else 0
