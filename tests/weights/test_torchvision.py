"""torchvision's weights in our models: exact ports, checked against torchvision's own logits.

No torch here: the weights are rebuilt from a seed in torchvision's layout
(``torchvision_golden.py``), written to a ``.safetensors`` file, loaded through
``create_model(name, weights=PATH)``, and the logits compared with those
torchvision computed from the same arrays (recorded once with torch).
"""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_classics.transforms import preprocess
from keras_classics.models import create_model, list_models, model_info
from keras_classics.weights import to_torchvision_state_dict
from tests.torchvision_golden import load_golden, random_pixels, random_state_dict

CASES, ARRAYS = load_golden()
TOLERANCE = 1e-4  # max |Δ| / max |y|


def _relative_error(ours, theirs):
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


def test_every_torchvision_set_has_a_golden_case():
    registered = {f"{n}/{s.name}" for n in list_models() for s in model_info(n).weights.values()
                  if s.source == "torchvision"}
    assert registered == set(CASES)
    assert len(registered) >= 18


def _golden_model(case, weights, **extra):
    c = CASES[case]
    kwargs = dict(weights=weights, input_shape=(c["size"], c["size"], 3), classifier_activation=None, **extra)
    if len(c["outputs"]) > 1:
        kwargs["aux_logits"] = True
    return create_model(c["model"], **kwargs)


def _outputs(model, case):
    c = CASES[case]
    weights_set = model_info(c["model"]).weights[c["set"]]
    pixels = random_pixels(c["seed"], c["size"], c["batch"])
    out = model(preprocess(pixels, weights_set.eval_transform.preprocessing), training=False)
    if isinstance(out, dict):
        return {"logits" if k == "predictions" else k: np.asarray(v) for k, v in out.items()}
    return {"logits": np.asarray(out)}


# Ports at the full size that a flattening classifier or an auxiliary head needs (224 or 299 pixels: AlexNet,
# the VGGs, GoogLeNet, Inception v3) are slow, and so are the deepest ResNets' (101 and 152 layers: the
# bottleneck mapping they use is ResNet-50's); ResNet-18, 34 and 50 at 64 pixels check the same code daily.
def _slow(case) -> bool:
    return CASES[case]["size"] >= 224 or case.startswith(("resnet101/", "resnet152/"))


PORTS = [pytest.param(case, marks=pytest.mark.slow) if _slow(case) else case for case in sorted(CASES)]


@pytest.mark.parametrize("case", PORTS)
def test_ported_weights_give_torchvisions_logits(case, tmp_path):
    c = CASES[case]
    path = tmp_path / f"{c['model']}.safetensors"
    original = random_state_dict(c["keys"], c["seed"])
    save_file(original, str(path))
    model = _golden_model(case, str(path))
    ours = _outputs(model, case)
    assert sorted(ours) == c["outputs"]
    for name, value in ours.items():
        error = _relative_error(value, ARRAYS[f"{case}/{name}"])
        assert error <= TOLERANCE, f"{case} {name}: max|Δ|/max|y| = {error:.2e}"
    # The round trip ours -> torchvision layout -> ours gives back the very arrays.
    exported = to_torchvision_state_dict(model, c["model"])
    assert set(exported) == {k for k, _ in c["keys"]}
    for key, value in original.items():
        assert np.array_equal(exported[key], value), key
