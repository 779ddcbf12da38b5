"""TensorFlow's and LiteRT's errors translated: what the user gave, the cause, and what is accepted, in one line.

The catalogue: a corrupt image, a .keras file that is not a zip, a SavedModel missing its variables (or
with broken ones), a .tflite file of garbage bytes, and a weights file given where a model is expected;
each through ``keras-classics predict`` and the Python loaders.
"""

import os
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from keras_classics import predict
from keras_classics.models.files import load_keras_model
from tests.helpers import run_cli

pytestmark = pytest.mark.xdist_group("predict")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """A real SavedModel and .keras file, and the broken files of the catalogue beside them."""
    z = tmp_path_factory.mktemp("native")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.save(z / "good.keras")
    model.export(str(z / "sm"), verbose=False)  # a SavedModel: saved_model.pb and variables/
    shutil.copytree(z / "sm", z / "sm_no_variables")
    shutil.rmtree(z / "sm_no_variables" / "variables")
    shutil.copytree(z / "sm", z / "sm_broken_variables")
    for f in (z / "sm_broken_variables" / "variables").iterdir():
        if f.name.startswith("variables.data"):
            f.write_bytes(b"\0" * 16)  # the index names more bytes than are there
    (z / "not_a_zip.keras").write_bytes(b"this is not a zip archive")
    (z / "garbage.tflite").write_bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8).tobytes())
    Image.new("RGB", (16, 16), "red").save(z / "ok.png")
    full = (z / "ok.png").read_bytes()
    (z / "corrupt.png").write_bytes(full[:8] + b"\0" * (len(full) - 8))  # a PNG signature, then nothing sane
    model.save_weights(z / "plain.weights.h5")
    return z


# (argument, text the message must hold besides the argument); each message ends with what is accepted
MODEL_CASES = {
    "keras not a zip": ("not_a_zip.keras", "it is not a .keras file. A .keras file is a zip archive"),
    "savedmodel without variables": ("sm_no_variables", "incomplete SavedModel"),
    "savedmodel with broken variables": ("sm_broken_variables", "could not be loaded as a SavedModel ("),
    "tflite of garbage bytes": ("garbage.tflite", "is not a valid TFLite model"),
    "weights file": ("plain.weights.h5", "is a weights file"),
}


def _one_clear_line(err, *texts):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("keras-classics predict: error: ")
    for text in texts:
        assert text in lines[0], (text, lines[0])


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_predict_says_what_the_model_argument_was(case, zoo, capsys, monkeypatch):
    name, text = MODEL_CASES[case]
    monkeypatch.chdir(zoo)
    code, out, err = run_cli(capsys, "predict", name, "ok.png")
    assert code == 2 and out == ""
    _one_clear_line(err, repr(name), text, "Accepted")
    with pytest.raises(ValueError) as raised:
        predict.load(name)
    assert str(raised.value) in err and "\n" not in str(raised.value)


def test_the_keras_loader_says_the_file_is_not_a_keras_file(zoo):
    with pytest.raises(ValueError) as raised:
        load_keras_model(zoo / "not_a_zip.keras")
    message = str(raised.value)
    assert "\n" not in message and "File not found" not in message  # Keras's own words for it
    assert f"{str(zoo / 'not_a_zip.keras')!r} could not be loaded as a Keras model: it is not a .keras file" in message
    assert "(25 bytes)" in message and "Accepted: a file written by model.save()" in message
    assert load_keras_model(zoo / "good.keras").output_shape == (None, 3)


def test_a_corrupt_image_is_named_with_its_cause(zoo, capsys, monkeypatch):
    monkeypatch.chdir(zoo)
    code, out, err = run_cli(capsys, "predict", "sm", "corrupt.png")
    assert code == 2 and out == ""
    _one_clear_line(err, "'corrupt.png'", "Accepted formats" if "identify" in err else "corrupt or truncated")
    results = predict.load("sm").classify(["corrupt.png", "ok.png"], top=1)
    assert "corrupt.png" in results[0]["error"] and results[1]["predictions"]


def test_a_weights_file_names_the_command_that_makes_a_keras_file(zoo, capsys, monkeypatch):
    monkeypatch.chdir(zoo)
    _, _, err = run_cli(capsys, "predict", "plain.weights.h5", "ok.png")
    assert "`keras-classics weights convert MODEL FILE -o plain.keras`" in err
    assert "keras_classics.metadata.save_model(model, 'plain.keras')" in err
    # A file that `weights convert` wrote: the same command, with its model and source, -o NAME.keras.
    (zoo / "backbone.weights.h5").write_bytes((zoo / "plain.weights.h5").read_bytes())
    (zoo / "backbone.weights.h5.card.json").write_text(
        '{"kind": "keras_classics weights conversion", "output": "%s", "model": "resnet18", '
        '"source_file": "/data/resnet18.safetensors", "options": {"include_top": false}}'
        % os.path.abspath(zoo / "backbone.weights.h5"))
    code, _, err = run_cli(capsys, "predict", "backbone.weights.h5", "ok.png")
    assert code == 2
    _one_clear_line(err, "`keras-classics weights convert resnet18 /data/resnet18.safetensors -o backbone.keras`",
                    "without --no-top")
