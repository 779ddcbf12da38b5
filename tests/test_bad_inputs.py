"""The bad-input catalogue: what the API, each command and the data sources do with input they cannot use.

Every case asserts three things: the exit status (or the exception), that the
message names what was received and what is accepted, and that nothing on disk
changed (a hash of every file under the test's folder, before and after).

Most cases call ``keras_classics.cli.main`` in this process, which returns the
exit status and prints to the captured stderr. Subprocesses are used only where
a process boundary is the point: two runs racing for one run directory, and
signals.
"""

import errno
import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
from PIL import Image

from keras_classics.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- helpers
def tree_hash(path) -> dict:
    """``{relative path: sha256}`` of every file and link under ``path`` (links by their target, not followed)."""
    out = {}
    path = os.fspath(path)
    for root, dirs, files in os.walk(path):
        for name in sorted(dirs + files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, path)
            if os.path.islink(full):
                out[rel] = "link:" + os.readlink(full)
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def cli(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``keras-classics ARGV`` run in this process."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def tiny_classifier(size=16, classes=3):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax", name="predictions")(x), name="tiny")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_classifier().save(path)
    return path


@pytest.fixture
def run_dir(tmp_path, model_file):
    """A run directory as the engine leaves it (its files are what must survive)."""
    run = tmp_path / "runs" / "bc"
    (run / "checkpoints").mkdir(parents=True)
    (run / "best.keras").write_bytes(model_file.read_bytes())
    (run / "final.keras").write_bytes(model_file.read_bytes())
    (run / "config.json").write_text(json.dumps({"model": "tiny", "preprocessing": "none",
                                                 "class_names": ["a", "b", "c"], "image_size": 16, "epochs": 1}))
    (run / "metrics.json").write_text(json.dumps({"top1": 0.5}))
    (run / "history.csv").write_text("epoch,loss\n0,1.0\n")
    (run / "checkpoints" / "ckpt-0001.npz").write_bytes(b"state")
    (run / "checkpoints" / "checkpoint.json").write_text(json.dumps({"epoch": 1, "file": "ckpt-0001.npz"}))
    return run


def fake_export(path, fmt):
    """A directory shaped like this package's export of ``fmt`` (its card is what identifies it)."""
    os.makedirs(path)
    card = {"format": fmt, "versions": {"keras_classics": "0.1.0"}}
    with open(os.path.join(path, "model_card.json"), "w") as f:
        json.dump(card, f)
    inner = "saved_model.pb" if fmt == "savedmodel" else "model.tflite"
    with open(os.path.join(path, inner), "wb") as f:
        f.write(b"\0\0\0\0TFL3" if fmt == "tflite" else b"pb")


# --------------------------------------------------------------------------- data loss: export destinations
def test_export_onto_its_own_run_directory_is_refused_even_with_overwrite(tmp_path, run_dir, capsys):
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, "export", run_dir, "-o", run_dir, "--overwrite")
    assert code == 2
    assert "is a training run directory, not a savedmodel export" in err and "even with overwrite" in err
    assert tree_hash(tmp_path) == before
    code, _, err = cli(capsys, "export", run_dir, "--format", "tflite", "-o", run_dir, "--overwrite")
    assert code == 2 and "training run directory, not a tflite export" in err
    assert tree_hash(tmp_path) == before


def test_export_onto_a_model_file_is_refused_even_with_overwrite(tmp_path, run_dir, capsys):
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, "export", run_dir, "-o", run_dir / "best.keras", "--overwrite")
    assert code == 2 and "is a .keras model file, not a savedmodel export" in err
    assert tree_hash(tmp_path) == before


