"""keras_classics models against their keras.applications counterparts.

For each pair, in the same process, with the same batch, precision, optimizer
(SGD with momentum) and jit setting: graph build time, inference images/s and
training-step images/s, and ours / keras.applications as a ratio (> 1: ours is
faster). Timings alternate between the two models repeat by repeat (which one
goes first alternates too), so both see the same machine load; each figure is a
median over repeats after warm-up (for the build time: whole builds of each
model, alternating, the first as warm-up).
Each ratio is the median of the repeats' own ratios (the two timings of a repeat
are moments apart, so a slow spell of the machine falls on both). The time spent
drawing the initial weights is also given (timed apart, initialiser by
initialiser): the two families draw from different distributions, so that part
of a build gap is the initialiser's, not the code's.

    python benchmarks/models.py                       # all six pairs at paper size
    python benchmarks/models.py --models resnet50 --batch-size 16 --json out.json
    python benchmarks/models.py --tiny                # smoke run at the smallest sizes

Pairs: resnet50/101/152 (v1, as keras.applications), vgg16, vgg19, inception_v3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._sizes import fill_sizes, tiny_help  # noqa: E402

# Before TensorFlow loads: the package turns TensorFlow's oneDNN CPU kernels on, as a user's
# `import keras_classics` does (TensorFlow reads the setting once, at import).
import keras_classics  # noqa: E402,F401
from keras_classics.io import write_json_atomic  # noqa: E402

PAIRS = {
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
    "vgg16": "VGG16",
    "vgg19": "VGG19",
    "inception_v3": "InceptionV3",
}


# Defaults of the sizing flags, and the smaller ones of --tiny.
DEFAULTS = {"batch_size": 8, "steps": 3, "repeats": 5, "warmup": 2, "image_size": None}
TINY = {"batch_size": 2, "steps": 1, "repeats": 2, "warmup": 1, "image_size": 75}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(PAIRS))
    p.add_argument("--batch-size", type=int, help="default 8")
    p.add_argument("--image-size", type=int, default=None, help="default: the paper size of each model")
    p.add_argument("--steps", type=int, help="steps per timed repeat (default 3)")
    p.add_argument("--repeats", type=int, help="default 5")
    p.add_argument("--warmup", type=int, help="default 2")
    p.add_argument("--precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"])
    p.add_argument("--jit-compile", action="store_true", help="XLA for both (default off on CPU)")
    p.add_argument("--json", default=None)
    p.add_argument("--tiny", action="store_true",
                   help=f"smallest sizes, for a smoke run ({tiny_help(TINY)})")
    args = p.parse_args(argv)
    fill_sizes(args, DEFAULTS, TINY)  # flags given explicitly win
    for n in args.models.split(","):
        if n not in PAIRS:
            raise SystemExit(f"Unknown model {n!r}. Accepted: {', '.join(PAIRS)}")
    return args


def build_pair(name, size, repeats, warmup, classes=1000):
    """Both models, built alternately ``warmup + repeats`` times; the median build times of the repeats.

    The first builds of a process pay one-off costs (imports, Keras' layer
    machinery warming up) that would fall on whichever model comes first, so
    they are warm-up and not timed; the models of the last round are returned.
    """
    import keras

    from keras_classics import create_model

    builders = {
        "ours": lambda: create_model(name, classes=classes, input_shape=(size, size, 3)),
        "keras_applications": lambda: getattr(keras.applications, PAIRS[name])(
            weights=None, classes=classes, input_shape=(size, size, 3)),
    }
    times = {key: [] for key in builders}
    models = {}
    for round_ in range(warmup + repeats):
        for key in _order(builders, round_):
            build = builders[key]
            models[key] = None  # let the previous round's model go before building the next
            t0 = time.perf_counter()
            models[key] = build()
            if round_ >= warmup:
                times[key].append(time.perf_counter() - t0)
    return models["ours"], models["keras_applications"], times["ours"], times["keras_applications"]


def _order(pair, repeat):
    """The two keys of ``pair``, ours first on even repeats and keras.applications first on odd
    ones, so that neither side always runs right after the other's work."""
    keys = list(pair)
    return keys if repeat % 2 == 0 else keys[::-1]


def weight_draw_s(model):
    """Seconds spent drawing ``model``'s initial kernels: each layer's kernel initialiser called
    on its kernel's shape (biases and batch-norm weights are constants, left out)."""
    import keras

    total = 0.0
    for layer in model.layers:
        init, kernel = getattr(layer, "kernel_initializer", None), getattr(layer, "kernel", None)
        if init is None or kernel is None:
            continue
        t0 = time.perf_counter()
        keras.ops.convert_to_numpy(init(tuple(kernel.shape), dtype=kernel.dtype))
        total += time.perf_counter() - t0
    return total


