"""Every inspector command through ``keras_classics.cli.main``, in-process: output,
valid non-blank PNGs, and clear exit-2 errors that leave nothing on disk."""

import csv
import io
import json
import os
import subprocess
import sys

import keras
import matplotlib.cbook
import numpy as np
import pytest
from keras import layers
from PIL import Image

from keras_classics import create_model
from keras_classics.models import model_info
from tests.helpers import run_cli, run_cli_process

IMAGE = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)  # ships with matplotlib


def assert_png(path, width=None):
    with Image.open(path) as im:
        assert im.format == "PNG"
        if width is not None:
            assert im.size[0] == width
        assert im.size[1] > 100
        assert np.asarray(im.convert("L"), dtype=np.float32).std() > 5, "blank picture"


@pytest.fixture(scope="module")
def small_keras(tmp_path_factory):
    """A small CNN saved as .keras (loaded by the commands in safe mode)."""
    x = keras.Input((40, 40, 3), name="image")
    y = layers.Conv2D(6, 5, activation="relu", name="conv1")(x)
    y = layers.MaxPooling2D(2, name="pool1")(y)
    y = layers.Conv2D(8, 3, activation="relu", name="conv2")(y)
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    model = keras.Model(x, layers.Dense(4, name="predictions")(y), name="small")
    path = tmp_path_factory.mktemp("models") / "small.keras"
    model.save(path)
    return path


def test_list(capsys):
    code, out, _ = run_cli(capsys, "list", "alex*", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)["rows"]
    assert row["name"] == "alexnet" and row["params"] == 60_965_224 and row["year"] == 2012
    assert row["macs"] == 724_406_816 and row["weighted_depth"] == 8 and row["paper"]
    assert (row["min_input"], row["min_input_aux"]) == (67, None)


def test_list_shows_the_minimum_input_with_aux_heads(capsys):
    # `train googlenet` (aux heads on) refuses inputs under 65x65: `list` says so next to the 1 without them.
    code, out, _ = run_cli(capsys, "list", "googlenet", "--format", "json")
    (row,) = json.loads(out)["rows"]
    assert (row["min_input"], row["min_input_aux"]) == (1, 65)
    code, out, _ = run_cli(capsys, "list", "inception_v*")
    assert code == 0
    assert "1 (aux 65)" not in out and "  1  " in out.splitlines()[3]  # inception_v2: no aux heads
    assert "75 (aux 299)" in out
    code, out, _ = run_cli(capsys, "compare", "googlenet", "googlenet:variant=torchvision", "--format", "json")
    # The stated aux minimum is the default options' (the torchvision variant's aux heads take any size).
    assert [(r["min_input"], r["min_input_aux"]) for r in json.loads(out)["rows"]] == [(1, 65), (1, None)]


def test_list_and_compare_read_the_registry_without_keras():
    # A new process: `list` and `compare` of registered names at their paper input build nothing and import
    # neither Keras nor a backend; the figures are the registry's (held to the built models in
    # tests/models/test_registry_facts.py).
    probe = ("import sys; from keras_classics.cli import main; main({argv}); "
             "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    for argv in (["list"], ["compare", "alexnet", "googlenet", "resnet152"],
                 ["compare", "googlenet", "resnet152", "--input-size", "224", "--format", "json"]):
        result = subprocess.run([sys.executable, "-c", probe.format(argv=argv)], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        *table, imported = result.stdout.strip().splitlines()
        assert imported == "[]", f"{argv} imported {imported}"
        assert result.stderr == ""
    assert json.loads("\n".join(table))["rows"][1]["macs"] == model_info("resnet152").macs
    listed = run_cli_process("list", "--format", "csv")  # the installed command, as a user runs it
    assert listed.returncode == 0 and listed.stderr == ""
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(listed.stdout))}
    assert int(rows["googlenet"]["macs"]) == model_info("googlenet").macs