@pytest.mark.parametrize("existing,fmt,expected", [
    ("savedmodel_dir", "tflite", "a savedmodel export directory, not a tflite export"),
    ("tflite_dir", "savedmodel", "a tflite export directory, not a savedmodel export"),
    ("user_dir", "savedmodel", "a directory with 1 entries and no model card"),
    ("user_file.tflite", "tflite", "not an export of this package"),
    ("link", "savedmodel", "a symbolic link to"),
])
def test_export_replaces_only_its_own_output_of_the_same_kind(tmp_path, run_dir, capsys, existing, fmt, expected):
    out = tmp_path / "out"
    out.mkdir()
    fake_export(out / "savedmodel_dir", "savedmodel")
    fake_export(out / "tflite_dir", "tflite")
    (out / "user_dir").mkdir()
    (out / "user_dir" / "holiday.jpg").write_bytes(b"jpeg")
    (out / "user_file.tflite").write_bytes(b"\0\0\0\0TFL3 someone else's model")
    (out / "link").symlink_to(out / "user_dir")
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, "export", run_dir, "--format", fmt, "-o", out / existing, "--overwrite")
    assert code == 2 and expected in err and "choose another output" in err
    assert tree_hash(tmp_path) == before


def test_export_below_a_file_names_the_file(tmp_path, run_dir, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    before = tree_hash(tmp_path)
    code, _, err = cli(capsys, "export", run_dir, "-o", tmp_path / "notes.txt" / "sm")
    assert code == 2 and "notes.txt' is a file, not a directory" in err and "Errno" not in err
    assert tree_hash(tmp_path) == before


# --------------------------------------------------------------------------- data loss: symbolic link loops
def _images(folder, colour, n=6, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (size, size), colour).save(folder / f"{i}.png")


def test_folder_symlink_loops_are_read_once_and_reported(tmp_path, caplog):
    from keras_classics.data import get_source

    root = tmp_path / "data"
    _images(root / "cat", "red")
    _images(root / "dog", "blue")
    (root / "cat" / "up").symlink_to("..")
    (root / "dog" / "self").symlink_to(".")
    (root / "cat" / "dogs").symlink_to(root / "dog")  # a second path to another class's images
    before = tree_hash(tmp_path)
    with caplog.at_level(logging.WARNING, logger="keras_classics.data"):
        src = get_source(f"folder:{root}", val_fraction=0.25)
    assert src.num_train + src.num_val == 12
    labels = {}
    for ds in (src.train, src.validation):
        for image, label in ds.as_numpy_iterator():
            labels.setdefault(int(label), set()).add(tuple(image[0, 0]))
    assert labels == {0: {(255, 0, 0)}, 1: {(0, 0, 255)}}  # no dog image labelled cat
    assert "Skipped 3 symbolic link(s)" in caplog.text
    for link in ("cat/up", "dog/self", "cat/dogs"):
        assert str(root / link) in caplog.text
    assert tree_hash(tmp_path) == before


# --------------------------------------------------------------------------- data loss: two runs, one directory
RACE_DRIVER = textwrap.dedent(
    """
    import os, sys, time
    ready, go, run_dir = sys.argv[1:4]
    from keras_classics.cli import main
    from keras_classics.training import engine  # noqa: F401  (imported before the start line)
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.005)
    sys.exit(main(["train", "resnet18", "--dataset", "shapes", "--dataset-options",
                   '{"num_train": 16, "num_val": 8}', "--image-size", "32", "--epochs", "1",
                   "--batch-size", "8", "--steps-per-epoch", "1", "--run-dir", run_dir, "--verbose", "0"]))
    """
)


def _quiet_env(tmp_path):
    return dict(os.environ, KERAS_CLASSICS_CACHE=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3",
                KERAS_BACKEND="tensorflow", PYTHONPATH=ROOT)


@pytest.mark.parametrize("existing", ["new", "empty"])
def test_two_runs_racing_for_one_run_directory(tmp_path, existing):
    script = tmp_path / "race.py"
    script.write_text(RACE_DRIVER)
    run = tmp_path / "runs" / "same"
    if existing == "empty":
        run.mkdir(parents=True)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / f"ready{i}"), str(go), str(run)],
                              env=_quiet_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(2)):
        assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.02)
    go.touch()  # both start the run within milliseconds
    results = [(p.wait(timeout=300),) + p.communicate() for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    assert "is in use by process" in loser[2] and "two runs cannot share one directory" in loser[2], loser
    with open(run / "history.csv") as f:
        assert sum(line.startswith("epoch") for line in f) == 1  # one run's rows only
    assert not (run / "run.lock").exists()  # released by the winner
