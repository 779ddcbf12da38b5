"""Training on a CPU: Keras's TensorFlow backend against its JAX backend, and against TensorFlow with XLA.

The same model, batch and input (a fixed batch of random images and labels, SGD
with momentum, float32) trains under three settings, each in a process of its
own (the Keras backend is fixed when Keras is imported), on the CPU only:

* ``tensorflow``: Keras's TensorFlow backend, ``jit_compile=False`` (what
  ``keras-classics train`` does on a CPU by default);
* ``jax``: ``KERAS_BACKEND=jax`` (every step an XLA program);
* ``tensorflow_xla``: the TensorFlow backend with ``jit_compile=True``
  (``--jit-compile``).

Each process builds the model, trains ``--warmup`` steps untimed (tracing and
XLA compilation), then times ``--steps`` steps. The settings alternate round
by round (the order rotates too) so that all three see the same machine load;
each figure is the median over ``--repeats`` rounds, and each ratio (TensorFlow's
images/s over the other's) is the median of the rounds' own ratios. The ratio
is what ``keras-classics train`` quotes when it trains on a CPU under JAX or
with ``--jit-compile`` (:mod:`keras_classics.training.backend_advice`).

    python benchmarks/backend_cpu.py                      # ResNet-18, 32x32, batch 32
    python benchmarks/backend_cpu.py --model resnet50 --image-size 64 --json out.json
    python benchmarks/backend_cpu.py --tiny               # smoke run at the smallest sizes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._sizes import fill_sizes, tiny_help  # noqa: E402

SETTINGS = {
    "tensorflow": {"KERAS_BACKEND": "tensorflow", "jit_compile": False},
    "jax": {"KERAS_BACKEND": "jax", "jit_compile": False},
    "tensorflow_xla": {"KERAS_BACKEND": "tensorflow", "jit_compile": True},
}
RESULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "backend_cpu.json")

# Defaults of the sizing flags, and the smaller ones of --tiny.
DEFAULTS = {"model": "resnet18", "image_size": 32, "batch_size": 32, "steps": 10, "warmup": 3, "repeats": 3}
TINY = {"model": "convnet4", "image_size": 16, "batch_size": 4, "steps": 2, "warmup": 1, "repeats": 1}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="a registered model (default resnet18)")
    p.add_argument("--image-size", type=int, help="default 32")
    p.add_argument("--batch-size", type=int, help="default 32")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--steps", type=int, help="timed training steps per process (default 10)")
    p.add_argument("--warmup", type=int, help="untimed steps first: tracing, XLA compilation (default 3)")
    p.add_argument("--repeats", type=int, help="rounds, one process per setting each (default 3)")
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"default {','.join(SETTINGS)}")
    p.add_argument("--json", default=None, help=f"write the results here (the recorded run: {RESULT})")
    p.add_argument("--tiny", action="store_true", help=f"smallest sizes, for a smoke run ({tiny_help(TINY)})")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one setting's measurement, in its own process
    args = p.parse_args(argv)
    fill_sizes(args, DEFAULTS, TINY)  # flags given explicitly win
    args.settings = args.settings.split(",")
    unknown = [s for s in args.settings if s not in SETTINGS]
    if unknown or "tensorflow" not in args.settings:
        raise SystemExit(f"--settings: {unknown or args.settings} not accepted. Accepted: {', '.join(SETTINGS)}, "
                         "tensorflow among them (the reference).")
    return args


def child(args) -> dict:
    """One setting, in this process: seconds per training step, timed after the warm-up steps."""
    import numpy as np

    import keras_classics  # before TensorFlow, as for a user: oneDNN's CPU kernels on
    import keras

    keras.utils.set_random_seed(0)
    model = keras_classics.create_model(args.model, classes=args.classes,
                                        input_shape=(args.image_size, args.image_size, 3))
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=SETTINGS[args.child]["jit_compile"])
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch_size, args.image_size, args.image_size, 3)).astype("float32")
    y = rng.integers(0, args.classes, args.batch_size)
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = model.train_on_batch(x, y)
    seconds = (time.perf_counter() - t0) / args.steps
    return {"backend": keras.backend.backend(), "jit_compile": SETTINGS[args.child]["jit_compile"],
            "s_per_step": seconds, "loss": float(np.asarray(loss))}


def run_child(setting, args) -> dict:
    env = {**os.environ, "KERAS_BACKEND": SETTINGS[setting]["KERAS_BACKEND"], "CUDA_VISIBLE_DEVICES": "",
           "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    argv = [sys.executable, os.path.abspath(__file__), "--child", setting, "--model", args.model,
            "--image-size", str(args.image_size), "--batch-size", str(args.batch_size), "--classes", str(args.classes),
            "--steps", str(args.steps), "--warmup", str(args.warmup), "--repeats", "1"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"The {setting} measurement failed:\n{proc.stderr}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    if record["backend"] != SETTINGS[setting]["KERAS_BACKEND"]:
        raise SystemExit(f"The {setting} measurement ran on Keras's {record['backend']} backend.")
    return record


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return {}
    seconds = {s: [] for s in args.settings}
    for round_ in range(args.repeats):
        shift = round_ % len(args.settings)
        for setting in args.settings[shift:] + args.settings[:shift]:  # the order rotates round by round
            seconds[setting].append(run_child(setting, args)["s_per_step"])
    rows = {}
    for setting, times in seconds.items():
        rows[setting] = {"images_per_s": args.batch_size / statistics.median(times),
                         "s_per_step_repeats": times}
    for setting in args.settings:
        if setting != "tensorflow":  # > 1: TensorFlow without XLA is that many times faster
            rows[setting]["tensorflow_speedup"] = statistics.median(
                other / ref for ref, other in zip(seconds["tensorflow"], seconds[setting]))
    result = {
        "model": args.model, "image_size": args.image_size, "batch_size": args.batch_size, "classes": args.classes,
        "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "device": "CPU",
        "cpu_count": os.cpu_count(),
        "method": "one process per setting and round, settings alternating (order rotating); fixed random batch, "
                  "SGD momentum 0.9, float32; train_on_batch timed after warm-up; medians over rounds; "
                  "tensorflow_speedup: median of the rounds' own ratios",
        "rows": rows,
    }
    print(f"{args.model}, {args.image_size}x{args.image_size}, batch {args.batch_size}, CPU "
          f"({os.cpu_count()} cores), {args.repeats} rounds of {args.steps} steps")
    print(f"{'setting':<16}{'images/s':>10}{'TensorFlow is':>16}")
    for setting, row in rows.items():
        ratio = f"{row['tensorflow_speedup']:.2f}x faster" if "tensorflow_speedup" in row else "(reference)"
        print(f"{setting:<16}{row['images_per_s']:>10.1f}{ratio:>16}")
    if args.json:
        from keras_classics.io import write_json_atomic

        write_json_atomic(args.json, result)
    return result


if __name__ == "__main__":
    main()
