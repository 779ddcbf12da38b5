"""GoogLeNet and BN-Inception specifics: what makes the variants differ, aux heads, the modules.

The registry-driven harness covers what every model shares (save/load, JAX,
mixed precision); this file checks what only this family has.
"""

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_classics  # noqa: E402
from keras_classics import googlenet, inception_module, inception_v2, model_info, naive_inception_module  # noqa: E402
from tests.helpers import count_trainable  # noqa: E402
from tests.reference import expected  # noqa: E402

googlenet_module = importlib.import_module("keras_classics.models.googlenet")


@pytest.fixture
def fresh():
    """A cleared Keras session (layer names and memory start afresh for each model)."""
    keras.backend.clear_session()


# --------------------------------------------------------------------------- variants


@pytest.mark.parametrize("variant", ["paper", "bn", "torchvision"])
def test_googlenet_variants_differ_where_documented(variant):
    with keras.StatelessScope(initialize_variables=False):
        model = googlenet(variant=variant)
    kernel = model.get_layer("inception_3a_5x5_conv").kernel.shape
    assert tuple(kernel) == ((3, 3, 16, 32) if variant == "torchvision" else (5, 5, 16, 32))
    names = {layer.name for layer in model.layers}
    assert ("norm1" in names and "norm2" in names) == (variant == "paper")
    assert ("inception_3a_1x1_bn" in names) == (variant != "paper")
    assert model.get_layer("inception_3a_1x1_conv").use_bias == (variant == "paper")


@pytest.mark.parametrize("variant", ["paper", "caffe"])
def test_inception_v2_caffe_difference_itemized(variant):
    with keras.StatelessScope(initialize_variables=False):
        model = inception_v2(variant=variant)
    # Figure 5: 576 channels out of every 14x14 module; the Caffe release widens 4c/4d to 608.
    width_4d = 608 if variant == "caffe" else 576
    assert model.get_layer("inception_4d_output").output.shape[-1] == width_4d
    assert model.get_layer("inception_4e_output").output.shape[-1] == width_4d + 192 + 256
    # The difference, itemized as in the module docstring: conv biases, then the wider 4c/4d
    # projections and what they widen downstream.
    biases = sum(int(np.prod(w.shape)) for w in model.trainable_weights if w.path.endswith("_conv/bias"))
    assert biases == (10_016 if variant == "caffe" else 0)
    kwargs = {"variant": "caffe"} if variant == "caffe" else {}
    assert count_trainable(model) - biases - expected("inception_v2") == (90_240 if variant == "caffe" else 0)
    assert count_trainable(model) == expected("inception_v2", **kwargs)


# --------------------------------------------------------------------------- modules


def test_naive_and_reduced_module_counts_by_hand(fresh):
    """Module 3a on its 28x28x192 input: why the 1x1 reductions were needed."""
    cin = 192

    def conv(k, c_in, c_out, bias=True):
        return k * k * c_in * c_out + (c_out if bias else 0)

    naive = conv(1, cin, 64) + conv(3, cin, 128) + conv(5, cin, 32)  # 12,352 + 221,312 + 153,632
    reduced = (
        conv(1, cin, 64)
        + conv(1, cin, 96) + conv(3, 96, 128)
        + conv(1, cin, 16) + conv(5, 16, 32)
        + conv(1, cin, 32)
    )
    assert (naive, reduced) == (387_296, 163_696)

    x = keras.Input((28, 28, cin))
    y_naive = naive_inception_module(x, (64, 128, 32), name="naive")
    y_reduced = inception_module(x, (64, 96, 128, 16, 32, 32), name="inception_3a")
    assert count_trainable(keras.Model(x, y_naive)) == naive
    assert count_trainable(keras.Model(x, y_reduced)) == reduced
    # The naive pooling branch passes all 192 input channels through.
    assert y_naive.shape[-1] == 64 + 128 + 32 + cin == 416
    assert y_reduced.shape[-1] == 256

    # With batch norm: no conv bias, gamma and beta per channel (one extra weight each).
    y_bn = inception_module(x, (64, 96, 128, 16, 32, 32), name="bn_3a", batch_norm=True)
    assert count_trainable(keras.Model(x, y_bn)) == reduced + (64 + 96 + 128 + 16 + 32 + 32)


def test_module_filters_are_validated():
    x = keras.Input((28, 28, 192))
    with pytest.raises(ValueError, match="pool proj"):
        inception_module(x, (64, 96, 128), name="m")
    with pytest.raises(ValueError, match=r"#1x1, #3x3, #5x5"):
        naive_inception_module(x, (64, 96, 128, 16), name="n")


# --------------------------------------------------------------------------- endpoints


