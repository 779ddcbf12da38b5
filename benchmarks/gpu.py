"""GPU training throughput of keras_classics models, with torchvision beside them.

Backend-agnostic: runs with ``KERAS_BACKEND=jax`` (a jitted stateless train
step) or ``KERAS_BACKEND=tensorflow`` (``train_on_batch`` with XLA). Synthetic
images and labels live on the device for the whole run, so the figures measure
the model's training step, not the input pipeline. Mixed precision is bfloat16
(the ``mixed_bfloat16`` policy: float32 variables, bfloat16 compute), the
optimizer SGD with momentum.

Model FLOP utilisation (MFU) = images/s x training FLOPs per image / peak, where
training FLOPs per image = 3 x 2 x the forward multiply-adds counted by
``keras_classics.inspect`` (backward ≈ 2x forward) and the peak is the
device's dense bf16 rate (``--peak-tflops``; known for H100/H200/A100).

When PyTorch and torchvision import, the matching torchvision model is timed in
the same process (AMP bf16 autocast, channels-last, SGD momentum, optionally
``torch.compile``) and the ratio ours/torchvision is printed.

    KERAS_BACKEND=jax python benchmarks/gpu.py --models resnet50 --batch-size 256
    KERAS_BACKEND=jax python benchmarks/gpu.py --tiny          # CPU smoke run

Only the models' import path is used (keras + keras_classics.models and
keras_classics.inspect): no TensorFlow is needed on the JAX backend.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._sizes import fill_sizes, tiny_help  # noqa: E402
from keras_classics.io import write_json_atomic  # noqa: E402  (the standard library only: no TensorFlow)

# Our model name and options -> the torchvision model it is compared with.
# torchvision's ResNet is v1.5 and its GoogLeNet the BN port with 3x3 "5x5"
# branches, so ours is built in the matching variant for a like-for-like row.
MATCHING = {
    "resnet50": ({"stride_in": "3x3"}, "resnet50", {}),
    "resnet152": ({"stride_in": "3x3"}, "resnet152", {}),
    "vgg16": ({}, "vgg16", {}),
    "inception_v3": ({}, "inception_v3", {"aux_logits": False, "init_weights": False}),
    "googlenet": ({"variant": "torchvision"}, "googlenet", {"aux_logits": False, "init_weights": False}),
    "resnet18": ({}, "resnet18", {}),  # basic blocks: v1 and v1.5 are the same network
}
# Dense bf16 tensor-core peak, TFLOP/s (vendor datasheets, SXM parts).
PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0}


# Defaults of the sizing flags, and the smaller ones of --tiny.
DEFAULTS = {"batch_size": 256, "steps": 30, "repeats": 3, "warmup": 5, "image_size": None}
TINY = {"batch_size": 2, "steps": 2, "repeats": 2, "warmup": 1, "image_size": 75}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="resnet50,resnet152,vgg16,inception_v3,googlenet")
    p.add_argument("--batch-size", type=int, help="default 256")
    p.add_argument("--image-size", type=int, default=None, help="default: each model's paper size")
    p.add_argument("--steps", type=int, help="timed steps per repeat (default 30)")
    p.add_argument("--repeats", type=int, help="default 3")
    p.add_argument("--warmup", type=int, help="untimed steps after compilation (default 5)")
    p.add_argument("--precision", default="mixed_bfloat16", choices=["mixed_bfloat16", "float32"])
    p.add_argument("--no-jit", action="store_true", help="TensorFlow backend: no XLA")
    p.add_argument("--torch", choices=["auto", "off"], default="auto")
    p.add_argument("--torch-compile", default="resnet50",
                   help="comma-separated models to also time with torch.compile ('all', 'none')")
    p.add_argument("--peak-tflops", type=float, default=None)
    p.add_argument("--json", default=None, help="write results here (updated after every model)")
    p.add_argument("--tiny", action="store_true",
                   help=f"smallest sizes, a CPU smoke run ({tiny_help(TINY)})")
    args = p.parse_args(argv)
    fill_sizes(args, DEFAULTS, TINY)  # flags given explicitly win
    return args


def _median_rate(step, n_steps, repeats, batch, sync):
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(n_steps):
            step()
        sync()
        times.append((time.perf_counter() - t0) / n_steps)
    t = statistics.median(times)
    return {"step_ms": t * 1e3, "images_per_s": batch / t, "spread": (max(times) - min(times)) / t}


def keras_train_rate(name, kwargs, args, size):
    import keras
    import numpy as np

    from keras_classics import create_model

    keras.config.set_dtype_policy(args.precision)
    backend = keras.backend.backend()
    model = create_model(name, classes=1000, input_shape=(size, size, 3), **kwargs)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    rng = np.random.default_rng(0)
    x_host = rng.standard_normal((args.batch_size, size, size, 3)).astype("float32")
    y_host = rng.integers(0, 1000, (args.batch_size,)).astype("int32")
    t0 = time.perf_counter()
    if backend == "jax":
        import jax

        x, y = jax.device_put(x_host), jax.device_put(y_host)
        optimizer.build(model.trainable_variables)

        def loss_and_updates(tv, ntv, x, y):
            y_pred, ntv = model.stateless_call(tv, ntv, x, training=True)
            return loss_fn(y, y_pred), ntv

        grad_fn = jax.value_and_grad(loss_and_updates, has_aux=True)

        def train_step(state, x, y):
            tv, ntv, ov = state
            (loss, ntv), grads = grad_fn(tv, ntv, x, y)
            tv, ov = optimizer.stateless_apply(ov, grads, tv)
            return loss, (tv, ntv, ov)

        train_step = jax.jit(train_step, donate_argnums=0)
        state = [
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables],
        ]
        box = {"state": state, "loss": None}

        def step():
            box["loss"], box["state"] = train_step(box["state"], x, y)

        def sync():
            if box["loss"] is not None:
                box["loss"].block_until_ready()

        step()
        sync()
    elif backend == "tensorflow":
        import tensorflow as tf

        model.compile(optimizer=optimizer, loss=loss_fn, jit_compile=not args.no_jit)
        x, y = tf.constant(x_host), tf.constant(y_host)
        box = {"loss": None}

        def step():
            box["loss"] = model.train_on_batch(x, y)

        def sync():
            pass  # train_on_batch returns host numbers: each step is already synchronous

        step()
    else:
        raise SystemExit(f"benchmarks/gpu.py supports the jax and tensorflow backends, not {backend!r}")
    compile_s = time.perf_counter() - t0
    for _ in range(args.warmup):
        step()
    res = _median_rate(step, args.steps, args.repeats, args.batch_size, sync)
    res["compile_s"] = compile_s
    if backend == "jax":
        res["final_loss"] = float(box["loss"])
    keras.config.set_dtype_policy("float32")
    return model, res


def forward_macs(name, kwargs, size):
    from keras_classics import create_model
    from keras_classics.inspect import summary

    model = create_model(name, classes=1000, input_shape=(size, size, 3), **kwargs)
    return int(summary(model).totals["macs"])


def torch_train_rate(tv_name, tv_kwargs, args, size, compile_model):
    import torch
    import torchvision

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = getattr(torchvision.models, tv_name)(num_classes=1000, **tv_kwargs).to(dev)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(args.batch_size, 3, size, size, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (args.batch_size,), device=dev)
    fwd = torch.compile(model) if compile_model else model
    amp = args.precision == "mixed_bfloat16"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
            out = fwd(x)
            out = out.logits if hasattr(out, "logits") else out
            loss = loss_fn(out.float(), y)
        loss.backward()
        opt.step()

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    step()
    sync()
    compile_s = time.perf_counter() - t0
    for _ in range(args.warmup):
        step()
    res = _median_rate(step, args.steps, args.repeats, args.batch_size, sync)
    res["compile_s"] = compile_s
    return res


def device_name():
    try:
        import jax

        d = jax.devices()[0]
        return f"{d.platform}:{getattr(d, 'device_kind', d)}"
    except Exception:
        pass
    try:
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "gpu:" + tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    except Exception:
        pass
    return "cpu"


def peak_for(dev, override):
    if override:
        return override
    for key, val in PEAK_BF16_TFLOPS.items():
        if key in dev:
            return val
    return None


def main(argv=None):
    args = parse_args(argv)
    import keras

    from keras_classics import model_info

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    for n in names:
        if n not in MATCHING:
            raise SystemExit(f"Unknown model {n!r} for this benchmark. Accepted: {', '.join(MATCHING)}")
    have_torch = False
    if args.torch == "auto":
        try:
            import torch  # noqa: F401
            import torchvision  # noqa: F401

            have_torch = True
        except Exception:
            have_torch = False
    compile_set = set(names) if args.torch_compile == "all" else (
        set() if args.torch_compile == "none" else set(args.torch_compile.split(",")))
    dev = device_name()
    peak = peak_for(dev, args.peak_tflops)
    result = {
        "backend": keras.backend.backend(),
        "device": dev,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "peak_tflops": peak,
        "method": f"median of {args.repeats} repeats x {args.steps} steps after {args.warmup} warm-up steps",
        "rows": [],
    }
    print(f"device {dev}, backend {result['backend']}, {args.precision}, batch {args.batch_size}", flush=True)
    for name in names:
        kwargs, tv_name, tv_kwargs = MATCHING[name]
        size = args.image_size or model_info(name).default_size
        model, ours = keras_train_rate(name, kwargs, args, size)
        del model
        keras.backend.clear_session()
        macs = forward_macs(name, kwargs, size)
        keras.backend.clear_session()
        train_flops = 6 * macs  # 3 x forward, 2 FLOPs per multiply-add
        row = {"model": name, "options": kwargs, "image_size": size, "forward_gmacs": macs / 1e9, "ours": ours}
        ours["tflops"] = ours["images_per_s"] * train_flops / 1e12
        ours["mfu"] = ours["tflops"] / peak if peak else None
        if have_torch:
            row["torchvision"] = torch_train_rate(tv_name, tv_kwargs, args, size, False)
            row["ratio_vs_torchvision"] = ours["images_per_s"] / row["torchvision"]["images_per_s"]
            if name in compile_set:
                row["torchvision_compiled"] = torch_train_rate(tv_name, tv_kwargs, args, size, True)
                row["ratio_vs_torchvision_compiled"] = (
                    ours["images_per_s"] / row["torchvision_compiled"]["images_per_s"])
        result["rows"].append(row)
        _print_row(row)
        if args.json:
            write_json_atomic(args.json, result, default=str)
    _print_table(result)
    if args.json:
        write_json_atomic(args.json, result, default=str)
    return result


def _fmt(v, spec):
    return format(v, spec) if isinstance(v, (int, float)) and v is not None and math.isfinite(v) else "-"


def _print_row(row):
    o = row["ours"]
    line = (f"{row['model']:<13} ours {o['images_per_s']:9.1f} img/s  step {o['step_ms']:8.2f} ms  "
            f"compile {o['compile_s']:6.1f} s  MFU {_fmt(o['mfu'], '.1%')}")
    if "torchvision" in row:
        line += f"  | torchvision {row['torchvision']['images_per_s']:9.1f} img/s  ratio {row['ratio_vs_torchvision']:.2f}"
    if "torchvision_compiled" in row:
        line += (f"  | compiled {row['torchvision_compiled']['images_per_s']:9.1f} img/s  "
                 f"ratio {row['ratio_vs_torchvision_compiled']:.2f}")
    print(line, flush=True)


def _print_table(result):
    print()
    print(f"| model | size | GMACs | ours img/s | step ms | MFU | torchvision img/s | ratio | "
          f"torch.compile img/s | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        o = r["ours"]
        tv = r.get("torchvision", {})
        tc = r.get("torchvision_compiled", {})
        print(f"| {r['model']} | {r['image_size']} | {r['forward_gmacs']:.3f} | {o['images_per_s']:.1f} | "
              f"{o['step_ms']:.2f} | {_fmt(o['mfu'], '.1%')} | {_fmt(tv.get('images_per_s'), '.1f')} | "
              f"{_fmt(r.get('ratio_vs_torchvision'), '.2f')} | {_fmt(tc.get('images_per_s'), '.1f')} | "
              f"{_fmt(r.get('ratio_vs_torchvision_compiled'), '.2f')} |")
    print(f"device: {result['device']}; backend: {result['backend']}; {result['precision']}; "
          f"batch {result['batch_size']}; {result['method']}")


if __name__ == "__main__":
    main()
