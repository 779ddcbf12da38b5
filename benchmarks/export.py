"""Size on disk and CPU latency of one model in every export format, with parity.

For a registered model (random weights) or a ``.keras`` file: the Keras model
(the ``.keras`` file; a ``tf.function`` of the model's call), the SavedModel
(``serving_default``), and TFLite float32 / float16 / dynamic-range int8 /
full-integer int8 run on the LiteRT interpreter. Latency is at batch 1, the
median over repeats after warm-up; the formats take turns within each repeat so
they see the same machine load. Every figure is also given as a ratio to the
Keras float32 model measured in the same run. Parity (against the Keras model)
is measured by the exporter on the same fixed images for every format.

    python benchmarks/export.py                         # resnet50 at 224, 1000 classes
    python benchmarks/export.py --model resnet18 --image-size 64 --classes 10
    python benchmarks/export.py --model runs/quickstart/best.keras
    python benchmarks/export.py --tiny                  # smoke run at the smallest size

Goal for ResNet-50: full-integer int8 at most 0.27x the float32 size and at
most 0.5x its latency. With random weights the parity figures say how far each
format drifts, not how a trained model would fare; pass a trained ``.keras``
file for those.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._sizes import fill_sizes, tiny_help  # noqa: E402

# Before TensorFlow loads: the package turns TensorFlow's oneDNN CPU kernels on, as a user's
# `import keras_classics` does (TensorFlow reads the setting once, at import).
import keras_classics  # noqa: E402,F401
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("keras", "savedmodel", "tflite_float32", "tflite_float16", "tflite_dynamic", "tflite_int8")
GOAL = {"size_ratio": 0.27, "latency_ratio": 0.5}


# Defaults of the sizing flags, and the smaller ones of --tiny.
DEFAULTS = {"repeats": 30, "warmup": 5, "samples": 100}
TINY = {"image_size": 32, "repeats": 3, "warmup": 1, "samples": 8}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet50", help="registry name or a .keras file (default: resnet50)")
    p.add_argument("--image-size", type=int, default=None, help="default: the model's paper size")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--repeats", type=int, help="timed calls per format (default 30)")
    p.add_argument("--warmup", type=int, help="untimed calls per format first (default 5)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="TFLite interpreter threads (TensorFlow uses every core; default: all cores)")
    p.add_argument("--representative", default="shapes", help="int8 calibration images: 'shapes' or a directory")
    p.add_argument("--samples", type=int, help="calibration and parity images (default: 100)")
    p.add_argument("--json", default=None, help="write the results here (default: benchmarks/results/export_MODEL_SIZE.json)")
    p.add_argument("--tiny", action="store_true",
                   help=f"smoke run: {tiny_help(TINY)} and at most 10 classes")
    args = p.parse_args(argv)
    fill_sizes(args, DEFAULTS, TINY)  # flags given explicitly win
    if args.tiny:
        args.classes = min(args.classes, 10)
    for name in ("repeats", "warmup", "samples", "classes", "threads"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            p.error(f"--{name} must be positive. Received: {getattr(args, name)}")
    return args


def build_model(args):
    """The Keras model to benchmark, and a short label."""
    import keras_classics

    if args.model.endswith(".keras"):
        from keras_classics.export import load_for_export

        model = load_for_export(args.model)
        return model, os.path.splitext(os.path.basename(args.model))[0]
    info = keras_classics.model_info(args.model)
    size = args.image_size or info.default_size
    model = keras_classics.create_model(args.model, classes=args.classes, input_shape=(size, size, 3))
    return model, args.model


def _latency_fns(paths, model, threads):
    """A zero-argument callable per format running one batch-1 inference on a fixed input."""
    import numpy as np
    import tensorflow as tf

    from keras_classics import predict

    height, width = (int(d) for d in model.inputs[0].shape[1:3])
    x = np.random.default_rng(0).uniform(-1, 1, (1, height, width, 3)).astype(np.float32)
    fns = {}
    keras_call = tf.function(lambda t: model(t, training=False))
    xt = tf.constant(x)
    fns["keras"] = lambda: keras_call(xt).numpy()
    loaded = tf.saved_model.load(paths["savedmodel"])
    serve = loaded.signatures["serving_default"]
    fns["savedmodel"] = lambda: serve(images=xt)["probabilities"].numpy()
    fns["_loaded"] = loaded  # keep alive
    for fmt in FORMATS[2:]:
        runner = predict.TFLiteRunner(paths[fmt], num_threads=threads)
        interp, inp, out = runner.interpreter, runner.input, runner.output
        xq = predict._quantize(x, inp)

        def run(interp=interp, inp=inp, out=out, xq=xq):
            interp.set_tensor(inp["index"], xq)
            interp.invoke()
            return interp.get_tensor(out["index"])

        fns[fmt] = run
    return fns


def measure_latency(fns, repeats, warmup):
    """Median milliseconds per call, formats interleaved within each repeat."""
    for fmt in FORMATS:
        for _ in range(warmup):
            fns[fmt]()
    times = {fmt: [] for fmt in FORMATS}
    for _ in range(repeats):
        for fmt in FORMATS:
            start = time.perf_counter()
            fns[fmt]()
            times[fmt].append((time.perf_counter() - start) * 1000)
    return {fmt: statistics.median(t) for fmt, t in times.items()}


def run(args) -> dict:
    import tensorflow as tf

    from keras_classics import export

    model, label = build_model(args)
    height = int(model.inputs[0].shape[1])
    results = {"model": label, "image_size": height, "classes": int(model.outputs[0].shape[-1]),
               "params": int(model.count_params()), "threads_tflite": args.threads,
               "tensorflow_threads": "default (all cores)", "repeats": args.repeats, "warmup": args.warmup,
               "samples": args.samples, "cpu_count": os.cpu_count(), "tensorflow": tf.__version__}
    with tempfile.TemporaryDirectory() as work:
        paths = {"keras": os.path.join(work, "model.keras")}
        model.save(paths["keras"])
        cards = {}
        common = dict(parity_samples=args.samples, allow_parity_failure=True, verbose=False)
        parity_data = args.representative
        print(f"{label}: exporting SavedModel", flush=True)
        paths["savedmodel"] = os.path.join(work, "savedmodel")
        source = export.prepare(paths["keras"])  # loaded once; reference predictions computed once
        cards["savedmodel"] = export.to_saved_model(source, paths["savedmodel"], parity_data=parity_data, **common)
        for quantize in ("none", "float16", "dynamic", "int8"):
            fmt = "tflite_" + ("float32" if quantize == "none" else quantize)
            print(f"{label}: exporting {fmt}", flush=True)
            paths[fmt] = os.path.join(work, fmt + ".tflite")
            cards[fmt] = export.to_tflite(
                source, paths[fmt], quantize=quantize, parity_data=parity_data,
                representative=args.representative if quantize == "int8" else None,
                representative_samples=args.samples, num_threads=args.threads, **common,
            )
        print(f"{label}: timing batch-1 inference ({args.warmup} warm-up, {args.repeats} repeats)", flush=True)
        latency = measure_latency(_latency_fns(paths, model, args.threads), args.repeats, args.warmup)
        sizes = {"keras": os.path.getsize(paths["keras"])}
        sizes.update({fmt: cards[fmt]["size_bytes"] for fmt in FORMATS[1:]})

    rows = {}
    for fmt in FORMATS:
        row = {
            "size_bytes": sizes[fmt],
            "size_ratio": sizes[fmt] / sizes["keras"],
            "latency_ms": latency[fmt],
            "latency_ratio": latency[fmt] / latency["keras"],
        }
        if fmt in cards:
            parity = cards[fmt]["parity"]
            row.update({k: parity[k] for k in ("max_abs_diff", "mean_abs_diff", "top1_agreement", "passed")})
            row["parity_images"] = parity["image_source"]
        rows[fmt] = row
    results["formats"] = rows
    int8 = rows["tflite_int8"]
    results["goal"] = dict(GOAL, met=bool(int8["size_ratio"] <= GOAL["size_ratio"]
                                          and int8["latency_ratio"] <= GOAL["latency_ratio"]))
    return results


def table(results) -> str:
    lines = [
        f"{results['model']} at {results['image_size']}x{results['image_size']}, {results['classes']} classes, "
        f"{results['params']:,} params; batch 1, median of {results['repeats']} after {results['warmup']} warm-up; "
        f"TFLite threads {results['threads_tflite']}",
        f"{'format':<16}{'size MiB':>10}{'x keras':>9}{'ms':>10}{'x keras':>9}{'top-1 agr':>11}{'max |dp|':>11}  parity",
    ]
    for fmt, r in results["formats"].items():
        parity = ("—", "—", "reference")
        if "top1_agreement" in r:
            parity = (f"{r['top1_agreement']:.1%}", f"{r['max_abs_diff']:.2e}", "ok" if r["passed"] else "outside")
        lines.append(
            f"{fmt:<16}{r['size_bytes'] / 2**20:>10.2f}{r['size_ratio']:>9.3f}{r['latency_ms']:>10.2f}"
            f"{r['latency_ratio']:>9.3f}{parity[0]:>11}{parity[1]:>11}  {parity[2]}"
        )
    goal = results["goal"]
    lines.append(
        f"goal (int8 <= {goal['size_ratio']}x size, <= {goal['latency_ratio']}x latency): "
        f"{'met' if goal['met'] else 'not met'}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(table(results))
    path = args.json or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "results",
        f"export_{results['model']}_{results['image_size']}.json",
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