def paired_ratio(ours_s, theirs_s):
    """Median over repeats of theirs / ours (the repeat's two timings were taken moments apart)."""
    return statistics.median(t / o for o, t in zip(ours_s, theirs_s))


def _timer(fn, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def measure(name, args):
    import keras
    import numpy as np
    import tensorflow as tf

    keras.config.set_dtype_policy(args.precision)
    from keras_classics import model_info

    size = args.image_size or model_info(name).default_size
    ours, theirs, b_ours, b_theirs = build_pair(name, size, args.repeats, max(args.warmup, 1))
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, (args.batch_size, size, size, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 1000, (args.batch_size,)).astype("int32"))
    fns = {}
    for key, m in (("ours", ours), ("keras_applications", theirs)):
        m.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            jit_compile=args.jit_compile,
        )
        infer = tf.function(lambda t, m=m: m(t, training=False), jit_compile=args.jit_compile)
        train = lambda m=m: m.train_on_batch(x, y)  # noqa: E731
        predict = lambda infer=infer: infer(x).numpy()  # noqa: E731
        for _ in range(args.warmup):
            predict()
            train()
        fns[key] = (predict, train)
    times = {k: {"infer": [], "train": []} for k in fns}
    for repeat in range(args.repeats):
        for key in _order(fns, repeat):
            predict, train = fns[key]
            times[key]["infer"].append(_timer(predict, args.steps))
            times[key]["train"].append(_timer(train, args.steps))
    draws = {"ours": [], "keras_applications": []}
    models = {"ours": ours, "keras_applications": theirs}
    for repeat in range(args.repeats):
        for key in _order(models, repeat):
            draws[key].append(weight_draw_s(models[key]))
    row = {"model": name, "image_size": size, "params_ours": ours.count_params(),
           "params_keras_applications": theirs.count_params()}
    for key, build_s in (("ours", b_ours), ("keras_applications", b_theirs)):
        row[key] = {
            "build_s": statistics.median(build_s),
            "weight_draw_s": statistics.median(draws[key]),
            "infer_images_per_s": args.batch_size / statistics.median(times[key]["infer"]),
            "train_images_per_s": args.batch_size / statistics.median(times[key]["train"]),
            # every repeat, for the spread
            "build_s_repeats": build_s,
            "infer_s_per_step_repeats": times[key]["infer"],
            "train_s_per_step_repeats": times[key]["train"],
        }
    for metric, key in (("infer_images_per_s", "infer"), ("train_images_per_s", "train")):
        row[f"ratio_{metric}"] = paired_ratio(times["ours"][key], times["keras_applications"][key])
    row["ratio_build"] = paired_ratio(b_ours, b_theirs)  # > 1: ours builds faster
    o, t = row["ours"], row["keras_applications"]
    # How much longer ours takes to build, and how much longer it takes to draw its initial weights.
    row["build_gap_s"] = o["build_s"] - t["build_s"]
    row["weight_draw_gap_s"] = o["weight_draw_s"] - t["weight_draw_s"]
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
    return row


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = {
        "precision": args.precision,
        "batch_size": args.batch_size,
        "jit_compile": args.jit_compile,
        "repeats": args.repeats,
        "method": f"median of {args.repeats} alternating repeats x {args.steps} steps after {args.warmup} warm-up; "
                  "each ratio the median of the repeats' own ratios",
        "rows": [],
    }
    for name in args.models.split(","):
        row = measure(name, args)
        result["rows"].append(row)
        print(f"{name:<13} infer ratio {row['ratio_infer_images_per_s']:.3f}  "
              f"train ratio {row['ratio_train_images_per_s']:.3f}  build ratio {row['ratio_build']:.2f} "
              f"(ours {row['build_gap_s']:+.2f} s, of which drawing the initial weights {row['weight_draw_gap_s']:+.2f} s)",
              flush=True)
    print()
    print("| model | size | build s (ours / k.a.) | ratio | weight draws s (ours / k.a.) | "
          "infer img/s (ours / k.a.) | ratio | train img/s (ours / k.a.) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        o, t = r["ours"], r["keras_applications"]
        print(f"| {r['model']} | {r['image_size']} | {o['build_s']:.2f} / {t['build_s']:.2f} | {r['ratio_build']:.2f} | "
              f"{o['weight_draw_s']:.2f} / {t['weight_draw_s']:.2f} | "
              f"{o['infer_images_per_s']:.2f} / {t['infer_images_per_s']:.2f} | {r['ratio_infer_images_per_s']:.3f} | "
              f"{o['train_images_per_s']:.2f} / {t['train_images_per_s']:.2f} | {r['ratio_train_images_per_s']:.3f} |")
    print(f"batch {args.batch_size}, {args.precision}, jit_compile={args.jit_compile}; {result['method']} "
          "(> 1: ours faster)")
    if args.json:
        write_json_atomic(args.json, result)
    return result


if __name__ == "__main__":
    main()
