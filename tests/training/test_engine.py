"""The training engine: schedules, configuration, losses, warm start, runs and their errors.

Runs use the generated shapes dataset at 32 pixels with a handful of images,
so every test trains for real in a few seconds.
"""

import csv
import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_classics import create_model, model_info
from keras_classics.training import RecipeConfig, config_for_model
from keras_classics.training.config import add_config_arguments, overrides_from_args
from keras_classics.training.losses import compile_arguments, l2_regularize
from keras_classics.training.schedules import ClassicSchedule, scaled_learning_rate
from tests.helpers import image_folder

pytestmark = pytest.mark.usefixtures("shapes_cache")


def tiny(tmp_path, **changes):
    """A seconds-long run: ResNet-18 at 32 px on 48 shapes images."""
    base = dict(
        name="tiny",
        model="resnet18",
        dataset="shapes",
        dataset_options={"num_train": 48, "num_val": 16},
        image_size=32,
        epochs=1,
        batch_size=8,
        steps_per_epoch=2,
        lr=0.01,
        runs_root=str(tmp_path / "runs"),
        verbose=0,
    )
    base.update(changes)
    return RecipeConfig(**base)


# ---------------------------------------------------------------------- schedules
def lr_at(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_step_schedule_milestones_and_interval():
    s = ClassicSchedule("step", 0.1, steps_per_epoch=10, epochs=90, milestones=[30, 60, 80], decay_rate=0.1)
    assert lr_at(s, 0) == pytest.approx(0.1)
    assert lr_at(s, 299) == pytest.approx(0.1)  # last step of epoch 29
    assert lr_at(s, 300) == pytest.approx(0.01)
    assert lr_at(s, 600) == pytest.approx(0.001)
    assert lr_at(s, 899) == pytest.approx(1e-4)
    # Inception v3: 0.045 x 0.94 every 2 epochs (staircase).
    v3 = ClassicSchedule("step", 0.045, steps_per_epoch=100, epochs=100, decay_every=2, decay_rate=0.94)
    assert lr_at(v3, 199) == pytest.approx(0.045)
    assert lr_at(v3, 200) == pytest.approx(0.045 * 0.94)
    assert lr_at(v3, 1000) == pytest.approx(0.045 * 0.94**5, rel=1e-5)


def test_cosine_polynomial_and_warmup():
    cos = ClassicSchedule("cosine", 0.2, steps_per_epoch=10, epochs=10, min_lr=0.0)
    assert lr_at(cos, 0) == pytest.approx(0.2)
    assert lr_at(cos, 50) == pytest.approx(0.1)
    assert lr_at(cos, 100) == pytest.approx(0.0, abs=1e-7)
    poly = ClassicSchedule("polynomial", 0.01, steps_per_epoch=10, epochs=10, power=0.5)
    assert lr_at(poly, 75) == pytest.approx(0.01 * 0.25**0.5)
    warm = ClassicSchedule("cosine", 0.4, steps_per_epoch=10, epochs=12, warmup_epochs=2)
    assert lr_at(warm, 0) == pytest.approx(0.4 / 20)  # first step: 1/20 of the peak
    assert lr_at(warm, 9) == pytest.approx(0.4 * 10 / 20)
    assert lr_at(warm, 20) == pytest.approx(0.4)  # warm-up over, cosine starts at its peak
    assert lr_at(warm, 70) == pytest.approx(0.2)  # half way through the 10 cosine epochs
    const = ClassicSchedule("constant", 0.3, steps_per_epoch=5, epochs=3)
    assert lr_at(const, 14) == pytest.approx(0.3)


def test_plateau_factor_and_linear_scaling():
    s = ClassicSchedule("plateau", 0.1, steps_per_epoch=10, epochs=10)
    s.factor.assign(0.01)
    assert lr_at(s, 5) == pytest.approx(0.001)
    assert scaled_learning_rate(0.1, 1024, 256) == pytest.approx(0.4)
    assert scaled_learning_rate(0.045, 32, None) == pytest.approx(0.045)
    restored = ClassicSchedule.from_config(s.get_config())
    assert lr_at(restored, 5) == pytest.approx(0.1)  # the factor is run state, kept by checkpoints


def test_reduce_on_plateau_callback():
    from keras_classics.training.callbacks import ReduceOnPlateau

    s = ClassicSchedule("plateau", 0.1, steps_per_epoch=1, epochs=20)
    cb = ReduceOnPlateau(s, "val_top1", patience=2, decay_rate=0.1, min_lr=1e-3, verbose=0)
    for epoch, value in enumerate([0.5, 0.6, 0.6, 0.59, 0.61, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]):
        cb.on_epoch_end(epoch, {"val_top1": value})
    # no improvement after 0.61 for 2 epochs -> x0.1 (epochs 5-6), then again (7-8), floored at 1e-3 / 0.1.
    assert cb.factor == pytest.approx(0.01)
    state = cb.get_state()
    other = ReduceOnPlateau(ClassicSchedule("plateau", 0.1, steps_per_epoch=1, epochs=20), "val_top1", verbose=0)
    other.set_state(state)
    assert other.factor == pytest.approx(0.01) and other.best == pytest.approx(0.61)


def test_schedule_rejects_unknown_kind():
    with pytest.raises(ValueError, match="Unknown schedule 'cosin'"):
        ClassicSchedule("cosin", 0.1, steps_per_epoch=1, epochs=1)


# ---------------------------------------------------------------------- configuration
def test_config_dict_round_trip_and_replace():
    config = RecipeConfig(name="x", model="googlenet", model_kwargs={"aux_logits": True},
                          aux_loss_weights={"aux_1": 0.3, "aux_2": 0.3}, milestones=[30, 60])
    data = json.loads(config.to_json())
    assert RecipeConfig.from_dict(data) == config
    assert config.replace(epochs=3).epochs == 3 and config.epochs == 10
    with pytest.raises(ValueError, match=r"'batchsize' \(did you mean 'batch_size'\?\)"):
        config.replace(batchsize=3)
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer. Received: batch_size=0"):
        config.replace(batch_size=0)
    with pytest.raises(ValueError, match="`precision` must be one of"):
        config.replace(precision="float16")
    with pytest.raises(ValueError, match="milestones"):
        config.replace(milestones=[60, 30])
    with pytest.raises(ValueError, match="at most one of `jit_compile` and `run_eagerly`"):
        config.replace(jit_compile=True, run_eagerly=True)
    # A warm-up as long as the run is allowed: the rate ramps for the whole run.
    assert config.replace(epochs=1, warmup_epochs=1).warmup_epochs == 1


def test_every_field_is_a_command_line_option():
    import argparse

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args([
        "--epochs", "3", "--batch-size", "64", "--model", "resnet50", "--dataset", "tfds:cifar10",
        "--data-dir", "/data/tfds", "--val", "folder:/data/val", "--precision", "mixed_float16", "--jit-compile",
        "--strategy", "mirrored", "--devices", "/gpu:0,/gpu:1", "--init-from", "runs/a/final.keras",
        "--run-dir", "runs/b", "--milestones", "30,60,80", "--model-kwargs", '{"aux_logits": true}',
        "--clipnorm", "2.0", "--image-size", "none", "--no-deterministic",
    ])
    overrides = overrides_from_args(args)
    assert overrides == {
        "epochs": 3, "batch_size": 64, "model": "resnet50", "dataset": "tfds:cifar10", "data_dir": "/data/tfds",
        "val": "folder:/data/val", "precision": "mixed_float16", "jit_compile": True, "strategy": "mirrored",
        "devices": ["/gpu:0", "/gpu:1"], "init_from": "runs/a/final.keras", "run_dir": "runs/b",
        "milestones": [30, 60, 80], "model_kwargs": {"aux_logits": True}, "clipnorm": 2.0, "image_size": None,
        "deterministic": False,
    }
    RecipeConfig().replace(**overrides)  # valid
    # "none" is a policy and a preprocessing mode, not a null; "default" restores the model's choice.
    assert overrides_from_args(parser.parse_args(["--policy", "none", "--preprocessing", "none"])) == {
        "policy": "none", "preprocessing": "none"}
    assert overrides_from_args(parser.parse_args(["--policy", "default", "--preprocessing", "default"])) == {
        "policy": None, "preprocessing": None}
    import dataclasses

    options = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(RecipeConfig)} <= options
    with pytest.raises(SystemExit):
        parser.parse_args(["--model-kwargs", "[1, 2]"])


