"""keras_classics.evaluate and ``keras-classics evaluate``: figures that are known, every format, the run's own
split, the confusion matrix that never replaces another file."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_classics import evaluate, predict
from keras_classics.evaluation import SOFTWARE, is_own_picture
from keras_classics.images import load_image
from keras_classics.metadata import make_metadata, save_model, set_model_metadata
from tests.evaluate.conftest import collapsed_model, colour_model
from tests.helpers import image_folder, run_cli

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (20, 40, 210)}


@pytest.fixture
def colours(tmp_path):
    """A folder of flat-colour images: two of each colour, and in blue/ one red image (a known mistake)."""
    root = tmp_path / "colours"
    image_folder(root, classes=list(COLOURS), per_class=2, sizes=[16, (20, 24)], colour=COLOURS)
    Image.new("RGB", (16, 16), COLOURS["red"]).save(root / "blue" / "9.png")
    return root


@pytest.fixture
def colour_file(tmp_path):
    path = tmp_path / "models" / "colours.keras"
    path.parent.mkdir()
    return save_model(colour_model(), path)


def _files(root):
    return sorted(str(p) for p in root.rglob("*.png"))


def test_the_figures_of_a_model_whose_predictions_are_known(colours, colour_file):
    result = evaluate(colour_file, f"folder:{colours}")
    (m,) = result.models
    assert result.images == m.images == 7 and result.class_names == ["blue", "green", "red"]  # sorted folders
    assert m.top1 == pytest.approx(6 / 7) and m.top5 is None  # three classes: top-5 would always be 1
    assert m.per_class == {"blue": pytest.approx(2 / 3), "green": 1.0, "red": 1.0}
    # Rows: true blue, green, red; columns: predicted. The red image in blue/ is predicted red.
    assert m.confusion.tolist() == [[2, 0, 1], [0, 2, 0], [0, 0, 2]] and m.confusion_labels == result.class_names
    # The loss, from the model's own probabilities on the same files through predict's image path.
    loaded = predict.load(colour_file)
    files = _files(colours)
    probs = loaded.predict(np.stack([load_image(f, (16, 16)) for f in files]))
    truth = [loaded.class_names.index(os.path.basename(os.path.dirname(f))) for f in files]
    # Clipped at 1e-7 as Keras clips (the red image in blue/ has p(blue) ~ 1e-9).
    p_true = np.clip(probs[np.arange(len(files)), truth], 1e-7, 1)
    assert m.loss == pytest.approx(float(np.mean(-np.log(p_true))), rel=1e-5)
    assert m.format == "keras" and m.quantization is None and m.confusion_png is None


def test_top1_is_the_class_predict_names_first(colours, colour_file):
    result = evaluate([colour_file], f"folder:{colours}")
    files = _files(colours)
    named = [r["predictions"][0]["class"] for r in predict.classify(colour_file, files, top=1)]
    right = [n == os.path.basename(os.path.dirname(f)) for n, f in zip(named, files)]
    assert result.models[0].top1 == pytest.approx(np.mean(right))


def test_the_collapsed_model_scores_half_at_top5(tmp_path, shape_names):
    """Issue 21's collapsed model: one class, nine tied values. On ten balanced classes top-5 is 50%."""
    model = set_model_metadata(collapsed_model(10, winner=6), make_metadata(shape_names, 16, "none"))
    path = save_model(model, tmp_path / "collapsed.keras")
    image_folder(tmp_path / "data", classes=shape_names, per_class=2, sizes=16)
    (m,) = evaluate(path, str(tmp_path / "data")).models
    assert m.top5 == 0.5 and m.top1 == 0.1


def test_the_collapsed_model_on_the_command_line(tmp_path, shape_names, capsys):
    model = set_model_metadata(collapsed_model(10, winner=6), make_metadata(shape_names, 16, "none"))
    path = save_model(model, tmp_path / "collapsed.keras")
    image_folder(tmp_path / "data", classes=shape_names, per_class=2, sizes=16)
    code, out, err = run_cli(capsys, "evaluate", path, "--dataset", tmp_path / "data", "--json", "--no-confusion")
    assert code == 0, err
    report = json.loads(out)
    assert report["models"][0]["top5"] == 0.5 and report["images"] == 20
    assert report["top_k_rule"].startswith("strict order")


