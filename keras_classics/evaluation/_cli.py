"""``keras-classics evaluate``: a thin wrapper over :func:`keras_classics.evaluation.evaluate`."""

from __future__ import annotations

import contextlib
import json
import sys

from keras_classics._cliargs import int_at_least
from keras_classics.evaluation.confusion import DEFAULT_DIR as DEFAULT_CONFUSION_DIR  # no TensorFlow


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="measure models on labelled images: top-1, top-5, loss, per-class accuracy, confusion matrix",
        description=(
            "Run one model or several (a .keras file, a training run directory, a SavedModel, a .tflite file) on "
            "the same labelled images and print one side-by-side table: top-1, top-5, loss, images/s and the "
            "top-1 of each class. Top-k counts no tie as a hit: equal scores rank by class index. Without "
            "--dataset, the images are the validation split of the run the first model was trained in."
        ),
    )
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="a .keras file, a training run directory, a SavedModel directory, a .tflite file or a "
                        "TFLite export directory")
    p.add_argument("--dataset", metavar="SOURCE",
                   help="the images: shapes (its validation split), folder:PATH or a directory (every image; a "
                        "sub-folder per class), tfds:NAME (its validation split). Default: the run's validation "
                        "split")
    p.add_argument("--limit", type=int_at_least(1), metavar="N", help="evaluate the first N images only")
    p.add_argument("--batch-size", type=int_at_least(1), default=32, metavar="N", help="images per batch (default: 32)")
    p.add_argument("--confusion-dir", default=DEFAULT_CONFUSION_DIR, metavar="DIR",
                   help="folder for each model's confusion matrix, MODEL.confusion.png (default: "
                        f"{DEFAULT_CONFUSION_DIR}/ here); a file there that evaluate did not write is never replaced")
    p.add_argument("--no-confusion", action="store_true", help="draw no confusion matrix")
    p.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    p.set_defaults(func=_evaluate)


def _evaluate(args) -> int:
    from keras_classics.evaluation.measure import evaluate  # deferred: loading models starts TensorFlow

    confusion_dir = None if args.no_confusion else args.confusion_dir
    # With --json, stdout holds the JSON alone: anything printed on the way goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = evaluate(args.models, args.dataset, limit=args.limit, batch_size=args.batch_size,
                          confusion_dir=confusion_dir, progress=not args.json and sys.stdout.isatty())
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.table())
    return 0
