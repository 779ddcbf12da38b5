"""Named pretrained sets, the cache, downloads, the weights CLI, and every bad input of the converter.

Nothing here touches the network: downloads come from ``file://`` URLs, the
cache is a temporary ``KERAS_HOME``, and torchvision-layout files are built
from a seed (``torchvision_golden.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np
import pytest
from safetensors.numpy import save_file

from keras_classics.models import create_model, model_info
from keras_classics.weights import (
    OFFLINE_ENV,
    TorchRequiredError,
    WeightsHashError,
    WeightsUnavailableError,
    convert,
    fetch,
    load_state_dict,
    read_card,
    read_state_dict,
    to_torchvision_state_dict,
    torch_layout_requires,
)
from keras_classics.weights._files import torch_available
from tests.helpers import ROOT, golden_hub_repo, run_cli_process, timm_config
from tests.torchvision_golden import load_golden, random_state_dict

CASES, _ = load_golden()


def _state(model_set):
    case = CASES[model_set]
    return random_state_dict(case["keys"], case["seed"])


def _snapshot(model):
    return [np.array(w) for w in model.get_weights()]


def _unchanged(model, before):
    return all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def _tree_digest(folder):
    digest = {}
    for root, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(root, f)
            digest[os.path.relpath(p, folder)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return digest


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, downloads off (a test that reaches for the network fails instead)."""
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    return home


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("tv") / "resnet18.safetensors"
    save_file(_state("resnet18/torchvision"), str(path))
    return path


# ------------------------------------------------------------------ named sets and the cache


def test_named_set_from_the_cache_carries_its_eval_transform(keras_home, resnet18_file):
    weights_set = model_info("resnet18").weights["torchvision"]
    twin = keras_home / "models" / weights_set.file.replace(".pth", ".safetensors")
    twin.write_bytes(resnet18_file.read_bytes())
    from keras_classics.metadata import model_metadata

    model = create_model("resnet18", weights="torchvision", input_shape=(32, 32, 3))
    metadata = model_metadata(model)
    assert metadata["preprocessing"] == "torch" and metadata["registry_name"] == "resnet18"
    assert metadata["crop_fraction"] == pytest.approx(224 / 256) and metadata["eval_resize"] == 37
    assert metadata["class_names"][:2] == ["tench", "goldfish"] and len(metadata["class_names"]) == 1000
    assert metadata["weights"] == {"name": "torchvision", "source": "torchvision", "file": twin.name,
                                   "recognised": True, "options": {}}
    reference = create_model("resnet18", weights=str(resnet18_file), input_shape=(32, 32, 3))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))


def test_builder_selects_the_variant_the_weights_need(resnet18_file, tmp_path):
    path = tmp_path / "googlenet.safetensors"
    save_file(_state("googlenet/torchvision"), str(path))
    model = create_model("googlenet", weights=str(path), input_shape=(64, 64, 3))
    assert model.get_layer("inception_3a_5x5_conv").kernel.shape[:2] == (3, 3)  # variant="torchvision"
    assert torch_layout_requires("alexnet") == {"variant": "owt"}
    assert torch_layout_requires("resnet50") == {"stride_in": "3x3"}
    assert torch_layout_requires("inception_v3") == {"count_include_pad": True}


@pytest.mark.parametrize(
    "model,kwargs,needed",
    [
        ("alexnet", {"variant": "2012"}, "variant='owt'"),
        ("googlenet", {"variant": "paper"}, "variant='torchvision'"),
        ("resnet50", {"stride_in": "1x1"}, "stride_in='3x3'"),
        ("inception_v3", {"count_include_pad": False}, "count_include_pad=True"),
    ],
)
def test_another_variant_is_refused_with_the_one_needed(model, kwargs, needed):
    with pytest.raises(ValueError, match=f"needs {needed}.*Received: {next(iter(kwargs))}="):
        create_model(model, weights="torchvision", **kwargs)


