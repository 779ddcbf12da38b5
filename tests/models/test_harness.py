"""The registry-driven harness: every registered model and variant, the same checks.

Exact trainable parameter counts come from the one table in ``tests/reference.py``
(published figures); the registry's own numbers are checked against it, never
the other way round.
"""

import functools
import inspect
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_classics
from keras_classics import create_model, list_models, model_info
from keras_classics.transforms import preprocess
from tests.helpers import count_trainable
from tests.reference import REFERENCE_PARAMS, key

ALL_MODELS = list_models()
FAMILY_REPS = ["alexnet", "zfnet", "vgg11", "googlenet", "inception_v2", "inception_v3", "resnet18"]
# Deeper stacks of the blocks that a shallower registered model runs in the daily tier: their per-model
# runs (round trip, mixed precision) are slow.
DEEPER = {"resnet101", "resnet152", "resnet44_cifar", "resnet56_cifar", "resnet110_cifar"}


def daily_first(*params):
    """``params`` (a name, or a name and its options) as test parameters, those of ``DEEPER`` marked slow."""
    return [pytest.param(*p, marks=[pytest.mark.slow] if p[0] in DEEPER else []) for p in params]


def registry_configurations():
    """``(name, kwargs, registry count)`` of every registered model, variant and aux-head option."""
    for name in ALL_MODELS:
        info = model_info(name)
        options = [({}, info.params, info.aux_params)]
        options += [(dict(v.kwargs), v.params, v.aux_params) for v in info.variants]
        for kwargs, params, aux_params in options:
            yield name, kwargs, params
            if aux_params is not None:
                yield name, {**kwargs, "aux_logits": True}, aux_params


CONFIGURATIONS = list(registry_configurations())


def small_size(name, **kwargs):
    """The smallest square input the model accepts (aux heads included), at least 32."""
    return _small_size(name, tuple(sorted(kwargs.items())))


@functools.lru_cache(maxsize=None)
def _small_size(name, options):
    kwargs = dict(options)
    size = max(model_info(name).min_size, 32)
    while True:
        try:
            # Deferred initialisation: only whether the builder accepts the size matters here.
            with keras.StatelessScope(initialize_variables=False):
                create_model(name, include_top=bool(kwargs.get("aux_logits")), input_shape=(size, size, 3), **kwargs)
        except ValueError as e:
            if "too small" not in str(e):
                raise
            size += 8
            continue
        keras.backend.clear_session()
        return size


def test_every_registered_configuration_has_a_reference_row():
    assert set(ALL_MODELS) == {name for name, _ in REFERENCE_PARAMS}
    assert {key(n, k) for n, k, _ in CONFIGURATIONS} == set(REFERENCE_PARAMS)
    assert list_models("vgg*") == ["vgg11", "vgg11_bn", "vgg11_lrn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19",
                                   "vgg19_bn"]
    assert list_models(family="resnet") == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


@pytest.mark.parametrize("name,kwargs,registered", CONFIGURATIONS, ids=[f"{n}{k or ''}" for n, k, _ in CONFIGURATIONS])
def test_registry_counts_match_the_reference(name, kwargs, registered):
    assert registered == REFERENCE_PARAMS[key(name, kwargs)]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_model_info_is_complete(name):
    info = model_info(name)
    assert info.paper and info.venue and 1989 < info.year < 2020
    assert 1 <= info.min_size <= info.default_size
    assert info.preprocessing in ("caffe", "torch", "tf")
    assert info.endpoints is not None
    assert f"{info.params:,}" in info.builder.__doc__ and "{counts}" not in info.builder.__doc__
    for weights in info.weights.values():
        # Each set brings its own preprocessing (torchvision's GoogLeNet takes [-1, 1] inputs, the
        # registry's default for training from scratch is the paper's); the size is the model's.
        assert weights.eval_transform.preprocessing in ("caffe", "torch", "tf")
        t = weights.eval_transform  # timm's a1 sets: trained at the model's size, evaluated larger
        assert info.default_size in (t.size, t.train_size) or info.name == "alexnet" or weights.name == "a1h_in1k"
        assert weights.top1 and weights.top5 and weights.file
        assert weights.size_mib or weights.source == "timm"  # the Hub states no size; timm's tables neither


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs,registered", CONFIGURATIONS, ids=[f"{n}{k or ''}" for n, k, _ in CONFIGURATIONS])
def test_exact_trainable_parameters(name, kwargs, registered):
    # Deferred initialisation: the real layers and weight shapes, without drawing
    # ~100 M random numbers per model.
    with keras.StatelessScope(initialize_variables=False):
        model = create_model(name, **kwargs)
        assert count_trainable(model) == REFERENCE_PARAMS[key(name, kwargs)]


