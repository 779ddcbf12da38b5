"""Family-specific tests of AlexNet, ZFNet and VGG: map sizes, LRN, towers (counts: test_harness.py).

Most models here are built inside ``keras.StatelessScope(initialize_variables=False)``:
the layers and their weight shapes are the real ones, only the random draws for
~140 M weights are skipped (they would cost seconds per model on a CPU).
``test_harness.test_deferred_count_equals_initialised_count`` checks that the two agree.
"""

import importlib

import keras
import numpy as np
import pytest

from keras_classics import alexnet, arithmetic, create_backbone, create_model, model_info, vgg11, vgg16, zfnet
from keras_classics.models import LocalResponseNormalization

alexnet_module = importlib.import_module("keras_classics.models.alexnet")
zfnet_module = importlib.import_module("keras_classics.models.zfnet")
vgg_module = importlib.import_module("keras_classics.models.vgg")


def deferred(build):
    """Build with deferred initialisation, return (model, None); the caller clears the session."""
    with keras.StatelessScope(initialize_variables=False):
        return build(), None


@pytest.fixture(autouse=True)
def _fresh_session():
    # Without garbage collection: a collection costs about a second per call here; the
    # deferred models hold no weight memory, and the module fixture below collects once.
    keras.backend.clear_session(free_memory=False)
    yield
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(autouse=True, scope="module")
def _collect_at_the_end():
    yield
    keras.backend.clear_session()


def test_default_input_sizes():
    assert deferred(alexnet)[0].input_shape == (None, 227, 227, 3)
    assert deferred(lambda: alexnet(variant="owt"))[0].input_shape == (None, 224, 224, 3)
    assert deferred(zfnet)[0].input_shape == (None, 224, 224, 3)
    assert deferred(vgg16)[0].input_shape == (None, 224, 224, 3)


ENDPOINTS = [
    ("alexnet", {}, 227, {"norm1": (55, 55, 96), "norm2": (27, 27, 256), "conv5": (13, 13, 256), "pool5": (6, 6, 256)}),
    ("alexnet", {"variant": "owt"}, 224,
     {"conv1": (55, 55, 64), "conv2": (27, 27, 192), "conv5": (13, 13, 256), "pool5": (6, 6, 256)}),
    ("zfnet", {}, 224, {"conv1": (110, 110, 96), "norm1": (55, 55, 96), "conv2": (26, 26, 256),
                        "conv5": (13, 13, 256), "pool5": (6, 6, 256)}),
    ("zfnet", {"wide": True}, 224, {"conv1": (110, 110, 96), "norm1": (55, 55, 96), "conv2": (26, 26, 256),
                                    "conv5": (13, 13, 512), "pool5": (6, 6, 512)}),
    ("vgg11", {}, 224, {"block1_conv1": (224, 224, 64), "block2_conv1": (112, 112, 128),
                        "block3_conv2": (56, 56, 256), "block4_conv2": (28, 28, 512),
                        "block5_conv2": (14, 14, 512), "block5_pool": (7, 7, 512)}),
    ("vgg19_bn", {}, 224, {"block1_conv2_relu": (224, 224, 64), "block2_conv2_relu": (112, 112, 128),
                           "block3_conv4_relu": (56, 56, 256), "block4_conv4_relu": (28, 28, 512),
                           "block5_conv4_relu": (14, 14, 512), "block5_pool": (7, 7, 512)}),
]


@pytest.mark.parametrize("name,kwargs,size,expected", ENDPOINTS, ids=lambda v: str(v))
def test_endpoint_shapes_at_paper_resolution(name, kwargs, size, expected):
    assert model_info(name).endpoints(**kwargs) == list(expected)
    features, _ = deferred(lambda: create_backbone(name, input_shape=(size, size, 3), **kwargs))
    shapes = {k: tuple(v.shape[1:]) for k, v in features.output.items()}
    assert shapes == expected


def test_zfnet_maps_follow_figure_3_and_the_arithmetic():
    model, _ = deferred(zfnet)
    sizes = {layer.name: layer.output.shape[1] for layer in model.layers}
    figure_3 = {"conv1": 110, "pool1": 55, "conv2": 26, "pool2": 13, "conv3": 13, "conv4": 13, "conv5": 13, "pool5": 6}
    assert {k: sizes[k] for k in figure_3} == figure_3
    computed = arithmetic.output_sizes(224, zfnet_module.SPATIAL_OPS)
    assert computed == [sizes[op.name] for op in zfnet_module.SPATIAL_OPS]


