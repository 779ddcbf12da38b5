"""keras_classics.preprocess_input and decode_predictions: every preprocessing mode, every registered set."""

import keras
import numpy as np
import pytest

from keras_classics import decode_predictions, predict, preprocess_input
from keras_classics.applications import input_spec
from keras_classics.images import load_image
from keras_classics.metadata import make_metadata, save_model, set_model_metadata
from keras_classics.transforms import IMAGENET_MEAN, IMAGENET_STD, resized_centre
from keras_classics.weights import attach_metadata, get_weights_set, imagenet_class_names, weights_sets
from tests.evaluate.conftest import colour_model
from tests.helpers import image_folder

PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")


@pytest.mark.parametrize("model, weights, mode", [
    ("resnet50", "imagenet", "caffe"),  # keras.applications' ResNet50 weights: BGR minus the ImageNet mean
    ("resnet18", "torchvision", "torch"),  # /255, minus mean, over std
    ("inception_v3", "imagenet", "tf"),  # to [-1, 1]
    ("googlenet", "torchvision", "tf"),  # torchvision's transform_input, folded into the "tf" input
])
def test_each_mode_is_keras_applications_own(model, weights, mode):
    """The modes against keras.applications' imagenet_utils.preprocess_input, written independently."""
    expected = keras.applications.imagenet_utils.preprocess_input(PIXELS.copy(), mode=mode)
    got = preprocess_input(PIXELS, model, weights=weights)
    assert got.dtype == np.float32 and got.shape == PIXELS.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)
    one = preprocess_input(PIXELS[0], model, weights=weights)  # one image, (h, w, 3)
    np.testing.assert_allclose(one, expected[0], rtol=1e-6, atol=1e-4)
    tensor = preprocess_input(keras.ops.convert_to_tensor(PIXELS.astype("uint8")), model, weights=weights)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tensor),
                               keras.applications.imagenet_utils.preprocess_input(
                                   PIXELS.astype("uint8").astype("float32"), mode=mode), rtol=1e-6, atol=1e-4)


def test_mode_none_from_a_model_that_carries_it():
    model = colour_model()
    np.testing.assert_array_equal(preprocess_input(PIXELS, model), PIXELS)


def test_every_registered_set_gives_its_eval_transform():
    sets = weights_sets()
    assert len(sets) >= 20
    for name, weights_set in sets:
        spec = input_spec(name, weights_set.name)
        t = weights_set.eval_transform
        assert (spec.preprocessing, spec.size, spec.crop_fraction, spec.interpolation) == (
            t.preprocessing, (t.size, t.size), t.crop_fraction, t.interpolation), (name, weights_set.name)
    assert input_spec("resnet50", "gluon_in1k").interpolation == "bicubic"  # timm's sets resize bicubically


def test_image_files_of_a_bicubic_set_are_resized_bicubically(tmp_path):
    path = image_folder(tmp_path, classes=None, per_class=1, sizes=(240, 300), noise=True)[0]
    t = get_weights_set("resnet50", "gluon_in1k").eval_transform
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"))
    expected = {f: np.asarray(resized_centre(pixels, t.resize, t.size, f)) for f in ("bilinear", "bicubic")}
    assert np.abs(expected["bicubic"] - expected["bilinear"]).max() > 1  # the two filters differ on this image
    got = preprocess_input([path], "resnet50", weights="gluon_in1k")[0]
    from keras_classics.transforms import preprocess

    np.testing.assert_allclose(got, np.asarray(preprocess(expected["bicubic"], t.preprocessing)), atol=1e-4)


