"""The inspector on every registered model: parameters agree with the weights,
multiply-adds agree with the published figures, receptive fields with hand
derivations, and the course's claims hold.

Each model is built once (module cache of its measurements, not of the model).
"""

import math

import keras
import pytest

from keras_classics import inspect
from keras_classics.models import list_models, model_info
from tests.helpers import count_trainable

# The classifier of these families flattens a feature map, so its size (and the
# parameter count) depends on the input size; the others end in global pooling.
FLATTEN_FAMILIES = {"alexnet", "zfnet", "vgg"}

# (name, input size, builder options, published multiply-adds: a figure or a range)
PUBLISHED_MACS = [
    ("alexnet", 224, {"variant": "owt"}, 0.714e9),  # torchvision AlexNet ("one weird trick")
    ("vgg16", 224, {}, 15.47e9),
    ("googlenet", 224, {"variant": "torchvision"}, 1.50e9),
    ("inception_v3", 299, {}, 5.71e9),
    ("resnet50", 224, {}, (3.86e9, 3.88e9)),  # v1: stride on the first 1x1
    ("resnet50", 224, {"stride_in": "3x3"}, (4.09e9, 4.11e9)),  # v1.5
    ("resnet18", 224, {}, 1.81e9),
    ("resnet152", 224, {"stride_in": "3x3"}, 11.5e9),
]

_MEASURED = {}


def measure(name, size, **kwargs):
    """Summary of a registered model plus the facts to check it against, built once (without initial values)."""
    key = (name, size, tuple(sorted(kwargs.items())))
    if key not in _MEASURED:
        # The layers and weight shapes are real; drawing ~100 M random initial values is skipped.
        with keras.StatelessScope(initialize_variables=False):
            model = model_info(name).build(input_shape=(size, size, 3), **kwargs)
        s = inspect.summary(model)
        _MEASURED[key] = {
            "summary": s,
            "count_params": model.count_params(),
            "trainable": count_trainable(model),
            "per_layer": {l.name: sum(math.prod(w.shape) for w in l.weights) for l in model.layers},
        }
        del model
        keras.backend.clear_session()
    return _MEASURED[key]


# Registered models whose parameter check reuses the multiply-add build above
# (ResNet-152 v1.5 has exactly the weights of v1: only where the stride sits differs).
_SHARED_BUILDS = {
    "inception_v3": (299, {}),
    "resnet18": (224, {}),
    "resnet50": (224, {}),
    "resnet152": (224, {"stride_in": "3x3"}),
    "vgg16": (224, {}),
}


def _small_size(name):
    if name in _SHARED_BUILDS:
        return _SHARED_BUILDS[name][0]
    return max(model_info(name).min_size, 32)


@pytest.mark.slow
@pytest.mark.parametrize("spec", PUBLISHED_MACS, ids=lambda s: f"{s[0]}-{'-'.join(map(str, s[2].values())) or 'default'}")
def test_published_multiply_adds_within_2_percent(spec):
    name, size, kwargs, published = spec
    macs = measure(name, size, **kwargs)["summary"].totals["macs"]
    lo, hi = published if isinstance(published, tuple) else (published, published)
    assert lo * 0.98 <= macs <= hi * 1.02, f"{name} {kwargs}: {macs / 1e9:.4f} G vs published {published}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_summary_params_agree_with_the_weights(name):
    info = model_info(name)
    m = measure(name, _small_size(name), **_SHARED_BUILDS.get(name, (0, {}))[1])
    s = m["summary"]
    assert s.totals["params"] == m["count_params"]
    assert s.totals["trainable_params"] == m["trainable"]
    for layer_name, count in m["per_layer"].items():
        rows = [r for r in s if r["name"] == layer_name]
        assert rows and rows[0]["params"] == count, layer_name
    for r in s:
        if r["kind"] in ("Conv2D", "Dense", "BatchNormalization"):
            assert r["params_source"] == "formula", r["name"]  # counted from the config, not read back
    if info.family not in FLATTEN_FAMILIES or _small_size(name) == info.default_size:
        assert s.totals["trainable_params"] == info.params  # the registry's reference count


def test_variant_params_match_the_registry():
    for name, size, kwargs in [("alexnet", 224, {"variant": "owt"}), ("googlenet", 224, {"variant": "torchvision"})]:
        variant = next(v for v in model_info(name).variants if dict(v.kwargs) == kwargs)
        assert measure(name, size, **kwargs)["summary"].totals["trainable_params"] == variant.params


def test_auxiliary_heads_are_walked_too():
    m = measure("googlenet", 224, aux_logits=True)  # three outputs
    s = m["summary"]
    assert s.totals["trainable_params"] == m["trainable"] == model_info("googlenet").aux_params
    main = measure("googlenet", _small_size("googlenet"))["summary"]
    aux_rows = [r for r in s if r["name"] not in {row["name"] for row in main}]
    assert aux_rows and all(r["name"].startswith("aux") for r in aux_rows)
    # The heads add their convs and dense layers to the multiply-adds but not to the depth.
    assert s.totals["weighted_depth"] == 22


