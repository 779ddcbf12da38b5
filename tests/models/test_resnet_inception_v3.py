"""ResNet 18-152 and Inception v3: shapes, stride placement, blocks, errors (counts: test_harness.py).

Models at the paper's size are built once per module (``_built``) and shared by
the tests that only inspect them.
"""

import functools

import keras
import numpy as np
import pytest

import keras_classics
from keras_classics import model_info
from keras_classics.models import resnet
from tests.helpers import count_trainable
from tests.reference import expected

@functools.lru_cache(maxsize=None)
def _built(name, **kwargs):
    return keras_classics.create_model(name, **kwargs)


# --------------------------------------------------------------------- ResNet


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_endpoint_shapes_at_224(depth):
    model = _built(f"resnet{depth}")
    expansion = 1 if depth == 18 else 4
    names = model_info(f"resnet{depth}").endpoints()
    expected = [(112, 112, 64)] + [(s, s, f * expansion) for s, f in zip((56, 28, 14, 7), (64, 128, 256, 512))]
    assert [tuple(model.get_layer(n).output.shape[1:]) for n in names] == expected


def test_resnet_endpoint_names_follow_the_spec_table():
    assert model_info("resnet152").endpoints() == [
        "conv1_relu", "conv2_block3_out", "conv3_block8_out", "conv4_block36_out", "conv5_block3_out"
    ]
    assert resnet.RESNET_SPECS[101].blocks == (3, 4, 23, 3)


def _strides(model, name):
    return tuple(model.get_layer(name).get_config()["strides"])


def test_v1_puts_the_stride_on_the_first_1x1_and_v15_on_the_3x3():
    v1, v15 = _built("resnet50"), _built("resnet50", stride_in="3x3")
    names_v1 = {l.name for l in v1.layers}
    names_v15 = {l.name for l in v15.layers}
    for stage, blocks in zip((2, 3, 4, 5), resnet.RESNET_SPECS[50].blocks):
        for b in range(1, blocks + 1):
            down = (2, 2) if (b == 1 and stage > 2) else (1, 1)
            block = f"conv{stage}_block{b}"
            assert _strides(v1, f"{block}_1_conv") == down and _strides(v1, f"{block}_2_conv") == (1, 1)
            assert _strides(v15, f"{block}_1_conv") == (1, 1) and _strides(v15, f"{block}_2_conv") == down
            assert _strides(v1, f"{block}_3_conv") == (1, 1) == _strides(v15, f"{block}_3_conv")
            # Projection exactly where the shape changes: block 1 of every stage (64 -> 256 in conv2).
            assert (f"{block}_0_conv" in names_v1) == (b == 1) == (f"{block}_0_conv" in names_v15)
            if b == 1:
                assert _strides(v1, f"{block}_0_conv") == down == _strides(v15, f"{block}_0_conv")
            # v1.5 pads its strided 3x3 symmetrically (Caffe / PyTorch), v1 needs no padding layer.
            assert (f"{block}_2_pad" in names_v15) == (down == (2, 2))
            assert f"{block}_2_pad" not in names_v1
    for model in (v1, v15):
        assert all(not l.get_config()["use_bias"] for l in model.layers if isinstance(l, keras.layers.Conv2D))


def test_keras_applications_layer_names():
    names = [l.name for l in _built("resnet50").layers]
    assert names[:7] == ["image", "conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad", "pool1_pool"]
    for n in ("conv2_block1_0_bn", "conv2_block1_1_relu", "conv2_block1_3_bn", "conv2_block1_add",
              "conv2_block1_out", "conv5_block3_out", "avg_pool", "predictions"):
        assert n in names


def _block_params(block, input_shape, filters, **kwargs):
    x = keras.Input(input_shape)
    y = block(x, filters, name="b", **kwargs)
    return count_trainable(keras.Model(x, y)), tuple(y.shape[1:])


def test_basic_block_parameters_by_hand():
    # Identity block: two 3x3 convs 64->64 without bias, two BNs (gamma, beta).
    assert _block_params(resnet.basic_block, (56, 56, 64), 64) == (2 * 3 * 3 * 64 * 64 + 2 * 2 * 64, (56, 56, 64))
    # Down-sampling block: 3x3 64->128, 3x3 128->128, 1x1 projection 64->128, three BNs.
    by_hand = 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 64 * 128 + 3 * 2 * 128
    assert by_hand == 230_144
    assert _block_params(resnet.basic_block, (56, 56, 64), 128, stride=2) == (by_hand, (28, 28, 128))


@pytest.mark.parametrize("stride_in", ["1x1", "3x3"])
def test_bottleneck_block_parameters_by_hand(stride_in):
    # conv2_block1 of ResNet-50: 1x1 64->64, 3x3 64->64, 1x1 64->256, projection 64->256.
    by_hand = 64 * 64 + 3 * 3 * 64 * 64 + 64 * 256 + 64 * 256 + 2 * (64 + 64 + 256 + 256)
    assert by_hand == 75_008
    assert _block_params(resnet.bottleneck_block, (56, 56, 64), 64, stride_in=stride_in) == (by_hand, (56, 56, 256))
    # conv3_block1: 256 -> 512 at stride 2.
    by_hand = 256 * 128 + 3 * 3 * 128 * 128 + 128 * 512 + 256 * 512 + 2 * (128 + 128 + 512 + 512)
    assert _block_params(resnet.bottleneck_block, (56, 56, 256), 128, stride=2, stride_in=stride_in) == (
        by_hand, (28, 28, 512))