def test_image_files_go_through_the_sets_whole_eval_transform(tmp_path):
    """resnet50 "torchvision-v2": shorter side to 232, centre 224, then "torch"; computed here step by step."""
    path = image_folder(tmp_path, classes=None, per_class=1, sizes=(240, 300), noise=True)[0]
    t = get_weights_set("resnet50", "torchvision-v2").eval_transform
    assert (t.resize, t.size) == (232, 224)
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"))
    cropped = np.asarray(resized_centre(pixels, 232, 224))
    expected = (cropped / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    got = preprocess_input([path], "resnet50", weights="torchvision-v2")
    assert got.shape == (1, 224, 224, 3)
    np.testing.assert_allclose(got[0], expected, atol=1e-5)
    np.testing.assert_array_equal(preprocess_input(path, "resnet50", weights="torchvision-v2"), got)


def test_a_built_model_carries_its_sets_preprocessing():
    """A model built with weights= carries the set (here attached as the builders attach it)."""
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax", name="predictions")(x), name="r50")
    attach_metadata(model, "resnet50", get_weights_set("resnet50", "imagenet"), "x.h5")
    np.testing.assert_allclose(preprocess_input(PIXELS, model),
                               keras.applications.imagenet_utils.preprocess_input(PIXELS.copy(), mode="caffe"),
                               atol=1e-4)
    assert input_spec(model).size == (32, 32) and input_spec(model, "imagenet").preprocessing == "caffe"
    with pytest.raises(ValueError, match="built with weights='imagenet'; received weights='torchvision'"):
        preprocess_input(PIXELS, model, weights="torchvision")
    preds = np.zeros((1, 1000), np.float32)
    preds[0, [1, 2]] = [0.3, 0.6]
    assert decode_predictions(preds, top=2, model=model) == [[(2, "great white shark", pytest.approx(0.6)),
                                                                (1, "goldfish", pytest.approx(0.3))]]


def test_a_loaded_export_and_a_model_without_sets(tmp_path):
    save_model(colour_model(), tmp_path / "c.keras")
    loaded = predict.load(tmp_path / "c.keras")
    np.testing.assert_array_equal(preprocess_input(PIXELS, loaded), PIXELS)
    assert decode_predictions(np.array([[0.1, 0.7, 0.2]]), top=1, model=loaded) == [[(1, "green",
                                                                                      pytest.approx(0.7))]]
    # A model without weights sets takes its registry entry's preprocessing (resnet20_cifar: "torch").
    expected = keras.applications.imagenet_utils.preprocess_input(PIXELS.copy(), mode="torch")
    np.testing.assert_allclose(preprocess_input(PIXELS, "resnet20_cifar"), expected, atol=1e-5)


def test_refusals_say_what_was_received_and_what_is_accepted():
    with pytest.raises(ValueError, match=r"'resnet50' takes different preprocessing.*'imagenet': caffe.*"
                                         r"'torchvision': torch.*weights='imagenet'"):
        preprocess_input(PIXELS, "resnet50")
    with pytest.raises(ValueError, match="Unknown weights set 'nope' for 'resnet18'. Sets of 'resnet18': "
                                         ".*'torchvision'"):
        preprocess_input(PIXELS, "resnet18", weights="nope")
    with pytest.raises(ValueError, match="Unknown model name 'resnet51'"):
        preprocess_input(PIXELS, "resnet51", weights="imagenet")
    with pytest.raises(ValueError, match=r"pixel values in \[0, 255\].*from -2.07\d* to .*preprocessed already"):
        preprocess_input(preprocess_input(PIXELS, "resnet18", weights="torchvision"), "resnet18",
                         weights="torchvision")
    with pytest.raises(ValueError, match=r"RGB images .* received shape \(2, 8, 8\)"):
        preprocess_input(PIXELS[..., 0], "resnet18", weights="torchvision")
    bare = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten()], name="bare")
    with pytest.raises(ValueError, match="Model 'bare' carries no preprocessing"):
        preprocess_input(PIXELS, bare)
    with pytest.raises(ValueError, match="`model` must be a registered model name"):
        preprocess_input(PIXELS, 3)


def test_decode_predictions_is_keras_applications_shape():
    rng = np.random.default_rng(3)
    preds = rng.uniform(size=(3, 1000)).astype("float32")
    decoded = decode_predictions(preds, top=4)
    names = imagenet_class_names()
    assert len(decoded) == 3 and all(len(row) == 4 for row in decoded)
    for p, row in zip(preds, decoded):
        order = np.argsort(-p)[:4]
        assert [(i, n, s) for i, n, s in row] == [(int(i), names[i], pytest.approx(float(p[i]))) for i in order]
        assert all(isinstance(i, int) and isinstance(s, float) for i, _, s in row)
    assert decoded[0][0][1] == names[int(np.argmax(preds[0]))]
    # Ties: the lower class index first, as predict lists them.
    tied = np.zeros((1, 1000), np.float32)
    tied[0, [5, 900, 3]] = 0.2
    assert [i for i, _, _ in decode_predictions(tied, top=4)[0]] == [3, 5, 900, 0]
    assert decode_predictions(np.array([[0.2, 0.8]]), top=5, class_names=["cat", "dog"]) == [
        [(1, "dog", pytest.approx(0.8)), (0, "cat", pytest.approx(0.2))]]


