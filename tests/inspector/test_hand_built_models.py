"""The inspector on hand-built models: conv arithmetic, the graph walker, rendering,
pictures and their output-path rules. Numbers are worked out by hand in comments."""

import csv
import io
import json
import math
import os

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from keras_classics import inspect
from tests.helpers import count_trainable

# --- conv arithmetic: the course's worked cases --------------------------------


def test_conv_output_size_course_cases():
    assert inspect.conv_output_size(227, 11, stride=4) == 55  # AlexNet conv1: (227 - 11) / 4 + 1
    assert inspect.conv_output_size(224, 11, stride=4, padding=2) == 55  # torchvision: (224 + 4 - 11) // 4 + 1
    assert inspect.conv_output_size(32, 5, stride=1, padding=2) == 32  # 'same' by hand: (32 + 4 - 5) / 1 + 1
    assert inspect.conv_output_size(7, 3, stride=1) == 5  # the 7x7 input, 3x3 filter example
    assert inspect.conv_output_size(7, 3, stride=2) == 3
    assert inspect.conv_output_size(32, 3, dilation=2) == 28  # window 2*(3-1)+1 = 5: 32 - 5 + 1
    assert inspect.conv_output_size(225, 3, stride=2, padding="same") == 113  # ceil(225 / 2)
    assert inspect.pool_output_size(55, 3, 2) == 27  # AlexNet's overlapping pool: (55 - 3) / 2 + 1
    assert inspect.pool_output_size(224, 2) == 112  # VGG: stride defaults to the pool size


def test_receptive_field_and_params_course_cases():
    three_3x3 = [inspect.SpatialOp(f"c{i}", 3, 1, 1) for i in range(3)]
    # Three stacked 3x3 convs see 7x7, like one 7x7 (the VGG argument) ...
    assert [r["receptive_field"] for r in inspect.receptive_field(three_3x3)] == [3, 5, 7]
    # ... with 3 * (9 C^2) weights instead of 49 C^2 (C = 64, no bias).
    assert 3 * inspect.conv_params(3, 64, 64, bias=False) == 110_592
    assert inspect.conv_params(7, 64, 64, bias=False) == 200_704
    # AlexNet conv2: 256 filters of 5x5 over 48 channels per tower (groups=2), plus bias.
    assert inspect.conv_params(5, 96, 256, groups=2) == 5 * 5 * 48 * 256 + 256
    assert inspect.conv_macs(11, 3, 96, 55) == 11 * 11 * 3 * 96 * 55 * 55  # 105,415,200
    assert inspect.dense_params(9216, 4096) == 37_752_832


# --- the walker on a hand-built model -------------------------------------------


@pytest.fixture(scope="module")
def toy():
    """32x32x3 → pad 2 → conv 5x5 (16) → BN → pool 2 → three branches → concat → dw 3x3 → sep 3x3 → dense."""
    x = keras.Input((32, 32, 3), name="image")
    y = layers.ZeroPadding2D(2, name="pad")(x)
    y = layers.Conv2D(16, 5, name="c1")(y)  # 32x32x16, RF 5, jump 1
    y = layers.BatchNormalization(name="bn")(y)
    y = layers.MaxPooling2D(2, name="pool")(y)  # 16x16, RF 5 + 1*1 = 6, jump 2
    a = layers.Conv2D(8, 1, name="b1")(y)  # RF 6
    b = layers.Conv2D(8, 3, padding="same", groups=2, dilation_rate=2, name="b3")(y)  # window 5: RF 6 + 4*2 = 14
    c = layers.Conv2D(8, (1, 7), padding="same", name="b17")(y)  # RF (6, 6 + 6*2 = 18)
    y = layers.Concatenate(name="cat")([a, b, c])  # per axis max: (14, 18)
    y = layers.DepthwiseConv2D(3, name="dw")(y)  # 14x14x24, RF (18, 22)
    y = layers.SeparableConv2D(10, 3, name="sep")(y)  # 12x12x10, RF (22, 26)
    y = layers.Dense(4, name="per_pixel")(y)  # 12x12x4: a 1x1 conv in disguise
    y = layers.Flatten(name="flat")(y)  # 576, sees the whole map: (22 + 11*2, 26 + 11*2) = (44, 48)
    y = layers.Dense(10, name="fc")(y)
    return keras.Model(x, y, name="toy")