def test_deferred_count_equals_initialised_count():
    def build():
        return create_model("alexnet", input_shape=(67, 67, 3), classes=10)

    with keras.StatelessScope(initialize_variables=False):
        deferred = count_trainable(build())
    keras.backend.clear_session(free_memory=False)
    model = build()  # real random initialisation
    # 67x67 leaves a 1x1x256 map: fc6 sees 256 inputs instead of 6*6*256, and 10 classes.
    assert count_trainable(model) == deferred == REFERENCE_PARAMS[key("alexnet")] - 35 * 256 * 4096 - 990 * 4097
    assert np.std(keras.ops.convert_to_numpy(model.get_layer("fc7").kernel)) > 0


@pytest.mark.parametrize("name", daily_first(*[(n,) for n in ALL_MODELS]))
def test_forward_train_step_and_keras_round_trip(name, tmp_path):
    size = small_size(name)
    model = create_model(name, classes=7, input_shape=(size, size, 3))
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    # Eager calls throughout: tracing a graph for each of 18 models costs minutes on 2 cores.
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == (2, 7)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x, training=False)), y, atol=1e-6)

    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", run_eagerly=True)
    before = [w.numpy().copy() for w in model.trainable_weights[:3]]
    logs = model.train_on_batch(x, np.array([1, 3]), return_dict=True)
    assert np.isfinite(logs["loss"])
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights[:3]))


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_aux_heads_fit_with_loss_dict(name):
    size = small_size(name, aux_logits=True)
    model = create_model(name, classes=4, input_shape=(size, size, 3), aux_logits=True)
    out_names = sorted(model.output)
    assert out_names == (["aux_1", "aux_2", "predictions"] if name == "googlenet" else ["aux", "predictions"])
    x = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    y = np.array([0, 3])
    weights = {k: (1.0 if k == "predictions" else 0.3) for k in out_names}
    model.compile(
        optimizer="sgd",
        loss={k: "sparse_categorical_crossentropy" for k in out_names},
        loss_weights=weights,
        run_eagerly=True,
    )
    hist = model.fit(x, {k: y for k in out_names}, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    main = keras_classics.strip_aux(model)
    assert len(main.outputs) == 1 and main.count_params() < model.count_params()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(main(x)), keras.ops.convert_to_numpy(model(x)["predictions"]), atol=1e-6
    )


@pytest.mark.parametrize("name", FAMILY_REPS)
@pytest.mark.parametrize("pooling,rank", [(None, 4), ("avg", 2), ("max", 2)])
def test_headless_pooling(name, pooling, rank):
    size = small_size(name)
    model = create_model(name, include_top=False, pooling=pooling, input_shape=(size, size, 3))
    assert len(model.output.shape) == rank


@pytest.mark.parametrize("name", FAMILY_REPS)
def test_backbone_endpoints_shrink(name):
    info = model_info(name)
    with keras.StatelessScope(initialize_variables=False):  # shapes at the paper's size, no initial values drawn
        feats = keras_classics.create_backbone(name, input_shape=(info.default_size, info.default_size, 3))
    names = info.endpoints()
    assert list(feats.output) == names and len(names) >= 3
    sides = [feats.output[n].shape[1] for n in names]
    assert sides == sorted(sides, reverse=True) and sides[-1] < info.default_size // 8


# Relative error of the logits allowed against float32: float16 keeps 11 bits of mantissa,
# bfloat16 8; a layer that overflows (an LRN computing its squares in float16) is far off.
MIXED_TOLERANCE = {"mixed_float16": 0.02, "mixed_bfloat16": 0.15}


def _without_dropout(name):
    """Builder options that turn dropout off, so that two forward passes in training mode agree."""
    options = inspect.signature(model_info(name).builder).parameters
    return {k: 0.0 for k in ("dropout", "aux_dropout") if k in options}


@pytest.mark.parametrize("name,kwargs", daily_first(*[(n, {}) for n in ALL_MODELS], ("googlenet", {"variant": "bn"})))
def test_mixed_precision_at_realistic_scale(name, kwargs):
    # Pixels 0-255 through the model's own preprocessing, and through Caffe's mean subtraction
    # (the largest scale any recipe feeds): on such inputs GoogLeNet's first LRN sees
    # activations of several hundred at initialisation. A training step's forward pass (batch
    # norm on the batch's statistics, dropout off), which is where mixed precision runs: every
    # output finite. Without batch norm the logits must also agree with float32 (an LRN whose
    # squares overflow float16 returns zeros, finite but wrong); with it, normalising by the
    # variance of a 4-image batch amplifies rounding too much for that comparison to mean much.
    size = small_size(name, **kwargs)
    pixels = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3)).astype("float32")
    inputs = np.concatenate([preprocess(pixels, model_info(name).preprocessing), preprocess(pixels, "caffe")])
    kwargs = {**kwargs, **_without_dropout(name)}
    reference = create_model(name, classes=5, input_shape=(size, size, 3), classifier_activation=None, **kwargs)
    want = keras.ops.convert_to_numpy(reference(inputs, training=True))
    for policy, tolerance in MIXED_TOLERANCE.items():
        keras.config.set_dtype_policy(policy)
        model = create_model(name, classes=5, input_shape=(size, size, 3), classifier_activation=None, **kwargs)
        model.set_weights(reference.get_weights())
        out = model(inputs, training=True)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        got = keras.ops.convert_to_numpy(out)
        assert np.all(np.isfinite(got)), policy
        if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
            error = np.linalg.norm(got - want) / np.linalg.norm(want)
            assert error < tolerance, (policy, error)
        weighted = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
        assert weighted[0].compute_dtype == policy.split("_")[1]
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_mixed_precision_aux_heads_output_float32(name):
    # Every head's classifier computes in float32 (checked on the built graph; the
    # numerical run above covers the shared path).
    keras.config.set_dtype_policy("mixed_float16")
    size = small_size(name, aux_logits=True)
    model = create_model(name, classes=3, input_shape=(size, size, 3), aux_logits=True)
    assert len(model.output) >= 2
    for key, tensor in model.output.items():
        assert keras.backend.standardize_dtype(tensor.dtype) == "float32", key