def test_cpu_kernels_note(monkeypatch):
    from keras_classics.training.strategy import cpu_kernels_note

    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert cpu_kernels_note(mkl_enabled=True) is None
    note = cpu_kernels_note(mkl_enabled=False)  # TensorFlow imported first: say how to turn them on
    assert "oneDNN" in note and "TF_ENABLE_ONEDNN_OPTS=1" in note
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")  # the user's explicit choice: silent
    assert cpu_kernels_note(mkl_enabled=False) is None


def test_family_defaults_follow_the_papers():
    resnet, vgg = config_for_model("resnet50"), config_for_model("vgg16")
    assert (resnet.weight_decay, resnet.lr, resnet.lr_batch_size) == (1e-4, 0.1, 256)
    assert vgg.weight_decay == 5e-4 and config_for_model("alexnet").weight_decay == 5e-4
    assert model_info("resnet50").recipe["policy"] == "resnet" and model_info("zfnet").recipe["policy"] == "alexnet"
    with pytest.raises(ValueError, match="family 'resnet'"):
        config_for_model("resnet50", "vgg")
    v3 = config_for_model("inception_v3", "inception_v3")
    assert (v3.optimizer, v3.rho, v3.epsilon, v3.lr, v3.clipnorm, v3.label_smoothing) == (
        "rmsprop", 0.9, 1.0, 0.045, 2.0, 0.1)
    assert v3.aux_loss_weights == {"aux": 0.4}
    assert config_for_model("googlenet", "googlenet").aux_loss_weights == {"aux_1": 0.3, "aux_2": 0.3}


