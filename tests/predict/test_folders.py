"""predict on folders: the folder dataset's listing, each unreadable file reported while the rest are classified."""

import json
import os

import keras
import pytest

from keras_classics import images, metadata, predict
from keras_classics.data.sources import list_splits
from tests.helpers import image_folder, run_cli

pytestmark = pytest.mark.xdist_group("predict")

NAMES = ["red", "green", "blue"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small classifier saved as predict's users save theirs: a .keras file carrying class names."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255.0)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x), name="tiny")
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    return metadata.save_model(model, path, {"class_names": NAMES, "preprocessing": "none", "crop_fraction": 1.0})


@pytest.fixture
def tree(tmp_path):
    """Two class folders, nested sub-folders, every accepted format (README: JPEG, PNG, GIF, BMP, WebP, TIFF)."""
    root = tmp_path / "imgs"
    formats = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
    files = image_folder(root, classes=("a", "b/deeper"), per_class=6, sizes=[12, (10, 14)], noise=True,
                         formats=formats)
    (root / "b" / "notes.txt").write_text("not an image")  # other files are left out, as in a dataset folder
    (root / "a" / ".hidden.png").write_bytes(b"")
    return root, files


def test_a_folder_works_the_same_way_as_its_files(model_file, tree, capsys):
    """README: "any image file (JPEG, PNG, GIF, BMP, WebP, TIFF) or a folder of them works the same way"."""
    root, files = tree
    code, out, err = run_cli(capsys, "predict", model_file, root, "--top", "3", "--json")
    assert code == 0, err
    by_folder = json.loads(out)
    code, out, err = run_cli(capsys, "predict", model_file, *files, "--top", "3", "--json")
    assert code == 0, err
    assert by_folder == json.loads(out)
    assert [r["image"] for r in by_folder] == files  # recursive, sorted, hidden and non-image files left out
    # The table, as the README's command prints it.
    code, out, _ = run_cli(capsys, "predict", model_file, root, "--top", "3")
    assert code == 0 and out.count("  1. ") == len(files) and out.splitlines()[0] == files[0]


def test_the_folder_dataset_and_predict_list_the_same_files(tree):
    """One listing (keras_classics.images): a dataset folder and predict's folder name the same files, in order."""
    root, files = tree
    train = list_splits(f"folder:{root}", val_fraction=0)["train"].files
    assert images.image_files(root) == images.list_images(root) == files
    assert sorted(train) == sorted(files) and train == files


def test_each_unreadable_file_is_reported_and_the_rest_classified(model_file, tree, capsys):
    root, files = tree
    (root / "a" / "0.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (root / "b" / "deeper" / "empty.png").write_bytes(b"")
    bad = [str(root / "a" / "0.jpg"), str(root / "b" / "deeper" / "empty.png")]
    code, out, err = run_cli(capsys, "predict", model_file, root, "--top", "1")
    assert code == 2
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    for path in bad:  # one line each: the file and the cause
        (line,) = [x for x in lines if path in x]
        assert line.startswith("keras-classics predict: error: ") and any(w in line for w in ("Accepted formats", "corrupt", "0 bytes"))
    assert lines[-1] == f"keras-classics predict: {len(bad)} of {len(files) + 1} image files could not be read; " \
                        "the others were classified."
    classified = [line for line in out.splitlines() if not line.startswith(" ")]
    assert classified == [f for f in files if f not in bad]
    # --json: the same, an "error" entry in place of predictions.
    code, out, err = run_cli(capsys, "predict", model_file, root, "--json")
    results = json.loads(out)
    assert code == 2 and [r["image"] for r in results if "error" in r] == bad
    assert all(len(r["predictions"]) == 3 for r in results if "error" not in r)


def test_the_python_api_behaves_as_the_command(model_file, tree):
    root, files = tree
    os.remove(files[1])  # a file named but gone
    model = predict.load(model_file)
    results = model.classify([root, files[1]], top=2)
    assert [r["image"] for r in results] == [f for f in files if f != files[1]] + [files[1]]
    assert results[-1] == {"image": files[1], "error": f"Image not found: {files[1]!r}"}
    assert all(len(r["predictions"]) == 2 for r in results[:-1])
    assert predict.classify(model_file, root, top=1) == [
        {"image": r["image"], "predictions": r["predictions"][:1]} for r in results[:-1]
    ]
    (root / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no image files"):
        model.classify(root / "empty")


def test_the_readme_lines_with_a_folder(model_file, tree, capsys, monkeypatch):
    """README, "Export and predict": the int8 export, then predict with a folder in place of shape.png."""
    root, files = tree
    monkeypatch.chdir(root.parent)
    code, _, err = run_cli(capsys, "export", model_file, "--format", "tflite", "--quantize", "int8",
                           "--representative", "shapes", "--representative-samples", "8", "--parity-samples", "8",
                           "-o", "saved_models/shapes_int8.tflite")
    assert code == 0, err
    code, by_folder, err = run_cli(capsys, "predict", "saved_models/shapes_int8.tflite", root, "--top", "3")
    assert code == 0, err
    code, by_file, err = run_cli(capsys, "predict", "saved_models/shapes_int8.tflite", *files, "--top", "3")
    assert code == 0 and by_folder == by_file and by_folder.count("  3. ") == len(files)