@pytest.mark.parametrize("variant,size", [("2012", 227), ("owt", 224)])
def test_alexnet_maps_agree_with_the_arithmetic(variant, size):
    model, _ = deferred(lambda: alexnet(variant=variant))
    sizes = {layer.name: layer.output.shape[1] for layer in model.layers}
    ops = alexnet_module.SPATIAL_OPS[variant]
    assert arithmetic.output_sizes(size, ops) == [sizes[op.name] for op in ops]
    assert sizes["pool5"] == 6


def _lrn_reference(a, size, alpha, beta, k, average):
    """Section 3.3 of the AlexNet paper, one channel at a time."""
    channels = a.shape[-1]
    out = np.empty_like(a, dtype=np.float64)
    for c in range(channels):
        lo, hi = max(0, c - size // 2), min(channels - 1, c + size // 2)
        s = np.sum(a[..., lo : hi + 1].astype(np.float64) ** 2, axis=-1)
        scale = alpha / size if average else alpha
        out[..., c] = a[..., c] / (k + scale * s) ** beta
    return out


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 2.0), (3, 0.05, 0.5, 1.0)])
def test_lrn_matches_numpy_reference(size, alpha, beta, k, average):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((2, 4, 3, 7)) * 20).astype("float32")  # 7 channels: edges matter
    layer = LocalResponseNormalization(size=size, alpha=alpha, beta=beta, k=k, average=average)
    got = keras.ops.convert_to_numpy(layer(a))
    want = _lrn_reference(a, size, alpha, beta, k, average)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, a / k**beta)  # the window sums really change the result


def test_paper_lrn_settings_in_alexnet_and_zfnet():
    for build in (alexnet, zfnet):
        model, _ = deferred(build)
        for name in ("norm1", "norm2"):
            cfg = model.get_layer(name).get_config()
            assert (cfg["size"], cfg["alpha"], cfg["beta"], cfg["k"], cfg["average"]) == (5, 1e-4, 0.75, 2.0, False)
        keras.backend.clear_session()
    owt, _ = deferred(lambda: alexnet(variant="owt"))
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in owt.layers)


def test_grouped_conv_equals_two_half_convs():
    model = alexnet(include_top=False, input_shape=(67, 67, 3))  # initialised weights
    assert [model.get_layer(n).groups for n in ("conv1", "conv2", "conv3", "conv4", "conv5")] == [1, 2, 1, 2, 2]
    conv2 = model.get_layer("conv2")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in conv2.weights)
    assert kernel.shape == (5, 5, 48, 256)  # each tower sees half of conv1's 96 maps
    x = np.random.default_rng(1).standard_normal((2, 9, 9, 96)).astype("float32")
    towers = []
    for t in range(2):
        half = keras.ops.conv(x[..., 48 * t : 48 * (t + 1)], kernel[..., 128 * t : 128 * (t + 1)], padding="same")
        towers.append(keras.ops.relu(half + bias[128 * t : 128 * (t + 1)]))
    want = keras.ops.convert_to_numpy(keras.ops.concatenate(towers, axis=-1))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(conv2(x)), want, rtol=1e-4, atol=1e-4)


def test_one_tower_has_full_kernels():
    model, _ = deferred(lambda: alexnet(groups=1, include_top=False))
    assert model.get_layer("conv2").kernel.shape == (5, 5, 96, 256)
    assert model.get_layer("conv4").kernel.shape == (3, 3, 384, 384)


# Derived by hand from the layer tables (e.g. AlexNet: pool5 needs 3 pixels, pool2 7, pool1 15,
# conv1 11 + 14 * 4 = 67).
MIN_SIZES = [
    (alexnet, {}, 67, alexnet_module.MIN_SIZE["2012"]),
    (alexnet, {"variant": "owt"}, 63, alexnet_module.MIN_SIZE["owt"]),
    (zfnet, {}, 53, model_info("zfnet").min_size),
    (vgg11, {}, 32, model_info("vgg11").min_size),
]


@pytest.mark.parametrize("build,kwargs,minimum,computed", MIN_SIZES, ids=["alexnet", "owt", "zfnet", "vgg"])
def test_min_input_size(build, kwargs, minimum, computed):
    assert computed == minimum
    model, _ = deferred(lambda: build(include_top=False, input_shape=(minimum, minimum, 3), **kwargs))
    assert model.output.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match=f"at least {minimum}x{minimum}"):
        build(include_top=False, input_shape=(minimum - 1, minimum + 50, 3), **kwargs)