# ---------------------------------------------------------------------- losses
def test_aux_losses_are_weighted_and_metrics_use_the_main_head():
    keras.utils.set_random_seed(1)
    model = create_model("googlenet", aux_logits=True, classes=10, input_shape=(72, 72, 3))
    args = compile_arguments(model, num_classes=10, aux_loss_weights={"aux_1": 0.3, "aux_2": 0.3})
    model.compile(optimizer="sgd", **args)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 72, 72, 3)).astype("float32")  # unsaturated softmax: CE equal from probabilities
    y = np.array([1, 3, 5, 7])
    logs = model.evaluate(x, {"predictions": y, "aux_1": y, "aux_2": y}, return_dict=True, verbose=0)
    out = model.predict(x, verbose=0)
    ce = {k: float(np.mean(keras.losses.sparse_categorical_crossentropy(y, out[k]))) for k in out}
    assert logs["loss"] == pytest.approx(ce["predictions"] + 0.3 * ce["aux_1"] + 0.3 * ce["aux_2"], rel=1e-5)
    assert ce["aux_1"] != pytest.approx(ce["predictions"])  # the heads differ, so the weights matter
    assert logs["aux_1_loss"] == pytest.approx(ce["aux_1"], rel=1e-5)  # per-head losses are logged unweighted
    top1 = float(np.mean(np.argmax(out["predictions"], -1) == y))
    assert logs["predictions_top1"] == pytest.approx(top1)
    assert not any(k.startswith("aux") and "top" in k for k in logs)

    with pytest.raises(ValueError, match="must give a weight for each"):
        compile_arguments(model, num_classes=10, aux_loss_weights={"aux_1": 0.3})
    single = create_model("resnet18", classes=10, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="single output"):
        compile_arguments(single, num_classes=10, aux_loss_weights={"aux": 0.4})


def test_optimizers_follow_the_configuration():
    from keras_classics.training.model_build import make_optimizer

    v3 = config_for_model("inception_v3", "inception_v3", ema=0.9999)
    opt = make_optimizer(v3, 0.045)
    assert isinstance(opt, keras.optimizers.RMSprop)
    assert (opt.rho, opt.momentum, opt.epsilon, opt.clipnorm) == (0.9, 0.9, 1.0, 2.0)
    assert opt.use_ema and opt.ema_momentum == 0.9999
    sgd = make_optimizer(RecipeConfig(nesterov=True, global_clipnorm=5.0), 0.1)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.global_clipnorm == 5.0
    assert not sgd.use_ema