def test_zero_init_residual_zeroes_the_last_gamma_of_each_block():
    model = keras_classics.resnet18(classes=3, input_shape=(32, 32, 3), zero_init_residual=True)
    last = [l for l in model.layers if l.name.endswith("_2_bn")]
    assert len(last) == 8 and all(np.all(l.gamma.numpy() == 0) for l in last)
    others = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization) and l not in last]
    assert others and all(np.all(l.gamma.numpy() == 1) for l in others)
    # Each identity block then starts as relu(input): check conv2_block2 numerically.
    probe = keras.Model(model.inputs, [model.get_layer("conv2_block1_out").output,
                                       model.get_layer("conv2_block2_out").output])
    a, b = probe([np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 3)).astype("float32")])
    np.testing.assert_allclose(b, np.maximum(a, 0), atol=1e-6)


def test_resnet_runs_at_small_and_odd_sizes_and_with_input_tensor():
    assert model_info("resnet18").min_size == resnet.MIN_SIZE == 1  # fully convolutional: any size passes
    model = keras_classics.resnet18(classes=5, input_shape=(33, 47, 3))
    y = keras.ops.convert_to_numpy(model(np.random.default_rng(0).uniform(-1, 1, (2, 33, 47, 3)).astype("float32")))
    assert y.shape == (2, 5)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    tensor = keras.Input((40, 40, 3))
    headless = keras_classics.resnet34(include_top=False, input_tensor=tensor)
    assert headless.inputs[0] is tensor and headless.output.shape == (None, 2, 2, 512)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"stride_in": "2x2"}, r"stride_in.*'1x1', '3x3'.*Received: stride_in='2x2'"),
        ({"weights": "imagenet", "stride_in": "3x3"}, "v1.5"),
        ({"zero_init_residual": "yes"}, "zero_init_residual"),
        ({"classes": 0}, "classes"),
        ({"input_shape": (32, 32, 3, 1)}, "3 entries"),
    ],
)
def test_resnet_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_classics.resnet50(**kwargs)


def test_basic_blocks_have_no_stride_in_option():
    with pytest.raises(TypeError, match="stride_in"):
        keras_classics.resnet18(stride_in="3x3")
    with pytest.raises(ValueError, match="stride_in"):
        resnet.bottleneck_block(keras.Input((8, 8, 16)), 4, name="b", stride_in="1x3")


# --------------------------------------------------------------- Inception v3

def _v3_module():
    import sys

    return sys.modules["keras_classics.models.inception_v3"]


def test_inception_v3_aux_head_by_hand():
    # 1x1 conv 768->128 + BN, 5x5 conv 128->768 + BN, fc 768->1000.
    head = (768 * 128 + 2 * 128) + (5 * 5 * 128 * 768 + 2 * 768) + (768 * 1000 + 1000)
    assert expected("inception_v3", aux_logits=True) - expected("inception_v3") == head


def test_inception_v3_endpoint_shapes_at_299():
    model = _built("inception_v3")
    shapes = [tuple(model.get_layer(n).output.shape[1:]) for n in model_info("inception_v3").endpoints()]
    assert shapes == [(147, 147, 64), (71, 71, 192), (35, 35, 288), (17, 17, 768), (8, 8, 2048)]
    channels = {m: model.get_layer(m).output.shape[-1] for m in
                ("mixed_5b", "mixed_5c", "mixed_6a", "mixed_6b", "mixed_7a", "mixed_7b")}
    assert channels == {"mixed_5b": 256, "mixed_5c": 288, "mixed_6a": 768, "mixed_6b": 768, "mixed_7a": 1280,
                        "mixed_7b": 2048}


def test_inception_v3_layers_as_released():
    model = _built("inception_v3")
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(convs) == len(bns) == 94  # as in keras.applications / tf-slim
    assert not any(c.use_bias for c in convs)
    assert all(b.epsilon == 1e-3 and b.scale and b.center for b in bns)
    assert model.get_layer("dropout").rate == 0.2
    assert model.get_layer("mixed_6b_branch7x7_2_conv").kernel_size == (1, 7)
    assert model.get_layer("mixed_7b_branch3x3dbl_3b_conv").kernel_size == (3, 1)
    assert model.get_layer("conv2d_1a_3x3_conv").strides == (2, 2)


def test_inception_v3_min_sizes_from_the_layers():
    v3 = _v3_module()
    assert (v3.MIN_SIZE, v3.MIN_SIZE_AUX) == (75, 299)
    assert model_info("inception_v3").min_size == 75
    with pytest.raises(ValueError, match="at least 75x75"):
        keras_classics.inception_v3(include_top=False, input_shape=(74, 74, 3))
    with pytest.raises(ValueError, match="at least 299x299"):
        keras_classics.inception_v3(aux_logits=True, input_shape=(298, 298, 3))
    small = keras_classics.inception_v3(include_top=False, input_shape=(75, 75, 3))
    assert small.output.shape == (None, 1, 1, 2048)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"aux_logits": True, "include_top": False}, "aux_logits=True"),
        ({"aux_logits": "yes"}, "aux_logits"),
        ({"dropout": 1.5}, r"dropout.*Received: dropout=1.5"),
        ({"pooling": "sum", "include_top": False}, "pooling"),
    ],
)
def test_inception_v3_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_classics.inception_v3(**kwargs)
