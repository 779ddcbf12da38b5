"""Input-pipeline throughput of each recipe's augmentation policy, against a naive pipeline and the model.

For each policy (decode JPEG files + augment + batch + preprocess), in the same
process, on this machine's cores:

* **ours**: ``keras_classics.data.get_source("folder:DIR")`` then
  ``make_pipeline(src.train, policy=..., training=True)``, one full epoch per
  repeat (a fresh iterator each time, so its start-up is counted);
* **naive**: the same policy written plainly with PIL and NumPy in one Python
  process (PIL decode, geometry on PIL images, lighting and colour in NumPy,
  ``np.stack`` to batch), the same number of images;
* **model**: the training-step rate of the model that recipe trains
  (``train_on_batch`` on a batch from our pipeline, SGD with momentum, jit off,
  float32, the same batch size).

Repeats alternate between the three so all see the same machine load; each
figure is a median over repeats after warm-up. ``bound`` says which limits a
training run: ``input`` when our pipeline delivers fewer images/s than the
model consumes, else ``compute``.

The input images are generated at start in a temporary folder (random-content
photos at ImageNet-like sizes, ~500x375 JPEGs of about 85 KB; 32x32 JPEGs for
``cifar``) and deleted at the end.

    python benchmarks/input.py                                 # all five policies, recipe sizes
    python benchmarks/input.py --policies resnet --images 1024 --json input.json
    python benchmarks/input.py --tiny                          # smoke run at the smallest sizes

Policies -> model trained by the recipe: alexnet -> alexnet (227), vgg -> vgg16,
inception -> googlenet (auxiliary heads on, as in its recipe), resnet ->
resnet50 (224), cifar -> resnet18 (32).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._sizes import fill_sizes, tiny_help  # noqa: E402

# Before TensorFlow loads: the package turns TensorFlow's oneDNN CPU kernels on, as a user's
# `import keras_classics` does (TensorFlow reads the setting once, at import).
import keras_classics  # noqa: E402,F401
from keras_classics.io import write_json_atomic  # noqa: E402

import numpy as np  # noqa: E402

from keras_classics import transforms  # noqa: E402

# policy -> (model, image size, preprocessing, model kwargs, aux loss weights): the recipe's choices.
RECIPES = {
    "alexnet": ("alexnet", 227, "torch", {}, {}),
    "vgg": ("vgg16", 224, "caffe", {}, {}),
    "inception": ("googlenet", 224, "torch", {"aux_logits": True}, {"aux_1": 0.3, "aux_2": 0.3}),
    "resnet": ("resnet50", 224, "caffe", {}, {}),
    "cifar": ("resnet18", 32, "caffe", {}, {}),
}
TINY_SIZE = {"cifar": 32}  # others: 72, above AlexNet's and GoogLeNet-with-aux-heads' minimum sizes
TINY_DEFAULT_SIZE = 72

# Common ImageNet photo sizes (width, height).
PHOTO_SIZES = ((500, 375), (375, 500), (500, 333), (500, 400), (640, 480), (333, 500))
NUM_CLASSES = 4
# The cifar folder holds as many images as CIFAR-10's training split by default (--cifar-images):
# every epoch's iterator has a fixed start-up (~0.15 s on 2 cores), which a real CIFAR epoch of
# 50,000 images spreads thin and a folder of a few thousand 32x32 images would weigh 12x too much.
CIFAR_IMAGES = 50_000

IMAGENET_EIGVAL = np.array([0.2175, 0.0188, 0.0045], np.float32)
IMAGENET_EIGVEC = np.array(
    [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]], np.float32
)
# The preprocessing table's numbers (the naive pipeline writes the arithmetic itself).
MEAN_RGB = np.array(transforms.IMAGENET_MEAN_RGB, np.float32)
TORCH_MEAN = np.array(transforms.IMAGENET_MEAN, np.float32)
TORCH_STD = np.array(transforms.IMAGENET_STD, np.float32)


# Defaults of the sizing flags, and the smaller ones of --tiny (flags given explicitly win).
DEFAULTS = {"images": 512, "cifar_images": CIFAR_IMAGES, "batch_size": 32, "repeats": 5, "warmup": 1, "steps": 2}
TINY = {"images": 8, "cifar_images": 8, "batch_size": 4, "repeats": 2, "warmup": 0, "steps": 1}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--policies", default=",".join(RECIPES), help=f"comma-separated, from {', '.join(RECIPES)}")
    p.add_argument("--images", type=int,
                   help="ImageNet-like JPEG files generated for the run (default 512)")
    p.add_argument("--cifar-images", type=int,
                   help=f"32x32 JPEG files generated for the cifar policy (default {CIFAR_IMAGES:,}, CIFAR-10's "
                        "training split: an epoch of that size, as the iterator's start-up weighs in a real one)")
    p.add_argument("--batch-size", type=int, help="batch of the pipelines and of the training step (default 32)")
    p.add_argument("--repeats", type=int, help="timed repeats (default 5)")
    p.add_argument("--warmup", type=int, help="untimed epochs and training steps before the repeats (default 1)")
    p.add_argument("--steps", type=int, help="training steps per timed repeat (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="write the results here (updated after every policy)")
    p.add_argument("--eager", action="store_true",
                   help="run the training steps eagerly (no graph tracing: quick to start, slower per step)")
    p.add_argument("--tiny", action="store_true",
                   help=f"smoke run: eager training steps and small sizes ({tiny_help(TINY)})")
    args = p.parse_args(argv)
    args.policies = [s.strip() for s in args.policies.split(",") if s.strip()]
    for name in args.policies:
        if name not in RECIPES:
            p.error(f"unknown policy {name!r}; accepted: {', '.join(RECIPES)}")
    if not args.policies:
        p.error(f"--policies is empty; accepted: {', '.join(RECIPES)}")
    fill_sizes(args, DEFAULTS, TINY)  # flags given explicitly win
    args.eager = args.eager or args.tiny
    for name in ("images", "cifar_images", "batch_size", "repeats", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, received {getattr(args, name)}")
    if args.warmup < 0:
        p.error(f"--warmup must be >= 0, received {args.warmup}")
    for name in ("images", "cifar_images"):
        if getattr(args, name) < args.batch_size:
            p.error(f"--{name.replace('_', '-')} ({getattr(args, name)}) must be at least --batch-size ({args.batch_size})")
    return args


# --------------------------------------------------------------------------- input images


def _photo(width, height, rng):
    """A random-content 'photo': a smooth colour field, a few filled shapes, sensor-like noise."""
    from PIL import Image, ImageDraw

    field = rng.uniform(0, 255, (int(rng.integers(3, 7)), int(rng.integers(3, 7)), 3)).astype(np.uint8)
    im = Image.fromarray(field).resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        box = [x0, y0, x0 + rng.uniform(2, width / 2), y0 + rng.uniform(2, height / 2)]
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    noisy = np.asarray(im, np.float32) + rng.normal(0, 16, (height, width, 3)).astype(np.float32)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def make_folder(root, count, sizes, seed, classes=NUM_CLASSES):
    """``count`` JPEGs in ``classes`` class sub-folders of ``root``; returns the sorted (path, label) list."""
    rng = np.random.default_rng(seed)
    files = []
    for i in range(count):
        label = i % classes
        folder = os.path.join(root, f"class_{label}")
        os.makedirs(folder, exist_ok=True)
        w, h = sizes[int(rng.integers(len(sizes)))]
        path = os.path.join(folder, f"{i:06d}.jpg")
        _photo(w, h, rng).save(path, "JPEG", quality=90)
        files.append((path, label))
    return sorted(files)


# --------------------------------------------------------------------------- the naive reference


def _scaled(pixels, size):
    return int(round(pixels * size / 224))


def _resize_shorter(im, shorter):
    from PIL import Image

    w, h = im.size
    scale = shorter / min(w, h)
    new = (shorter, int(round(h * scale))) if w <= h else (int(round(w * scale)), shorter)
    return im if new == (w, h) else im.resize(new, Image.BILINEAR)  # PIL's bilinear is antialiased when shrinking


def _center_crop(im, size):
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def _random_crop(im, size, rng):
    w, h = im.size
    left, top = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
    return im.crop((left, top, left + size, top + size))


def _flip(x, rng):
    return x[:, ::-1] if rng.random() < 0.5 else x


def _lighting(x, rng):
    alpha = rng.normal(0, 0.1, 3).astype(np.float32)
    return x + (IMAGENET_EIGVEC @ (alpha * IMAGENET_EIGVAL)) * 255.0


def _inception_window(w, h, rng, attempts=10):
    for _ in range(attempts):
        area = h * w * rng.uniform(0.08, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 1 <= cw <= w and 1 <= ch <= h:
            return int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1)), cw, ch
    ratio = w / h
    cw = int(round(h * 4 / 3)) if ratio > 4 / 3 else w
    ch = int(round(w * 4 / 3)) if ratio < 3 / 4 else h
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def _rgb_to_hsv(x):
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(-1)
    delta = v - x.min(-1)
    s = np.where(v > 0, delta / np.where(v > 0, v, 1), 0)
    d = np.where(delta > 0, delta, 1)
    h = np.where(v == r, (g - b) / d, np.where(v == g, 2 + (b - r) / d, 4 + (r - g) / d))
    h = np.where(delta > 0, (h / 6) % 1.0, 0)
    return h, s, v


def _hsv_to_rgb(h, s, v):
    i = np.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int32) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


def _distort_color(x, rng):
    """Brightness, saturation, hue, contrast in one of four random orders, on [0, 1] images."""

    def brightness(x):
        return x + rng.uniform(-32 / 255, 32 / 255)

    def saturation(x):
        h, s, v = _rgb_to_hsv(x)
        return _hsv_to_rgb(h, np.clip(s * rng.uniform(0.5, 1.5), 0, 1), v)

    def hue(x):
        h, s, v = _rgb_to_hsv(x)
        return _hsv_to_rgb((h + rng.uniform(-0.2, 0.2)) % 1.0, s, v)

    def contrast(x):
        mean = x.mean(axis=(0, 1))
        return (x - mean) * rng.uniform(0.5, 1.5) + mean

    ops = {"b": brightness, "s": saturation, "h": hue, "c": contrast}
    for op in ("bshc", "sbch", "chbs", "hscb")[int(rng.integers(4))]:
        x = ops[op](x)
    return np.clip(x, 0, 1).astype(np.float32)


def naive_augment(path, policy, size, rng, pad_colour):
    """One training image of ``policy``, PIL + NumPy: float32 RGB [size, size, 3] in [0, 255]."""
    from PIL import Image

    with Image.open(path) as f:
        im = f.convert("RGB")
    if policy == "alexnet":
        full = _scaled(256, size)
        im = _random_crop(_center_crop(_resize_shorter(im, full), full), size, rng)
        return _lighting(_flip(np.asarray(im, np.float32), rng), rng)
    if policy in ("vgg", "resnet"):
        lo, hi = (_scaled(p, size) for p in ((256, 512) if policy == "vgg" else (256, 480)))
        im = _random_crop(_resize_shorter(im, int(rng.integers(max(lo, size), hi + 1))), size, rng)
        return _lighting(_flip(np.asarray(im, np.float32), rng), rng)
    if policy == "inception":
        left, top, cw, ch = _inception_window(*im.size, rng)
        im = im.crop((left, top, left + cw, top + ch)).resize((size, size), Image.BILINEAR)
        return _distort_color(_flip(np.asarray(im, np.float32), rng) / 255.0, rng) * 255.0
    if policy == "cifar":
        pad = max(1, int(round(4 * size / 32)))
        x = np.asarray(_center_crop(_resize_shorter(im, size), size), np.float32)
        padded = np.empty((size + 2 * pad, size + 2 * pad, 3), np.float32)
        padded[...] = pad_colour
        padded[pad:-pad, pad:-pad] = x
        top, left = rng.integers(0, 2 * pad + 1, 2)
        return _flip(padded[top : top + size, left : left + size], rng)
    raise ValueError(f"Unknown policy {policy!r}. Accepted: {', '.join(RECIPES)}.")


def naive_preprocess(x, mode):
    if mode == "caffe":
        return x[..., ::-1] - MEAN_RGB[::-1]
    if mode == "torch":
        return (x / 255.0 - TORCH_MEAN) / TORCH_STD
    return x


def naive_batches(files, policy, size, batch, preprocessing, rng):
    """One shuffled epoch of the naive pipeline: ``(images float32 [B, S, S, 3], labels int32 [B])`` batches."""
    pad_colour = {"caffe": MEAN_RGB, "torch": 255.0 * TORCH_MEAN}[preprocessing]
    order = rng.permutation(len(files))
    for b in range(len(files) // batch):
        chosen = [files[i] for i in order[b * batch : (b + 1) * batch]]
        images = np.stack([naive_augment(p, policy, size, rng, pad_colour) for p, _ in chosen])
        yield naive_preprocess(images, preprocessing).astype(np.float32), np.array([y for _, y in chosen], np.int32)


# --------------------------------------------------------------------------- measurement


def _epoch(batches):
    """Consume one epoch of ``(images, labels)`` batches; returns the number of images."""
    n = 0
    for images, _ in batches:
        n += int(images.shape[0])
    return n


def _model_step_fn(policy, size, classes, batch, eager=False):
    import keras

    from keras_classics import create_model

    name, _, _, kwargs, aux_weights = RECIPES[policy]
    model = create_model(name, classes=classes, input_shape=(size, size, 3), **kwargs)
    outputs = list(model.output_names)
    loss = {o: "sparse_categorical_crossentropy" for o in outputs} if aux_weights else "sparse_categorical_crossentropy"
    weights = {o: aux_weights.get(o, 1.0) for o in outputs} if aux_weights else None
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=loss, loss_weights=weights,
                  jit_compile=False, run_eagerly=eager)
    images, labels = batch
    targets = {o: labels for o in outputs} if aux_weights else labels
    return lambda: model.train_on_batch(images, targets)


def _rate(images, wall, cpu):
    """Images/s from the median wall time; process CPU time (all threads) per image from the median CPU time."""
    median = statistics.median(wall)
    return {
        "images_per_s": images / median,
        "median_s": median,
        "times_s": list(wall),
        "cpu_ms_per_image": 1e3 * statistics.median(cpu) / images,
        "cores_used": statistics.median(c / w for c, w in zip(cpu, wall)),
    }


def load_folder(folder, files):
    """``get_source`` over the generated folder, checked to hold every generated file."""
    from keras_classics.data import get_source

    src = get_source(f"folder:{folder}", val_fraction=0, verbose=False)
    if src.num_train != len(files):
        raise RuntimeError(f"get_source read {src.num_train} of the {len(files)} generated images in {folder}")
    return src


def measure(policy, src, files, args):
    """One row: ours, naive and the recipe model's training step, alternating, for ``policy``."""
    import keras

    from keras_classics.data import make_pipeline

    model_name, size, preprocessing, _, _ = RECIPES[policy]
    if args.tiny:
        size = TINY_SIZE.get(policy, TINY_DEFAULT_SIZE)
    ours = make_pipeline(src.train, policy=policy, image_size=size, batch_size=args.batch_size, training=True,
                         seed=args.seed, preprocessing=preprocessing)
    first = next(iter(ours))
    step = _model_step_fn(policy, size, 10 if args.tiny or policy == "cifar" else 1000, first, args.eager)
    rng = np.random.default_rng(args.seed)
    per_epoch = (len(files) // args.batch_size) * args.batch_size

    for _ in range(args.warmup):
        _epoch(ours)
        _epoch(naive_batches(files, policy, size, args.batch_size, preprocessing, rng))
    # Untimed steps: in graph mode the first one traces the training step.
    for _ in range(args.warmup + (0 if args.eager else 1)):
        step()

    wall = {"ours": [], "naive": [], "model": []}
    cpu = {"ours": [], "naive": [], "model": []}

    def timed(key, fn):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall[key].append(time.perf_counter() - t0)
        cpu[key].append(time.process_time() - c0)
        return out

    for _ in range(args.repeats):
        n_ours = timed("ours", lambda: _epoch(ours))
        n_naive = timed("naive", lambda: _epoch(naive_batches(files, policy, size, args.batch_size, preprocessing, rng)))
        if n_ours != per_epoch or n_naive != per_epoch:
            raise RuntimeError(f"an epoch gave {n_ours} (ours) and {n_naive} (naive) images, expected {per_epoch}")
        timed("model", lambda: [step() for _ in range(args.steps)])

    row = {
        "policy": policy,
        "model": model_name,
        "image_size": size,
        "preprocessing": preprocessing,
        "images_per_epoch": per_epoch,
        "ours": _rate(per_epoch, wall["ours"], cpu["ours"]),
        "naive": _rate(per_epoch, wall["naive"], cpu["naive"]),
        "model_train": _rate(args.steps * args.batch_size, wall["model"], cpu["model"]),
    }
    row["ratio_ours_vs_naive"] = row["ours"]["images_per_s"] / row["naive"]["images_per_s"]
    row["ratio_input_vs_compute"] = row["ours"]["images_per_s"] / row["model_train"]["images_per_s"]
    row["bound"] = "input" if row["ratio_input_vs_compute"] < 1 else "compute"
    # On a CPU the pipeline and the model share the cores: the part of each training step's CPU time
    # that goes to producing its images.
    ours_cpu, model_cpu = row["ours"]["cpu_ms_per_image"], row["model_train"]["cpu_ms_per_image"]
    row["input_cpu_share"] = ours_cpu / (ours_cpu + model_cpu)
    del step
    keras.backend.clear_session()
    return row


def _print_table(result):
    print()
    print("| policy | model | size | ours img/s | naive img/s | ours / naive | CPU ms/img ours / naive | "
          "model train img/s | input / compute | bound | input CPU share |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['policy']} | {r['model']} | {r['image_size']} | {r['ours']['images_per_s']:.1f} | "
              f"{r['naive']['images_per_s']:.1f} | {r['ratio_ours_vs_naive']:.2f} | "
              f"{r['ours']['cpu_ms_per_image']:.1f} / {r['naive']['cpu_ms_per_image']:.1f} | "
              f"{r['model_train']['images_per_s']:.2f} | {r['ratio_input_vs_compute']:.1f} | {r['bound']} | "
              f"{r['input_cpu_share']:.1%} |")
    m = result["machine"]
    print(f"{m['cpu_count']} CPU cores ({m['processor'] or m['machine']}), load average {m['load_start']} at start; "
          f"batch {result['batch_size']}; {result['method']}")


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    load = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor(),
            "machine": platform.machine(),
            "load_start": load,
            "tensorflow": tf.__version__,
        },
        "batch_size": args.batch_size,
        "images": args.images,
        "cifar_images": args.cifar_images,
        "tiny": args.tiny,
        "model_steps": "eager" if args.eager else "graph",
        "method": (f"median of {args.repeats} repeats alternating ours (one epoch) / naive (one epoch) / "
                   f"model ({args.steps} train_on_batch steps, {'eager' if args.eager else 'graph'}, jit off, float32) "
                   f"after {args.warmup} warm-up"),
        "rows": [],
    }
    tmp = tempfile.mkdtemp(prefix="kc_input_bench_")
    try:
        folders = {}
        imagenet_sizes = ((96, 72), (72, 96)) if args.tiny else PHOTO_SIZES
        classes = 2 if args.tiny else NUM_CLASSES
        for policy in args.policies:
            kind = "cifar" if policy == "cifar" else "imagenet"
            if kind not in folders:
                count = args.cifar_images if kind == "cifar" else args.images
                print(f"Writing {count} {kind}-like JPEGs to {tmp}/{kind} ...", flush=True)
                sizes = ((32, 32),) if kind == "cifar" else imagenet_sizes
                files = make_folder(os.path.join(tmp, kind), count, sizes, args.seed, classes)
                folders[kind] = (load_folder(os.path.join(tmp, kind), files), files)
            row = measure(policy, *folders[kind], args)
            result["rows"].append(row)
            print(f"{policy:<10} ours {row['ours']['images_per_s']:8.1f} img/s  naive {row['naive']['images_per_s']:8.1f}"
                  f" img/s  ratio {row['ratio_ours_vs_naive']:.2f}  (CPU ms/img {row['ours']['cpu_ms_per_image']:.1f}"
                  f" / {row['naive']['cpu_ms_per_image']:.1f})  | {row['model']} train "
                  f"{row['model_train']['images_per_s']:.2f} img/s  input/compute {row['ratio_input_vs_compute']:.1f}"
                  f"  bound: {row['bound']}", flush=True)
            if args.json:
                write_json_atomic(args.json, result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    _print_table(result)
    if args.json:
        write_json_atomic(args.json, result)
    return result


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the generated images when killed
    main()