def test_a_torchvision_file_with_another_variant_is_refused(resnet18_file):
    with pytest.raises(ValueError, match=r"needs stride_in='3x3'.*Received: stride_in='1x1'"):
        create_model("resnet50", weights=str(resnet18_file), stride_in="1x1")


def test_classes_other_than_1000_with_the_top_are_refused():
    with pytest.raises(ValueError, match=r"classes` must be 1000.*Received: classes=10.*include_top=False"):
        create_model("resnet18", weights="torchvision", classes=10)


def test_unknown_set_lists_the_sets_that_exist():
    with pytest.raises(ValueError, match=r"Unknown weights set 'torchvision-v3' for 'resnet50'\. Sets of "
                                         r"'resnet50': 'imagenet', 'torchvision', 'torchvision-v2'"):
        create_model("resnet50", weights="torchvision-v3")


def test_models_without_a_torchvision_counterpart_refuse_state_dicts(resnet18_file):
    with pytest.raises(ValueError, match=r"'zfnet' has no torchvision counterpart.*Models with one: alexnet"):
        create_model("zfnet", weights=str(resnet18_file))


def test_offline_with_an_empty_cache_names_the_url_and_the_cache_path(keras_home):
    # AlexNet: torchvision's file only (no Hub copy; see tests/weights/test_hub.py for the sets with one)
    with pytest.raises(WeightsUnavailableError) as info:
        create_model("alexnet", weights="torchvision", include_top=False, input_shape=(64, 64, 3))
    message = str(info.value)
    assert "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth" in message
    assert str(keras_home / "models" / "alexnet-owt-7be5be79.pth") in message
    if not torch_available():
        assert str(keras_home / "models" / "alexnet-owt-7be5be79.safetensors") in message
    assert "keras-classics weights download alexnet torchvision" in message
    assert os.listdir(keras_home / "models") == []


def test_download_checks_the_hash_and_renames_into_place(tmp_path, resnet18_file):
    data = resnet18_file.read_bytes()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    source = tmp_path / "served.safetensors"
    source.write_bytes(data)
    from keras_classics.models import torchvision_weights

    weights_set = dataclasses.replace(
        torchvision_weights("torchvision", f"resnet18-{prefix}.safetensors",
                            model_info("resnet18").weights["torchvision"].eval_transform, top1=1, top5=1, size_mib=1),
        url=source.as_uri(),
    )
    cache = tmp_path / "cache"
    path = fetch(weights_set, cache_dir=str(cache), progress=False)
    assert path == str(cache / f"resnet18-{prefix}.safetensors")
    assert open(path, "rb").read() == data and os.listdir(cache) == [os.path.basename(path)]
    assert set(read_state_dict(path)) == set(_state("resnet18/torchvision"))


def test_a_hash_mismatch_downloads_twice_then_fails_leaving_nothing(tmp_path, monkeypatch):
    source = tmp_path / "served.pth"
    source.write_bytes(b"not the published bytes")
    from keras_classics.weights import _files

    calls = []
    real = _files._stream
    monkeypatch.setattr(_files, "_stream", lambda *a: calls.append(a[0]) or real(*a))
    cache = tmp_path / "cache"
    with pytest.raises(WeightsHashError, match=r"does not start with the published 0123abcd \(downloaded 2 times"):
        _files.download(source.as_uri(), cache / "resnet18-0123abcd.pth", "0123abcd", progress=False)
    assert len(calls) == 2
    assert os.listdir(cache) == []


@pytest.mark.skipif(torch_available(), reason="PyTorch is installed here")
def test_a_pth_file_without_torch_names_both_ways_out(tmp_path):
    path = tmp_path / "resnet18-f37072fd.pth"
    path.write_bytes(b"PK\x03\x04 a torch zip")
    model = create_model("resnet18", input_shape=(32, 32, 3))
    before = _snapshot(model)
    with pytest.raises(TorchRequiredError, match=r"needs PyTorch.*pip install torch.*\.safetensors file"):
        load_state_dict(model, str(path))
    assert _unchanged(model, before)