def test_max_filter_rms_rescales_only_large_filters():
    from keras_classics.training.losses import MaxFilterRMS

    w = np.zeros((3, 3, 2, 2), "float32")
    w[..., 0] = 1.0  # RMS 1
    w[..., 1] = 0.05  # RMS 0.05
    out = keras.ops.convert_to_numpy(MaxFilterRMS(0.1)(w))
    np.testing.assert_allclose(out[..., 0], 0.1, rtol=1e-6)
    np.testing.assert_allclose(out[..., 1], 0.05, rtol=1e-6)


def test_l2_penalty_is_half_wd_times_squared_kernels():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="d1")(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(x))
    assert l2_regularize(model, 1e-2) == 1
    kernel = model.get_layer("d1").kernel.numpy()
    assert float(sum(model.losses)) == pytest.approx(0.5 * 1e-2 * float(np.sum(kernel**2)), rel=1e-6)


# ---------------------------------------------------------------------- VGG initialisation
def test_vgg_init_from_copies_first_four_convs_and_fc_layers(tmp_path):
    from keras_classics.training.warmstart import initialize_from

    keras.utils.set_random_seed(0)
    vgg11 = create_model("vgg11", classes=10, input_shape=(32, 32, 3))
    vgg11.save(tmp_path / "vgg11.keras")
    keras.utils.set_random_seed(1)
    vgg16 = create_model("vgg16", classes=10, input_shape=(32, 32, 3))
    before = {l.name: [w.numpy() for w in l.weights] for l in vgg16.layers if l.weights}

    copied = initialize_from(vgg16, "vgg16", tmp_path / "vgg11.keras", verbose=False)

    expected = ["block1_conv1", "block2_conv1", "block3_conv1", "block3_conv2", "fc1", "fc2", "predictions"]
    assert copied == expected
    for name, old in before.items():
        new = [w.numpy() for w in vgg16.get_layer(name).weights]
        if name in expected:
            src = [w.numpy() for w in vgg11.get_layer(name).weights]
            assert all(np.array_equal(a, b) for a, b in zip(new, src)), name
            assert not np.array_equal(new[0], old[0]), name
        else:
            assert all(np.array_equal(a, b) for a, b in zip(new, old)), name  # left random

    resnet = create_model("resnet18", classes=10, input_shape=(32, 32, 3))
    resnet.save(tmp_path / "resnet18.keras")
    with pytest.raises(ValueError, match=r"holds a 'resnet18' model \(family 'resnet'\); it cannot initialise 'vgg16'"):
        initialize_from(vgg16, "vgg16", tmp_path / "resnet18.keras")
    ten_classes_64px = create_model("vgg11", classes=10, input_shape=(64, 64, 3))
    ten_classes_64px.save(tmp_path / "vgg11_64.keras")
    with pytest.raises(ValueError, match="layer 'fc1' has weight shapes"):
        initialize_from(vgg16, "vgg16", tmp_path / "vgg11_64.keras")


