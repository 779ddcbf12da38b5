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