def test_without_a_dataset_the_runs_own_validation_split(tmp_path, colours):
    """A run trained on a folder with val_fraction 0.5: its validation split as training made it."""
    from keras_classics.data.sources import list_splits

    run = tmp_path / "run"
    run.mkdir()
    save_model(colour_model(), run / "best.keras")
    (run / "config.json").write_text(json.dumps({
        "model": "colours", "dataset": f"folder:{colours}", "dataset_options": {"val_fraction": 0.5}, "seed": 3,
        "image_size": 16, "policy": "none", "preprocessing": "none", "class_names": ["blue", "green", "red"]}))
    result = evaluate(run)
    validation = list_splits(f"folder:{colours}", val_fraction=0.5, seed=3)["validation"]
    assert result.images == validation.size < 7 and "the run's data" in result.dataset
    (run / "config.json").write_text(json.dumps({"model": "colours", "dataset": f"folder:{tmp_path / 'moved'}"}))
    with pytest.raises(ValueError, match=r"Could not read the validation images of the run of .*moved.*--dataset"):
        evaluate(run)
    with pytest.raises(ValueError, match="None of the models names the run it was trained in"):
        evaluate(save_model(colour_model(), tmp_path / "c.keras"))  # no config.json beside it


def test_classes_are_matched_by_name(tmp_path, colour_file):
    """A dataset of two of the model's classes, in another order: labels follow the names; a prediction
    outside them is counted in an "other" column."""
    image_folder(tmp_path / "two", classes=["red", "blue"], per_class=2, sizes=16, colour=COLOURS)
    Image.new("RGB", (16, 16), COLOURS["green"]).save(tmp_path / "two" / "red" / "7.png")
    (m,) = evaluate(colour_file, str(tmp_path / "two")).models
    assert m.confusion_labels == ["blue", "red", "other"]
    assert m.confusion.tolist() == [[2, 0, 0], [0, 2, 1]] and m.top1 == pytest.approx(4 / 5)
    image_folder(tmp_path / "animals", classes=["cat", "dog", "emu"], per_class=1, sizes=16)
    with pytest.raises(ValueError, match=r"3 of its 3 classes \('cat', 'dog', 'emu'\) are not among the model's 3 "
                                         r"\('red', 'green', 'blue'\)"):
        evaluate(colour_file, str(tmp_path / "animals"))


def test_several_models_one_table(tmp_path, colours, colour_file, capsys):
    other = save_model(colour_model(), tmp_path / "colours.keras")  # the same name in another folder
    code, out, err = run_cli(capsys, "evaluate", colour_file, other, "--dataset", f"folder:{colours}",
                             "--confusion-dir", tmp_path / "pictures")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("7 images of folder:") and "top-k ties: strict order" in lines[0]
    assert lines[1].split() == ["colours.keras", "colours.keras#2"]
    assert lines[3].split() == ["images", "7", "7"] and lines[4].split() == ["top-1", "85.71%", "85.71%"]
    assert lines[5].split() == ["top-5", "—", "—"] and any(line.split()[:2] == ["top-1", "blue"] for line in lines)
    pictures = sorted(os.listdir(tmp_path / "pictures"))
    assert pictures == ["colours.keras.confusion.png", "colours.keras_2.confusion.png"]  # '#' made '_'
    assert all(is_own_picture(tmp_path / "pictures" / p) for p in pictures)
    assert Image.open(tmp_path / "pictures" / pictures[0]).info["Software"] == SOFTWARE


def test_the_confusion_matrix_never_replaces_another_file(tmp_path, colours, colour_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = evaluate(colour_file, str(colours), confusion_dir="evaluation").models[0].confusion_png
    assert first == os.path.join("evaluation", "colours.keras.confusion.png") and is_own_picture(first)
    os.utime(first, (0, 0))
    evaluate(colour_file, str(colours), confusion_dir="evaluation")  # its own picture: replaced
    assert os.path.getmtime(first) > 0
    foreign = tmp_path / "mine"
    foreign.mkdir()
    Image.new("RGB", (4, 4)).save(foreign / "colours.keras.confusion.png")  # a PNG, but not evaluate's
    before = (foreign / "colours.keras.confusion.png").read_bytes()
    with pytest.raises(FileExistsError, match="not a confusion matrix written by keras-classics evaluate"):
        evaluate(colour_file, str(colours), confusion_dir=foreign)
    assert (foreign / "colours.keras.confusion.png").read_bytes() == before and os.listdir(foreign) == [
        "colours.keras.confusion.png"]
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        evaluate(colour_file, str(colours), confusion_dir=tmp_path / "a_file")


def test_command_line_refusals(tmp_path, colour_file, capsys):
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "nothing.keras", "--dataset", "shapes")
    assert code == 2 and "Model not found" in err and not out
    code, out, err = run_cli(capsys, "evaluate", colour_file, "--limit", "0")
    assert code == 2 and "expected a positive integer, received '0'" in err
    code, out, err = run_cli(capsys, "evaluate", colour_file, "--no-confusion")
    assert code == 2 and "--dataset SOURCE" in err


