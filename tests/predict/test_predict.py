"""keras_classics.predict: image checks, resize/crop, loading every format, the predict command."""

import io
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from keras_classics import images, metadata, predict, runs
from keras_classics.cli import main
from tests.helpers import image_folder

# Module fixtures are expensive: one pytest-xdist worker runs this file.
pytestmark = pytest.mark.xdist_group("predict")


def _png(path, array):
    Image.fromarray(np.asarray(array, np.uint8)).save(path, format="PNG")
    return str(path)


def _pattern(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)


# --------------------------------------------------------------------------- images


def test_read_image_file_accepts_every_format(tmp_path):
    array = _pattern(20, 30)
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("GIF", "gif"), ("WEBP", "webp")):
        path = tmp_path / f"a.{ext}"
        Image.fromarray(array).save(path, format=fmt)
        data = images.read_image_file(path)
        assert data == path.read_bytes()
        image = images.load_image(path, (20, 30))
        assert image.shape == (20, 30, 3) and image.dtype == np.float32
        assert 0 <= image.min() and image.max() <= 255


def test_read_image_file_refuses_bad_files(tmp_path):
    good = io.BytesIO()
    Image.fromarray(_pattern(64, 64)).save(good, format="PNG")
    (tmp_path / "truncated.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    jpeg = io.BytesIO()
    Image.fromarray(_pattern(64, 64)).save(jpeg, format="JPEG")
    (tmp_path / "truncated.jpg").write_bytes(jpeg.getvalue()[:200])
    (tmp_path / "notes.png").write_text("this is not an image\n")
    (tmp_path / "empty.jpg").write_bytes(b"")
    Image.fromarray(_pattern(8, 8)).save(tmp_path / "a.ppm", format="PPM")

    refusals = [
        ("truncated.png", ValueError, "truncated"),
        ("truncated.jpg", ValueError, "corrupt or truncated"),
        ("notes.png", ValueError, "not an image"),
        ("empty.jpg", ValueError, "empty"),
        ("a.ppm", ValueError, "PPM file. Accepted formats: JPEG, MPO, PNG"),
        ("missing.png", FileNotFoundError, "missing.png"),
    ]
    for name, error, match in refusals:
        with pytest.raises(error, match=match):
            images.read_image_file(tmp_path / name)
    with pytest.raises(IsADirectoryError):
        images.read_image_file(tmp_path)


def test_enormous_image_refused_from_its_header(tmp_path):
    # 8000 x 5001 one-bit pixels: a small file over the 40-megapixel limit.
    path = tmp_path / "huge.png"
    Image.new("1", (8000, 5001)).save(path, format="PNG")
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ValueError, match=r"8000x5001 = 40,008,000 pixels, above the limit of 40,000,000"):
        images.read_image_file(path)
    # The limit is a parameter.
    small = _png(tmp_path / "small.png", _pattern(10, 10))
    with pytest.raises(ValueError, match="above the limit of 99 pixels"):
        images.read_image_file(small, max_pixels=99)


def test_resize_and_crop():
    import tensorflow as tf

    image = _pattern(40, 60).astype(np.float32)
    # A square image already the target size: unchanged.
    square = _pattern(32, 32).astype(np.float32)
    np.testing.assert_array_equal(images.resize_and_crop(tf.constant(square), 32, 32).numpy(), square)
    # Shorter side resized to the target, the centre kept: a 40x60 image to 20x20 is
    # a 20x30 resize then columns 5..24.
    out = images.resize_and_crop(tf.constant(image), 20, 20).numpy()
    resized = tf.image.resize(image, (20, 30), antialias=True).numpy()
    np.testing.assert_allclose(out, resized[:, 5:25], atol=1e-4)
    # crop_fraction 0.5: shorter side to 40 (no resize here), centre 20x20 kept.
    half = images.resize_and_crop(tf.constant(image), 20, 20, crop_fraction=0.5).numpy()
    np.testing.assert_array_equal(half, image[10:30, 20:40])
    # A non-square target: the shorter side goes to max(height, width) / crop_fraction = 60.
    wide = images.resize_and_crop(tf.constant(image), 40, 60).numpy()
    np.testing.assert_allclose(wide, tf.image.resize(image, (60, 90)).numpy()[10:50, 15:75], atol=1e-4)
    # Upscaling a small image.
    assert images.resize_and_crop(tf.constant(_pattern(5, 7)), 32, 32).shape == (32, 32, 3)