def test_receptive_fields_vgg16_alexnet():
    vgg = measure("vgg16", 224)["summary"]
    assert vgg.row("block5_conv3")["receptive_field"] == 196
    assert vgg.row("block5_pool")["receptive_field"] == 212 and vgg.row("block5_pool")["jump"] == 32
    assert vgg.row("block1_conv2")["receptive_field"] == 5  # two 3x3
    assert vgg.row("block1_pool")["receptive_field"] == 6  # + (2 - 1) * 1
    assert vgg.row("block2_conv1")["receptive_field"] == 10  # + (3 - 1) * 2
    alex = measure("alexnet", _small_size("alexnet"))["summary"]
    # conv1 11/4; pool 3/2: 11 + 2*4 = 19 (jump 8); conv2 5x5: 19 + 4*8 = 51; pool: 51 + 2*8 = 67 (jump 16);
    # conv3, conv4, conv5 3x3: 99, 131, 163; pool5: 163 + 2*16 = 195 (jump 32).
    expected = {"conv1": (11, 4), "conv2": (51, 8), "conv5": (163, 16)}
    for layer, (rf, jump) in expected.items():
        assert (alex.row(layer)["receptive_field"], alex.row(layer)["jump"]) == (rf, jump), layer
    last_pool = [r for r in alex if r["kind"] == "MaxPooling2D"][-1]
    assert (last_pool["receptive_field"], last_pool["jump"]) == (195, 32)


def test_receptive_fields_branches_googlenet_resnet():
    # GoogLeNet stem: conv 7/2 (7, jump 2), pool 3/2 (11, 4), 1x1, conv 3x3 (19, 4), pool 3/2 (27, 8).
    # Module 3a is as wide as its widest branch: the true 5x5 gives 27 + 4*8 = 59; the
    # torchvision port's 3x3 "5x5" branch only 27 + 2*8 = 43.
    paper = measure("googlenet", _small_size("googlenet"))["summary"]
    assert paper.row("inception_3a_output")["receptive_field"] == 59
    assert measure("googlenet", 224, variant="torchvision")["summary"].row("inception_3a_output")["receptive_field"] == 43
    # ResNet: conv1 7/2 then pool 3/2 → 11 (jump 4); each 3x3 of conv2 adds 2*4.
    r18 = measure("resnet18", 224)["summary"]
    assert r18.row("conv2_block2_out")["receptive_field"] == 11 + 4 * 8
    # Bottlenecks: one 3x3 per block → conv2_block3_out = 11 + 3*8 = 35. Stage 3's first block
    # puts its stride on the 1x1 (v1: the 3x3 then adds 2*8 → 51) or on the 3x3 (v1.5: 2*4 → 43).
    v1 = measure("resnet50", 224)["summary"]
    v15 = measure("resnet50", 224, stride_in="3x3")["summary"]
    assert v1.row("conv2_block3_out")["receptive_field"] == 35
    assert v1.row("conv3_block1_out")["receptive_field"] == 51
    assert v15.row("conv3_block1_out")["receptive_field"] == 43
    assert v1.row("conv3_block1_out")["jump"] == v15.row("conv3_block1_out")["jump"] == 8


def test_weighted_depth_counts_like_the_papers():
    assert measure("vgg16", 224)["summary"].totals["weighted_depth"] == 16
    assert measure("googlenet", _small_size("googlenet"))["summary"].totals["weighted_depth"] == 22
    assert measure("resnet50", 224)["summary"].totals["weighted_depth"] == 50
    assert measure("resnet152", 224, stride_in="3x3")["summary"].totals["weighted_depth"] == 152
    assert measure("alexnet", _small_size("alexnet"))["summary"].totals["weighted_depth"] == 8


def test_course_claims_fc_layers_hold_most_parameters():
    alex = measure("alexnet", 224, variant="owt")["summary"].totals
    vgg = measure("vgg16", 224)["summary"].totals
    goog = measure("googlenet", 224, variant="torchvision")["summary"].totals
    assert alex["params_by_kind"]["Dense"] / alex["params"] > 0.9
    assert vgg["params_by_kind"]["Dense"] / vgg["params"] > 0.85  # 123.6 M of 138.4 M
    assert goog["params_by_kind"]["Dense"] / goog["params"] < 0.2  # only the 1024 → 1000 classifier


def test_compare_alexnet_googlenet_ratio_and_model_table():
    rows = inspect.compare(["alexnet", "googlenet"])
    alex, goog = rows
    assert alex["params"] == model_info("alexnet").params
    assert goog["params_ratio"] == pytest.approx(model_info("googlenet").params / model_info("alexnet").params)
    assert goog["params_ratio"] < 1 / 8  # the paper: "12x fewer"; as built (conv biases, LRN): 1/8.7
    assert goog["macs_ratio"] > 1  # ... yet more multiply-adds
    assert (alex["weighted_depth"], goog["weighted_depth"]) == (8, 22)
    assert alex["min_input"] == model_info("alexnet").min_size
    assert alex["top1_error"] == model_info("alexnet").top1_error
    assert goog["top5_error"] == model_info("googlenet").top5_error
    text = rows.render("table")
    assert "about 1/8.7 of" in text and "alexnet" in text

    table = inspect.model_table("alex*")  # what `keras-classics list` prints
    assert [r["name"] for r in table] == ["alexnet"]
    r = table[0]
    assert r["params"] == model_info("alexnet").params
    assert r["macs"] == alex["macs"]
    assert (r["year"], r["default_size"], r["weighted_depth"]) == (2012, 227, 8)
    with pytest.raises(ValueError, match="No registered model matches"):
        inspect.model_table("nothing*")