@pytest.mark.skipif(torch_available(), reason="PyTorch is installed here")
def test_a_named_pth_set_without_torch_fails_before_downloading(keras_home, monkeypatch):
    monkeypatch.delenv(OFFLINE_ENV)
    from keras_classics.weights import _files

    monkeypatch.setattr(_files, "download", lambda *a, **k: pytest.fail("must not download"))
    # AlexNet: no Hub copy of torchvision's file to fall back on (ResNet's: tests/weights/test_hub.py)
    with pytest.raises(TorchRequiredError, match=r"PyTorch is not installed.*alexnet-owt-7be5be79\.safetensors"
                                                 r".*Nothing was downloaded"):
        create_model("alexnet", weights="torchvision", include_top=False, input_shape=(64, 64, 3))


# ------------------------------------------------------------------ bad state dicts: clear, and all or nothing


def test_resnet34_weights_into_resnet18_name_the_keys(tmp_path):
    path = tmp_path / "resnet34.safetensors"
    save_file(_state("resnet34/torchvision"), str(path))
    model = create_model("resnet18", input_shape=(32, 32, 3))
    before = _snapshot(model)
    with pytest.raises(ValueError) as info:
        load_state_dict(model, str(path))
    message = str(info.value)
    assert "nothing was loaded" in message and "80 unexpected key(s): layer1.2." in message
    assert "Weights of another network" in message
    assert _unchanged(model, before)


def test_missing_and_unexpected_keys_are_listed():
    state = _state("resnet18/torchvision")
    state.pop("layer4.1.bn2.running_var")
    state["layer9.0.conv1.weight"] = np.zeros((1,), np.float32)
    model = create_model("resnet18", input_shape=(32, 32, 3))
    before = _snapshot(model)
    with pytest.raises(ValueError, match=r"1 key\(s\) the model needs are missing: layer4\.1\.bn2\.running_var"
                                         r"[\s\S]*1 unexpected key\(s\): layer9\.0\.conv1\.weight"):
        load_state_dict(model, state)
    assert _unchanged(model, before)


def test_a_wrong_shape_is_named_and_loads_nothing():
    state = _state("resnet18/torchvision")
    state["layer2.0.conv1.weight"] = state["layer2.0.conv1.weight"][:, :32]
    model = create_model("resnet18", input_shape=(32, 32, 3))
    before = _snapshot(model)
    with pytest.raises(ValueError, match=r"layer2\.0\.conv1\.weight: the file has shape \(128, 32, 3, 3\), the model "
                                         r"needs \(128, 64, 3, 3\)"):
        load_state_dict(model, state)
    assert _unchanged(model, before)


def test_a_truncated_file_is_refused(tmp_path, resnet18_file):
    path = tmp_path / "truncated.safetensors"
    data = resnet18_file.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"truncated\.safetensors' is not a readable \.safetensors file .*bytes\).*"
                                         r"truncated download"):
        create_model("resnet18", weights=str(path), input_shape=(32, 32, 3))


@pytest.mark.slow  # two VGG-11s at 224 pixels (their flattened fc1 takes timm's 7x7 kernels)
def test_timm_keys_and_prefixes_are_accepted():
    state = _state("vgg11/torchvision")
    timm = {("module." + k): v for k, v in state.items() if not k.startswith("classifier.")}
    timm["pre_logits.fc1.weight"] = state["classifier.0.weight"].reshape(4096, 512, 7, 7)
    timm["pre_logits.fc1.bias"] = state["classifier.0.bias"]
    timm["pre_logits.fc2.weight"] = state["classifier.3.weight"].reshape(4096, 4096, 1, 1)
    timm["pre_logits.fc2.bias"] = state["classifier.3.bias"]
    timm["head.fc.weight"], timm["head.fc.bias"] = state["classifier.6.weight"], state["classifier.6.bias"]
    a, b = create_model("vgg11"), create_model("vgg11")
    load_state_dict(a, state)
    load_state_dict(b, timm)
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_include_top_false_loads_the_backbone_and_reports_the_rest():
    model = create_model("googlenet", variant="torchvision", include_top=False, input_shape=(64, 64, 3))
    report = load_state_dict(model, _state("googlenet/torchvision"))
    assert report["ignored"][:2] == ["aux1.conv.bn.bias", "aux1.conv.bn.running_mean"]
    assert "fc.weight" in report["ignored"] and not any(k.startswith("inception") for k in report["ignored"])