@pytest.mark.parametrize("policy", ["resnet", "cifar"])
def test_one_image_path_training_validation_predict_and_inspector(tmp_path, policy):
    """A folder's validation images through the training pipeline equal predict's and the inspector's."""
    from keras_classics import inspect
    from keras_classics.data import get_source, make_pipeline
    from keras_classics.transforms import eval_crop_fraction

    size = 32
    # Two classes of random images in six formats and sizes (TIFF decodes with Pillow, the others with TensorFlow).
    files = image_folder(tmp_path / "val", ["a", "b"], 3, noise=True,
                         sizes=[(50, 70), (33, 21), (40, 90), (64, 64), (20, 20), (90, 45)],
                         formats=("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP"))
    source = get_source(f"folder:{tmp_path / 'val'}", val=f"folder:{tmp_path / 'val'}", verbose=False)
    pipeline = make_pipeline(source.validation, policy=policy, image_size=size, batch_size=1, training=False,
                             preprocessing="none", repeat=False)
    from_training = [np.asarray(x[0]) for x, _ in pipeline]
    crop = eval_crop_fraction(policy, size)  # the run's crop fraction, as predict and export read it
    assert len(from_training) == len(files)
    for path, expected in zip(files, from_training):
        np.testing.assert_allclose(images.load_image(path, (size, size), crop), expected, atol=1e-4, err_msg=path)
        np.testing.assert_allclose(images.load_image_bytes(open(path, "rb").read(), (size, size), crop), expected,
                                   atol=1e-4, err_msg=path)
        np.testing.assert_allclose(inspect.load_image(path, (size, size), crop), expected, atol=1e-4, err_msg=path)


def test_one_list_of_image_suffixes():
    from keras_classics.data import IMAGE_EXTENSIONS, sources

    assert IMAGE_EXTENSIONS is images.IMAGE_SUFFIXES and sources.IMAGE_EXTENSIONS is images.IMAGE_SUFFIXES


def test_list_images(tmp_path):
    (tmp_path / "b").mkdir()
    _png(tmp_path / "b" / "2.png", _pattern(4, 4))
    _png(tmp_path / "1.png", _pattern(4, 4))
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    assert [os.path.relpath(p, tmp_path) for p in images.list_images(tmp_path)] == ["1.png", os.path.join("b", "2.png")]
    with pytest.raises(NotADirectoryError):
        images.list_images(tmp_path / "1.png")


# --------------------------------------------------------------------------- loading formats


@pytest.fixture(scope="module")
def toy_exports(tmp_path_factory):
    """A small hand-built classifier with logits output, exported to every format once."""
    from keras_classics import export

    keras.utils.set_random_seed(1)
    root = tmp_path_factory.mktemp("toy")
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, name="predictions")(x)  # logits: export appends the softmax
    model = keras.Model(inputs, outputs, name="toy")
    keras_path = root / "toy.keras"
    model.save(keras_path)
    names = ["red", "green", "blue"]
    source = export.prepare(keras_path, class_names=names)
    common = dict(parity_data="noise", parity_samples=8, verbose=False)
    paths = {
        "keras": str(keras_path),
        "savedmodel": str(root / "sm"),
        "tflite": str(root / "toy.tflite"),
        "tflite_dir": str(root / "toy_tflite"),
    }
    export.to_saved_model(source, paths["savedmodel"], **common)
    export.to_tflite(source, paths["tflite"], **common)
    export.to_tflite(source, paths["tflite_dir"], **common)
    image = _png(root / "img.png", _pattern(24, 20, seed=3))
    return paths, image, model


