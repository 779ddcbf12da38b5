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

from tests.helpers import ROOT, image_folder, run_cli


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
    code, _, err = run_cli(capsys, "export", run_dir, "-o", run_dir, "--overwrite")
    assert code == 2
    assert "is a training run directory, not a savedmodel export" in err and "even with overwrite" in err
    assert tree_hash(tmp_path) == before
    code, _, err = run_cli(capsys, "export", run_dir, "--format", "tflite", "-o", run_dir, "--overwrite")
    assert code == 2 and "training run directory, not a tflite export" in err
    assert tree_hash(tmp_path) == before


def test_export_onto_a_model_file_is_refused_even_with_overwrite(tmp_path, run_dir, capsys):
    before = tree_hash(tmp_path)
    code, _, err = run_cli(capsys, "export", run_dir, "-o", run_dir / "best.keras", "--overwrite")
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
    code, _, err = run_cli(capsys, "export", run_dir, "--format", fmt, "-o", out / existing, "--overwrite")
    assert code == 2 and expected in err and "choose another output" in err
    assert tree_hash(tmp_path) == before


def test_export_below_a_file_names_the_file(tmp_path, run_dir, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    before = tree_hash(tmp_path)
    code, _, err = run_cli(capsys, "export", run_dir, "-o", tmp_path / "notes.txt" / "sm")
    assert code == 2 and "notes.txt' is a file, not a directory" in err and "Errno" not in err
    assert tree_hash(tmp_path) == before


# --------------------------------------------------------------------------- data loss: symbolic link loops
def test_folder_symlink_loops_are_read_once_and_reported(tmp_path, caplog):
    from keras_classics.data import get_source

    root = tmp_path / "data"
    image_folder(root, ["cat", "dog"], 6, colour={"cat": "red", "dog": "blue"})
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
                KERAS_BACKEND="tensorflow", PYTHONPATH=str(ROOT))


@pytest.mark.slow  # two training processes per case
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