@pytest.mark.slow
def test_jax_backend_builds_and_runs_every_family_without_tensorflow():
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        import jax
        import keras_classics as kc
        import keras
        assert keras.backend.backend() == "jax", keras.backend.backend()

        def forward(model, x):
            # One jitted program per model: cheaper than compiling every op of an eager call.
            fn = jax.jit(lambda tv, ntv, x: model.stateless_call(tv, ntv, x)[0])
            return fn([v.value for v in model.trainable_variables],
                      [v.value for v in model.non_trainable_variables], x)

        for name in {FAMILY_REPS!r}:
            info = kc.model_info(name)
            size = max(info.min_size, 32)
            if name == "googlenet":  # the auxiliary heads too; they need 65x65
                m = kc.create_model(name, classes=3, aux_logits=True, input_shape=(65, 65, 3))
                out = forward(m, np.random.rand(1, 65, 65, 3).astype("float32"))
                assert sorted(out) == ["aux_1", "aux_2", "predictions"], sorted(out)
                y = np.asarray(out["predictions"])
            else:
                m = kc.create_model(name, classes=3, input_shape=(size, size, 3))
                y = np.asarray(forward(m, np.random.rand(1, size, size, 3).astype("float32")))
            assert y.shape == (1, 3) and abs(y.sum() - 1) < 1e-4, (name, y)
        assert "tensorflow" not in sys.modules, "TensorFlow was imported on the model path"
        print("JAX OK")
        """
    )
    # Cheaper XLA compilation of the many small per-op programs of an eager run.
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "JAX OK" in res.stdout


# ---------------------------------------------------------------- bad input


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"resnet50.*Available models"):
        create_model("resnet05")
    with pytest.raises(ValueError, match="'googlenet'"):
        model_info("googlnet")


def test_input_too_small_names_the_minimum():
    info = model_info("inception_v3")
    with pytest.raises(ValueError, match=rf"at least {info.min_size}x{info.min_size}"):
        create_model("inception_v3", input_shape=(info.min_size - 1, info.min_size - 1, 3))
    create_model("inception_v3", include_top=False, input_shape=(info.min_size, info.min_size, 3))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"input_shape": (64, 64)}, "3 entries"),
        ({"input_shape": (64, 64, 0)}, r"each entry a positive integer.*\(64, 64, 0\)"),
        ({"classes": 0}, "positive integer"),
        ({"classes": 2.5}, "positive integer"),
        ({"pooling": "mean", "include_top": False}, "pooling"),
        ({"weights": "imagenet", "classes": 10}, "classes` must be 1000"),
        ({"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 1)}, "3 input channels"),
        ({"weights": "nope.txt"}, "weights"),
        ({"weights": "missing.weights.h5"}, "not found"),
    ],
)
def test_bad_arguments_are_clear(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_model("resnet50", **kwargs)


def test_imagenet_not_published_for_resnet18():
    with pytest.raises(ValueError, match="Unknown weights set 'imagenet' for 'resnet18'. Sets of 'resnet18': "
                                         "'torchvision'"):
        create_model("resnet18", weights="imagenet")


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_aux_logits_needs_the_top(name):
    with pytest.raises(ValueError, match="aux_logits=True"):
        create_model(name, include_top=False, aux_logits=True)


def test_weights_file_of_another_architecture(tmp_path):
    path = tmp_path / "r18.weights.h5"
    create_model("resnet18", classes=5, input_shape=(32, 32, 3)).save_weights(path)
    keras.backend.clear_session()
    same = create_model("resnet18", classes=5, input_shape=(32, 32, 3), weights=str(path))
    assert same.name == "resnet18"
    keras.backend.clear_session()
    with pytest.raises(ValueError, match="r18.weights.h5"):
        create_model("resnet34", classes=5, input_shape=(32, 32, 3), weights=str(path))


def test_registry_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        keras_classics.register_model("resnet50", paper="x", venue="x", year=2015, default_size=224,
                                      min_size=1, preprocessing="caffe", params=1)(lambda **k: None)
