"""keras_classics.export: every format against the Keras model, the model card, bad input.

The quantized formats are checked on a briefly trained ResNet-18 (a run
directory with config.json and metrics.json, as the training engine writes):
top-1 agreement only means something for a model whose predictions do. Its
task is one that ResNet-18 learns in 40 steps on two CPU cores: the shapes
dataset's images labelled by their dominant colour (red, green, blue; about
85% validation accuracy). Reaching that on the ten shape classes takes the
quickstart recipe's minutes, too long for a unit test.
"""

import json
import os
import warnings

import keras
import numpy as np
import pytest

from keras_classics import create_model, export, predict
from keras_classics.cli import main
from keras_classics.transforms import preprocess
from keras_classics.data.shapes import SHAPE_CLASSES, generate_shapes
from keras_classics.images import load_image
from keras_classics.metadata import save_model
from tests.helpers import ROOT

SIZE = 32
COLOURS = ["red", "green", "blue"]
FAST = dict(parity_samples=24, verbose=False)


def QUICK(test):
    """The tests that read the quickstart model's exports: one fixture (a training run and six exports, about a
    minute of CPU) on one pytest-xdist worker; slow."""
    return pytest.mark.slow(pytest.mark.xdist_group("export_quick")(test))


def _listing(directory):
    return sorted(os.listdir(directory))