def test_load_every_format_gives_the_same_probabilities(toy_exports):
    paths, image, model = toy_exports
    results = {}
    for fmt, path in paths.items():
        if fmt == "keras":
            with pytest.warns(UserWarning, match="assuming preprocessing 'none'"):
                loaded = predict.load(path)  # no run config, not a registry name
            assert loaded.class_names == ["0", "1", "2"]
        else:
            loaded = predict.load(path)
            assert loaded.class_names == ["red", "green", "blue"]
            assert loaded.card["source"]["path"] == os.path.abspath(paths["keras"])
        assert loaded.format == fmt.split("_")[0]
        assert loaded.input_size == (16, 16)
        results[fmt] = loaded.classify([image], top=3)[0]["predictions"]
        probs = [p["probability"] for p in results[fmt]]
        assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-5
    pixels = images.load_image(image, (16, 16))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(pixels[None])))[0]
    for fmt, preds in results.items():
        got = np.array([p["probability"] for p in sorted(preds, key=lambda p: p["index"])])
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=fmt)


def test_predict_command(toy_exports, tmp_path, capsys):
    paths, image, _ = toy_exports
    assert main(["predict", paths["tflite"], image, image, "--top", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in out] == [image, image]
    assert len(out[0]["predictions"]) == 2 and out[0]["predictions"][0]["class"] in ("red", "green", "blue")
    assert main(["predict", paths["savedmodel"], image]) == 0
    text = capsys.readouterr().out
    assert text.startswith(image) and "1. " in text and "%" in text

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    assert main(["predict", paths["savedmodel"], image, str(bad)]) == 2  # the good image is classified all the same
    captured = capsys.readouterr()
    assert captured.out.startswith(image) and "bad.jpg" not in captured.out and "bad.jpg" in captured.err
    assert main(["predict", paths["savedmodel"], image, "--top", "0"]) == 2
    assert main(["predict", str(tmp_path / "nothing"), image]) == 2
    assert "Model not found" in capsys.readouterr().err


def test_load_refuses_what_is_not_a_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a SavedModel"):
        predict.load(tmp_path / "empty")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="not a valid TFLite model"):
        predict.load(tmp_path / "junk.tflite")
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="could not be loaded as a Keras model: it is not a .keras file. A .keras file is a zip archive"):
        predict.load(tmp_path / "junk.keras")
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="Cannot tell the format"):
        predict.load(tmp_path / "model.onnx")


# --------------------------------------------------------------------------- model files: metadata and run directories