@pytest.mark.parametrize(
    "build,kwargs,match",
    [
        (alexnet, {"variant": "2014"}, "Unknown AlexNet `variant`: '2014'.*'owt'"),
        (alexnet, {"groups": 3}, "groups=3"),
        (alexnet, {"groups": True}, "groups=True"),
        (alexnet, {"lrn": "yes"}, "lrn='yes'"),
        (alexnet, {"dropout": 1.0}, r"\[0, 1\).*dropout=1.0"),
        (zfnet, {"wide": 1}, "wide=1"),
        (vgg11, {"dropout": -0.1}, "dropout=-0.1"),
        (vgg11, {"weights": "imagenet"}, "Unknown weights set 'imagenet' for 'vgg11'. Sets of 'vgg11': 'torchvision'"),
        (vgg16, {"weights": "imagenet", "input_shape": (64, 64, 3)}, "224x224"),
        (vgg11, {"input_shape": (None, None, 3)}, "fixed"),
    ],
    # Stable ids (a function's repr holds its address): pytest-xdist workers must collect the same names.
    ids=lambda v: v.__name__ if callable(v) else str(v),
)
def test_bad_options(build, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


@pytest.mark.parametrize("build,channels", [(alexnet, 256), (zfnet, 256), (vgg11, 512)])
def test_headless_pooling(build, channels):
    shapes = {}
    for pooling in (None, "avg", "max"):
        model, _ = deferred(lambda: build(include_top=False, pooling=pooling, input_shape=(96, 96, 3)))
        shapes[pooling] = tuple(model.output.shape)
        assert not any(l.name.startswith(("fc", "predictions", "flatten")) for l in model.layers)
    assert shapes["avg"] == shapes["max"] == (None, channels)
    assert len(shapes[None]) == 4 and shapes[None][-1] == channels


def test_top_at_other_sizes_changes_the_flatten():
    model, _ = deferred(lambda: alexnet(input_shape=(224, 224, 3)))  # 54 -> 26 -> 12 -> 5
    assert model.get_layer("fc6").kernel.shape == (5 * 5 * 256, 4096)
    keras.backend.clear_session()
    model = vgg11(input_shape=(64, 64, 3), classes=10)
    assert model.get_layer("fc1").kernel.shape == (2 * 2 * 512, 4096)
    probs = keras.ops.convert_to_numpy(model(np.random.default_rng(2).random((2, 64, 64, 3), "float32")))
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)


def test_dropout_after_the_hidden_fully_connected_layers():
    model, _ = deferred(vgg16)
    assert [(l.name, l.rate) for l in model.layers if isinstance(l, keras.layers.Dropout)] == [
        ("fc1_dropout", 0.5),
        ("fc2_dropout", 0.5),
    ]
    keras.backend.clear_session()
    model, _ = deferred(lambda: alexnet(dropout=0))
    assert not any(isinstance(l, keras.layers.Dropout) for l in model.layers)


@pytest.mark.parametrize("ours,theirs", [("vgg16", "VGG16"), ("vgg19", "VGG19")])
def test_vgg_weights_match_keras_applications_by_name(ours, theirs):
    """Same weighted layer names and weight shapes: ImageNet weights port by name."""
    kwargs = {"input_shape": (32, 32, 3), "classes": 10}
    mine, _ = deferred(lambda: create_model(ours, **kwargs))
    ref, _ = deferred(lambda: getattr(keras.applications, theirs)(weights=None, **kwargs))

    def weighted(model):
        return {l.name: [tuple(w.shape) for w in l.weights] for l in model.layers if l.weights}

    assert weighted(mine) == weighted(ref)


def test_vgg_config_table_depths():
    for letter, depth in {"A": 11, "B": 13, "D": 16, "E": 19}.items():
        assert sum(len(block) for block in vgg_module.CONFIGS[letter]) + 3 == depth


def test_mixed_precision_keeps_lrn_and_predictions_float32():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = alexnet(input_shape=(67, 67, 3), classes=5)
        assert model.get_layer("conv1").compute_dtype == "float16"
        norm1 = model.get_layer("norm1")
        assert norm1.compute_dtype == "float32"
        # Activations of 300: their squares overflow float16 (max 65504), which would give 0.
        a = np.full((1, 2, 2, 96), 300.0, "float32")
        want = _lrn_reference(a, 5, 1e-4, 0.75, 2.0, False)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(norm1(a)), want, rtol=1e-5)
        out = model(np.random.default_rng(3).random((1, 67, 67, 3), "float32"))
        assert out.dtype == "float32"
    finally:
        keras.config.set_dtype_policy("float32")