def test_googlenet_endpoint_shapes_at_224(fresh):
    expected = [(112, 112, 64), (56, 56, 192), (28, 28, 480), (14, 14, 832), (7, 7, 1024)]
    names = model_info("googlenet").endpoints(variant="bn")
    assert names[1] == "conv2_3x3_relu" and model_info("googlenet").endpoints()[1] == "norm2"
    # Through the public backbone helper, with a real forward pass.
    feats = keras_classics.create_backbone("googlenet", input_shape=(224, 224, 3), variant="bn")
    assert [tuple(feats.output[n].shape[1:]) for n in names] == expected
    out = feats(np.zeros((1, 224, 224, 3), "float32"))
    assert [tuple(out[n].shape[1:]) for n in names] == expected


def test_inception_v2_endpoint_shapes_at_224(fresh):
    model = inception_v2(include_top=False, input_shape=(224, 224, 3))
    names = model_info("inception_v2").endpoints()
    shapes = [tuple(model.get_layer(n).output.shape[1:]) for n in names]
    assert shapes == [(112, 112, 64), (56, 56, 192), (28, 28, 320), (14, 14, 576), (7, 7, 1024)]
    assert tuple(model.get_layer("inception_3c_output").output.shape[1:]) == (14, 14, 576)


def test_odd_input_sizes_keep_branches_aligned(fresh):
    """Stride-2 modules: padded 3x3/2 convs and 'same' pools both give ceil(N/2)."""
    model = inception_v2(classes=3, input_shape=(97, 97, 3))
    assert tuple(model.get_layer("inception_3c_output").output.shape[1:3]) == (7, 7)  # 97→49→25→13→7
    assert model.output.shape == (None, 3)


# --------------------------------------------------------------------------- aux heads


def test_aux_outputs_dict_and_strip_aux_shares_weights(fresh):
    model = googlenet(aux_logits=True, classes=5, input_shape=(96, 96, 3))
    assert isinstance(model.output, dict)
    assert sorted(model.output) == ["aux_1", "aux_2", "predictions"]
    assert all(tuple(t.shape) == (None, 5) for t in model.output.values())
    # aux_1 reads 4a, aux_2 reads 4d (input channels of their 1x1 projections).
    assert model.get_layer("aux_1_proj_conv").kernel.shape[2] == 512
    assert model.get_layer("aux_2_proj_conv").kernel.shape[2] == 528

    main = keras_classics.strip_aux(model)
    assert main.output.shape == (None, 5)
    assert main.get_layer("predictions") is model.get_layer("predictions")
    assert not any(layer.name.startswith("aux_") for layer in main.layers)
    x = np.random.default_rng(0).random((2, 96, 96, 3)).astype("float32")
    np.testing.assert_allclose(main(x, training=False), model(x, training=False)["predictions"], rtol=1e-6)


def test_torchvision_aux_heads_work_at_any_size(fresh):
    model = googlenet(variant="torchvision", aux_logits=True, classes=4, input_shape=(None, None, 3))
    out = model(np.zeros((1, 48, 64, 3), "float32"))
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (1, 4) for k in ("predictions", "aux_1", "aux_2")}


# --------------------------------------------------------------------------- bad input


def test_min_input_size_with_paper_aux_heads(fresh):
    # 4a is ceil(N / 16) pixels wide and the aux head's 5x5/3 valid pool needs 5 of them.
    assert googlenet_module.MIN_SIZE_AUX == 65
    assert model_info("googlenet").min_size == googlenet_module.MIN_SIZE == 1
    with pytest.raises(ValueError, match=r"at least 65x65") as err:
        googlenet(aux_logits=True, input_shape=(64, 64, 3))
    assert "(64, 64, 3)" in str(err.value)
    keras.backend.clear_session()
    assert googlenet(aux_logits=True, classes=2, input_shape=(65, 65, 3)).output["aux_1"].shape == (None, 2)


def test_paper_aux_heads_need_a_fixed_size():
    with pytest.raises(ValueError, match="fixed input size"):
        googlenet(aux_logits=True, input_shape=(None, None, 3))


@pytest.mark.parametrize(
    "builder, kwargs, match",
    [
        (googlenet, {"variant": "v1"}, r"'paper', 'bn', 'torchvision'.*variant='v1'"),
        (inception_v2, {"variant": "bn"}, r"'paper', 'caffe'.*variant='bn'"),
        (googlenet, {"dropout": 1.0}, r"dropout=1.0"),
        (googlenet, {"aux_dropout": -0.1}, r"aux_dropout=-0.1"),
        (googlenet, {"aux_logits": "yes"}, r"aux_logits='yes'"),
        (inception_v2, {"dropout": "0.2"}, r"dropout='0.2'"),
        (googlenet, {"weights": "imagenet"}, r"Unknown weights set 'imagenet' for 'googlenet'. Sets of 'googlenet': 'torchvision'"),
    ],
)
def test_bad_options_name_what_was_received(builder, kwargs, match):
    with pytest.raises(ValueError, match=match):
        builder(**kwargs)