def test_the_bad_state_dict_type_is_named():
    with pytest.raises(ValueError, match=r"path to a \.safetensors or \.pth file, or a dict of arrays\. Received: list"):
        read_state_dict([1, 2])


# ------------------------------------------------------------------ convert, and the command line


def test_convert_writes_the_file_and_a_card(tmp_path, resnet18_file):
    out = tmp_path / "r18.keras"
    card = convert("resnet18", resnet18_file, out)
    assert card["weights_set"] == "torchvision" and card["set_recognised_by_hash"] is False
    assert card["source_sha256"] == hashlib.sha256(resnet18_file.read_bytes()).hexdigest()
    assert card["eval_transform"] == {"size": 224, "resize": 256, "crop_fraction": 224 / 256, "preprocessing": "torch"}
    assert json.loads((tmp_path / "r18.keras.card.json").read_text()) == card
    from keras_classics.metadata import model_metadata
    from keras_classics.predict import load_keras_model

    model = load_keras_model(str(out))
    assert model_metadata(model)["class_names"][0] == "tench" and model_metadata(model)["preprocessing"] == "torch"


def test_convert_never_replaces_another_kind_of_file(tmp_path, resnet18_file):
    precious = tmp_path / "mine.keras"
    precious.write_bytes(b"a model of mine")
    (tmp_path / "g.keras").write_bytes(b"another model")
    (tmp_path / "g.keras.card.json").write_text("{}")  # a card that names no conversion
    # A TFLite export's model card has the stem's name: a conversion's card never takes it.
    (tmp_path / "m.tflite").write_bytes(b"TFL3")
    (tmp_path / "m.card.json").write_text('{"format": "tflite"}')
    (tmp_path / "afile").write_text("not a folder")
    before = _tree_digest(tmp_path)
    with pytest.raises(FileExistsError, match="not an earlier conversion's output.*not replaced, even with overwrite"):
        convert("resnet18", resnet18_file, precious, overwrite=True)
    with pytest.raises(FileExistsError, match="not an earlier conversion's output"):
        convert("resnet18", resnet18_file, tmp_path / "g.keras", overwrite=True)
    with pytest.raises(FileExistsError, match="exists. Pass --overwrite"):
        convert("resnet18", resnet18_file, precious)
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5 or \.keras. Received: .*out\.h5"):
        convert("resnet18", resnet18_file, tmp_path / "out.h5")
    with pytest.raises(NotADirectoryError, match=r"afile' is a file, not a folder. Nothing was written"):
        convert("resnet18", resnet18_file, tmp_path / "afile" / "out.keras")
    with pytest.raises(ValueError, match=r"Unknown weights set 'torchvision-v2' for 'resnet18'\. Sets of 'resnet18': "
                                         r"'torchvision', 'a1_in1k', 'gluon_in1k' \(all sets: 'a1_in1k', 'a1h_in1k', "
                                         r"'gluon_in1k', 'imagenet', 'tf_in1k', 'torchvision', 'torchvision-v2'"):
        convert("resnet18", resnet18_file, tmp_path / "s.keras", set_name="torchvision-v2")
    assert _tree_digest(tmp_path) == before
    convert("resnet18", resnet18_file, tmp_path / "m.keras")  # beside the TFLite export: its card kept
    assert _tree_digest(tmp_path)["m.card.json"] == before["m.card.json"]
    first = convert("resnet18", resnet18_file, tmp_path / "h.weights.h5", include_top=False)
    with pytest.raises(FileExistsError, match="exists. Pass --overwrite"):
        convert("resnet18", resnet18_file, tmp_path / "h.weights.h5")
    assert read_card(tmp_path / "h.weights.h5") == first
    again = convert("resnet18", resnet18_file, tmp_path / "h.weights.h5", overwrite=True)  # its own output
    assert again["options"] == {"include_top": True}