def test_decode_predictions_refusals():
    with pytest.raises(ValueError, match="read as ImageNet's 1000 classes; received 10 scores per image"):
        decode_predictions(np.zeros((1, 10)))
    with pytest.raises(ValueError, match=r"a batch of predictions \(images, classes\); received shape \(1000,\)"):
        decode_predictions(np.zeros(1000))
    with pytest.raises(ValueError, match="`top` must be a positive integer. Received: top=0"):
        decode_predictions(np.zeros((1, 1000)), top=0)
    with pytest.raises(ValueError, match="`class_names` names 2 classes; the predictions have 3"):
        decode_predictions(np.zeros((1, 3)), class_names=["a", "b"])
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)], name="plain")
    with pytest.raises(ValueError, match="Model 'plain' carries no class names"):
        decode_predictions(np.zeros((1, 3)), model=plain)
    named = set_model_metadata(keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)], name="named"),
                               make_metadata(["x", "y"], 4, "none"))
    with pytest.raises(ValueError, match="model 'named' names 2 classes; the predictions have 3"):
        decode_predictions(np.zeros((1, 3)), model=named)


def test_image_files_for_a_model_object_use_its_input_size(tmp_path):
    path = image_folder(tmp_path, classes=None, per_class=1, sizes=(20, 30), noise=True)[0]
    model = colour_model(size=16)
    np.testing.assert_array_equal(preprocess_input([path], model)[0], load_image(path, (16, 16), 1.0))


@pytest.mark.slow  # a ResNet-18 at 64x64 trained for an epoch of 256 images
def test_the_readme_fine_tuning_example_runs_as_written(tmp_path, monkeypatch):
    """The README's fine-tuning snippet, as written, on a backbone file saved here from a seeded ResNet-18 (the
    README makes it with `weights convert` from torchvision's download)."""
    import contextlib
    import io
    import re

    from keras_classics import resnet18
    from tests.helpers import ROOT

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    resnet18(include_top=False, pooling="avg", input_shape=(64, 64, 3)).save_weights("resnet18_backbone.weights.h5")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (snippet,) = [b for b in re.findall(r"^```python\n(.*?)^```", readme, re.S | re.M) if "resnet18_backbone" in b]
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(snippet, "README.md", "exec"), namespace)
    assert namespace["model"].history.history["loss"][0] > 0
    x = namespace["x"]
    np.testing.assert_allclose(x, keras.applications.imagenet_utils.preprocess_input(
        namespace["images"].astype("float32"), mode="torch"), atol=1e-4)
    # decode_predictions printed two images' three best shape classes, as (class_id, name, score) tuples.
    assert re.search(r"\[\[\(\d, '\w+', [\d.e-]+\), \(\d, '\w+', [\d.e-]+\), \(\d, '\w+', [\d.e-]+\)\], \[\(",
                     out.getvalue())


def test_the_readme_imagenet_in_three_lines_runs_offline(tmp_path, monkeypatch):
    """The README's "ImageNet in three lines", as written, offline, from a huggingface_hub cache built here
    (seeded weights in timm's layout: their logits are torchvision's, tests/weights/test_hub.py)."""
    import contextlib
    import io
    import re

    from PIL import Image

    from tests.helpers import ROOT, golden_hub_repo

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## ImageNet in three lines", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_CLASSICS_OFFLINE", "1")
    golden_hub_repo(tmp_path / "hf", "resnet50/torchvision", "timm/resnet50.tv_in1k")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save("cat.jpg")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        namespace = {}
        exec(compile(snippet, "README.md", "exec"), namespace)
    printed = out.getvalue().strip().splitlines()[-1]
    (top3,) = decode_predictions(namespace["model"].predict(namespace["x"], verbose=0), top=3)
    assert printed == str(top3)
    assert len(top3) == 3 and all(isinstance(name, str) and name for _, name, _ in top3)
    assert top3[0][2] >= top3[1][2] >= top3[2][2]
    assert namespace["x"].shape == (1, 224, 224, 3)