def _dominant_colour(images):
    return images.reshape(len(images), -1, 3).mean(axis=1).argmax(axis=-1)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """A run directory with a ResNet-18 trained briefly (40 steps) at 32x32."""
    keras.utils.set_random_seed(0)
    run_dir = tmp_path_factory.mktemp("runs") / "quickstart"
    run_dir.mkdir()
    images, _ = generate_shapes(640, image_size=SIZE, seed=0)
    labels = _dominant_colour(images)
    model = create_model("resnet18", classes=3, input_shape=(SIZE, SIZE, 3))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(preprocess(images.astype("float32"), "caffe"), labels, epochs=2, batch_size=32, verbose=0)
    model.save(run_dir / "best.keras")
    config = {
        "name": "quickstart", "model": "resnet18",
        "model_kwargs": {"classes": 3, "input_shape": [SIZE, SIZE, 3]},
        "dataset": "shapes", "dataset_options": {"num_train": 640, "num_val": 100}, "image_size": SIZE,
        "policy": "cifar", "preprocessing": "caffe", "class_names": COLOURS, "num_classes": 3,
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "metrics.json").write_text(json.dumps({"top1": float(history.history["accuracy"][-1]), "loss": 1.0}))
    return run_dir


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run directory with a small hand-built classifier: for behaviour that does not depend on the model."""
    keras.utils.set_random_seed(0)
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    run_dir.mkdir()
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x), name="tiny")
    model.save(run_dir / "best.keras")
    (run_dir / "config.json").write_text(json.dumps({"model": "tiny", "preprocessing": "none",
                                                     "class_names": COLOURS, "image_size": 16}))
    return run_dir


@pytest.fixture(scope="module")
def quick_source(quick_run):
    return export.prepare(quick_run / "best.keras")


@pytest.fixture(scope="module")
def quick_exports(quick_run, quick_source, tmp_path_factory):
    """The quickstart model in every format, exported once for the tests that read them."""
    out = tmp_path_factory.mktemp("exports")
    paths, cards = {}, {}
    paths["savedmodel"] = str(out / "savedmodel")
    cards["savedmodel"] = export.to_saved_model(quick_source, paths["savedmodel"], **FAST)
    for quantize in export.QUANTIZATIONS:
        paths[quantize] = str(out / f"quick_{quantize}.tflite")
        cards[quantize] = export.to_tflite(
            quick_source, paths[quantize], quantize=quantize, representative="shapes", representative_samples=32,
            **FAST,
        )
    paths["int8_io"] = str(out / "quick_int8_io")  # a TFLite export directory
    cards["int8_io"] = export.to_tflite(quick_source, paths["int8_io"], quantize="int8", int8_io=True,
                                        representative="shapes", representative_samples=32, **FAST)
    return paths, cards


# --------------------------------------------------------------------------- the quickstart model, every format


@QUICK
def test_every_format_within_its_tolerance(quick_exports):
    _, cards = quick_exports
    for name, card in cards.items():
        parity = card["parity"]
        assert parity["passed"], (name, parity)
        # Parity images: the representative source's held-out part, else the run's own validation images.
        expected = "shapes validation split (the run's data" if name == "savedmodel" else "shapes (validation split"
        assert parity["images"] == 24 and parity["image_source"].startswith(expected), (name, parity["image_source"])
    assert cards["savedmodel"]["parity"]["max_abs_diff"] <= 1e-4
    assert cards["none"]["parity"]["max_abs_diff"] <= 1e-4
    assert cards["float16"]["parity"]["top1_agreement"] >= 0.99
    for name in ("dynamic", "int8", "int8_io"):
        assert cards[name]["parity"]["top1_agreement"] >= 0.95, name
    # Quantized files are smaller: float16 about half, int8 about a quarter of float32.
    assert cards["float16"]["size_bytes"] < 0.6 * cards["none"]["size_bytes"]
    assert cards["int8"]["size_bytes"] < 0.35 * cards["none"]["size_bytes"]


@QUICK
def test_model_card(quick_run, quick_exports):
    paths, cards = quick_exports
    card = json.loads(open(os.path.join(paths["int8_io"], "model_card.json")).read())
    assert card == json.loads(json.dumps(cards["int8_io"]))
    assert card["format"] == "tflite" and card["quantization"] == "int8"
    assert card["model"]["name"] == "resnet18" and card["model"]["registry_name"] == "resnet18"
    assert card["model"]["variant"] == {"classes": 3, "input_shape": [SIZE, SIZE, 3]}
    assert card["input"]["shape"] == [SIZE, SIZE, 3] and card["input"]["preprocessing"] == "caffe"
    assert card["input"]["preprocessing_source"] == "run config" and card["input"]["crop_fraction"] == 1.0
    assert card["input"]["dtype"] == "int8" and set(card["input"]["quantization"]) == {"scale", "zero_point"}
    assert card["class_names"] == COLOURS
    assert card["source"]["run_dir"] == str(quick_run) and card["source"]["metrics"]["loss"] == 1.0
    assert card["source"]["run_config"]["dataset"] == "shapes"
    assert card["representative_data"]["source"] == "shapes (train split, seed 0)"
    assert card["parity"]["image_source"] == "shapes (validation split, seed 0)"
    calibration, parity = _assert_disjoint(card)
    assert calibration == [f"shapes train seed 0 #{i}" for i in range(32)] and len(parity) == FAST["parity_samples"]
    assert card["size_bytes"] == os.path.getsize(os.path.join(paths["int8_io"], "model.tflite"))
    # A .tflite file's card sits beside it.
    beside = paths["float16"][: -len(".tflite")] + ".card.json"
    assert json.loads(open(beside).read())["quantization"] == "float16"
    sm = json.loads(open(os.path.join(paths["savedmodel"], "model_card.json")).read())
    assert set(sm["signatures"]) == {"serving_default", "serving_bytes"}
    assert sm["parity"]["bytes_signature_max_abs_diff"] <= 1e-5


@QUICK
def test_tflite_input_and_output_types(quick_exports):
    paths, _ = quick_exports
    Interpreter = predict.interpreter_class()
    assert Interpreter.__module__.startswith("ai_edge_litert")
    expected = {"none": np.float32, "float16": np.float32, "dynamic": np.float32, "int8": np.float32}
    for quantize, dtype in expected.items():
        interpreter = Interpreter(model_path=paths[quantize])
        assert interpreter.get_input_details()[0]["dtype"] == dtype
        assert interpreter.get_output_details()[0]["dtype"] == dtype
    interpreter = Interpreter(model_path=os.path.join(paths["int8_io"], "model.tflite"))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    # Full-integer: no float tensors inside the int8 graph besides the edges' (de)quantize.
    interpreter.allocate_tensors()
    kinds = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in kinds and np.float32 not in kinds


@QUICK
def test_savedmodel_signatures_and_bytes(quick_exports, tmp_path):
    import tensorflow as tf
    from PIL import Image

    paths, _ = quick_exports
    loaded = tf.saved_model.load(paths["savedmodel"])
    assert set(loaded.signatures) == {"serving_default", "serving_bytes"}
    default = loaded.signatures["serving_default"]
    assert default.structured_input_signature[1]["images"].shape.as_list() == [None, SIZE, SIZE, 3]
    assert set(default.structured_outputs) == {"probabilities"}

    images, _ = generate_shapes(3, image_size=SIZE, seed=5, split="validation")
    png = [tf.io.encode_png(im).numpy() for im in images]
    # A larger, non-square JPEG goes through decode, resize and centre crop in the graph.
    big = tmp_path / "big.jpg"
    Image.fromarray(np.kron(images[0], np.ones((3, 4, 1), np.uint8))).save(big, quality=95)
    files = png + [big.read_bytes()]
    out = loaded.signatures["serving_bytes"](image_bytes=tf.constant(files))
    assert out["probabilities"].shape == (4, 3)

    pixels = np.concatenate([images.astype(np.float32), load_image(big, (SIZE, SIZE))[None]])
    floats = default(images=tf.constant(preprocess(pixels, "caffe"), tf.float32))["probabilities"].numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), floats, atol=1e-6)
    top = floats.argmax(-1)
    np.testing.assert_array_equal(out["top_class"].numpy(), top)
    assert [n.decode() for n in out["top_class_name"].numpy()] == [COLOURS[i] for i in top]

    # The pixel limit holds in the graph too.
    huge = tmp_path / "huge.png"
    Image.new("1", (8000, 5001)).save(huge)
    with pytest.raises(tf.errors.InvalidArgumentError, match="larger than 40,000,000 pixels"):
        loaded.signatures["serving_bytes"](image_bytes=tf.constant([huge.read_bytes()]))


@QUICK
def test_predict_reads_every_format(quick_run, quick_exports, tmp_path, capsys):
    from PIL import Image

    paths, _ = quick_exports
    images, labels = generate_shapes(6, image_size=SIZE, seed=7, split="validation")
    files = []
    for i, image in enumerate(images):
        files.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(files[-1])
    reference = predict.load(quick_run / "best.keras")
    assert reference.class_names == COLOURS and reference.preprocessing == "caffe"
    expected = [r["predictions"][0]["class"] for r in reference.classify(files, top=1)]
    for name in ("savedmodel", "none", "float16", "dynamic", "int8", "int8_io"):
        assert main(["predict", paths[name], *files, "--top", "3", "--json"]) == 0, name
        results = json.loads(capsys.readouterr().out)
        assert [len(r["predictions"]) for r in results] == [3] * 6
        top1 = [r["predictions"][0]["class"] for r in results]
        agreement = np.mean([a == b for a, b in zip(top1, expected)])
        assert agreement >= (1.0 if name in ("savedmodel", "none") else 5 / 6), (name, top1, expected)


# --------------------------------------------------------------------------- one model per family


# ResNet is covered by the quickstart model above in every format. GoogLeNet (LRN, concatenation) and
# AlexNet (grouped convolutions, LRN) go through every format; the other families add no operator
# type to the quantized graphs, so they check SavedModel and TFLite float32.
ALL = ("none", "float16", "dynamic", "int8")
FAMILIES = [
    pytest.param("googlenet", {}, 32, ALL, id="googlenet", marks=pytest.mark.slow),
    pytest.param("alexnet", {"groups": 2}, 67, ALL, id="alexnet-groups", marks=pytest.mark.slow),
    pytest.param("inception_v2", {}, 32, ("none",), id="inception_v2", marks=pytest.mark.slow),
    pytest.param("inception_v3", {}, 75, ("none",), id="inception_v3", marks=pytest.mark.slow),
    pytest.param("vgg11", {}, 32, ("none",), id="vgg", marks=pytest.mark.slow),
    pytest.param("zfnet", {}, 53, ("none",), id="zfnet", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,kwargs,size,modes", FAMILIES)
def test_family_round_trip(name, kwargs, size, modes, tmp_path):
    """An untrained small model of each family: SavedModel and TFLite.

    SavedModel, TFLite float32, float16 and dynamic within their tolerances;
    full-integer int8 converts and runs (its agreement is checked on the
    trained model above: on an untrained one it means little).
    """
    keras.utils.set_random_seed(0)
    model = create_model(name, classes=4, input_shape=(size, size, 3), **kwargs)
    source = export.prepare(model)
    cards = {"savedmodel": export.to_saved_model(source, tmp_path / "sm", **FAST)}
    for quantize in set(modes) - {"int8"}:
        cards[quantize] = export.to_tflite(source, tmp_path / f"{quantize}.tflite", quantize=quantize, **FAST)
    for key, card in cards.items():
        assert card["parity"]["passed"], (name, key, card["parity"])
        assert card["model"]["registry_name"] == name and card["input"]["preprocessing"] == _preprocessing(name)
    images, _ = export.image_samples("shapes", (size, size), 4, purpose="parity")
    if "int8" in modes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            card = export.to_tflite(source, tmp_path / "int8.tflite", quantize="int8", representative="shapes",
                                    representative_samples=8, allow_parity_failure=True, **FAST)
        # An untrained model: images whose two best classes are within one int8 step are ties, left out.
        agreement, ties = card["parity"]["top1_agreement"], card["parity"]["top1_ties"]
        assert (agreement is None and ties == 24) or (0 <= agreement <= 1 and ties < 24)
        assert card["size_bytes"] < 0.35 * cards["none"]["size_bytes"]
        assert predict.load(tmp_path / "int8.tflite").predict(images).shape == (4, 4)
    # The exported files predict what the Keras model predicts.
    expected = keras.ops.convert_to_numpy(model(preprocess(images, _preprocessing(name)), training=False))
    for path in (tmp_path / "sm", tmp_path / "none.tflite"):
        np.testing.assert_allclose(predict.load(path).predict(images), expected, atol=1e-4)


def _preprocessing(name):
    from keras_classics import model_info

    return model_info(name).preprocessing


# --------------------------------------------------------------------------- aux heads and mixed precision


@pytest.mark.slow  # GoogLeNet at 65 pixels to SavedModel and TFLite
def test_aux_heads_absent_from_exports(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = create_model("googlenet", classes=3, input_shape=(65, 65, 3), aux_logits=True)  # aux heads need 65
    assert len(model.outputs) == 3
    path = tmp_path / "googlenet_aux.keras"
    model.save(path)
    main_model = export.load_for_export(path)
    assert len(main_model.outputs) == 1 and main_model.outputs[0].shape == (None, 3)
    assert not any(layer.name.startswith("aux") for layer in main_model.layers)

    source = export.prepare(path)
    card = export.to_saved_model(source, tmp_path / "sm", **FAST)
    assert sorted(card["source"]["aux_outputs_removed"]) == ["aux_1", "aux_2"]
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    assert list(loaded.signatures["serving_default"].structured_outputs) == ["probabilities"]
    # The SavedModel stores the main model's weights, once, and nothing of the aux heads.
    reader = tf.train.load_checkpoint(str(tmp_path / "sm" / "variables" / "variables"))
    stored = sum(int(np.prod(shape)) for key, shape in reader.get_variable_to_shape_map().items()
                 if key.endswith("VARIABLE_VALUE"))
    assert stored == main_model.count_params() < model.count_params()
    export.to_tflite(source, tmp_path / "m.tflite", **FAST)
    interpreter = predict.interpreter_class()(model_path=str(tmp_path / "m.tflite"))
    assert [d["shape"].tolist() for d in interpreter.get_output_details()] == [[1, 3]]


@pytest.mark.slow  # a training step, then TFLite and SavedModel
def test_mixed_precision_model_is_rebuilt_in_float32(tmp_path):
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("mixed_float16")
    model = create_model("resnet18", classes=10, input_shape=(SIZE, SIZE, 3))
    keras.config.set_dtype_policy("float32")
    assert model.get_layer("conv1_conv").dtype_policy.name == "mixed_float16"
    images, labels = generate_shapes(32, image_size=SIZE, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")  # a LossScaleOptimizer
    model.fit(preprocess(images.astype("float32"), "caffe"), labels, epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "mixed.keras"
    model.save(path)

    source = export.prepare(path)  # what load_for_export returns is source.model
    rebuilt = source.model
    assert {layer.dtype_policy.name for layer in rebuilt.layers} == {"float32"}
    for a, b in zip(model.weights, rebuilt.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))

    card = export.to_tflite(source, tmp_path / "m.tflite", **FAST)
    assert card["source"]["dtype_policy"] == "mixed_float16" and card["source"]["rebuilt_in_float32"]
    assert card["parity"]["passed"] and card["parity"]["max_abs_diff"] <= 1e-4
    # How far the float32 export is from the model as trained (computing in float16).
    drift = card["drift_from_trained_model"]
    assert drift["images"] == 24 and 0 < drift["max_abs_diff"] < 0.05 and drift["top1_agreement"] >= 0.9
    card = export.to_saved_model(source, tmp_path / "sm", **FAST)
    assert card["parity"]["passed"] and card["source"]["dtype_policy"] == "mixed_float16"


# --------------------------------------------------------------------------- writing safely, bad input


def test_overwrite_refused_and_failed_export_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    source = export.prepare(tiny_run / "best.keras")
    target = tmp_path / "m.tflite"
    export.to_tflite(source, target, **FAST)
    before = target.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        export.to_tflite(source, target, quantize="float16", **FAST)
    assert target.read_bytes() == before
    assert main(["export", str(source.path), "--format", "tflite", "-o", str(target), "-q"]) == 2

    # A parity failure (an impossible tolerance) writes nothing and keeps the old file.
    monkeypatch.setitem(export.TOLERANCES, "float16", {"top1_agreement": 1.01})
    with pytest.raises(export.ParityError, match=r"top-1 agreement 100.0% < 101%.*Nothing was written"):
        export.to_tflite(source, target, quantize="float16", overwrite=True, **FAST)
    assert target.read_bytes() == before
    assert _listing(tmp_path) == ["m.card.json", "m.tflite"]  # no temporary left behind
    with pytest.raises(export.ParityError):
        export.to_tflite(source, tmp_path / "new_dir", quantize="float16", **FAST)
    assert _listing(tmp_path) == ["m.card.json", "m.tflite"]

    # Overridden: written, with a warning naming the figure, and the card says so.
    with pytest.warns(UserWarning, match=r"top-1 agreement 100.0% < 101%"):
        card = export.to_tflite(source, target, quantize="float16", overwrite=True,
                                allow_parity_failure=True, **FAST)
    assert card["parity"]["passed"] is False and target.read_bytes() != before
    assert json.loads((tmp_path / "m.card.json").read_text())["quantization"] == "float16"


def test_savedmodel_overwrite(tiny_run, tmp_path):
    source = export.prepare(tiny_run / "best.keras")
    target = tmp_path / "sm"
    export.to_saved_model(source, target, **FAST)
    stamp = (target / "model_card.json").read_text()
    with pytest.raises(FileExistsError):
        export.to_saved_model(source, target, **FAST)
    assert (target / "model_card.json").read_text() == stamp
    card = export.to_saved_model(source, target, overwrite=True, **FAST)
    assert (target / "saved_model.pb").is_file() and _listing(tmp_path) == ["sm"]
    assert json.loads((target / "model_card.json").read_text())["created"] == card["created"]


def test_bad_arguments_fail_before_writing(tiny_run, tmp_path):
    model = tiny_run / "best.keras"
    with pytest.raises(ValueError, match="needs representative data"):
        export.to_tflite(model, tmp_path / "a.tflite", quantize="int8")
    with pytest.raises(ValueError, match="int8 input/output needs quantize='int8'"):
        export.to_tflite(model, tmp_path / "a.tflite", quantize="dynamic", int8_io=True)
    with pytest.raises(ValueError, match="Unknown quantization 'int4'"):
        export.to_tflite(model, tmp_path / "a.tflite", quantize="int4")
    with pytest.raises(ValueError, match="Unknown export format"):
        export.export(model, tmp_path / "a", format="onnx")
    with pytest.raises(FileNotFoundError, match="Image source"):
        export.to_tflite(model, tmp_path / "a.tflite", quantize="int8", representative=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No image files"):
        export.to_tflite(model, tmp_path / "a.tflite", quantize="int8", representative=str(tmp_path / "empty"))
    assert _listing(tmp_path) == ["empty"]
    # The command line says the same and exits 2.
    assert main(["export", str(model), "--format", "tflite", "--quantize", "int8", "-o", str(tmp_path / "b")]) == 2
    assert main(["export", str(model), "--format", "savedmodel", "--quantize", "int8"]) == 2
    assert _listing(tmp_path) == ["empty"]


def test_not_a_model(tmp_path):
    (tmp_path / "notes.keras").write_text("hello")
    with pytest.raises(ValueError, match="could not be loaded as a Keras model"):
        export.load_for_export(tmp_path / "notes.keras")
    (tmp_path / "model.h5").write_text("hello")
    with pytest.raises(ValueError, match="Expected a .keras model file or a training run directory"):
        export.load_for_export(tmp_path / "model.h5")
    with pytest.raises(ValueError, match="without best.keras or final.keras"):
        export.load_for_export(tmp_path)
    with pytest.raises(FileNotFoundError):
        export.load_for_export(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match=r"needs a classifier \(batch, classes\) output"):
        export.prepare(create_model("resnet18", include_top=False, input_shape=(32, 32, 3)))
    with pytest.raises(ValueError, match="fixed RGB image input"):
        export.prepare(create_model("resnet18", classes=3, input_shape=(None, None, 3)))
    assert main(["export", str(tmp_path / "notes.keras"), "-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_unknown_custom_object_refused_in_safe_mode(tmp_path):
    @keras.saving.register_keras_serializable(package="export_test_only")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((16, 16, 3))
    x = Doubling()(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    path = tmp_path / "custom.keras"
    model.save(path)
    keras.saving.get_custom_objects().pop("export_test_only>Doubling")
    with pytest.raises(ValueError, match=r"uses 'Doubling' \(export_test_only>Doubling\).*not registered.*safe mode stays on"):
        export.load_for_export(path)
    assert export.load_for_export(path, custom_objects={"export_test_only>Doubling": Doubling}) is not None

    lambda_model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t + 1), keras.layers.Dense(2)])
    lambda_model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match=r"holds a Lambda layer.*--unsafe-deserialization \(Python: safe_mode=False\)"):
        export.load_for_export(tmp_path / "lambda.keras")


# --------------------------------------------------------------------------- the command and the benchmark


@pytest.mark.slow
def test_training_engine_run_directory(tmp_path, capsys):
    """A run written by the training engine (the quickstart recipe, shortened) exports with its metadata."""
    from keras_classics.training import load_recipe, train

    run_dir = tmp_path / "run"
    train(load_recipe("quickstart").replace(epochs=1, dataset_options={"num_train": 128, "num_val": 64}, run_dir=str(run_dir),
                                verbose=0))
    card = export.to_tflite(run_dir, tmp_path / "quickstart.tflite", **FAST)
    assert card["parity"]["passed"]
    assert card["class_names"] == list(SHAPE_CLASSES)
    assert card["input"]["preprocessing"] == "caffe" and card["input"]["preprocessing_source"] == "model file"
    assert card["input"]["crop_fraction"] == 1.0  # the 'cifar' policy evaluates the whole image
    assert card["source"]["path"] == str(run_dir / "best.keras")
    assert card["source"]["run_config"]["model"] == "resnet18" and "top1" in card["source"]["metrics"]

    from PIL import Image

    images, _ = generate_shapes(1, image_size=SIZE, seed=3, split="validation")
    Image.fromarray(images[0]).save(tmp_path / "shape.png")
    capsys.readouterr()  # the training log
    assert main(["predict", str(tmp_path / "quickstart.tflite"), str(tmp_path / "shape.png"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert len(result["predictions"]) == 5 and result["predictions"][0]["class"] in SHAPE_CLASSES



def test_export_command_defaults(tiny_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(tiny_run), "--format", "tflite", "--parity-samples", "16"]) == 0
    assert "Parity passed on 16 images" in capsys.readouterr().out
    assert main(["export", str(tiny_run), "--parity-samples", "16", "-q"]) == 0
    assert capsys.readouterr().out.strip() == os.path.join("saved_models", "tiny")
    # A run directory exports its best.keras, named after the run.
    assert _listing(tmp_path / "saved_models") == ["tiny", "tiny_float32.card.json", "tiny_float32.tflite"]
    card = json.loads((tmp_path / "saved_models" / "tiny_float32.card.json").read_text())
    assert card["class_names"] == COLOURS and card["input"]["preprocessing"] == "none"


@pytest.mark.slow
def test_benchmark_smoke(tmp_path):
    import importlib.util
    import math

    spec = importlib.util.spec_from_file_location(
        "benchmark_export", ROOT / "benchmarks" / "export.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    assert bench.main(["--tiny", "--model", "resnet18", "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["model"] == "resnet18" and results["image_size"] == 32
    assert list(results["formats"]) == list(bench.FORMATS)
    for fmt, row in results["formats"].items():
        for key in ("size_bytes", "size_ratio", "latency_ms", "latency_ratio"):
            assert math.isfinite(row[key]) and row[key] > 0, (fmt, key, row[key])
        if fmt != "keras":
            assert 0 <= row["top1_agreement"] <= 1 and math.isfinite(row["max_abs_diff"])
    assert results["formats"]["keras"]["size_ratio"] == 1.0
    assert results["formats"]["tflite_int8"]["size_ratio"] < 0.5
    assert isinstance(results["goal"]["met"], bool)


# --------------------------------------------------------------------------- each family's policy, end to end

POLICY_RUNS = pytest.mark.xdist_group("export_policies")


@pytest.fixture(scope="module")
def policy_image_files(tmp_path_factory):
    """Image files of other sizes and formats than the model's input: predict and both signatures read them."""
    from PIL import Image

    root = tmp_path_factory.mktemp("policy_images")
    images, _ = generate_shapes(4, image_size=48, seed=5, split="validation")
    paths = []
    for i, (image, (h, w), fmt) in enumerate(zip(images, [(48, 48), (40, 48), (48, 30), (45, 45)],
                                                 ["PNG", "JPEG", "PNG", "JPEG"])):
        path = root / f"{i}.{fmt.lower()}"
        Image.fromarray(image[:h, :w]).save(path, format=fmt)
        paths.append(str(path))
    return paths