# --------------------------------------------------------------------------- a real run, its exports


def _documented_lines():
    """The ``keras-classics evaluate`` lines of docs/export.md's Evaluate section and of the README."""
    import re

    from tests.helpers import ROOT

    page = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    section = page[page.index("## Evaluate"):page.index("\n## ", page.index("## Evaluate"))]
    lines = [line for block in re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M)
             for line in block.splitlines() if line.startswith("keras-classics evaluate")]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines += [line.replace("runs/quickstart-TIMESTAMP", "runs/quickstart") for line in readme.splitlines()
              if line.startswith("keras-classics evaluate")]
    assert len(lines) == 3, lines
    return lines


@pytest.mark.slow  # a training run, a SavedModel and an int8 TFLite export: two minutes on two busy cores
def test_a_run_its_savedmodel_and_its_int8_tflite_in_one_table(tmp_path, capsys, monkeypatch):
    """The documented commands as written, on a tiny quickstart run and its exports at the documented paths:
    ``keras-classics evaluate RUN saved_model x.tflite`` prints one table on the run's validation images, and
    each model's top-1 on those images, written as files, is the share ``predict`` names right."""
    import shlex
    import shutil

    from keras_classics import export
    from keras_classics.data.shapes import SHAPE_CLASSES, generate_shapes
    from keras_classics.training import load_recipe, train

    monkeypatch.setenv("KERAS_CLASSICS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    train(load_recipe("quickstart").replace(epochs=1, batch_size=16, steps_per_epoch=4, run_dir="runs/quickstart",
                                            dataset_options={"num_train": 64, "num_val": 40}, verbose=0))
    fast = dict(parity_samples=8, verbose=False)
    export.to_saved_model("runs/quickstart", "saved_models/shapes_resnet18", **fast)
    export.to_tflite("runs/quickstart", "saved_models/shapes_resnet18_int8.tflite", quantize="int8",
                     representative="shapes", representative_samples=8, **fast)
    for suffix in (".tflite", ".card.json"):  # the README's name for the same int8 file
        shutil.copy(f"saved_models/shapes_resnet18_int8{suffix}", f"saved_models/shapes_int8{suffix}")
    outputs = []
    for line in _documented_lines():
        code, out, err = run_cli(capsys, *shlex.split(line)[1:])
        assert code == 0, (line, err)
        outputs.append(out)
    lines = outputs[0].splitlines()
    assert lines[0].startswith("40 images of shapes validation split (the run's data), 10 classes")
    assert lines[1].split() == ["quickstart", "shapes_resnet18", "shapes_resnet18_int8.tflite"]
    assert lines[2].split() == ["format", "keras", "savedmodel", "tflite", "int8"]
    assert [line.split()[0] for line in lines[3:8]] == ["images", "top-1", "top-5", "loss", "images/s"]
    assert json.loads(outputs[1])["images"] == 200 and json.loads(outputs[1])["dataset"] == "shapes validation split"
    assert sorted(os.listdir("evaluation")) == ["quickstart.confusion.png", "shapes_int8.tflite.confusion.png",
                                                "shapes_resnet18.confusion.png",
                                                "shapes_resnet18_int8.tflite.confusion.png"]
    models = ["runs/quickstart", "saved_models/shapes_resnet18", "saved_models/shapes_resnet18_int8.tflite"]
    by_run = json.loads(run_cli(capsys, "evaluate", *models, "--json", "--no-confusion")[1])

    # The same images as files: evaluate on the folder, and predict on each file.
    images, labels = generate_shapes(40, image_size=32, seed=0, split="validation")
    files = []
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = tmp_path / "files" / SHAPE_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:02d}.png")
        files.append((str(folder / f"{i:02d}.png"), SHAPE_CLASSES[label]))
    by_files = evaluate(models, f"folder:{tmp_path / 'files'}")
    for model, from_run in zip(by_files.models, by_run["models"]):
        named = [r["predictions"][0]["class"] for r in predict.classify(model.path, [f for f, _ in files], top=1)]
        assert model.top1 == pytest.approx(np.mean([n == truth for n, (_, truth) in zip(named, files)]))
        assert model.top1 == pytest.approx(from_run["top1"]) and model.top5 == pytest.approx(from_run["top5"])
    assert by_files.models[0].top1 == pytest.approx(by_files.models[1].top1)  # Keras and its SavedModel
