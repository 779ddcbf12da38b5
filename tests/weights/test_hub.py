"""Hub weights (``hf://timm/NAME``, timm's sets, torchvision's sets without PyTorch) and offline mode.

Nothing here touches the network: every Hub repository is laid out by the test
in a huggingface_hub cache (``HF_HOME``), with the seeded torchvision-layout
weights of ``tests/torchvision_golden.py`` renamed to timm's layout, so the
expected logits are the committed torchvision ones; downloads are off
(``HF_HUB_OFFLINE=1``, ``KERAS_CLASSICS_OFFLINE=1``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from keras_classics.metadata import model_metadata
from keras_classics.models import create_model, model_info
from keras_classics.transforms import EvalTransform, preprocess
from keras_classics.weights import (
    HF_OFFLINE_ENV,
    OFFLINE_ENV,
    WeightsUnavailableError,
    eval_transform_from_config,
    is_cached,
    parse_hub_handle,
)
from tests.helpers import TIMM_INCEPTION, ROOT, golden_hub_repo, run_cli, timm_config
from tests.torchvision_golden import load_golden, random_pixels

CASES, GOLDEN = load_golden()


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """Empty caches (Keras's and huggingface_hub's), every download off: a test that reaches for the
    network fails."""
    (tmp_path / "keras" / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv(HF_OFFLINE_ENV, "1")
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail(f"a download was started: {a}"))
    return tmp_path


def _relative_error(case, model, preprocessing):
    c = CASES[case]
    out = model(preprocess(random_pixels(c["seed"], c["size"], c["batch"]), preprocessing), training=False)
    out = out["predictions"] if isinstance(out, dict) else out
    expected = GOLDEN[f"{case}/logits"]
    return float(np.max(np.abs(np.asarray(out) - expected)) / np.max(np.abs(expected)))


def _golden_port(case, repo, home, config=None, **kwargs):
    """Build ``case``'s model from ``hf://REPO`` (laid out in ``home``); its error against torchvision."""
    c = CASES[case]
    golden_hub_repo(home / "hf", case, repo, config)
    model = create_model(c["model"], weights=f"hf://{repo}", input_shape=(c["size"], c["size"], 3),
                         classifier_activation=None, **kwargs)
    meta = model_metadata(model)
    return _relative_error(case, model, meta["preprocessing"]), meta


# ------------------------------------------------------------------ hf://timm/NAME gives torchvision's logits


def test_a_hub_resnet_gives_torchvisions_logits_and_its_configs_transform(offline_home):
    error, meta = _golden_port("resnet18/torchvision", "timm/resnet18.tv_in1k", offline_home)
    assert error < 1e-4
    assert meta["weights"] == {"name": "torchvision", "source": "hf://timm/resnet18.tv_in1k",
                               "file": "model.safetensors", "recognised": True, "options": {},
                               "hub": "timm/resnet18.tv_in1k"}
    assert (meta["preprocessing"], meta["crop_fraction"], meta["interpolation"]) == ("torch", 0.875, "bilinear")
    assert len(meta["class_names"]) == 1000


@pytest.mark.slow  # VGG-11 at 224 (fc6 reads a 7x7 map): 133 million values
def test_a_hub_vgg_with_timms_pre_logits_head_gives_torchvisions_logits(offline_home):
    error, _ = _golden_port("vgg11/torchvision", "timm/vgg11.tv_in1k", offline_home)
    assert error < 1e-4


@pytest.mark.slow  # Inception v3 at 299
def test_a_hub_inception_v3_gives_torchvisions_logits(offline_home):
    config = timm_config("inception_v3", 299, 0.875, "bicubic", TIMM_INCEPTION)
    error, meta = _golden_port("inception_v3/torchvision", "timm/inception_v3.tv_in1k", offline_home, config)
    assert error < 1e-4
    assert (meta["preprocessing"], meta["interpolation"]) == ("tf", "bicubic")  # the inception mean/std: "tf"