@POLICY_RUNS
@pytest.mark.slow  # about 20 s of CPU per policy: a training run, a SavedModel and a TFLite conversion
@pytest.mark.parametrize("policy", ["resnet", "alexnet", "vgg", "inception", "cifar"])
def test_each_policy_exports_with_parity(policy, policy_image_files, tmp_path):
    """A run trained with each family's policy (crop 32/37 or 1) exports to SavedModel and TFLite with the
    bytes signature within tolerance, and the .keras file, the SavedModel and the .tflite agree on files."""
    import tensorflow as tf

    from keras_classics.transforms import eval_crop_fraction
    from keras_classics.training import RecipeConfig, train

    run_dir = tmp_path / "run"
    train(RecipeConfig(name="policy", model="resnet18", dataset="shapes", image_size=SIZE, epochs=1,
                       batch_size=16, steps_per_epoch=2, lr=0.01, policy=policy, verbose=0, run_dir=str(run_dir),
                       dataset_options={"num_train": 64, "num_val": 32}))
    source = export.prepare(run_dir)
    crop = eval_crop_fraction(policy, SIZE)
    assert source.crop_fraction == pytest.approx(crop) and (crop < 1) == (policy != "cifar")
    common = dict(parity_samples=8, verbose=False)
    sm = export.to_saved_model(source, tmp_path / "sm", **common)
    tfl = export.to_tflite(source, tmp_path / "m.tflite", **common)
    for card in (sm, tfl):
        assert card["parity"]["passed"], card["parity"]
        assert card["parity"]["image_source"].startswith("shapes validation split (the run's data")
        assert card["input"]["crop_fraction"] == pytest.approx(crop)
    assert sm["parity"]["bytes_signature_max_abs_diff"] <= export.TOLERANCES["none"]["max_abs_diff"]

    tops = {}
    for name, path in (("keras", run_dir), ("savedmodel", tmp_path / "sm"), ("tflite", tmp_path / "m.tflite")):
        loaded = predict.load(path)
        assert loaded.crop_fraction == pytest.approx(crop) and loaded.class_names == list(SHAPE_CLASSES), name
        tops[name] = [r["predictions"][0]["index"] for r in loaded.classify(policy_image_files, top=1)]
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_bytes"]
    files = tf.constant([open(p, "rb").read() for p in policy_image_files])
    tops["serving_bytes"] = served(image_bytes=files)["top_class"].numpy().tolist()
    assert tops["savedmodel"] == tops["keras"] and tops["tflite"] == tops["keras"], tops
    assert tops["serving_bytes"] == tops["keras"], tops


