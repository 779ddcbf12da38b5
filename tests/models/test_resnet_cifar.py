"""The CIFAR-10 ResNets of He et al. (Section 4.2) and the experiments' small networks."""

import keras
import numpy as np
import pytest

from keras_classics import create_model, list_models, model_info
from keras_classics.models.resnet_cifar import CIFAR_DEPTHS, ZeroPadShortcut
from tests.helpers import count_trainable
from tests.reference import REFERENCE_PARAMS, key

CIFAR = ["resnet20_cifar", "resnet32_cifar", "resnet44_cifar", "resnet56_cifar", "resnet110_cifar"]


def test_registered_in_depth_order():
    assert list_models("*_cifar") == CIFAR
    assert all(model_info(n).default_size == 32 and model_info(n).family == "resnet_cifar" for n in CIFAR)


@pytest.mark.parametrize("name", CIFAR)
@pytest.mark.parametrize("plain", [False, True])
def test_exact_counts_and_6n_plus_2_layers(name, plain):
    with keras.StatelessScope(initialize_variables=False):
        model = create_model(name, plain=plain)
        assert count_trainable(model) == REFERENCE_PARAMS[key(name, {"plain": True} if plain else {})]
        assert model.output.shape == (None, 10)
        depth = int(name[len("resnet"):-len("_cifar")])
        weighted = [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense))]
        assert len(weighted) == 6 * CIFAR_DEPTHS[depth] + 2 == depth
        adds = [l for l in model.layers if isinstance(l, keras.layers.Add)]
        assert len(adds) == (0 if plain else 3 * CIFAR_DEPTHS[depth])
        shortcuts = [l for l in model.layers if isinstance(l, ZeroPadShortcut)]
        assert len(shortcuts) == (0 if plain else 2) and all(not l.weights for l in shortcuts)
        assert model.get_layer("conv4_block1_out").output.shape == (None, 8, 8, 64)


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 16)).astype("float32")
    y = keras.ops.convert_to_numpy(ZeroPadShortcut(32, 2)(x))
    assert y.shape == (2, 3, 3, 32)
    np.testing.assert_array_equal(y[..., :16], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(y[..., 16:], 0.0)


def test_round_trip_with_the_shortcut_layer(tmp_path):
    model = create_model("resnet20_cifar", input_shape=(16, 16, 3))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    path = tmp_path / "r20.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                               atol=1e-6)


def test_plain_twin_differs_only_by_the_shortcuts():
    res = create_model("resnet20_cifar")
    plain = create_model("resnet20_cifar", plain=True)
    res_names = {l.name for l in res.layers}
    plain_names = {l.name for l in plain.layers}
    assert plain_names < res_names
    assert all(n.endswith(("_add", "_shortcut")) for n in res_names - plain_names)


def test_bad_options_name_what_is_accepted():
    with pytest.raises(ValueError, match="plain.*True or False"):
        create_model("resnet20_cifar", plain="yes")
    with pytest.raises(ValueError, match="activation.*'relu', 'tanh'"):
        create_model("convnet4", activation="sigmoid")
    with pytest.raises(ValueError, match="hidden"):
        create_model("mlp", hidden=[0])


def test_small_networks_counts():
    assert count_trainable(create_model("convnet4")) == REFERENCE_PARAMS[key("convnet4")]
    assert count_trainable(create_model("convnet4", activation="tanh")) == REFERENCE_PARAMS[key("convnet4")]
    assert count_trainable(create_model("mlp")) == REFERENCE_PARAMS[key("mlp")]
    from keras_classics.models.small_nets import mlp_params

    assert count_trainable(create_model("mlp", hidden=(29, 7), classes=4)) == mlp_params(3072, (29, 7), 4)