def test_converted_files_remember_their_variant(tmp_path):
    """ResNet-50's v1 and v1.5 have the same shapes: the variant travels with the converted file."""
    source = tmp_path / "r50.safetensors"
    save_file(_state("resnet50/torchvision"), str(source))
    convert("resnet50", source, tmp_path / "r50.weights.h5")
    model = create_model("resnet50", weights=str(tmp_path / "r50.weights.h5"), input_shape=(64, 64, 3))
    assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    with pytest.raises(ValueError, match=r"converted from torchvision weights for stride_in='3x3'\. Received: "
                                         r"stride_in='1x1'"):
        create_model("resnet50", weights=str(tmp_path / "r50.weights.h5"), stride_in="1x1")
    v1 = create_model("resnet50", input_shape=(64, 64, 3))
    before = _snapshot(v1)
    with pytest.raises(ValueError, match=r"built with stride_in='1x1' .*build it with stride_in='3x3'\. Nothing was"):
        load_state_dict(v1, str(source))
    assert _unchanged(v1, before)
    with pytest.raises(ValueError, match=r"no torchvision counterpart as built: it is built with stride_in='1x1'"):
        to_torchvision_state_dict(v1)
    tf_pools = create_model("inception_v3", include_top=False, input_shape=(75, 75, 3))
    with pytest.raises(ValueError, match=r"count_include_pad=False .*build it with count_include_pad=True"):
        load_state_dict(tf_pools, _state("inception_v3/torchvision"))
    lrn = create_model("alexnet", variant="owt", lrn=True)
    with pytest.raises(ValueError, match=r"local response normalisation.*lrn=False"):
        load_state_dict(lrn, _state("alexnet/torchvision"))
    with pytest.raises(ValueError, match=r"'backbone' is not a registered model name; pass model_name="):
        load_state_dict(create_model("resnet18", name="backbone", input_shape=(32, 32, 3)), {})