# ---------------------------------------------------------------------- runs
def test_run_directory_contents(tmp_path):
    from keras_classics.training import train

    result = train(tiny(tmp_path, epochs=2, run_dir=str(tmp_path / "run")))
    run = tmp_path / "run"
    assert result.run_dir == str(run)
    for name in ("config.json", "best.keras", "final.keras", "history.csv", "metrics.json",
                 "checkpoints/checkpoint.json", "checkpoints/ckpt-0002.npz"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "resnet18" and config["image_size"] == 32 and config["preprocessing"] == "caffe"
    assert config["num_classes"] == 10 and config["class_names"][:2] == ["circle", "square"]
    assert config["model_kwargs"] == {"classes": 10, "input_shape": [32, 32, 3]}
    assert RecipeConfig.from_dict(config).epochs == 2
    assert config["keras_backend"] == keras.backend.backend()
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_top1" in rows[0] and "learning_rate" in rows[0]
    metrics = json.loads((run / "metrics.json").read_text())
    # Epochs counted from 1 in history.csv and best_epoch alike.
    best_row = max(rows, key=lambda r: float(r["val_top1"]))
    assert str(metrics["best_epoch"]) == best_row["epoch"]
    # The model files carry class names, eval transform, registry name and backend.
    from keras_classics.metadata import read_keras_metadata

    for name in ("best.keras", "final.keras"):
        meta = read_keras_metadata(run / name)
        assert meta["class_names"] == config["class_names"] and meta["registry_name"] == "resnet18", name
        assert meta["image_size"] == [32, 32] and meta["policy"] == config["policy"] and meta["crop_fraction"] == 1.0
        assert meta["preprocessing"] == "caffe" and meta["keras_backend"] == keras.backend.backend()
    assert {"top1", "top5", "loss", "images_per_sec", "epochs", "wall_time_s"} <= set(metrics)
    assert metrics["top1"] == pytest.approx(float(rows[-1]["val_top1"]))
    assert metrics["epochs"] == 2 and metrics["images_per_sec"] > 0
    final = keras.saving.load_model(run / "final.keras")
    x = np.zeros((2, 32, 32, 3), "float32")
    np.testing.assert_allclose(final.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert not any(n.startswith(".") for n in os.listdir(run))  # no temporary files left
    # TensorBoard event files (tensorboard is a dependency): training and validation scalars.
    assert list((run / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((run / "logs" / "validation").glob("events.out.tfevents.*"))


def test_mixed_precision_fit_uses_loss_scaling(tmp_path):
    from keras_classics.training import train

    result = train(tiny(tmp_path, precision="mixed_float16", filter_rms_max=0.05))
    model = result.model
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    for layer in model.layers:  # ZFNet's filter renormalisation held after every step
        if isinstance(layer, keras.layers.Conv2D):
            rms = np.sqrt(np.mean(layer.kernel.numpy() ** 2, axis=(0, 1, 2)))
            assert rms.max() <= 0.05 * (1 + 1e-4), layer.name
    assert model.get_layer("conv1_conv").compute_dtype == "float16"
    assert model.get_layer("conv1_conv").variable_dtype == "float32"
    assert model.output.dtype == "float32"
    assert math.isfinite(result.metrics["loss"]) and math.isfinite(result.metrics["train_loss"])
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    from keras_classics.training import DivergenceError, train

    class PoisonWeights(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                kernel = self.model.get_layer("conv1_conv").kernel
                kernel.assign(kernel * np.nan)

    with pytest.raises(DivergenceError, match=r"epoch 2, step 1: the loss became nan.*after epoch 1\) is kept") as err:
        train(tiny(tmp_path, epochs=3, run_dir=str(tmp_path / "run")), callbacks=[PoisonWeights()])
    assert "--resume" in str(err.value) and "--lr" in str(err.value) and "--warmup-epochs" in str(err.value)
    run = tmp_path / "run"
    index = json.loads((run / "checkpoints" / "checkpoint.json").read_text())
    assert index["epoch"] == 1
    assert not (run / "final.keras").exists()
    best = keras.saving.load_model(run / "best.keras")
    assert all(np.isfinite(w).all() for w in best.get_weights())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["diverged"]["epoch"] == 2 and metrics["diverged"]["loss"] == "nan"
    assert metrics["last_good_epoch"] == 1


def test_a_loss_far_above_its_start_is_a_divergence(tmp_path, capsys):
    # The same rule, for a finite loss: more than 1000 times the first step's loss stops the run.
    from keras_classics.training import DivergenceError, train
    from keras_classics.training.callbacks import DIVERGENCE_FACTOR

    class BlowUpLogits(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:  # the logits a million times larger: huge, finite cross-entropy
                kernel = self.model.get_layer("predictions").kernel
                kernel.assign(kernel * 1e6)

    with pytest.raises(DivergenceError) as err:
        train(tiny(tmp_path, model="convnet4", run_dir=str(tmp_path / "run")), callbacks=[BlowUpLogits()])
    message = str(err.value)
    assert "diverged at epoch 1, step 2" in message and f"more than {DIVERGENCE_FACTOR:g} times" in message
    assert "--lr" in message and "--warmup-epochs" in message and "--batch-size" in message
    run = tmp_path / "run"
    assert not (run / "final.keras").exists() and not (run / "best.keras").exists()
    diverged = json.loads((run / "metrics.json").read_text())["diverged"]
    assert diverged["step"] == 2 and math.isfinite(diverged["loss"])
    assert diverged["loss"] > DIVERGENCE_FACTOR * diverged["first_step_loss"] > 0

    # On the command line: exit status 1, the message on stderr, no model saved.
    from tests.helpers import run_cli

    code, out, err_text = run_cli(capsys, "train", "convnet4", "--dataset-options", '{"num_train": 48, "num_val": 16}',
                                  "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--steps-per-epoch", "3",
                                  "--lr", "1e6", "--run-dir", tmp_path / "cli", "--verbose", "0")
    assert code == 1 and "diverged at epoch 1" in err_text and "Saved the trained model" not in out
    assert not (tmp_path / "cli" / "final.keras").exists()
    assert "diverged" in json.loads((tmp_path / "cli" / "metrics.json").read_text())


def files_of(run):
    """Every file under ``run``: its bytes and modification time."""
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(run.rglob("*"))
            if p.is_file()}


def test_resume_is_idempotent_and_every_refusal_leaves_the_run_as_it_was(tmp_path, capsys):
    from keras_classics.training import resume, train
    from tests.helpers import run_cli

    run, other = tmp_path / "run", tmp_path / "other"
    small = dict(model="convnet4", lr=0.01, lr_batch_size=None)
    train(tiny(tmp_path, run_dir=str(run), **small))
    before = files_of(run)
    assert {"config.json", "final.keras", "metrics.json", "history.csv"} <= set(before)

    # A finished run: said complete, nothing trained, no file rewritten (bytes and times).
    result = resume(run)
    assert "is complete: it has trained its 1 epochs" in capsys.readouterr().out
    assert result.model is None and result.metrics["epochs"] == 1
    assert files_of(run) == before
    code, out, _ = run_cli(capsys, "train", "--resume", run)
    assert code == 0 and "is complete" in out and "Saved the trained model" not in out
    assert files_of(run) == before

    # Refused before anything is written: a field that defines what is trained, changed.
    with pytest.raises(ValueError, match="Cannot change `model` when resuming"):
        resume(run, model="mlp", epochs=2)
    assert files_of(run) == before

    # Refused: a lock held by a live process (this one).
    (run / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": __import__("socket").gethostname()}))
    from keras_classics.runs import RunDirInUse

    with pytest.raises(RunDirInUse):
        resume(run, epochs=2)
    (run / "run.lock").unlink()
    assert files_of(run) == before

    # Refused: another model's checkpoint in the run (config.json is not rewritten first).
    train(tiny(tmp_path, run_dir=str(other), model="mlp", model_kwargs={"hidden": [8]}, lr=0.01))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for p in (other / "checkpoints").iterdir():
        foreign.joinpath(p.name).write_bytes(p.read_bytes())
    saved = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    for p in foreign.iterdir():
        (run / "checkpoints" / p.name).write_bytes(p.read_bytes())
    tampered = files_of(run)
    with pytest.raises(ValueError, match="different model"):
        resume(run, epochs=2)
    assert files_of(run) == tampered
    for p in (run / "checkpoints").iterdir():
        p.unlink()
    for name, data in saved.items():
        (run / "checkpoints" / name).write_bytes(data)

    # --epochs N beyond the epochs done extends the run.
    result = resume(run, epochs=2)
    assert result.metrics["epochs"] == 2 and result.metrics["resumed_from_epoch"] == 1
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert json.loads((run / "config.json").read_text())["epochs"] == 2
    done = files_of(run)
    with pytest.raises(ValueError, match="already trained 2 epochs; received --epochs 1"):
        resume(run, epochs=1)
    assert files_of(run) == done


def test_resume_after_the_last_checkpoint_writes_the_final_files_an_uninterrupted_run_has(tmp_path, capsys):
    # Stopped between its last checkpoint and its final files: the resume writes them, with the training
    # and validation metrics of the epochs it logged (nothing is trained again).
    from keras_classics.training import resume, train

    run = tmp_path / "run"
    first = train(tiny(tmp_path, run_dir=str(run), model="convnet4")).metrics
    (run / "final.keras").unlink()
    (run / "metrics.json").unlink()
    again = resume(run).metrics
    assert (run / "final.keras").is_file() and again["epochs"] == 1
    for key in ("top1", "top5", "loss", "train_loss", "train_top1"):
        assert again[key] == pytest.approx(first[key], rel=1e-6), key


# ---------------------------------------------------------------------- errors
def test_unknown_names_suggest_close_ones(tmp_path):
    from keras_classics.training import train

    with pytest.raises(ValueError, match="Did you mean 'resnet18'"):
        train(tiny(tmp_path, model="resnet19"))
    with pytest.raises(ValueError, match="shapes"):
        train(tiny(tmp_path, dataset="shape"))
    with pytest.raises(ValueError, match="Unknown augmentation policy 'cifra'.*'cifar'"):
        train(tiny(tmp_path, policy="cifra"))
    with pytest.raises(ValueError, match="`monitor` must be one of val_top1"):
        train(tiny(tmp_path, monitor="val_accuracy"))
    assert not (tmp_path / "runs").exists() or not os.listdir(tmp_path / "runs")  # nothing left behind


def test_batch_larger_than_dataset_and_label_range(tmp_path):
    from keras_classics.training import train

    with pytest.raises(ValueError, match=r"--batch-size 64 is larger than the training split .* \(48 images\)"):
        train(tiny(tmp_path, batch_size=64))
    with pytest.raises(ValueError, match="--steps-per-epoch 9 is more than the 6 full batches"):
        train(tiny(tmp_path, steps_per_epoch=9))
    with pytest.raises(ValueError, match="has 10 classes .* classes=5: labels would be out of range"):
        train(tiny(tmp_path, model_kwargs={"classes": 5}))

    from keras_classics.data import Source

    images = np.zeros((16, 32, 32, 3), np.uint8)
    labels = np.array([0, 1, 2, 7] * 4, np.int64)  # 7 is out of range for 3 classes
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    bad = Source(name="bad", class_names=["a", "b", "c"], train=ds, validation=None, num_train=16, num_val=None)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        train(tiny(tmp_path, steps_per_epoch=None), source=bad)
    one = Source(name="one", class_names=["a"], train=ds, validation=None, num_train=16, num_val=None)
    with pytest.raises(ValueError, match="at least 2"):
        train(tiny(tmp_path), source=one)


def test_run_directories_are_never_overwritten(tmp_path):
    from keras_classics.training import train

    run = tmp_path / "existing"
    run.mkdir()
    (run / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="--resume"):
        train(tiny(tmp_path, run_dir=str(run)))
    assert (run / "notes.txt").read_text() == "keep me" and os.listdir(run) == ["notes.txt"]
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        train(tiny(tmp_path, run_dir=str(blocker / "run")))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    # root may write anywhere: then use a directory no one can create (sysfs refuses it).
    target = locked / "run" if os.geteuid() != 0 else "/sys/keras-classics-test-run"
    with pytest.raises(PermissionError, match="Cannot (write|create) the run directory"):
        train(tiny(tmp_path, run_dir=str(target)))
    from keras_classics.training.run_files import prepare_run_dir

    first, _ = prepare_run_dir(tiny(tmp_path, name="same"), None)
    second, _ = prepare_run_dir(tiny(tmp_path, name="same"), None)  # same second: a suffix, not a reuse
    assert first != second and os.path.isdir(first) and os.path.isdir(second)


def test_init_from_another_family_fails_before_training(tmp_path):
    from keras_classics.training import train

    create_model("resnet18", classes=10, input_shape=(32, 32, 3)).save(tmp_path / "r.keras")
    with pytest.raises(ValueError, match="family 'resnet'.*cannot initialise 'vgg11'"):
        train(tiny(tmp_path, model="vgg11", init_from=str(tmp_path / "r.keras"), run_dir=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()


def test_resume_refuses_to_change_what_is_trained(tmp_path):
    from keras_classics.training import resume

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(tiny(tmp_path).to_json())
    with pytest.raises(ValueError, match="Cannot change `model` when resuming"):
        resume(run, model="resnet34")
    with pytest.raises(ValueError, match=r"Unknown recipe field\(s\): 'epoch' \(did you mean 'epochs'\?\)"):
        resume(run, epoch=3)
    with pytest.raises(FileNotFoundError, match="Run directory not found"):
        resume(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        resume(tmp_path)


# ---------------------------------------------------------------------- command line
def test_keras_classics_train_command(tmp_path, capsys):
    from keras_classics.cli import main

    code = main(["train", "resnet18", "--dataset", "shapes", "--dataset-options", '{"num_train": 48, "num_val": 16}',
                 "--image-size", "32", "--epochs", "1", "--batch-size", "8", "--steps-per-epoch", "1",
                 "--run-dir", str(tmp_path / "cli"), "--verbose", "0"])
    assert code == 0
    out = capsys.readouterr().out
    assert f"Saved the trained model to {tmp_path / 'cli' / 'final.keras'}" in out
    config = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert (config["optimizer"], config["weight_decay"], config["lr_batch_size"]) == ("sgd", 1e-4, 256)

    assert main(["train", "resnt18"]) == 2
    assert "Did you mean 'resnet18'" in capsys.readouterr().err
    assert main(["train", "--print-config", "vgg16", "--epochs", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["model"] == "vgg16" and printed["epochs"] == 3 and printed["weight_decay"] == 5e-4


def test_default_strategy_is_named_by_what_runs_the_steps():
    import subprocess
    import sys

    from keras_classics.training.strategy import describe, make_strategy

    assert describe(make_strategy("default")) == "one device (TensorFlow)"
    code = ("import keras_classics\nfrom keras_classics.training.strategy import describe, make_strategy\n"
            "print(describe(make_strategy('default')))")
    env = {**__import__("os").environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.stdout.strip() == "one device (JAX backend)", out.stderr[-2000:]


def test_a_stale_lock_never_lets_a_new_run_write_over_a_killed_one(tmp_path):
    import json as _json
    import subprocess
    import sys

    from keras_classics.training import train

    run = tmp_path / "run"
    run.mkdir()
    # A killed run: its lock names a process that is gone, its files are still there.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    lock = {"pid": int(dead.stdout), "host": socket.gethostname(), "started": "earlier"}
    (run / "run.lock").write_text(_json.dumps(lock))
    (run / "config.json").write_text('{"epochs": 3}')
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    config = RecipeConfig(model="resnet18", dataset_options={"num_train": 32, "num_val": 16}, image_size=32,
                          epochs=1, batch_size=16, run_dir=str(run), verbose=0)
    with pytest.raises(FileExistsError, match=r"holds an earlier run \(config.json\).*--resume"):
        train(config)
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_run_that_fails_before_training_leaves_the_tree_as_it_was(tmp_path):
    # A first run into a new runs root whose data cannot be read: the run directory and the runs/ folder made
    # for it are removed; a runs root that was there before stays, with what it held.
    from keras_classics.training import train

    data = tmp_path / "data"
    image_folder(data, classes=("a", "b"), per_class=2, sizes=12)
    for path in data.rglob("*.png"):
        path.write_bytes(b"not an image")
    for root in (tmp_path / "new" / "runs", tmp_path / "old"):
        with pytest.raises(ValueError, match="could be read"):
            train(tiny(tmp_path, dataset=f"folder:{data}", dataset_options={}, runs_root=str(root)))
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir(exist_ok=True)
    (tmp_path / "old" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="could be read"):
        train(tiny(tmp_path, dataset=f"folder:{data}", dataset_options={}, runs_root=str(tmp_path / "old")))
    assert os.listdir(tmp_path / "old") == ["notes.txt"]
