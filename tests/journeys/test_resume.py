"""Exact resume after SIGKILL, and MirroredStrategy over two logical CPUs, in subprocesses.

GoogLeNet at 32 px has dropout (whose random state the checkpoints must
restore) and no batch norm (so one device and two replicas compute the same
global-batch gradient).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_classics.models  # noqa: F401  (registers the LRN layer for loading GoogLeNet)

DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    mode, run_dir = sys.argv[1], sys.argv[2]
    import tensorflow as tf
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from keras_classics.training import RecipeConfig, resume, train

    config = RecipeConfig(
        name="resume-test", model="googlenet", dataset="shapes",
        dataset_options={"num_train": 48, "num_val": 16}, image_size=32, epochs=3, batch_size=8,
        lr=0.02, weight_decay=1e-4, schedule="cosine", run_dir=run_dir, verbose=0,
    )

    class KillMidEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 2:  # epoch 2 of 3, half way
                os.kill(os.getpid(), signal.SIGKILL)

    if mode == "full":
        train(config)
    elif mode == "killed":
        train(config, callbacks=[KillMidEpoch()])
    elif mode == "resume":
        resume(run_dir, verbose=2)
    elif mode == "mirrored":
        config = config.replace(model_kwargs={"dropout": 0.0}, epochs=1, steps_per_epoch=3)
        one = train(config.replace(run_dir=run_dir + "-one"))
        two = train(config.replace(run_dir=run_dir + "-two", strategy="mirrored", devices=["/cpu:0", "/cpu:1"]))
        print("RESULT " + json.dumps({"one": one.metrics, "two": two.metrics}))
    """
)


def run_driver(tmp_path, *args, wait=True):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = dict(os.environ, KERAS_CLASSICS_CACHE=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return proc.communicate(timeout=900) + (proc.returncode,) if wait else proc


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    (tmp_path / "cache").mkdir()
    full = run_driver(tmp_path, "full", full_dir, wait=False)
    killed = run_driver(tmp_path, "killed", killed_dir, wait=False)
    out_full, _ = full.communicate(timeout=900)
    out_killed, _ = killed.communicate(timeout=900)
    assert full.returncode == 0, out_full
    assert killed.returncode == -signal.SIGKILL, out_killed

    index = json.loads((killed_dir / "checkpoints" / "checkpoint.json").read_text())
    assert index["epoch"] == 1 and index["step"] == 6  # the last checkpoint: after epoch 1 of 6 steps
    assert not (killed_dir / "final.keras").exists() and not (killed_dir / "metrics.json").exists()

    out, _, code = run_driver(tmp_path, "resume", killed_dir)
    assert code == 0, out
    assert "Resuming after epoch 1 (step 6)" in out

    a = json.loads((full_dir / "metrics.json").read_text())
    b = json.loads((killed_dir / "metrics.json").read_text())
    assert b["resumed_from_epoch"] == 1 and b["epochs"] == 3
    for key in ("top1", "top5", "loss", "train_loss", "train_top1"):
        assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key
    wa = keras.saving.load_model(full_dir / "final.keras").get_weights()
    wb = keras.saving.load_model(killed_dir / "final.keras").get_weights()
    for x, y in zip(wa, wb):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    history = (killed_dir / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3"]  # epoch 2 logged once


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device(tmp_path):
    out, _, code = run_driver(tmp_path, "mirrored", tmp_path / "run")
    assert code == 0, out
    result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
    config = json.loads((tmp_path / "run-two" / "config.json").read_text())
    assert config["num_replicas"] == 2 and config["strategy"] == "mirrored"
    one, two = result["one"], result["two"]
    assert two["batch_size"] == 8  # the global batch: 4 per replica
    # The same global-batch gradient (summed over replicas) gives the same training.
    for key in ("loss", "train_loss"):
        assert two[key] == pytest.approx(one[key], rel=1e-4), key