@pytest.mark.slow  # seven command-line processes
def test_cli_weights_list_convert_predict_and_filters(tmp_path, resnet18_file):
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    env = {**os.environ, "KERAS_HOME": str(home), OFFLINE_ENV: "1"}
    listed = run_cli_process("weights", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len([r for r in rows if r["source"] == "torchvision"]) >= 18
    assert {r["cached"] for r in rows} == {"no"}
    r50 = next(r for r in rows if r["model"] == "resnet50" and r["set"] == "torchvision-v2")
    assert r50["requires"] == {"stride_in": "3x3"} and r50["eval_transform"]["resize"] == 232
    assert r50["sha256_prefix"] == "11ad3fa6" and r50["url"].endswith("/resnet50-11ad3fa6.pth")

    out = tmp_path / "backbone.weights.h5"
    converted = run_cli_process("weights", "convert", "resnet18", str(resnet18_file), "-o", str(out), "--no-top", env=env)
    assert converted.returncode == 0, converted.stderr
    assert "set 'torchvision' (not a published file: assumed)" in converted.stdout
    backbone = create_model("resnet18", include_top=False, weights=str(out), input_shape=(32, 32, 3))
    assert backbone.get_layer("conv1_conv").kernel.shape == (7, 7, 3, 64)
    again = run_cli_process("weights", "convert", "resnet18", str(resnet18_file), "-o", str(out), "--no-top", env=env)
    assert again.returncode == 2 and "exists. Pass --overwrite" in again.stderr

    keras_file = tmp_path / "r18.keras"
    assert run_cli_process("weights", "convert", "resnet18", str(resnet18_file), "-o", str(keras_file), env=env).returncode == 0
    image = tmp_path / "cat.png"
    from PIL import Image

    Image.fromarray(np.random.RandomState(0).randint(0, 255, (300, 280, 3), np.uint8)).save(image)
    predicted = run_cli_process("predict", str(keras_file), str(image), "--top", "2", env=env)
    assert predicted.returncode == 0, predicted.stderr
    # torchvision's 256 -> 224 crop and mean/std preprocessing, ImageNet's class names.
    from keras_classics.images import load_image
    from keras_classics.predict import load_keras_model

    model = load_keras_model(str(keras_file))
    from keras_classics.transforms import preprocess

    x = preprocess(load_image(str(image), (224, 224), 224 / 256)[None].astype("float32"), "torch")
    probs = np.asarray(model(x, training=False))[0]
    from keras_classics.weights import imagenet_class_names

    assert imagenet_class_names()[int(np.argmax(probs))] in predicted.stdout

    twin = home / "models" / "alexnet-owt-7be5be79.safetensors"
    save_file(_state("alexnet/torchvision"), str(twin))
    picture = tmp_path / "alexnet_filters.png"
    drawn = run_cli_process("visualize", "filters", "alexnet", "--weights", "torchvision", "-o", str(picture), env=env)
    assert drawn.returncode == 0, drawn.stderr
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    listed = json.loads(run_cli_process("weights", "list", "alexnet", "--format", "json", env=env).stdout)
    assert listed[0]["cached"] == "safetensors"


@pytest.mark.slow  # three command-line processes
def test_cli_weights_errors_are_one_line(tmp_path, resnet18_file):
    missing = run_cli_process("weights", "convert", "resnet18", str(tmp_path / "nope.pth"), "-o", str(tmp_path / "x.keras"))
    assert missing.returncode == 2 and missing.stderr.strip().endswith("Weights file not found: "
                                                                       f"{str(tmp_path / 'nope.pth')!r}")
    unknown = run_cli_process("weights", "list", "lenet*")
    assert unknown.returncode == 2 and "No weights sets for models matching 'lenet*'" in unknown.stderr
    wrong_model = run_cli_process("weights", "convert", "vgg11", str(resnet18_file), "-o", str(tmp_path / "v.keras"))
    assert wrong_model.returncode == 2 and "does not fit 'vgg11'" in wrong_model.stderr
    assert not (tmp_path / "v.keras").exists() and not (tmp_path / "v.keras.card.json").exists()


def test_make_images_skips_the_pretrained_picture_without_the_file(tmp_path, keras_home, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_images", ROOT / "docs" / "make_images.py")
    make_images = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_images)
    out = lambda name: str(tmp_path / name)  # noqa: E731
    assert make_images._pretrained_filters(out, overwrite=False) == []
    assert "skipped alexnet_filters_torchvision.png: alexnet-owt-7be5be79.pth is not in the Keras cache" in (
        capsys.readouterr().out)
    save_file(_state("alexnet/torchvision"), str(keras_home / "models" / "alexnet-owt-7be5be79.safetensors"))
    written = make_images._pretrained_filters(out, overwrite=False)
    assert written == [out("alexnet_filters_torchvision.png")] and os.path.isfile(written[0])


# ------------------------------------------------------------------ the README's section, as written

README = ROOT / "README.md"
PARITY = ROOT / "docs" / "results" / "torchvision_parity.json"


def _readme_section():
    text = open(README, encoding="utf-8").read()
    start = text.index("## Pretrained weights")
    return text[start:text.index("\n## ", start + 1)]


def _blocks(section, language):
    import re

    return [m.group(2) for m in re.finditer(r"^```(\w*)\n(.*?)^```", section, re.S | re.M) if m.group(1) == language]


def test_readme_table_is_the_registry():
    import re

    rows = re.findall(r"^\| `(\w+)` \| `\"([\w-]+)\"` \| ([\w.]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) → (\d+)"
                      r"( bicubic)?, (\w+) \|", _readme_section(), re.M)
    documented = {(m, s): (src, float(t1), float(t5), int(resize), int(size), (interp or " bilinear")[1:], prep)
                  for m, s, src, t1, t5, resize, size, interp, prep in rows}
    from keras_classics.weights import weights_sets

    registry = {(m, s.name): (s.source, s.top1, s.top5, s.eval_transform.resize, s.eval_transform.size,
                              s.eval_transform.interpolation, s.eval_transform.preprocessing)
                for m, s in weights_sets()}
    assert documented == {k: (v[0], round(v[1], 2), round(v[2], 2), *v[3:]) for k, v in registry.items()}


def test_readme_parity_claim_is_the_measured_one():
    results = json.load(open(PARITY))["results"]
    worst = max(v for errors in results.values() for v in errors.values())
    assert set(results) == set(CASES) and worst < 5e-6  # "about 1e-6"
    assert "agree with torchvision's to about 1e-6" in _readme_section()


@pytest.mark.slow  # the README's section at full size: AlexNet, GoogLeNet and ResNet-50 at 224 pixels, a training run
def test_readme_pretrained_section_runs_offline(tmp_path, monkeypatch):
    """Every command and snippet of the section, as written, in a fresh directory with a cache holding
    torchvision-layout files (built from a seed) for the sets it names."""
    from keras_classics import cli

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.chdir(tmp_path)
    for case in ("alexnet/torchvision", "googlenet/torchvision", "resnet50/torchvision-v2"):
        model, set_name = case.split("/")
        stem = os.path.splitext(model_info(model).weights[set_name].file)[0]
        save_file(_state(case), str(home / "models" / f"{stem}.safetensors"))
    # timm's set, in a huggingface_hub cache (ResNet-50's torchvision layout is timm's)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    golden_hub_repo(tmp_path / "hf", "resnet50/torchvision", "timm/resnet50.a1_in1k",
                    timm_config("resnet50", 224, 0.95, "bicubic", test_input_size=[3, 288, 288], test_crop_pct=1.0))
    save_file(_state("resnet18/torchvision"), "resnet18.safetensors")  # the file the section converts

    section = _readme_section()
    snippets = _blocks(section, "python")
    assert len(snippets) == 2
    exec(compile(snippets[0], "README.md", "exec"), {})
    lines = [line.split("#")[0].strip() for block in _blocks(section, "bash") for line in block.splitlines()]
    lines = [line for line in lines if line]
    assert len(lines) == 4
    import shlex

    for line in lines:
        words = shlex.split(line)
        assert words[0] == "keras-classics" and cli.main(words[1:]) == 0, line
    assert os.path.isfile("alexnet_conv1.png") and os.path.isfile("resnet18_backbone.weights.h5")
    namespace = {}
    exec(compile(snippets[1], "README.md", "exec"), namespace)
    assert namespace["model"].history.history["loss"][0] > 0


