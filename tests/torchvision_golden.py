"""Deterministic torchvision-layout weights, and the golden logits torchvision computed from them.

``tests/data/torchvision_golden.json`` holds, for every torchvision weights set
of the registry, torchvision's state-dict keys and shapes (as its model has
them), a seed, an input size and which preprocessing torchvision applied;
``tests/data/torchvision_golden.npz`` holds the logits torchvision's own model
gave for those weights and inputs (and its auxiliary heads' logits where it has
them). They were recorded once with torch and torchvision in a separate
environment; the tests rebuild the same arrays here, without torch, port them
and compare.

The arrays come from ``numpy.random.RandomState`` (whose streams NumPy keeps
fixed across versions), one stream per key, so they are the same everywhere.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
GOLDEN_JSON = DATA / "torchvision_golden.json"
GOLDEN_NPZ = DATA / "torchvision_golden.npz"

#: torchvision's ImageNet normalisation (``transforms.Normalize``).
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _stream(seed: int, key: str) -> np.random.RandomState:
    return np.random.RandomState((seed * 1_000_003 + zlib.crc32(key.encode())) % (2**32))


def random_state_dict(keys, seed: int) -> dict:
    """``{key: float32 array}`` for a torchvision manifest ``[[key, shape], …]``.

    Convolution and linear weights are He-scaled uniforms (variance 2 / fan-in;
    uniform rather than normal because NumPy draws it twice as fast); batch norms get
    scales in [0.5, 1.5], small shifts and means, and variances in [0.5, 1.5],
    so the logits stay of moderate size; the last batch norm of each ResNet
    residual branch scales by 0.1 to 0.3 (otherwise every block would double
    the variance, 2**50 over ResNet-152).
    """
    keys = [(k, tuple(s)) for k, s in keys]
    bn_modules = {k.rsplit(".", 1)[0] for k, _ in keys if k.endswith(".running_mean")}
    last_in_block = {}
    for module in bn_modules:
        m = re.fullmatch(r"(layer\d+\.\d+)\.bn(\d)", module)
        if m:
            last_in_block[m[1]] = max(last_in_block.get(m[1], 0), int(m[2]))
    small = {f"{block}.bn{n}" for block, n in last_in_block.items()}
    state = {}
    for key, shape in keys:
        if key.endswith("num_batches_tracked"):
            continue
        rs = _stream(seed, key)
        module, kind = key.rsplit(".", 1)
        if module in bn_modules:
            if kind == "weight" and module in small:
                value = rs.uniform(0.1, 0.3, shape)
            elif kind in ("weight", "running_var"):
                value = rs.uniform(0.5, 1.5, shape)
            else:  # bias, running_mean
                value = rs.normal(0.0, 0.1, shape)
        elif kind == "weight":
            limit = np.sqrt(6.0 / int(np.prod(shape[1:])))
            value = rs.uniform(-limit, limit, shape)
        else:  # a conv or linear bias
            value = rs.normal(0.0, 0.05, shape)
        state[key] = value.astype(np.float32)
    return state


def random_pixels(seed: int, size: int, batch: int = 2) -> np.ndarray:
    """``(batch, size, size, 3)`` float32 pixels in [0, 255]."""
    return (np.random.RandomState(seed).uniform(0.0, 255.0, (batch, size, size, 3))).astype(np.float32)


def torch_normalized(pixels: np.ndarray) -> np.ndarray:
    """What torchvision's eval transform feeds its models: RGB / 255, minus mean, over std; NCHW."""
    return ((pixels / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32)


def load_golden():
    """``(cases, arrays)``: the JSON cases by ``"model/set"`` and the recorded logits."""
    cases = json.loads(GOLDEN_JSON.read_text())
    with np.load(GOLDEN_NPZ) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return cases, arrays


def measure(case: str, folder, **options) -> dict:
    """Port one golden case through a ``.safetensors`` file; ``{output: max|Δ| / max|y|}`` against torchvision.

    ``options`` build the model with other options than the weights need (loaded with
    :func:`keras_classics.weights.load_state_dict`, which does not check them): what the
    difference costs.
    """
    import os

    from safetensors.numpy import save_file

    from keras_classics.transforms import preprocess
    from keras_classics.models import create_model, model_info

    cases, arrays = load_golden()
    c = cases[case]
    path = os.path.join(folder, f"{c['model']}.safetensors")
    save_file(random_state_dict(c["keys"], c["seed"]), path)
    kwargs = dict(weights=path, input_shape=(c["size"], c["size"], 3), classifier_activation=None)
    if len(c["outputs"]) > 1:
        kwargs["aux_logits"] = True
    if options:
        from keras_classics.weights import load_state_dict

        model = create_model(c["model"], **{**kwargs, "weights": None, **options})
        load_state_dict(model, path, c["model"])
    else:
        model = create_model(c["model"], **kwargs)
    os.remove(path)
    weights_set = model_info(c["model"]).weights[c["set"]]
    pixels = random_pixels(c["seed"], c["size"], c["batch"])
    out = model(preprocess(pixels, weights_set.eval_transform.preprocessing), training=False)
    out = {("logits" if k == "predictions" else k): np.asarray(v) for k, v in out.items()} if isinstance(
        out, dict) else {"logits": np.asarray(out)}
    return {k: float(np.max(np.abs(v - arrays[f"{case}/{k}"])) / np.max(np.abs(arrays[f"{case}/{k}"])))
            for k, v in sorted(out.items())}


def main(argv=None) -> int:
    """Print (and with --json write) the port's error against torchvision for every golden case."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="max|Δ| / max|y| of our logits against torchvision's")
    parser.add_argument("--json", help="write the figures here (e.g. docs/results/torchvision_parity.json)")
    args = parser.parse_args(argv)
    cases, _ = load_golden()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for case in sorted(cases):
            results[case] = measure(case, folder)
            c = cases[case]
            print(f"{case:26s} input {c['size']:3d}  " + "  ".join(f"{k} {v:.1e}" for k, v in results[case].items()),
                  flush=True)
        # What the named option is for: torchvision's Inception v3 weights with TensorFlow's pools.
        ablation = {"inception_v3/torchvision with count_include_pad=False":
                    measure("inception_v3/torchvision", folder, count_include_pad=False)}
        for case, errors in ablation.items():
            print(f"{case}: " + "  ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    if args.json:
        import keras

        first = cases[next(iter(cases))]
        payload = {"command": "python tests/torchvision_golden.py --json docs/results/torchvision_parity.json",
                   "recorded_with": {"torch": first["torch"], "torchvision": first["torchvision"]},
                   "keras": keras.__version__, "backend": keras.backend.backend(),
                   "metric": "max |ours - torchvision| / max |torchvision|, batch of 2 random images",
                   "results": results, "ablation": ablation}
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
