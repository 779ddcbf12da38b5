"""Weights: .weights.h5 files, and the exact port of keras.applications weights (offline).

The porting tests build keras.applications models with ``weights=None``,
randomise everything the conversion touches (BN moving statistics, gamma, beta,
convolution biases), port, and compare both models in inference mode on random
images: logits relative to their scale, and softmax probabilities. Before the
port the same comparison must fail, so the check is known to discriminate.
"""

import urllib.error
import urllib.request

import keras
import numpy as np
import pytest

import keras_classics
from keras_classics import weights as kw

# Module fixtures are expensive: one pytest-xdist worker runs this file.
pytestmark = pytest.mark.xdist_group("weights")


def _randomise(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.5, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.2, n).astype("float32"))
            if layer.scale:
                layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and layer.use_bias:
            layer.bias.assign(rng.normal(0.0, 0.2, layer.bias.shape).astype("float32"))
    return model


def _softmax(z):
    z = z.astype(np.float64) - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)


def _assert_port_is_exact(src, dst, size, seed=0, logits=True):
    x = np.random.default_rng(seed).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    ref = _outputs(src, x)
    scale = np.abs(ref).max()
    assert scale > 0
    assert np.abs(_outputs(dst, x) - ref).max() > 0.1 * scale  # unported: the models differ
    report = kw.port_keras_applications(src, dst)
    out = _outputs(dst, x)
    assert np.abs(out - ref).max() <= 1e-5 * scale  # relative, on logits / features
    if logits:
        assert np.abs(_softmax(out) - _softmax(ref)).max() <= 1e-4
    return report


# ------------------------------------------------------------------- porting


@pytest.fixture(scope="module")
def keras_resnet50():
    return _randomise(keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classifier_activation=None))


def test_port_resnet50_folds_biases_and_epsilons_exactly(keras_resnet50):
    dst = keras_classics.resnet50(input_shape=(64, 64, 3), classifier_activation=None)
    report = _assert_port_is_exact(keras_resnet50, dst, 64)
    # 53 conv + BN pairs (the bias of each folded, 1.001e-5 -> 1e-5 absorbed) and the classifier.
    assert report == {"matched_by": "name", "layers": 54, "folded_biases": 53, "epsilon_adjusted": 53,
                      "unit_gamma": 0, "not_ported": []}
    bn = dst.get_layer("conv1_bn")
    src_conv, src_bn = keras_resnet50.get_layer("conv1_conv"), keras_resnet50.get_layer("conv1_bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), src_bn.moving_mean.numpy() - src_conv.bias.numpy(), atol=1e-6)


def test_port_resnet50_without_top(keras_resnet50):
    src = _randomise(keras.applications.ResNet50(weights=None, include_top=False, pooling="avg"), seed=3)
    dst = keras_classics.resnet50(include_top=False, pooling="avg")
    report = _assert_port_is_exact(src, dst, 48, logits=False)
    assert report["layers"] == 53


def test_port_refuses_resnet_v15(keras_resnet50):
    dst = keras_classics.resnet50(input_shape=(64, 64, 3), stride_in="3x3")
    before = dst.get_layer("conv1_bn").moving_mean.numpy().copy()
    with pytest.raises(ValueError, match=r"(?s)conv3_block1_1_conv.*strides.*v1\.5"):
        kw.port_keras_applications(keras_resnet50, dst)
    np.testing.assert_array_equal(dst.get_layer("conv1_bn").moving_mean.numpy(), before)  # nothing written


def test_port_vgg16_by_name():
    src = _randomise(keras.applications.VGG16(weights=None, input_shape=(32, 32, 3), classifier_activation=None))
    dst = keras_classics.create_model("vgg16", input_shape=(32, 32, 3), classifier_activation=None)
    report = _assert_port_is_exact(src, dst, 32)
    assert report["matched_by"] == "name" and report["layers"] == 16


def test_port_vgg16_without_top():
    src = _randomise(keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)))
    dst = keras_classics.create_model("vgg16", include_top=False, input_shape=(32, 32, 3))
    assert _assert_port_is_exact(src, dst, 32, logits=False)["layers"] == 13


@pytest.fixture(scope="module")
def keras_inception_v3():
    src = keras.applications.InceptionV3(weights=None, input_shape=(75, 75, 3), classifier_activation=None)
    return _randomise(src)


def test_port_inception_v3_by_structure(keras_inception_v3):
    dst = keras_classics.inception_v3(input_shape=(75, 75, 3), classifier_activation=None)
    report = _assert_port_is_exact(keras_inception_v3, dst, 75)
    # Auto-named conv2d_N / batch_normalization_N matched by place; BN without scale -> gamma = 1.
    assert report == {"matched_by": "structure", "layers": 95, "folded_biases": 0, "epsilon_adjusted": 0,
                      "unit_gamma": 94, "not_ported": []}
    np.testing.assert_array_equal(dst.get_layer("mixed_7c_branch_pool_bn").gamma.numpy(), 1.0)


