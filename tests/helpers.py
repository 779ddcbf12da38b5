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