def test_the_documented_differences_are_the_measured_ones():
    import re

    results = json.load(open(PARITY))
    doc = open(ROOT / "docs" / "models_resnet_inception_v3.md", encoding="utf-8").read()
    rows = {f"{m}/{s}": errors for m, s, errors in re.findall(r"^\| `(\w+)` \| `([\w-]+)` \| (.+) \|$", doc, re.M)}
    assert rows.keys() == results["results"].keys()
    for case, errors in results["results"].items():
        assert rows[case] == ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
    ablation = results["ablation"]["inception_v3/torchvision with count_include_pad=False"]
    assert f"off by {ablation['logits']:.1e} (logits) and {ablation['aux']:.1e}" in doc


@pytest.mark.slow  # two training runs and a prediction, each in its own process
def test_fine_tune_a_converted_model_with_a_recipe(tmp_path, resnet18_file):
    """weights convert -> train quickstart --init-from (the weights' preprocessing is kept) -> predict."""
    converted = tmp_path / "r18.keras"
    convert("resnet18", resnet18_file, converted)
    run = tmp_path / "run"
    trained = run_cli_process("train", "quickstart", "--init-from", str(converted), "--epochs", "1", "--steps-per-epoch", "1",
                   "--batch-size", "16", "--dataset-options", '{"num_train": 32, "num_val": 16}',
                   "--run-dir", str(run))
    assert trained.returncode == 0, trained.stderr
    assert "Initialised 40 layer(s) of resnet18 from" in trained.stdout
    assert json.loads((run / "config.json").read_text())["preprocessing"] == "torch"
    # ResNet-50: the converted file's variant (v1.5) is built, not the registry's default (v1).
    source = tmp_path / "r50.safetensors"
    save_file(_state("resnet50/torchvision"), str(source))
    convert("resnet50", source, tmp_path / "r50.keras")
    run50 = tmp_path / "run50"
    trained = run_cli_process("train", "quickstart", "--model", "resnet50", "--init-from", str(tmp_path / "r50.keras"),
                   "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "16",
                   "--dataset-options", '{"num_train": 32, "num_val": 16}', "--run-dir", str(run50))
    assert trained.returncode == 0, trained.stderr
    assert json.loads((run50 / "config.json").read_text())["model_kwargs"]["stride_in"] == "3x3"
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(tmp_path / "grey.png")
    predicted = run_cli_process("predict", str(run), str(tmp_path / "grey.png"))
    assert predicted.returncode == 0, predicted.stderr