def test_port_inception_v3_leaves_the_aux_head_with_a_warning(keras_inception_v3):
    dst = keras_classics.inception_v3(aux_logits=True, classifier_activation=None)
    with pytest.warns(UserWarning, match="aux_conv0_conv, aux_conv1_conv, aux"):
        report = kw.port_keras_applications(keras_inception_v3, dst)
    assert report["not_ported"] == ["aux_conv0_conv", "aux_conv1_conv", "aux"]
    src_conv = next(l for l in keras_inception_v3.layers if isinstance(l, keras.layers.Conv2D))
    np.testing.assert_array_equal(dst.get_layer("conv2d_1a_3x3_conv").kernel.numpy(), src_conv.kernel.numpy())


def test_port_refuses_another_architecture(keras_inception_v3):
    dst = keras_classics.resnet18(input_shape=(75, 75, 3))
    with pytest.raises(ValueError, match=r"has 95 convolution/dense layers.*'resnet18' has 21"):
        kw.port_keras_applications(keras_inception_v3, dst)


def _tiny(name, *, bn, bias):
    x = inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=bias, name="conv1_conv")(x)
    if bn:
        x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="predictions")(x), name=name)


def test_port_refuses_a_bn_less_destination():
    with pytest.raises(ValueError, match=r"(?s)'bnless'.*conv1_bn.*BN-less model cannot take these weights"):
        kw.port_keras_applications(_tiny("src", bn=True, bias=True), _tiny("bnless", bn=False, bias=True))
    with pytest.raises(ValueError, match=r"conv1_bn has no counterpart"):
        kw.port_keras_applications(_tiny("src", bn=False, bias=True), _tiny("bn", bn=True, bias=False))


# ------------------------------------------------------------- weights files


def test_weights_file_round_trip(tmp_path):
    model = keras_classics.resnet18(classes=5, input_shape=(32, 32, 3))
    _randomise(model)
    path = tmp_path / "resnet18.weights.h5"
    model.save_weights(path)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    again = keras_classics.resnet18(classes=5, input_shape=(32, 32, 3), weights=str(path))
    np.testing.assert_array_equal(_outputs(again, x), _outputs(model, x))
    fresh = keras_classics.resnet18(classes=5, input_shape=(32, 32, 3))
    assert kw.load_weights_file(fresh, path) is fresh
    np.testing.assert_array_equal(_outputs(fresh, x), _outputs(model, x))


def test_weights_file_of_another_architecture_is_refused(tmp_path):
    small, large = tmp_path / "r18.weights.h5", tmp_path / "r34.weights.h5"
    keras_classics.resnet18(classes=5, input_shape=(32, 32, 3)).save_weights(small)
    keras_classics.resnet34(classes=5, input_shape=(32, 32, 3)).save_weights(large)
    with pytest.raises(ValueError, match=r"r18\.weights\.h5.*'resnet34'.*only in the file: none; only in the model: \(3, 3, 512, 512\) x2"):
        keras_classics.resnet34(classes=5, input_shape=(32, 32, 3), weights=str(small))
    # A file with more arrays than the model (Keras alone would load it in part).
    with pytest.raises(ValueError, match=r"r34\.weights\.h5.*'resnet18'.*only in the file"):
        kw.load_weights_file(keras_classics.resnet18(classes=5, input_shape=(32, 32, 3)), large)
    # Same architecture, other number of classes.
    with pytest.raises(ValueError, match=r"only in the file: \(512, 5\), \(5,\); only in the model: \(512, 7\)"):
        keras_classics.resnet18(classes=7, input_shape=(32, 32, 3), weights=str(small))


def test_weights_file_errors(tmp_path):
    model = keras_classics.resnet18(classes=2, input_shape=(32, 32, 3))
    with pytest.raises(FileNotFoundError, match="nothing.weights.h5"):
        kw.load_weights_file(model, tmp_path / "nothing.weights.h5")
    bad = tmp_path / "text.weights.h5"
    bad.write_text("not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        kw.load_weights_file(model, bad)


# --------------------------------------------------------- ImageNet, offline


def test_imagenet_without_network_fails_clearly(tmp_path, monkeypatch):
    # An empty Keras cache, and the one download function failing as urllib does offline.
    from keras.src.backend import config as keras_config

    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.delenv(kw.OFFLINE_ENV, raising=False)

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("keras must not download itself"))
    with pytest.raises(kw.WeightsUnavailableError) as info:
        keras_classics.resnet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    message = str(info.value)
    for part in ("weights 'imagenet' of resnet50",
                 "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                 "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 str(tmp_path / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
                 "Network is unreachable", "keras-classics weights download resnet50 imagenet", "weights="):
        assert part in message
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert list((tmp_path / "models").iterdir()) == []  # nothing half-written


def test_load_imagenet_weights_argument_errors():
    model = keras_classics.resnet18(classes=2, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"No ImageNet weights for 'resnet18'.*resnet50, resnet101"):
        kw.load_imagenet_weights(model, "resnet18")
    with pytest.raises(ValueError, match=r"v1\.5"):
        kw.load_imagenet_weights(model, "resnet50", stride_in="3x3")


def test_port_names_the_missing_layers(keras_resnet50):
    headless = keras_classics.resnet50(include_top=False, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match=r"1 layer\(s\) of 'resnet50' have no namesake.*predictions.*include_top"):
        kw.port_keras_applications(keras_resnet50, headless)