def test_int8_top1_agreement_leaves_out_ties_within_one_step():
    reference = np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [0.2, 0.7, 0.1], [0.335, 0.333, 0.332]])
    exported = np.array([[0.5, 0.3, 0.2], [0.33, 0.34, 0.33], [0.7, 0.2, 0.1], [0.332, 0.336, 0.332]])
    report = export.parity_report(reference, exported, {"top1_agreement": 0.95}, quantization_step=1 / 256)
    # Rows 1 and 3 have margins of 0.01 and 0.002: only the second is within a step (0.0039). Of the
    # other three only row 0 agrees.
    assert report["top1_ties"] == 1 and report["top1_agreement"] == pytest.approx(1 / 3)
    assert report["top1_agreement_all_images"] == 0.25 and report["passed"] is False
    ties = export.parity_report(reference[3:], exported[3:], {"top1_agreement": 0.95}, quantization_step=1 / 256)
    assert ties["top1_agreement"] is None and ties["top1_ties"] == 1 and ties["passed"] is True
    assert export.parity_report(reference, exported)["top1_agreement"] == 0.25  # no step: every image counts


def test_int8_export_of_a_near_uniform_model(tiny_run, tmp_path):
    """An untrained model's probabilities are nearly equal: int8 rounds them to one value, so its top-1
    agreement is a tie-break; the card counts those images apart and the export passes."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    outputs = keras.layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(0, 1e-3),
                                 name="predictions")(x)
    model = keras.Model(inputs, outputs, name="near_uniform")
    card = export.to_tflite(model, tmp_path / "u.tflite", quantize="int8", representative="shapes",
                            representative_samples=16, preprocessing="none", parity_samples=16, verbose=False)
    parity = card["parity"]
    assert parity["quantization_step"] == pytest.approx(1 / 256)
    assert parity["top1_ties"] == 16 and parity["top1_agreement"] is None and parity["passed"]


def test_export_command_takes_the_library_constants():
    import argparse

    from keras_classics.cli import build_parser
    from keras_classics.transforms import INTERPOLATIONS, PREPROCESSING_MODES

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    choices = {a.dest: a.choices for a in sub.choices["export"]._actions if a.choices}
    assert choices == {"format": export.FORMATS, "quantize": export.QUANTIZATIONS,
                       "preprocessing": PREPROCESSING_MODES, "interpolation": INTERPOLATIONS}
    with pytest.raises(ValueError, match="Quantization applies to TFLite only"):
        export.check_format_options("savedmodel", "int8")
    with pytest.raises(ValueError, match="Unknown export format 'onnx'. Accepted: savedmodel, tflite"):
        export.check_format_options("onnx")


def _colour_folder(root, per_class):
    """``root/<colour>/<i>.png``: ``per_class`` small images per colour, each a different size."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(COLOURS):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (20 + i, 24, 3), dtype=np.uint8)
            pixels[..., c] += 150
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _tiny_classifier():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255.0)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x), name="tiny")