def test_a_hub_checkpoint_of_another_architecture_is_refused_before_its_weights(offline_home):
    golden_hub_repo(offline_home / "hf", "resnet18/torchvision", "timm/resnet18.tv_in1k")
    with pytest.raises(ValueError, match=r"hf://timm/resnet18.tv_in1k holds a 'resnet18'.*not a 'resnet34'"):
        create_model("resnet34", weights="hf://timm/resnet18.tv_in1k", input_shape=(64, 64, 3))


@pytest.mark.parametrize("handle", ["hf://resnet18", "hf://timm/", "hf:/timm/resnet18.tv_in1k", "hf://a/b/c"])
def test_a_malformed_handle_names_the_accepted_form(handle):
    with pytest.raises(ValueError, match=r"hf://OWNER/NAME|Unknown weights set|must be None"):
        create_model("resnet18", weights=handle, input_shape=(64, 64, 3))


def test_a_handle_with_options_its_layout_does_not_fit_is_refused():
    with pytest.raises(ValueError, match=r"timm checkpoint for 'resnet50'.*needs stride_in='3x3'"):
        create_model("resnet50", weights="hf://timm/resnet50.a1_in1k", stride_in="1x1")


def test_parse_hub_handle():
    assert parse_hub_handle("hf://timm/resnet50.a1_in1k") == ("timm/resnet50.a1_in1k", None)
    assert parse_hub_handle("hf://timm/resnet50.a1_in1k@abc123") == ("timm/resnet50.a1_in1k", "abc123")


# ------------------------------------------------------------------ the eval transform from pretrained_cfg


def test_the_test_size_and_crop_of_a_pretrained_cfg_make_the_eval_transform():
    # timm's _rcfg (resnet.py): trained at 224 with crop_pct 0.95, evaluated at 288 with the whole image.
    config = timm_config("resnet50", 224, 0.95, "bicubic", test_input_size=[3, 288, 288], test_crop_pct=1.0)
    assert eval_transform_from_config(config) == EvalTransform(288, 1.0, "torch", "bicubic", 224)
    assert eval_transform_from_config(timm_config("inception_v3", 299, 0.875, "bicubic", TIMM_INCEPTION)) == (
        EvalTransform(299, 0.875, "tf", "bicubic"))


@pytest.mark.parametrize("change, message", [
    ({"interpolation": "lanczos"}, r"interpolation 'lanczos'; accepted: bilinear, bicubic"),
    ({"mean": [0.1, 0.2, 0.3]}, r"No preprocessing mode normalises with mean=\(0.1, 0.2, 0.3\)"),
    ({"crop_pct": 1.5}, r"crop_fraction"),
])
def test_a_pretrained_cfg_this_package_cannot_follow_is_refused_by_name(change, message):
    config = timm_config("resnet50")
    config["pretrained_cfg"].update(change)
    with pytest.raises(ValueError, match=message):
        eval_transform_from_config(config, "hf://x/y")


# ------------------------------------------------------------------ registered timm sets


def test_the_timm_sets_are_registered_with_timms_figures():
    sets = {(m, s.name): s for m in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "inception_v3")
            for s in model_info(m).weights.values() if s.source == "timm"}
    assert len(sets) >= 12
    a1 = sets["resnet50", "a1_in1k"]  # results-imagenet.csv: resnet50.a1_in1k,288,81.240,…,95.112,…,1.000,bicubic
    assert (a1.hub, a1.top1, a1.top5, a1.requires) == ("timm/resnet50.a1_in1k", 81.24, 95.112, {"stride_in": "3x3"})
    assert a1.eval_transform == EvalTransform(288, 1.0, "torch", "bicubic", 224)
    tf = sets["inception_v3", "tf_in1k"]
    assert tf.eval_transform == EvalTransform(299, 0.875, "tf", "bicubic") and tf.top1 == 77.866