def _aux_model(name="tiny_aux"):
    """A small classifier with an auxiliary head (strip_aux removes it)."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(keras.layers.Rescaling(1 / 255.0)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(x)
    main = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    aux = keras.layers.Dense(3, activation="softmax", name="aux")(x)
    return keras.Model(inputs, {"predictions": main, "aux": aux}, name=name)


def test_metadata_travels_with_the_keras_file(tmp_path):
    """Class names and the 0.875 crop survive strip_aux and a save: "star", not "2"."""
    from keras_classics import strip_aux

    names = ["circle", "square", "star"]
    model = _aux_model()
    meta = metadata.make_metadata(names, 16, "none", policy="resnet", registry_name=None)
    assert meta["crop_fraction"] == pytest.approx(16 / 18) and meta["eval_resize"] == 18
    assert meta["keras_backend"] == keras.backend.backend()
    metadata.set_model_metadata(model, meta)
    metadata.save_model(model, tmp_path / "with_aux.keras")
    assert sorted(os.listdir(tmp_path)) == ["with_aux.keras"]  # no temporary file left
    assert metadata.read_keras_metadata(tmp_path / "with_aux.keras") == meta
    keras.saving.load_model(tmp_path / "with_aux.keras")  # Keras's own loader ignores the extra entry

    loaded = predict.load_keras_model(tmp_path / "with_aux.keras")
    stripped = strip_aux(loaded)
    assert len(stripped.outputs) == 1 and metadata.model_metadata(stripped) == meta
    metadata.save_model(stripped, tmp_path / "stripped.keras")
    ready = predict.load(tmp_path / "stripped.keras")
    assert ready.class_names == names and ready.crop_fraction == pytest.approx(16 / 18)
    assert ready.preprocessing == "none"
    image = _png(tmp_path / "star.png", _pattern(30, 20))
    assert ready.classify([image], top=1)[0]["predictions"][0]["class"] in names

    # Keras's save alone keeps no metadata: the names fall back to "0".."2".
    stripped.save(tmp_path / "plain.keras")
    with pytest.warns(UserWarning, match="assuming preprocessing 'none'"):
        assert predict.load(tmp_path / "plain.keras").class_names == ["0", "1", "2"]
    with pytest.raises(ValueError, match="must end in .keras"):
        metadata.save_model(stripped, tmp_path / "model.h5")


def test_a_run_directory_means_its_best_keras_everywhere(tmp_path, capsys):
    from keras_classics.training.warmstart import resolve_model_path

    run = tmp_path / "run"
    run.mkdir()
    for file, names in (("final.keras", ["f0", "f1", "f2"]), ("best.keras", ["b0", "b1", "b2"])):
        model = _aux_model()
        metadata.set_model_metadata(model, metadata.make_metadata(names, 16, "none"))
        metadata.save_model(model, run / file)
    best = str(run / "best.keras")
    assert runs.resolve_model_file(run) == best and resolve_model_path(run) == best
    assert predict.load(run).class_names == ["b0", "b1", "b2"]
    assert main(["predict", str(run), _png(tmp_path / "a.png", _pattern(20, 20)), "--top", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] in ("b0", "b1", "b2")
    assert main(["summary", str(run)]) == 0
    assert "predictions" in capsys.readouterr().out
    os.remove(best)
    assert runs.resolve_model_file(run) == str(run / "final.keras")
    os.remove(run / "final.keras")
    with pytest.raises(ValueError, match="without best.keras or final.keras"):
        runs.resolve_model_file(run)
    with pytest.raises(ValueError, match="--init-from: .* without best.keras or final.keras"):
        resolve_model_path(run)


# --------------------------------------------------------------------------- the resize filter of the metadata


def _bicubic_model(path, size=8):
    """A tiny classifier whose metadata says bicubic (as a timm weights set's does), saved at ``path``."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Flatten()(inputs)  # every pixel counts: the two resizes give different outputs
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x), name="bicubic")
    meta = metadata.make_metadata(["a", "b", "c"], size, "tf", crop_fraction=0.875, interpolation="bicubic")
    metadata.set_model_metadata(model, meta)
    metadata.save_model(model, path)
    return model


def _expected_probabilities(model, image_path, size, interpolation):
    """The model on the image through transforms.eval_crop with ``interpolation`` and preprocessing, directly."""
    import tensorflow as tf

    from keras_classics.transforms import eval_crop, preprocess

    pixels = np.asarray(Image.open(image_path).convert("RGB"))
    crop = eval_crop(tf.constant(pixels), (size, size), 0.875, interpolation).numpy()
    return keras.ops.convert_to_numpy(model(preprocess(crop[None], "tf")))[0], crop


def test_a_bicubic_model_is_predicted_with_bicubic(tmp_path):
    """A model whose metadata says bicubic is read with bicubic resizing by predict and run_metadata."""
    model = _bicubic_model(tmp_path / "bicubic.keras")
    image = _png(tmp_path / "photo.png", _pattern(23, 17, seed=5))
    bicubic, crop = _expected_probabilities(model, image, 8, "bicubic")
    bilinear, bilinear_crop = _expected_probabilities(model, image, 8, "bilinear")
    assert np.abs(crop - bilinear_crop).max() > 1  # the two resizes differ on this image
    assert np.abs(bicubic - bilinear).max() > 1e-3  # and so do the model's outputs

    np.testing.assert_allclose(images.load_image(image, (8, 8), 0.875, interpolation="bicubic"), crop, atol=1e-4)
    with pytest.raises(ValueError, match="Unknown interpolation 'nearest'"):
        images.load_image(image, (8, 8), interpolation="nearest")

    assert predict.run_metadata(tmp_path / "bicubic.keras", "bicubic", 3)["interpolation"] == "bicubic"
    loaded = predict.load(tmp_path / "bicubic.keras")
    assert loaded.interpolation == "bicubic" and loaded.card["input"]["interpolation"] == "bicubic"
    got = loaded.classify([image], top=3)[0]["predictions"]
    probs = np.array([p["probability"] for p in sorted(got, key=lambda p: p["index"])])
    np.testing.assert_allclose(probs, bicubic, atol=1e-5)