def _assert_disjoint(card):
    calibration, parity = card["representative_data"]["images_used"], card["parity"]["images_used"]
    assert len(calibration) == card["representative_data"]["samples"] and len(parity) == card["parity"]["images"]
    assert not set(calibration) & set(parity), (calibration, parity)
    assert card["representative_data"]["disjoint_from_parity"] is True
    assert card["representative_data"]["note"] == "no calibration image is a parity image"
    return calibration, parity


def test_calibration_and_parity_default_to_the_runs_training_and_validation_images(tmp_path):
    """Without --representative / --parity-data, a run's own data (here a folder of the user's images, named
    by its config.json) calibrates int8 with its training images and checks parity on its validation images;
    shapes only without a run. The card names the files each used."""
    data = _colour_folder(tmp_path / "data", 6)
    run = tmp_path / "run"
    run.mkdir()
    model = _tiny_classifier()
    save_model(model, run / "best.keras")
    (run / "config.json").write_text(json.dumps({
        "model": "tiny", "dataset": f"folder:{data}", "dataset_options": {"val_fraction": 0.5},
        "image_size": 16, "policy": "resnet", "preprocessing": "none", "class_names": COLOURS}))
    card = export.to_tflite(run, tmp_path / "m.tflite", quantize="int8", representative_samples=4,
                            parity_samples=4, verbose=False)
    assert card["representative_data"]["source"] == f"folder:{data} training split (the run's data, 9 images)"
    assert card["parity"]["image_source"] == f"folder:{data} validation split (the run's data, 9 images)"
    assert card["input"]["crop_fraction"] == pytest.approx(16 / 18)
    calibration, parity = _assert_disjoint(card)
    assert len(calibration) == len(parity) == 4
    on_disk = {str(p) for p in data.rglob("*.png")}
    assert set(calibration) <= on_disk and set(parity) <= on_disk
    with pytest.raises(ValueError, match="no training run config.json naming its dataset"):
        export.to_tflite(model, tmp_path / "n.tflite", quantize="int8", preprocessing="none", verbose=False)