def test_walker_params_agree_with_weights(toy):
    s = inspect.summary(toy)
    assert s.totals["params"] == toy.count_params()
    assert s.totals["trainable_params"] == count_trainable(toy)
    assert s.totals["non_trainable_params"] == 32  # BN moving mean and variance of 16 channels
    for layer in toy.layers:
        row = s.row(layer.name)
        assert row["params"] == sum(math.prod(w.shape) for w in layer.weights), layer.name
        if row["params"]:
            assert row["params_source"] == "formula", layer.name
    assert s.row("b3")["params"] == 3 * 3 * (16 // 2) * 8 + 8  # grouped
    assert s.row("dw")["params"] == 3 * 3 * 24 + 24
    assert s.row("sep")["params"] == 3 * 3 * 24 + 24 * 10 + 10
    assert abs(sum(r["param_share"] for r in s) - 1.0) < 1e-9


def test_walker_macs_by_hand(toy):
    s = inspect.summary(toy)
    expected = {
        "c1": 5 * 5 * 3 * 16 * 32 * 32,
        "b1": 16 * 8 * 16 * 16,
        "b3": 3 * 3 * 8 * 8 * 16 * 16,  # 8 input channels per group, 2 groups of 4 outputs: 9*8*8
        "b17": 7 * 16 * 8 * 16 * 16,
        "dw": 3 * 3 * 24 * 14 * 14,
        "sep": 3 * 3 * 24 * 12 * 12 + 24 * 10 * 12 * 12,
        "per_pixel": 10 * 4 * 12 * 12,
        "fc": 576 * 10,
    }
    for name, macs in expected.items():
        assert s.row(name)["macs"] == macs, name
    for kind in ("BatchNormalization", "MaxPooling2D", "Concatenate", "ZeroPadding2D", "Flatten"):
        assert all(r["macs"] == 0 for r in s if r["kind"] == kind)
    assert s.totals["macs"] == sum(expected.values())


def test_walker_receptive_field_and_depth(toy):
    s = inspect.summary(toy)
    rf = {r["name"]: r["receptive_field"] for r in s}
    jump = {r["name"]: r["jump"] for r in s}
    assert rf["image"] == 1 and rf["pad"] == 1 and rf["c1"] == 5 and jump["c1"] == 1
    assert rf["pool"] == 6 and jump["pool"] == 2
    assert rf["b1"] == 6 and rf["b3"] == 14 and rf["b17"] == (6, 18)
    assert rf["cat"] == (14, 18)  # a concatenation sees what its widest input sees
    assert rf["dw"] == (18, 22) and rf["sep"] == (22, 26) and rf["per_pixel"] == (22, 26)
    assert rf["flat"] == (44, 48) and jump["flat"] is None
    assert s.row("b3")["dilation"] == (2, 2)
    # conv and dense layers on the longest path: c1, b3 (or b1/b17), dw, sep, per_pixel, fc
    assert s.totals["weighted_depth"] == 6
    assert s.row("cat")["inputs"] == ["b1", "b3", "b17"]


def test_reading_order_keeps_branches_together():
    x = keras.Input((8, 8, 4))
    a = layers.Conv2D(2, 1, name="a_conv")(x)
    a = layers.ReLU(name="a_relu")(a)
    b = layers.Conv2D(2, 3, padding="same", name="b_conv")(x)
    b = layers.ReLU(name="b_relu")(b)
    y = layers.Add(name="add")([a, b])
    names = [r["name"] for r in inspect.summary(keras.Model(x, y))]
    assert names[1:] == ["a_conv", "a_relu", "b_conv", "b_relu", "add"]


def test_shared_layer_nested_model_and_sequential():
    inner_in = keras.Input((16, 16, 3))
    inner = keras.Model(inner_in, layers.Conv2D(4, 3, strides=2, name="inner_conv")(inner_in), name="inner")
    x = keras.Input((16, 16, 3))
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    y = shared(shared(x))  # one set of weights, two calls
    y = inner(y)  # RF 5 + (3 - 1) * 1 = 7, jump 2
    model = keras.Model(x, y)
    s = inspect.summary(model)
    assert s.totals["params"] == model.count_params() == (27 * 3 + 3) + (27 * 4 + 4)
    shared_rows = [r for r in s if r["name"] == "shared"]
    assert [r["params_source"] for r in shared_rows] == ["formula", "shared"]
    assert [r["macs"] for r in shared_rows] == [27 * 3 * 256] * 2
    nested = s.row("inner")
    assert nested["macs"] == 27 * 4 * 7 * 7 and nested["receptive_field"] == 7 and nested["jump"] == 2
    assert s.totals["weighted_depth"] == 3

    seq = keras.Sequential([keras.Input((10, 10, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)])
    ss = inspect.summary(seq)
    assert ss.totals["params"] == seq.count_params()
    assert ss.totals["receptive_field"] == 3 + 7  # the flatten sees the whole 8x8 map


def test_unknown_sizes_and_new_input_shape():
    x = keras.Input((None, None, 3))
    model = keras.Model(x, layers.Conv2D(4, 3, name="c")(x))
    s = inspect.summary(model)
    assert s.row("c")["macs"] is None and s.totals["macs"] is None
    assert s.row("c")["receptive_field"] == 3  # needs no sizes
    s64 = inspect.summary(model, 64)  # rebuilt at 64x64x3
    assert s64.row("c")["macs"] == 27 * 4 * 62 * 62
    assert s64.totals["params"] == s.totals["params"]


def test_bad_models_and_options():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed"):
        inspect.summary(Sub())
    with pytest.raises(ValueError, match="Unknown model name 'resnet_18'.*resnet18"):
        inspect.summary("resnet_18")
    with pytest.raises(FileNotFoundError):
        inspect.summary("no/such/model.keras")
    with pytest.raises(ValueError, match="input_shape"):
        inspect.summary("resnet18", (32, 32))
    x = keras.Input((8, 8, 3))
    with pytest.raises(ValueError, match="Builder options apply to registered names"):
        inspect.summary(keras.Model(x, layers.Conv2D(1, 3)(x)), variant="owt")


def test_render_formats(toy):
    s = inspect.summary(toy)
    doc = json.loads(s.render("json"))
    assert doc["model"] == "toy" and len(doc["rows"]) == len(s)
    assert doc["totals"]["params"] == toy.count_params()
    assert doc["rows"][3]["output_shape"] == [32, 32, 16]
    rows = list(csv.DictReader(io.StringIO(s.render("csv"))))
    assert len(rows) == len(s) + 1 and rows[-1]["name"] == "total"
    assert int(rows[-1]["params"]) == toy.count_params()
    assert rows[[r["name"] for r in rows].index("b17")]["kernel"] == "1x7"
    md = s.render("markdown").splitlines()
    assert md[2].startswith("| layer") and set(md[3]) <= set("|-: ")
    table = str(s)
    assert "b17" in table and "1x7" in table and f"{toy.count_params():,}" in table
    with pytest.raises(ValueError, match="Accepted: table, markdown, json, csv"):
        s.render("html")


def test_inception_reduction_savings_by_hand():
    rows = inspect.inception_reduction("3a")
    naive, reduced = rows
    # 28x28 outputs of 1x1 (64), 3x3 (128) and 5x5 (32) on 192 channels:
    assert naive["macs"] == 28 * 28 * (192 * 64 + 9 * 192 * 128 + 25 * 192 * 32)  # 303,464,448
    # 1x1 64; 1x1 96 → 3x3 128; 1x1 16 → 5x5 32; pool → 1x1 32:
    assert reduced["macs"] == 28 * 28 * (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32)
    assert naive["output_channels"] == 64 + 128 + 32 + 192 and reduced["output_channels"] == 256
    assert reduced["macs_ratio"] == pytest.approx(128_049_152 / 303_464_448)
    assert "save" in rows.render("table")
    with pytest.raises(ValueError, match="Accepted: 3a, 3b, 4a"):
        inspect.inception_reduction("6a")


# --- pictures -------------------------------------------------------------------


def _png(path, size=None):
    with Image.open(path) as im:
        assert im.format == "PNG"
        if size is not None:
            assert im.size == size
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.std() > 5, "blank picture"
    return pixels.shape


@pytest.fixture(scope="module")
def small_cnn():
    x = keras.Input((48, 48, 3), name="image")
    y = layers.Conv2D(12, 5, padding="same", activation="relu", name="conv1")(x)
    y = layers.MaxPooling2D(2, name="pool1")(y)
    y = layers.Conv2D(8, 3, activation="relu", name="conv2")(y)
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    return keras.Model(x, layers.Dense(3, name="predictions")(y), name="small_cnn")


def test_plot_filters_and_activations(tmp_path, small_cnn):
    out = inspect.plot_filters(small_cnn, tmp_path / "f.png")
    assert out == str(tmp_path / "f.png")
    h, w = _png(out)
    assert w == 1000 and h > 200
    _png(inspect.plot_filters(small_cnn, tmp_path / "f2.png", layer="conv2"))
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, (60, 80, 3))
    h, w = _png(inspect.plot_activations(small_cnn, image, tmp_path / "a.png", layer="conv2", max_maps=7))
    assert w == 1200 and h > 200
    with pytest.raises(ValueError, match="not a convolution.*conv1, conv2"):
        inspect.plot_filters(small_cnn, tmp_path / "x.png", layer="gap")
    with pytest.raises(ValueError, match="4-D.*conv1"):
        inspect.plot_activations(small_cnn, image, tmp_path / "x.png", layer="gap")
    assert sorted(os.listdir(tmp_path)) == ["a.png", "f.png", "f2.png"]


def test_output_path_rules(tmp_path, small_cnn):
    target = tmp_path / "f.png"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        inspect.plot_filters(small_cnn, target)
    assert target.read_bytes() == b"keep me"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        inspect.plot_filters(small_cnn, tmp_path / "missing" / "f.png")
    with pytest.raises(ValueError, match=r"\.png"):
        inspect.plot_filters(small_cnn, tmp_path / "f.jpg")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(IsADirectoryError):
        inspect.plot_filters(small_cnn, tmp_path / "dir.png")
    inspect.plot_filters(small_cnn, target, overwrite=True)
    _png(target)
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~mask  # not the 0600 of a temporary file
    assert sorted(os.listdir(tmp_path)) == ["dir.png", "f.png"]  # no temporary file left behind


def test_load_image_errors(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        inspect.load_image(text, (32, 32))
    with pytest.raises(FileNotFoundError):
        inspect.load_image(tmp_path / "nope.jpg", (32, 32))
    with pytest.raises(IsADirectoryError):
        inspect.load_image(tmp_path, (32, 32))
    Image.new("L", (40, 20), 128).save(tmp_path / "grey.png")
    arr = inspect.load_image(tmp_path / "grey.png", (16, 24))
    assert arr.shape == (16, 24, 3) and arr.dtype == np.float32 and float(arr.mean()) == 128.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real history.csv: a tiny model trained three epochs with CSVLogger and an LR schedule."""
    run = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    inp = keras.Input((8,))
    model = keras.Model(inp, layers.Dense(2, activation="softmax")(inp))
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(2, name="top2")])
    model.fit(x, y, validation_split=0.25, epochs=3, verbose=0,
              callbacks=[keras.callbacks.LearningRateScheduler(lambda e: 0.1 * 0.5**e),
                         keras.callbacks.CSVLogger(str(run / "history.csv"))])
    return run


def test_plot_history(tmp_path, run_dir):
    with open(run_dir / "history.csv") as f:
        header = next(csv.reader(f))
    assert {"epoch", "loss", "accuracy", "val_loss", "val_accuracy"} <= set(header)
    h, w = _png(inspect.plot_history(run_dir, tmp_path / "curves.png"))
    panels = len([c for c in header if c != "epoch" and not c.startswith("val_")])
    assert w == 500 * min(3, panels) and h == 400 * math.ceil(panels / 3) + 50
    _png(inspect.plot_history(run_dir / "history.csv", tmp_path / "curves2.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="history.csv"):
        inspect.plot_history(tmp_path / "empty", tmp_path / "c.png")
    (tmp_path / "empty" / "history.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="'epoch' column"):
        inspect.plot_history(tmp_path / "empty", tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_plot_history_learning_rate_axis(tmp_path):
    """Step decays on a log axis; a schedule that reaches 0 (cosine) on a linear one, drawn whole."""
    from keras_classics.inspect import pictures

    assert pictures._lr_scale([0.1, 0.01, 0.001]) == "log"
    assert pictures._lr_scale([0.1, 0.05, 0.0]) == "linear"
    run = tmp_path / "cosine"
    run.mkdir()
    (run / "history.csv").write_text("epoch,loss,learning_rate\n0,2.0,0.1\n1,1.5,0.05\n2,1.2,0.0\n")
    _png(inspect.plot_history(run, tmp_path / "curves.png"))