def test_a_named_timm_set_loads_from_the_hub_cache_with_its_registered_transform(offline_home):
    golden_hub_repo(offline_home / "hf", "resnet18/torchvision", "timm/resnet18.a1_in1k")
    model = create_model("resnet18", weights="a1_in1k", input_shape=(64, 64, 3), classifier_activation=None)
    meta = model_metadata(model)
    assert meta["weights"]["name"] == "a1_in1k" and meta["weights"]["source"] == "timm"
    assert (meta["interpolation"], meta["crop_fraction"], meta["preprocessing"]) == ("bicubic", 1.0, "torch")
    assert _relative_error("resnet18/torchvision", model, "torch") < 1e-4
    assert is_cached(model_info("resnet18").weights["a1_in1k"]) == "yes"


# ------------------------------------------------------------------ torchvision's sets without PyTorch


def test_torchvision_weights_resolve_to_the_hub_copy_when_torch_is_not_there(offline_home, monkeypatch):
    from keras_classics.weights import _files

    monkeypatch.setattr(_files, "torch_available", lambda: False)  # as on a machine without PyTorch
    golden_hub_repo(offline_home / "hf", "resnet18/torchvision", "timm/resnet18.tv_in1k")
    model = create_model("resnet18", weights="torchvision", input_shape=(64, 64, 3), classifier_activation=None)
    assert model_metadata(model)["weights"]["file"] == "model.safetensors"
    assert _relative_error("resnet18/torchvision", model, "torch") < 1e-4
    assert os.listdir(offline_home / "keras" / "models") == []  # no .pth was fetched