# --------------------------------------------------------------------------- the catalogue: commands
@pytest.fixture(scope="module")
def zoo(tmp_path_factory, model_file):
    """One folder of bad (and awkward but valid) inputs, shared by the command cases."""
    z = tmp_path_factory.mktemp("zoo")
    (z / "m.keras").write_bytes(model_file.read_bytes())
    Image.new("L", (20, 20), 90).save(z / "gray.png")
    Image.new("CMYK", (20, 20), (10, 200, 30, 0)).save(z / "cmyk.jpg")
    Image.fromarray(np.full((20, 20), 40000, np.uint16)).save(z / "16bit.png")
    Image.new("P", (20, 20), 3).save(z / "palette.png")
    frames = [Image.new("RGB", (20, 20), c) for c in ("red", "blue")]
    frames[0].save(z / "animated.gif", save_all=True, append_images=frames[1:])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    Image.new("RGB", (24, 12), "green").save(z / "exif.jpg", exif=exif)
    Image.new("RGB", (24, 12), "green").save(z / "plain.jpg")
    full = (z / "gray.png").read_bytes()
    (z / "truncated.png").write_bytes(full[: len(full) // 2])
    (z / "text.png").write_text("not an image")
    (z / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (16, 16)).save(z / "icon.ico")
    Image.new("1", (20000, 20000)).save(z / "huge.png")  # 400 megapixels, a small file
    (z / "a_file").write_text("a file, not a directory")
    (z / "bad.json").write_text("{not json")
    (z / "run").mkdir()
    (z / "run" / "history.csv").write_text("")
    return z


CLI_CASES = {
    # predict: each image that cannot be read is reported on its own line (the others are classified)
    "predict truncated image": (["predict", "m.keras", "truncated.png"], 2, ["truncated.png", "Accepted formats"]),
    "predict text as image": (["predict", "m.keras", "text.png"], 2, ["text.png", "Accepted formats"]),
    "predict empty file": (["predict", "m.keras", "empty.jpg"], 2, ["empty.jpg", "0 bytes"]),
    "predict ICO image": (["predict", "m.keras", "icon.ico"], 2, ["ICO file", "Accepted formats: JPEG"]),
    "predict 400-megapixel image": (["predict", "m.keras", "huge.png"], 2,
                                    ["400,000,000 pixels", "limit of 40,000,000 pixels (40 megapixels)"]),
    "predict missing image": (["predict", "m.keras", "missing.png"], 2, ["'missing.png'", "not found"]),
    "predict folder without images": (["predict", "m.keras", "run"], 2, ["'run' holds no image files",
                                                                          "searched recursively"]),
    "predict --top 0": (["predict", "m.keras", "gray.png", "--top", "0"], 2, ["Received: 0", "positive integer"]),
    "predict missing model": (["predict", "nope.keras", "gray.png"], 2, ["'nope.keras'", "not found"]),
    "predict image as model": (["predict", "gray.png", "gray.png"], 2,
                               ["'gray.png'", "Accepted: a .keras file, a training run directory"]),
    "predict abbreviated option": (["predict", "m.keras", "gray.png", "--to", "2"], 2, ["--to", "did you mean --top"]),
    # inspect
    "summary unknown model": (["summary", "resnet19"], 2, ["'resnet19'", "Did you mean 'resnet18'"]),
    "summary negative size": (["summary", "resnet18", "--input-size", "-3"], 2, ["'-3'", "positive integer"]),
    "compare unknown model": (["compare", "vgg16", "nope"], 2, ["'nope'", "Available models: alexnet"]),
    "list pattern without match": (["list", "zzz*"], 2, ["'zzz*'", "Available: alexnet"]),
    "plot without history": (["plot", ".", "-o", "p.png"], 2, ["No history.csv", "CSVLogger"]),
    "plot missing run": (["plot", "nope", "-o", "p.png"], 2, ["'nope'", "not found"]),
    "visualize without output": (["visualize", "filters", "resnet18"], 2, ["-o/--output", "required"]),
    # train: checked before anything is built or written
    "train zero epochs": (["train", "--epochs", "0", "--print-config"], 2, ["epochs=0", "positive integer"]),
    "train epochs not a number": (["train", "--epochs", "x", "--print-config"], 2, ["'x'", "invalid int"]),
    "train negative batch": (["train", "--batch-size", "-1", "--print-config"], 2, ["batch_size=-1", "positive"]),
    "train bad JSON options": (["train", "--dataset-options", "{bad", "--print-config"], 2,
                               ["'{bad'", "expected a JSON object"]),
    "train JSON list as kwargs": (["train", "--model-kwargs", "[1]", "--print-config"], 2,
                                  ["'[1]'", "expected a JSON object"]),
    "train unknown precision": (["train", "--precision", "float8", "--print-config"], 2,
                                ["'float8'", "'mixed_float16'"]),
    "train resume missing dir": (["train", "--resume", "nope"], 2, ["'nope'", "not found"]),
    "train resume non-run": (["train", "--resume", "."], 2, ["'.'", "no config.json"]),
    "train target and resume": (["train", "resnet18", "--resume", "run"], 2, ["TARGET='resnet18'", "either TARGET"]),
    "train missing recipe file": (["train", "nope_recipe.py"], 2, ["'nope_recipe.py'", "not found"]),
    "train --learning-rate": (["train", "--learning-rate", "0.1", "--print-config"], 2,
                              ["--learning-rate", "did you mean --lr"]),
    "train abbreviated --epoch": (["train", "--epoch", "1", "--print-config"], 2, ["--epoch", "did you mean --epochs"]),
    "train run-dir is a file": (["train", "--run-dir", "a_file", "--epochs", "1"], 2,
                                ["'a_file' is an existing file", "Accepted: a new path or an empty directory"]),
    "train unknown model": (["train", "resnt18"], 2, ["'resnt18'", "Did you mean 'resnet18'"]),
    # export: refused before the model is converted
    "export unknown format": (["export", "m.keras", "--format", "onnx"], 2, ["'onnx'", "'savedmodel', 'tflite'"]),
    "export crop above 1": (["export", "m.keras", "--crop-fraction", "1.5", "-o", "o"], 2,
                            ["crop_fraction=1.5", "(0, 1]"]),
    "export missing class names": (["export", "m.keras", "--class-names", "nope.txt", "-o", "o"], 2,
                                   ["'nope.txt'", "not found"]),
    "export unknown preprocessing": (["export", "m.keras", "--preprocessing", "zzz"], 2, ["'zzz'", "'caffe'"]),
    "export savedmodel quantized": (["export", "m.keras", "--quantize", "int8"], 2,
                                    ["--format savedmodel --quantize int8", "--format tflite"]),
    "export missing model": (["export", "nope.keras", "-o", "o"], 2, ["'nope.keras'", "not found"]),
    "export int8 without calibration": (["export", "m.keras", "--format", "tflite", "--quantize", "int8", "-o",
                                         "o.tflite"], 2, ["representative", "--representative DIR|shapes"]),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_command_refuses_bad_input(case, zoo, capsys, monkeypatch):
    argv, expected_code, expected = CLI_CASES[case]
    monkeypatch.chdir(zoo)
    before = tree_hash(zoo)
    code, _, err = run_cli(capsys, *argv)
    assert code == expected_code, err
    for text in expected:
        assert text in err, (text, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 30
    assert tree_hash(zoo) == before


@pytest.mark.parametrize("image", ["gray.png", "cmyk.jpg", "16bit.png", "palette.png", "animated.gif", "exif.jpg"])
def test_awkward_but_valid_images_are_classified(image, zoo, capsys, monkeypatch):
    """Grayscale, CMYK, 16-bit, palette, animated (first frame) and EXIF-rotated files all decode to RGB.

    EXIF orientation is not applied, here as in training: the pixels are used as stored, so a
    file gets the same prediction in both (the one image path).
    """
    monkeypatch.chdir(zoo)
    before = tree_hash(zoo)
    code, out, err = run_cli(capsys, "predict", "m.keras", image, "--json")
    assert code == 0, err
    result = json.loads(out)[0]
    assert result["image"] == image and len(result["predictions"]) == 3
    assert tree_hash(zoo) == before
    if image == "exif.jpg":
        _, plain, _ = run_cli(capsys, "predict", "m.keras", "plain.jpg", "--json")
        assert json.loads(plain)[0]["predictions"] == result["predictions"]


# --------------------------------------------------------------------------- the catalogue: the Python API
API_CASES = {
    "input_shape as a string": (dict(input_shape="224"), ["input_shape='224'", "a tuple of 3 integers"]),
    "input_shape with a float": (dict(input_shape=(32.7, 32, 3)), ["(32.7, 32, 3)", "positive integer"]),
    "input_shape of 2 entries": (dict(input_shape=(32, 32)), ["(32, 32)", "3 entries"]),
    "unknown classifier_activation": (dict(classifier_activation="nope"), ["'nope'", "softmax"]),
    "zero classes": (dict(classes=0), ["classes=0", "positive integer"]),
    "unknown pooling": (dict(pooling="median", include_top=False), ["'median'", "'avg'"]),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_builder_refuses_bad_arguments(case):
    from keras_classics import create_model

    kwargs, expected = API_CASES[case]
    with pytest.raises(ValueError) as info:
        create_model("resnet18", **kwargs)
    for text in expected:
        assert text in str(info.value), (text, str(info.value))


# --------------------------------------------------------------------------- the catalogue: dataset folders
def _folder_case(root, kind):
    if kind == "missing":
        return root / "nope"
    if kind == "a file":
        (root / "f").write_text("x")
        return root / "f"
    if kind == "one class":
        image_folder(root / "d", ["cat"], 3, colour="red")
    elif kind == "images at the top only":
        image_folder(root / "d", None, 3, colour="red")
    elif kind == "nothing readable":
        for c in ("cat", "dog"):
            (root / "d" / c).mkdir(parents=True)
            (root / "d" / c / "x.png").write_text("not an image")
    return root / "d"


FOLDER_CASES = {
    "missing": ["nope'", "does not exist"],
    "a file": ["f'", "is a file, not a directory of class sub-folders"],
    "one class": ["'cat', 3 files", "at least 2 classes"],
    "images at the top only": ["3 image file(s) at its top level", "<class name>/<images>"],
    "nothing readable": ["None of the 2 image files", "first error"],
}


@pytest.mark.parametrize("kind", list(FOLDER_CASES))
def test_dataset_folder_refused(kind, tmp_path):
    from keras_classics.data import get_source

    path = _folder_case(tmp_path, kind)
    before = tree_hash(tmp_path)
    with pytest.raises(ValueError) as info:
        get_source(f"folder:{path}")
    for text in FOLDER_CASES[kind]:
        assert text in str(info.value), (text, str(info.value))
    assert tree_hash(tmp_path) == before


def test_dataset_folder_warns_about_tiny_images_and_top_level_files(tmp_path, caplog):
    from keras_classics.data import get_source

    image_folder(tmp_path, ["cat"], 3, colour="red", sizes=1)
    image_folder(tmp_path, ["dog"], 3, colour="blue")
    (tmp_path / "notes.txt").write_text("x")
    Image.new("RGB", (8, 8)).save(tmp_path / "bird.png")
    before = tree_hash(tmp_path)
    with caplog.at_level(logging.WARNING, logger="keras_classics.data"):
        src = get_source(f"folder:{tmp_path}", val_fraction=0)
    assert src.num_train == 6 and src.stats["ignored_files"] == 2
    assert "3 image(s)" in caplog.text and "smaller than 8 pixels" in caplog.text
    assert "Ignoring 2 file(s) at the top level" in caplog.text and "bird.png, notes.txt" in caplog.text
    assert tree_hash(tmp_path) == before


# --------------------------------------------------------------------------- full and read-only destinations
def test_full_disk_during_export_leaves_nothing(tmp_path, run_dir, capsys, monkeypatch):
    """A full disk cannot be produced without root: the card write is patched to raise ENOSPC, as a full
    disk would, after the export itself was converted and checked."""
    from keras_classics.export import card

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(card, "write_text_atomic", full)
    before = tree_hash(tmp_path)
    code, _, err = run_cli(capsys, "export", run_dir, "-o", tmp_path / "out", "--parity-samples", "4", "-q")
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert tree_hash(tmp_path) == before  # no half-written export, no temporary left


def test_read_only_destination(tmp_path, run_dir, capsys):
    target = tmp_path / "ro" if os.geteuid() != 0 else "/sys/keras-classics-test-export"
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o500)
    before = tree_hash(tmp_path)
    code, _, err = run_cli(capsys, "export", run_dir, "-o", target, "--parity-samples", "4", "-q")
    assert code in (1, 2) and str(target) in err and "Traceback" not in err
    assert tree_hash(tmp_path) == before