def test_list_into_a_closed_pipe_stops_quietly():
    # `keras-classics list | head -1`: the reader leaves before the table is written. The command stops with
    # the shells' status for SIGPIPE (141) and no message, instead of "error: Broken pipe ... half-written".
    from tests.helpers import cli_argv

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        result = subprocess.run(cli_argv("list"), stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_summary(capsys, small_keras):
    code, out, _ = run_cli(capsys, "summary", "resnet18", "--input-size", "32", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[-1]["name"] == "total" and int(rows[-1]["params"]) == 11_689_512 + 9_600  # + BN statistics
    conv1 = next(r for r in rows if r["name"] == "conv1_conv")
    assert (conv1["kernel"], conv1["stride"], conv1["receptive_field"]) == ("7x7", "2x2", "7")
    code, out, _ = run_cli(capsys, "summary", "resnet18", "--input-size", "32", "--stride-in", "3x3")
    assert code == 2  # resnet18 has basic blocks: no such option
    code, out, _ = run_cli(capsys, "summary", small_keras, "--format", "markdown")
    assert code == 0 and "| conv2" in out and "**total**" in out
    code, out, _ = run_cli(capsys, "summary", "googlenet", "-O", "variant='torchvision'", "--input-size", "64")
    assert code == 0 and "6,624,904 trainable" in out and "inception_3a_5x5_conv" in out
    code, _, err = run_cli(capsys, "summary", "resnet_18")
    assert code == 2 and "Did you mean 'resnet18'" in err
    code, _, err = run_cli(capsys, "summary", "resnet18", "-O", "oops")
    assert code == 2 and "KEY=VALUE" in err


def test_compare(capsys):
    code, out, _ = run_cli(capsys, "compare", "--inception-module", "3a")
    assert code == 0 and "naive_inception_3a" in out and "save 175M multiply-adds (58%)" in out
    code, out, _ = run_cli(capsys, "compare", "vgg11", "resnet18", "--input-size", "32", "--format", "json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [r["model"] for r in rows] == ["vgg11", "resnet18"]
    assert rows[0]["params_ratio"] == 1 and rows[1]["weighted_depth"] == 18
    code, _, err = run_cli(capsys, "compare")
    assert code == 2 and "at least one model" in err


def test_visualize_filters_and_weights(capsys, tmp_path, small_keras):
    out = tmp_path / "filters.png"
    code, stdout, _ = run_cli(capsys, "visualize", "filters", "resnet18", "-o", out)
    assert code == 0 and str(out) in stdout
    assert_png(out, 1000)
    code, _, _ = run_cli(capsys, "visualize", "filters", small_keras, "--layer", "conv2", "-o", tmp_path / "f2.png")
    assert code == 0
    assert_png(tmp_path / "f2.png", 1000)
    # Trained (here: saved) weights load into a freshly built architecture ...
    model = create_model("resnet18", classes=10, input_shape=(32, 32, 3))
    weights = tmp_path / "r18.weights.h5"
    model.save_weights(weights)
    from keras_classics.inspect.pictures import _model_for_pictures

    loaded, _, note = _model_for_pictures("resnet18", weights, classes=10)  # what --weights does
    np.testing.assert_array_equal(loaded.get_layer("conv1_conv").get_weights()[0],
                                  model.get_layer("conv1_conv").get_weights()[0])
    assert note == "weights: r18.weights.h5"
    del loaded, model
    # ... and weights of another architecture are refused.
    code, _, err = run_cli(capsys, "visualize", "filters", "resnet18", "--weights", small_keras, "-o", tmp_path / "f4.png")
    assert code == 2 and "Could not load" in err and not (tmp_path / "f4.png").exists()


def test_visualize_activations_and_receptive_field(capsys, tmp_path):
    out = tmp_path / "maps.png"
    code, _, _ = run_cli(capsys, "visualize", "activations", "resnet18", IMAGE, "--layer", "conv2_block1_out",
                     "--input-size", "64", "-o", out)
    assert code == 0
    assert_png(out, 1200)
    rf = tmp_path / "rf.png"
    code, _, _ = run_cli(capsys, "visualize", "receptive-field", "alexnet", "resnet18", "-o", rf)
    assert code == 0
    with Image.open(rf) as im:
        assert im.size == (900, 550)
    assert_png(rf)


def test_plot(capsys, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / "history.csv", "w", newline="") as f:  # the columns CSVLogger writes
        w = csv.writer(f)
        w.writerow(["epoch", "accuracy", "learning_rate", "loss", "top5", "val_accuracy", "val_loss", "val_top5"])
        for e in range(5):
            w.writerow([e, 0.3 + 0.1 * e, 0.1 / (e + 1), 2 - 0.3 * e, 0.6 + 0.05 * e, 0.25 + 0.1 * e, 2.1 - 0.3 * e,
                        0.55 + 0.05 * e])
    code, _, _ = run_cli(capsys, "plot", run_dir, "-o", tmp_path / "curves.png")
    assert code == 0
    with Image.open(tmp_path / "curves.png") as im:
        assert im.size == (1500, 850)  # loss, accuracy, top5 | learning rate
    assert_png(tmp_path / "curves.png")


def test_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, small_keras):
    def refused(*argv, match):
        before = sorted(os.listdir(tmp_path))
        code, _, err = run_cli(capsys, *argv)
        assert code == 2, err
        assert match in err, err
        assert len(err.strip().splitlines()) == 1
        assert sorted(os.listdir(tmp_path)) == before

    out = tmp_path / "out.png"
    refused("visualize", "filters", small_keras, "--layer", "nope", "-o", out,
            match="No layer named 'nope' in 'small'. Available convolution layers: conv1, conv2")
    refused("visualize", "activations", small_keras, IMAGE, "--layer", "nope", "-o", out,
            match="Available layers: image, conv1, pool1, conv2, gap, predictions")
    refused("visualize", "activations", small_keras, IMAGE, "--layer", "predictions", "-o", out,
            match="need a 4-D")
    not_image = tmp_path / "notes.txt"
    not_image.write_text("hello")
    refused("visualize", "activations", small_keras, not_image, "--layer", "conv2", "-o", out,
            match="is not an image")
    refused("visualize", "activations", small_keras, tmp_path / "missing.jpg", "--layer", "conv2", "-o", out,
            match="Image not found")
    refused("visualize", "filters", small_keras, "-o", tmp_path / "no" / "dir.png", match="does not exist")
    refused("visualize", "filters", small_keras, "-o", tmp_path / "f.jpg", match=".png")
    refused("visualize", "filters", tmp_path / "absent.keras", "-o", out, match="Model file not found")
    refused("plot", tmp_path / "no_run", "-o", out, match="Run directory not found")
    out.write_bytes(b"old")
    refused("visualize", "receptive-field", small_keras, "-o", out, match="--overwrite")
    assert out.read_bytes() == b"old"
    code, _, _ = run_cli(capsys, "visualize", "receptive-field", small_keras, "-o", out, "--overwrite")
    assert code == 0
    assert_png(out)