def test_calibration_and_parity_from_one_folder_are_different_files(tmp_path):
    """--representative DIR and no --parity-data: parity used to take the folder's last N files and
    calibration its first N, the same files whenever the folder held fewer than 2N. Now a folder too small
    for both is divided between them, and the card lists the files each used."""
    data = _colour_folder(tmp_path / "data", 4)  # 12 files; 10 + 10 asked
    files = sorted(str(p) for p in data.rglob("*.png"))
    card = export.to_tflite(_tiny_classifier(), tmp_path / "m.tflite", quantize="int8", representative=str(data),
                            representative_samples=10, parity_samples=10, preprocessing="none", verbose=False)
    calibration, parity = _assert_disjoint(card)
    assert calibration == files[:6] and parity == files[6:]
    card = json.loads((tmp_path / "m.card.json").read_text())  # as written
    _assert_disjoint(card)


def test_shared_counts_and_the_sample_helpers_never_overlap(tmp_path):
    from keras_classics.export.samples import shared_counts

    assert shared_counts(300, 100, 100) == (100, 100)
    assert shared_counts(128, 100, 100) == (64, 64)
    assert shared_counts(10, 8, 2) == (8, 2)
    assert shared_counts(10, 20, 5) == (8, 2)
    assert shared_counts(1, 5, 5) == (1, 0)
    assert shared_counts(7, 5, 0) == (5, 0)
    for total in range(2, 40):
        for asked in ((1, 1), (3, 7), (100, 100), (5, 50)):
            cal, par = shared_counts(total, *asked)
            assert 1 <= cal <= asked[0] and 1 <= par <= asked[1] and cal + par <= total
    arr = np.arange(9 * 4 * 4 * 3, dtype=np.uint8).reshape(9, 4, 4, 3)
    cal, _ = export.image_samples(arr, (4, 4), 6, purpose="calibration")
    par, _ = export.image_samples(arr, (4, 4), 6, purpose="parity")
    assert len(cal) + len(par) == 9  # the nine images divided, none used twice
    np.testing.assert_array_equal(np.concatenate([cal, par]), arr.astype(np.float32))
    three = str(_colour_folder(tmp_path / "three", 1))
    cal = export.encoded_samples(three, 3, purpose="calibration")[0]
    par = export.encoded_samples(three, 3, purpose="parity")[0]
    assert len(cal) == 1 and len(par) == 2 and not set(cal) & set(par)  # three different files


