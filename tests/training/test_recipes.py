"""Every shipped recipe runs a few steps offline on the generated dataset and holds its paper's settings;
``--print-config`` prints what the run records; every documented smoke command trains below its first step's loss."""

import json
import math
import os
import shlex
import subprocess
import sys

import keras
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
            "--steps-per-epoch", "1", "--validation-steps", "1", "--verbose", "0", "--run-eagerly"]  # one step: no graph


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


# ---------------------------------------------------------------------- the documented smoke commands
# A smoke command: a documented `keras-classics train` or `python recipes/NAME.py` line that trains offline on the
# generated shapes dataset. Each trains to a finite loss below its first step's. The long ones run with fewer
# images and steps (the same recipe and settings otherwise); the others run exactly as documented.
SHORTER = {
    "quickstart": ["--dataset-options", '{"num_train": 1024, "num_val": 128}', "--epochs", "1",
                   "--steps-per-epoch", "8"],
    "resnet18": ["--dataset-options", '{"num_train": 512, "num_val": 64}', "--epochs", "1", "--steps-per-epoch", "8"],
}
# Documented lines that are not smoke commands of their own, with the reason.
NOT_SMOKE = {
    "--resume": "continues a run (tests/training/test_engine.py resumes runs)",
    "--print-config": "prints, trains nothing",
    "--list": "lists, trains nothing",
    "--strategy": "several workers (tests/journeys/test_multiworker.py)",
    "--init-from": "the second half of the VGG pair: starts from the run of the vgg11 line",
}


def _toml_commands():
    for name in RECIPES:
        text = (ROOT / "keras_classics" / "recipes" / f"{name}.toml").read_text(encoding="utf-8")
        for line in text.splitlines():
            line = line.lstrip("#").strip()
            if line.startswith("keras-classics train"):
                yield f"recipes/{name}.toml", line


def smoke_commands():
    """``(where, target, args)`` of every documented offline training command, one per distinct command."""
    from keras_classics.cli import build_parser
    from keras_classics.training._cli import resolve_target
    from keras_classics.training.config import overrides_from_args
    from tests.journeys.test_docs import documented

    lines = [(where, words) for where, words in documented("keras-classics train") + documented("python recipes/")]
    lines += [(where, shlex.split(line, comments=True)) for where, line in _toml_commands()]
    found, seen = [], set()
    for where, words in lines:
        if any(flag in words for flag in NOT_SMOKE):
            continue
        if words[0] == "python":
            target, args = os.path.basename(words[1])[: -len(".py")], words[2:]
        else:
            rest = build_parser().parse_args(words[1:])
            target, args = rest.target or "quickstart", words[3 if rest.target else 2:]
        config = resolve_target(target).replace(
            **overrides_from_args(build_parser().parse_args(["train", target, *args])))
        key = (target, tuple(a for a in args if a not in ("--run-dir",) and not a.startswith("runs/")))
        if config.dataset == "shapes" and key not in seen:
            seen.add(key)
            found.append((where, target, args))
    return found


def test_the_docs_show_a_smoke_command_for_the_recipes_they_name():
    targets = {target for _, target, _ in smoke_commands()}
    assert {"quickstart", "resnet18", "resnet50_imagenet", "vgg16_imagenet", "vgg11_imagenet"} <= targets


class StepLosses(keras.callbacks.Callback):
    """Each training step's loss, from the running means of the epoch that Keras logs."""

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self.means = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append(float(logs["loss"]))
        k = len(self.means)
        self.losses.append(k * self.means[-1] - (k - 1) * (self.means[-2] if k > 1 else 0.0))


@pytest.mark.slow  # real training steps, ResNet-50 at 64 px on 256-image batches among them
@pytest.mark.parametrize("where, target, args", smoke_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_documented_smoke_command_trains_to_a_finite_loss_below_its_start(where, target, args, tmp_path):
    from keras_classics.cli import build_parser
    from keras_classics.training import train
    from keras_classics.training._cli import resolve_target
    from keras_classics.training.config import overrides_from_args
    from keras_classics.training.recipes import absolute_lr

    args = list(args)
    if "--run-dir" in args:
        i = args.index("--run-dir")
        del args[i:i + 2]
    parsed = build_parser().parse_args(["train", target, *args, *SHORTER.get(target, []), "--verbose", "0"])
    config = resolve_target(target).replace(**absolute_lr(overrides_from_args(parsed)), run_dir=str(tmp_path / "run"))
    steps = StepLosses()
    train(config, callbacks=[steps])
    first, last = steps.losses[0], steps.losses[-1]
    assert all(math.isfinite(v) for v in steps.losses), steps.losses
    assert last < first, f"{where}: {target} {' '.join(args)}: step losses {steps.losses}"