def test_grouped_convolution_kernels_follow_torchs_layout():
    """A grouped kernel ported from (out, in/groups, kh, kw) gives torch's grouped cross-correlation
    (output channel o reads input channels of group o // (out/groups)), computed here with NumPy."""
    import keras

    from keras_classics.weights._torchvision import _slots

    rs = np.random.RandomState(0)
    groups, cin, cout, k = 2, 4, 6, 3
    weight = rs.normal(size=(cout, cin // groups, k, k)).astype(np.float32)
    x = rs.normal(size=(1, 5, 5, cin)).astype(np.float32)
    inputs = keras.Input((5, 5, cin))
    layer = keras.layers.Conv2D(cout, k, groups=groups, use_bias=False, name="conv1")
    model = keras.Model(inputs, layer(inputs))
    (slot,) = _slots(model, "alexnet", 0.0)
    layer.kernel.assign(slot.to_keras(keras.ops.convert_to_tensor(weight)))
    expected = np.zeros((3, 3, cout), np.float32)
    per_group_in, per_group_out = cin // groups, cout // groups
    for o in range(cout):
        g = o // per_group_out
        channels = x[0, :, :, g * per_group_in:(g + 1) * per_group_in]
        for i in range(3):
            for j in range(3):
                # torch: out[o, i, j] = sum_c,u,v weight[o, c, u, v] * in[g*in/groups + c, i+u, j+v]
                expected[i, j, o] = np.sum(weight[o].transpose(1, 2, 0) * channels[i:i + k, j:j + k])
    np.testing.assert_allclose(np.asarray(model(x))[0], expected, rtol=1e-5, atol=1e-5)


def test_another_input_size_for_a_flattening_classifier_says_so():
    model = create_model("alexnet", variant="owt", input_shape=(256, 256, 3))
    with pytest.raises(ValueError, match=r"classifier\.1\.weight: the file has shape \(4096, 9216\), the model needs "
                                         r"\(4096, 12544\)\nThe flattened feature map has another size"):
        load_state_dict(model, _state("alexnet/torchvision"))
