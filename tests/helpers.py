"""What many test modules share: the one way to run the command line, build an image folder, count parameters.

Fixtures live in ``conftest.py``; plain functions and constants here, imported as
``from tests.helpers import ...``.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

#: The checkout: README.md, docs/, recipes/, benchmarks/.
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- the command line
def run_cli(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``keras-classics ARGV`` run in this process (argparse's exits included)."""
    from keras_classics.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def cli_argv(*args):
    """The argument list that runs ``keras-classics ARGS`` in a new process (for ``subprocess``)."""
    return [sys.executable, "-m", "keras_classics.cli", *map(str, args)]


def run_cli_process(*args, env=None, cwd=None, timeout=600):
    """``keras-classics ARGS`` in a new process: its ``CompletedProcess`` (text output captured).

    ``env`` replaces the environment (the test process's by default).
    """
    return subprocess.run(cli_argv(*args), env=os.environ if env is None else env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------------- image folders
_SUFFIXES = {"PNG": "png", "JPEG": "jpg", "TIFF": "tif", "BMP": "bmp", "GIF": "gif", "WEBP": "webp"}


def image_folder(root, classes=("a", "b"), per_class=3, *, sizes=8, colour=None, noise=False, formats=("PNG",)):
    """Write images as a folder dataset reads them, ``root/<class>/<i>.<suffix>``; return their paths in order.

    ``classes`` names the sub-folders (``None``: the images go in ``root`` itself). Image ``k``
    (counted over all classes) has ``sizes`` pixels (a side, ``(height, width)``, or a list taken
    in turn) and format ``formats[k % len(formats)]``. Its pixels are random with seed ``k`` when
    ``noise``, else one flat colour: ``colour`` (a PIL colour, or a dict of colours by class) or,
    by default, a colour of its own, so that any one pixel tells the files apart.
    """
    from PIL import Image

    root = Path(root)
    paths = []
    k = 0
    for name in classes if classes is not None else [None]:
        folder = root / name if name is not None else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = sizes[k % len(sizes)] if isinstance(sizes, list) else sizes
            h, w = (size, size) if isinstance(size, int) else size
            fmt = formats[k % len(formats)]
            if noise:
                image = Image.fromarray(np.random.default_rng(k).integers(0, 256, (h, w, 3)).astype(np.uint8))
            else:
                fill = colour[name] if isinstance(colour, dict) else colour
                image = Image.new("RGB", (w, h), fill if fill is not None else (k * 9 % 256, k * 5 % 256, k % 256))
            path = folder / f"{i}.{_SUFFIXES[fmt]}"
            image.save(path, format=fmt)
            paths.append(str(path))
            k += 1
    return paths


# ---------------------------------------------------------------------- models
def count_trainable(model) -> int:
    """Trainable parameters of a model (torch's convention: BN statistics left out)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# ---------------------------------------------------------------------- Hugging Face Hub caches
#: timm's ImageNet normalisations (timm.data.constants): IMAGENET_DEFAULT_* and IMAGENET_INCEPTION_*.
TIMM_IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
TIMM_INCEPTION = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def hub_repo(hf_home, repo, files, revision="0" * 40):
    """Lay out ``repo`` (``"timm/resnet18.tv_in1k"``) in a huggingface_hub cache under ``hf_home``, as
    ``hf_hub_download`` leaves it: ``hub/models--OWNER--NAME/refs/main`` (the revision) and
    ``snapshots/REVISION/FILE``. ``files``: ``{name: bytes, or a dict written as JSON, or a state dict
    (a dict of arrays) written as safetensors}``. Returns the snapshot folder."""
    import json

    from safetensors.numpy import save_file

    folder = Path(hf_home) / "hub" / ("models--" + repo.replace("/", "--"))
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    for name, content in files.items():
        if isinstance(content, bytes):
            (snapshot / name).write_bytes(content)
        elif name.endswith(".safetensors"):
            save_file({k: np.ascontiguousarray(v) for k, v in content.items()}, str(snapshot / name))
        else:
            (snapshot / name).write_text(json.dumps(content))
    return snapshot


def timm_layout(state, architecture):
    """A torchvision-layout state dict renamed to timm's layout for ``architecture`` (timm/models/vgg.py
    ``_filter_fn``: VGG's classifier becomes ``pre_logits.fc1`` (a 7x7 convolution), ``pre_logits.fc2`` (1x1)
    and ``head.fc``; timm's ResNet and Inception v3 keep torchvision's keys)."""
    if not architecture.startswith("vgg"):
        return dict(state)
    out = {}
    for key, value in state.items():
        if key.startswith("classifier.0."):
            key, value = "pre_logits.fc1." + key.rsplit(".", 1)[1], (
                value.reshape(-1, 512, 7, 7) if value.ndim == 2 else value)
        elif key.startswith("classifier.3."):
            key, value = "pre_logits.fc2." + key.rsplit(".", 1)[1], (
                value.reshape(-1, 4096, 1, 1) if value.ndim == 2 else value)
        elif key.startswith("classifier.6."):
            key = "head.fc." + key.rsplit(".", 1)[1]
        out[key] = value
    return out


def timm_config(architecture, size=224, crop_pct=0.875, interpolation="bilinear", norm=None, **more):
    """A timm ``config.json``: the architecture and its ``pretrained_cfg`` (the eval transform)."""
    cfg = {"input_size": [3, size, size], "crop_pct": crop_pct, "interpolation": interpolation,
           **(norm or TIMM_IMAGENET), "num_classes": 1000, **more}
    return {"architecture": architecture, "num_classes": 1000, "pretrained_cfg": cfg}


def golden_hub_repo(hf_home, case, repo, config=None):
    """The seeded weights of the torchvision golden ``case`` (``"resnet18/torchvision"``), in timm's layout,
    as the Hub repository ``repo`` in a huggingface_hub cache under ``hf_home``; their logits are the
    committed torchvision logits (``tests/data/torchvision_golden.npz``). Returns the snapshot folder."""
    from tests.torchvision_golden import load_golden, random_state_dict

    c = load_golden()[0][case]
    state = timm_layout(random_state_dict(c["keys"], c["seed"]), c["model"])
    return hub_repo(hf_home, repo, {"model.safetensors": state, "config.json": config or timm_config(c["model"])})
