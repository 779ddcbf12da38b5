"""Every shipped recipe runs a few steps offline on the generated dataset, and holds its paper's settings."""

import json
import os
import subprocess
import sys

import pytest

from keras_classics import list_models, model_info
from keras_classics.training import RecipeConfig, list_recipes, load_recipe, run_recipe
from tests.helpers import ROOT

RECIPES = sorted(list_recipes())

# Smallest convenient sizes: AlexNet's and ZFNet's strides and the auxiliary heads' fixed pooling
# need more than 32 px (Inception v3's auxiliary head needs its full 299).
TEST_SIZES = {"alexnet": 67, "zfnet": 64, "googlenet": 72, "inception_v3": 299}

pytestmark = pytest.mark.usefixtures("shapes_cache")


def test_recipes_are_found_by_name(tmp_path, monkeypatch, capsys):
    # Every shipped recipe has its thin script at the top of the checkout, and nothing else is there.
    assert sorted(p.stem for p in (ROOT / "recipes").glob("*.py")) == RECIPES
    assert {"quickstart", "alexnet_imagenet", "zfnet_imagenet", "vgg16_imagenet", "googlenet_imagenet",
            "inception_v2_imagenet", "inception_v3_imagenet", "resnet50_imagenet", "resnet18_cifar10",
            "vgg16_cifar10", "googlenet_cifar10"} <= set(RECIPES)
    with pytest.raises(ValueError, match="Did you mean 'resnet50_imagenet'"):
        load_recipe("resnet50_imagenett")
    with pytest.raises(ValueError, match=r"Unknown model or recipe 'nope'.*Recipes: alexnet_imagenet"):
        load_recipe("nope")
    # A recipe of the user's own, by path and by name from ./recipes.
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "mine.py").write_text(
        "from keras_classics.training import RecipeConfig\nCONFIG = RecipeConfig(name='mine', epochs=2)\n")
    monkeypatch.chdir(tmp_path)
    assert load_recipe("mine").epochs == 2 and load_recipe(tmp_path / "recipes" / "mine.py").name == "mine"
    # A thin script is not a recipe file: it says where the recipes are.
    with pytest.raises(ValueError, match="defines no CONFIG.*quickstart"):
        load_recipe(ROOT / "recipes" / "quickstart.py")
    from keras_classics.cli import main

    assert main(["train", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == RECIPES
    assert any(line.startswith("quickstart") and "shapes" in line for line in listed)


def _at_full_size(name):
    model = load_recipe(name).model
    return model in list_models() and TEST_SIZES.get(model_info(model).family, 32) > 128


# Inception v3's recipe trains at its full 299 pixels (the auxiliary head): slow.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if _at_full_size(n) else n for n in RECIPES])
def test_recipe_runs_offline_on_shapes(name, tmp_path):
    config = load_recipe(name)
    assert isinstance(config, RecipeConfig) and config.name == name
    if config.model not in list_models():
        pytest.skip(f"model {config.model!r} is not registered in this build")
    size = TEST_SIZES.get(model_info(config.model).family, 32)
    batch = 2 if size > 128 else 4
    # Two steps do not repay tracing a graph of each network: eager steps, except for the
    # quickstart (graph mode is what every other training test runs).
    eager = [] if name == "quickstart" else ["--run-eagerly"]
    result = run_recipe(config, argv=[
        "--dataset", "shapes", "--dataset-options", json.dumps({"num_train": 16, "num_val": 8}),
        "--image-size", str(size), "--epochs", "1", "--batch-size", str(batch), "--steps-per-epoch", "2",
        "--validation-steps", "1", "--run-dir", str(tmp_path / "run"), "--verbose", "0", *eager,
    ])
    run = tmp_path / "run"
    assert (run / "final.keras").is_file() and (run / "metrics.json").is_file()
    stored = json.loads((run / "config.json").read_text())
    # The recipe's optimisation is what ran; only the overridden fields changed.
    for field in ("model", "optimizer", "lr", "lr_batch_size", "weight_decay", "schedule", "aux_loss_weights",
                  "label_smoothing", "clipnorm", "policy"):
        assert stored[field] == getattr(config, field), field
    assert stored["dataset"] == "shapes" and stored["image_size"] == size and stored["epochs"] == 1
    assert stored["run_eagerly"] is (name != "quickstart")
    assert result.metrics["loss"] is not None and result.metrics["epochs"] == 1
    if config.ten_crop:
        assert 0.0 <= result.metrics["ten_crop_top1"] <= 1.0


def test_paper_settings():
    v3 = load_recipe("inception_v3_imagenet")
    assert (v3.optimizer, v3.rho, v3.epsilon, v3.lr, v3.lr_batch_size) == ("rmsprop", 0.9, 1.0, 0.045, 32)
    assert (v3.decay_every, v3.decay_rate, v3.clipnorm, v3.label_smoothing) == (2, 0.94, 2.0, 0.1)
    assert v3.aux_loss_weights == {"aux": 0.4}
    g = load_recipe("googlenet_imagenet")
    assert g.aux_loss_weights == {"aux_1": 0.3, "aux_2": 0.3} and g.model_kwargs["aux_logits"] is True
    assert (g.schedule, g.decay_every, g.decay_rate) == ("step", 8, 0.96)
    for name, wd in (("alexnet_imagenet", 5e-4), ("vgg16_imagenet", 5e-4), ("resnet50_imagenet", 1e-4)):
        r = load_recipe(name)
        assert (r.optimizer, r.momentum, r.weight_decay, r.schedule) == ("sgd", 0.9, wd, "plateau"), name
    r50 = load_recipe("resnet50_imagenet")
    assert (r50.lr, r50.lr_batch_size, r50.batch_size) == (0.1, 256, 256)


@pytest.mark.slow  # two Python processes
def test_recipe_script_runs_as_a_program():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, str(ROOT / "recipes" / "resnet50_imagenet.py"), "--print-config",
                           "--epochs", "3", "--batch-size", "512"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["epochs"] == 3 and printed["batch_size"] == 512 and printed["lr"] == 0.1
    bad = subprocess.run([sys.executable, str(ROOT / "recipes" / "quickstart.py"), "--model", "resnet19"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "Did you mean 'resnet18'" in bad.stderr


def test_paper_recipes_take_the_family_settings_from_the_registry():
    # The shipped recipe and `keras-classics train MODEL` agree on the paper's optimisation: one source.
    for name in ("alexnet_imagenet", "vgg16_imagenet", "resnet50_imagenet", "inception_v3_imagenet"):
        recipe = load_recipe(name)
        for field, value in model_info(recipe.model).recipe.items():
            if field != "policy":
                assert getattr(recipe, field) == value, (name, field)


# ---------------------------------------------------------------------- --print-config
TINY_RUN = ["--dataset-options", json.dumps({"num_train": 16, "num_val": 8}), "--epochs", "1", "--batch-size", "4",
            "--steps-per-epoch", "1", "--validation-steps", "1", "--verbose", "0"]


@pytest.mark.parametrize("target, options", [
    ("resnet18", ["--image-size", "32"]),              # a model: its registry entry's preprocessing, the CIFAR policy
    ("quickstart", []),                                 # a recipe that sets the image size and policy
    ("convnet4", ["--preprocessing", "default"]),      # the shapes default size (64), torch preprocessing
])
def test_print_config_is_the_configuration_the_run_records(target, options, tmp_path, capsys):
    from tests.helpers import run_cli

    code, out, err = run_cli(capsys, "train", target, *options, *TINY_RUN, "--print-config")
    assert code == 0, err
    printed = json.loads(out)
    for field in ("image_size", "policy", "preprocessing"):
        assert printed[field] is not None, field
    assert printed["model_kwargs"]["input_shape"] == [printed["image_size"]] * 2 + [3]
    code, _, err = run_cli(capsys, "train", target, *options, *TINY_RUN, "--run-dir", tmp_path / "run")
    assert code == 0, err
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())
    recorded["model_kwargs"].pop("classes")  # the dataset's, known once it is read
    for field, value in printed.items():
        if field != "run_dir":  # named when the run starts (RUNS_ROOT/NAME-TIMESTAMP)
            assert recorded[field] == value, field
