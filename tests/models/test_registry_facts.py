"""Each registry entry's stated figures equal what its built model computes.

An entry states its trainable parameters, multiply-adds and depth at the paper's
input, and its minimum input with and without the auxiliary heads, so that
``keras-classics list`` and ``compare`` show them without building anything.
Here every model is built (without drawing initial values) and measured by the
inspector. The daily tier checks a few quick models, GoogLeNet's auxiliary
minimum among them; the others are ``slow``. The family modules import Keras only
when a model is built, so the entries read without it.
"""

import os
import subprocess
import sys

import keras
import pytest

from keras_classics import inspect
from keras_classics.models import list_models, model_info

# Quick to build, and between them: a flattening classifier, global pooling, custom layers
# (LRN, the zero-pad shortcut), a Dense-only network and auxiliary heads.
DAILY = ("alexnet", "convnet4", "googlenet", "mlp", "resnet20_cifar")


def _build(name, **kwargs):
    with keras.StatelessScope(initialize_variables=False):  # the layers and shapes are real; no random values
        return model_info(name).build(**kwargs)


def _smallest_map(model) -> int:
    """The smallest height or width of any 4-D tensor of the model (its input included)."""
    sides = [d for layer in model.layers for out in keras.tree.flatten(layer.output)
             if len(out.shape) == 4 for d in out.shape[1:3]]
    return min(sides)


def check_stated_figures(name):
    info = model_info(name)
    totals = inspect.summary(_build(name)).totals
    size = info.default_size
    assert tuple(totals["input_shape"][:2]) == (size, size), f"{name}: built at {totals['input_shape']}"
    stated = {"params": info.params, "macs": info.macs, "depth": info.depth}
    built = {"params": totals["trainable_params"], "macs": totals["macs"], "depth": totals["weighted_depth"]}
    assert built == stated, f"{name}: the registry states {stated}, the built model computes {built}"


def check_minimum_inputs(name):
    info = model_info(name)
    for aux in (False, True) if info.has_aux else (False,):
        options = {"aux_logits": True} if aux else {}
        size = info.min_input(aux)
        model = _build(name, input_shape=(size, size, 3), **options)
        # Tight: at the stated minimum some map is down to one pixel, so one pixel less leaves none.
        assert _smallest_map(model) == 1, f"{name} (aux={aux}): no 1-pixel map at the stated minimum {size}"
        if size > 1:
            with pytest.raises(ValueError, match="too small"):
                _build(name, input_shape=(size - 1, size - 1, 3), **options)


@pytest.mark.parametrize("name", DAILY)
def test_stated_figures_of_quick_models(name):
    check_stated_figures(name)
    check_minimum_inputs(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in list_models() if n not in DAILY])
def test_stated_figures_of_every_other_model(name):
    check_stated_figures(name)
    check_minimum_inputs(name)


def test_every_entry_states_its_figures():
    for name in list_models():
        info = model_info(name)
        assert isinstance(info.macs, int) and info.macs > 0, name
        assert isinstance(info.depth, int) and info.depth > 0, name
        assert (info.aux_min_size is not None) == info.has_aux, name
    assert model_info("googlenet").min_input(aux_logits=True) == 65  # 4a must be 5x5 for the aux pool
    assert model_info("googlenet").min_input() == 1


def test_an_entry_with_aux_heads_states_both_counts_and_minima():
    info = model_info("resnet18")
    fields = {k: getattr(info, k) for k in info.__dataclass_fields__ if k != "name"}
    with pytest.raises(ValueError, match="aux_min_size"):
        type(info)(name="x", **{**fields, "aux_params": 1})
    with pytest.raises(ValueError, match="`macs` must be a non-negative integer"):
        type(info)(name="x", **{**fields, "macs": 1.5e9})


@pytest.mark.slow  # a fresh process importing Keras: about 10 s on a loaded machine
def test_the_models_import_without_keras_and_register_their_layers_once_it_loads():
    # The registry entries (what `keras-classics list` reads) need no Keras; a .keras file holding the
    # package's own layers still loads with Keras's loader after `import keras_classics.models`, in
    # either import order.
    check = ("print(all(keras.saving.get_registered_object(f'keras_classics>{n}') is not None "
             "for n in ('LocalResponseNormalization', 'ZeroPadShortcut')))")
    models_first = ("import sys, keras_classics.models as m; print(len(m.list_models()), 'keras' in sys.modules); "
                    "import keras; " + check)
    keras_first = "import keras, keras_classics.models; " + check
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    out = subprocess.run([sys.executable, "-c", models_first], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == [str(len(list_models())), "False", "True"], out.stderr
    out = subprocess.run([sys.executable, "-c", keras_first], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["True"], out.stderr