def test_a_bicubic_model_is_served_and_carded_with_bicubic(tmp_path):
    """A model whose metadata says bicubic: its SavedModel's serving_bytes resizes bicubically (the Keras model
    on the same bytes read with bicubic gives the same probabilities), its card says so and predict reads it."""
    import tensorflow as tf

    from tests.predict.test_predict import _bicubic_model, _expected_probabilities, _pattern, _png

    model = _bicubic_model(tmp_path / "bicubic.keras")
    image = _png(tmp_path / "photo.png", _pattern(23, 17, seed=5))
    bicubic, _ = _expected_probabilities(model, image, 8, "bicubic")
    bilinear, _ = _expected_probabilities(model, image, 8, "bilinear")
    assert np.abs(bicubic - bilinear).max() > 1e-3

    source = export.prepare(tmp_path / "bicubic.keras")
    assert source.interpolation == "bicubic"
    card = export.to_saved_model(source, tmp_path / "sm", parity_data="noise", parity_samples=4, verbose=False)
    assert card["input"]["interpolation"] == "bicubic" and card["parity"]["passed"]
    assert json.loads((tmp_path / "sm" / "model_card.json").read_text())["input"]["interpolation"] == "bicubic"
    served = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_bytes"]
    with open(image, "rb") as f:
        probs = served(image_bytes=tf.constant([f.read()]))["probabilities"].numpy()[0]
    np.testing.assert_allclose(probs, bicubic, atol=1e-5)
    assert predict.load(tmp_path / "sm").interpolation == "bicubic"

    # An override (here the command's --interpolation), checked; a bilinear export's card states none.
    assert main(["export", str(tmp_path / "bicubic.keras"), "--format", "savedmodel", "-o", str(tmp_path / "bl"),
                 "--interpolation", "bilinear", "--parity-data", "noise", "--parity-samples", "4", "-q"]) == 0
    assert "interpolation" not in json.loads((tmp_path / "bl" / "model_card.json").read_text())["input"]
    served = tf.saved_model.load(str(tmp_path / "bl")).signatures["serving_bytes"]
    with open(image, "rb") as f:
        probs = served(image_bytes=tf.constant([f.read()]))["probabilities"].numpy()[0]
    np.testing.assert_allclose(probs, bilinear, atol=1e-5)
    with pytest.raises(ValueError, match="Unknown interpolation 'nearest'"):
        export.prepare(tmp_path / "bicubic.keras", interpolation="nearest")
    with pytest.raises(ValueError, match="fixed once an ExportSource is prepared"):
        export.prepare(source, interpolation="bilinear")


def test_a_conversion_tflite_refuses_is_one_line_naming_the_cause_and_what_converts(tmp_path, capsys):
    # A Keras model with an operation TFLite has no built-in kernel for (an SVD): the converter's refusal reaches
    # the user as what was asked, the converter's reason and what converts, on one line: no traceback.
    import tensorflow as tf

    class SVD(keras.layers.Layer):
        def call(self, x):
            return tf.linalg.svd(tf.reshape(x[..., 0], (-1, 4, 4)), compute_uv=False)

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(SVD()(inputs)))
    with pytest.raises(export.tflite.ConversionError) as caught:
        export.to_tflite(model, tmp_path / "svd.tflite", quantize="none", preprocessing="none", **FAST)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError) and "\n" not in message
    assert message.startswith("TensorFlow Lite could not convert the model (--quantize none): ")
    assert "Accepted: models whose operations all have TensorFlow Lite built-in kernels" in message
    assert "operations without a TensorFlow Lite built-in kernel: Svd." in message, message
    assert not (tmp_path / "svd.tflite").exists() and os.listdir(tmp_path) == []