@pytest.mark.slow  # a new process (TensorFlow's start-up): PyTorch made unimportable for real
def test_torchvision_weights_without_torch_resolve_to_the_hub_copy(tmp_path):
    golden_hub_repo(tmp_path / "hf", "resnet18/torchvision", "timm/resnet18.tv_in1k")
    (tmp_path / "keras" / "models").mkdir(parents=True)
    script = f"""
import sys
sys.modules["torch"] = None  # PyTorch absent: `import torch` fails
import json, numpy as np
from keras_classics.models import create_model
from keras_classics.metadata import model_metadata
from keras_classics.transforms import preprocess
from tests.torchvision_golden import load_golden, random_pixels
cases, golden = load_golden()
c = cases["resnet18/torchvision"]
model = create_model("resnet18", weights="torchvision", input_shape=(64, 64, 3), classifier_activation=None)
y = np.asarray(model(preprocess(random_pixels(c["seed"], 64, c["batch"]), "torch"), training=False))
ref = golden["resnet18/torchvision/logits"]
print(json.dumps({{"error": float(np.max(np.abs(y - ref)) / np.max(np.abs(ref))),
                  "weights": model_metadata(model)["weights"]}}))
"""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "KERAS_HOME": str(tmp_path / "keras"),
           HF_OFFLINE_ENV: "1", OFFLINE_ENV: "1", "PYTHONPATH": os.pathsep.join(
               [str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("HF_HUB_CACHE", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] < 1e-4
    assert result["weights"]["name"] == "torchvision" and result["weights"]["file"] == "model.safetensors"
    assert os.listdir(tmp_path / "keras" / "models") == []  # no .pth was fetched


# ------------------------------------------------------------------ offline means offline, for every source


def _offline_message(model, **build):
    with pytest.raises(WeightsUnavailableError) as info:
        create_model(model, **build)
    return str(info.value)


def test_offline_a_timm_set_names_its_repository_and_the_prefetch_command(offline_home):
    message = _offline_message("resnet50", weights="a1_in1k", include_top=False, input_shape=(32, 32, 3))
    assert "timm/resnet50.a1_in1k" in message and "keras-classics weights download resnet50 a1_in1k" in message
    assert "KERAS_CLASSICS_OFFLINE=1" in message and str(offline_home / "hf" / "hub") in message


def test_offline_a_hub_handle_names_its_repository_and_the_prefetch_command(offline_home):
    message = _offline_message("resnet18", weights="hf://timm/resnet18.a1_in1k")
    assert "timm/resnet18.a1_in1k" in message
    assert "keras-classics weights download hf://timm/resnet18.a1_in1k" in message


def test_hf_hub_offline_alone_with_an_empty_cache_is_a_clear_error(offline_home, monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV)
    message = _offline_message("resnet18", weights="hf://timm/resnet18.tv_in1k")
    assert "config.json of the Hugging Face Hub repository timm/resnet18.tv_in1k" in message
    assert "HF_HUB_OFFLINE=1" in message and "keras-classics weights download hf://timm/resnet18.tv_in1k" in message
    assert not (offline_home / "hf" / "hub").exists() or not any((offline_home / "hf" / "hub").rglob("*.safetensors"))


@pytest.mark.skipif(__import__("importlib").util.find_spec("torch") is not None, reason="PyTorch is installed")
def test_offline_a_torchvision_set_without_torch_names_the_hub_copy(offline_home):
    message = _offline_message("vgg11", weights="torchvision", include_top=False, input_shape=(32, 32, 3))
    assert "timm/vgg11.tv_in1k" in message and "keras-classics weights download vgg11 torchvision" in message


def test_offline_a_torchvision_file_names_its_url_and_the_prefetch_command(offline_home):
    # AlexNet: no Hub copy, so the .pth URL (with or without PyTorch installed)
    message = _offline_message("alexnet", weights="torchvision", include_top=False, input_shape=(64, 64, 3))
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in message
    assert "keras-classics weights download alexnet torchvision" in message


def test_offline_keras_applications_weights_start_no_download(offline_home, monkeypatch):
    import keras

    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("keras started a download"))
    message = _offline_message("resnet50", weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
            "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5") in message
    assert "keras-classics weights download resnet50 imagenet" in message
    assert os.listdir(offline_home / "keras" / "models") == []


# ------------------------------------------------------------------ the command line


def test_weights_list_shows_every_sets_source_and_hub_repository(capsys):
    code, out, _ = run_cli(capsys, "weights", "list", "resnet50", "--format", "json")
    rows = {r["set"]: r for r in json.loads(out)}
    assert code == 0
    assert {r["source"] for r in rows.values()} == {"keras.applications", "torchvision", "timm"}
    assert rows["torchvision"]["hub"] == "timm/resnet50.tv_in1k" and rows["a1_in1k"]["hub"] == "timm/resnet50.a1_in1k"
    assert rows["a1_in1k"]["eval_transform"]["interpolation"] == "bicubic"
    code, out, _ = run_cli(capsys, "weights", "list", "resnet50")
    assert "hf://timm/resnet50.a1_in1k" in out and "resnet50-0676ba61.pth | hf://timm/resnet50.tv_in1k" in out


def test_weights_download_fills_nothing_offline_and_says_so(offline_home, capsys):
    code, _, err = run_cli(capsys, "weights", "download", "resnet18", "a1_in1k")
    assert code != 0 and "timm/resnet18.a1_in1k" in err
    assert not (offline_home / "hf" / "hub").exists() or not any((offline_home / "hf" / "hub").rglob("*"))


def test_weights_download_of_a_cached_hub_checkpoint_names_its_files(offline_home, capsys):
    snapshot = golden_hub_repo(offline_home / "hf", "resnet18/torchvision", "timm/resnet18.a1_in1k")
    code, out, _ = run_cli(capsys, "weights", "download", "hf://timm/resnet18.a1_in1k")
    assert code == 0
    assert str(snapshot / "config.json") in out and str(snapshot / "model.safetensors") in out
    code, out, _ = run_cli(capsys, "weights", "download", "resnet18", "a1_in1k")
    assert code == 0 and str(snapshot / "model.safetensors") in out


def test_weights_download_of_an_unknown_set_lists_the_sets(capsys):
    code, _, err = run_cli(capsys, "weights", "download", "resnet18", "a9_in1k")
    assert code != 0 and "Unknown weights set 'a9_in1k'" in err and "'gluon_in1k'" in err
