"""Interrupted runs: SIGINT and SIGTERM at random steps leave an intact last checkpoint, and ``--resume``
reaches the final metrics of an uninterrupted run; a damaged last checkpoint falls back to the previous one.

One driver process trains a small quickstart-like run once without interruption, then for each of five
seeds interrupts a run with a real signal (SIGINT or SIGTERM, sent to itself at a step the seed picks) and
resumes it; it also damages the newest checkpoint of a run interrupted in its last epoch (truncated, bytes
changed) and resumes from that. A second case goes through the command line: the signal comes from outside,
and ``keras-classics train --resume`` runs in a new process.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from keras_classics.training import callbacks as cb
from tests.helpers import cli_argv

# The run every case trains: the quickstart recipe made tiny (48 training images, 6 steps per epoch).
OVERRIDES = {"model": "convnet4", "model_kwargs": {}, "dataset_options": {"num_train": 48, "num_val": 16},
             "epochs": 3, "batch_size": 8, "verbose": 0}
SEEDS = (0, 1, 2, 3, 4)
STEPS = 6
# The command-line case: ten times the images (60 steps per epoch), so that a signal sent when the first
# checkpoint appears lands in the second epoch.
CLI_OVERRIDES = {**OVERRIDES, "dataset_options": {"num_train": 480, "num_val": 16}}

DRIVER = textwrap.dedent(
    """
    import json, os, random, shutil, signal, sys
    import keras
    from keras_classics.training import TrainingInterrupted, load_recipe, resume, train
    from keras_classics.training.callbacks import usable_checkpoint

    # Python leaves SIGINT ignored when it starts ignored (a test run started in the background): Ctrl-C's handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    root, overrides, seeds, steps = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
    config = load_recipe("quickstart").replace(**overrides)
    cli_config = load_recipe("quickstart").replace(**json.loads(sys.argv[5]))


    class SignalAt(keras.callbacks.Callback):
        def __init__(self, sig, epoch, batch):
            super().__init__()
            self.sig, self.at = sig, (epoch, batch)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == self.at:
                os.kill(os.getpid(), self.sig)


    def interrupted(run_dir, sig, epoch, batch):
        try:
            train(config.replace(run_dir=run_dir), callbacks=[SignalAt(sig, epoch, batch)])
        except TrainingInterrupted as e:
            return str(e)
        return None


    def checkpoint_state(run_dir):
        index, damaged = usable_checkpoint(os.path.join(run_dir, "checkpoints"))
        return {"epoch": index and index["epoch"], "damaged": damaged}


    results = {"full": train(config.replace(run_dir=os.path.join(root, "full"))).metrics, "seeds": {},
               "cli_full": train(cli_config.replace(run_dir=os.path.join(root, "cli-full"))).metrics}
    for seed in seeds:
        rng = random.Random(seed)
        sig = (signal.SIGINT, signal.SIGTERM)[seed % 2]
        epoch, batch = divmod(rng.randrange(config.epochs * steps), steps)  # one of the run's 18 steps
        run_dir = os.path.join(root, f"seed{seed}")
        message = interrupted(run_dir, sig, epoch, batch)
        state = checkpoint_state(run_dir)
        results["seeds"][seed] = {"signal": signal.Signals(sig).name, "epoch": epoch, "batch": batch,
                                  "message": message, "checkpoint": state,
                                  "metrics": resume(run_dir, verbose=0).metrics}

    # The newest checkpoint damaged: a run stopped in its last epoch has checkpoints after epochs 1 and 2.
    base = os.path.join(root, "damaged")
    interrupted(base, signal.SIGINT, 2, 3)
    results["damaged"] = {}
    for how in ("truncated", "changed"):
        run_dir = f"{base}-{how}"
        shutil.copytree(base, run_dir)
        path = os.path.join(run_dir, "checkpoints", "ckpt-0002.npz")
        data = bytearray(open(path, "rb").read())
        if how == "truncated":
            data = data[: len(data) // 2]
        else:
            data[len(data) // 2 : len(data) // 2 + 16] = bytes(16)
        with open(path, "wb") as f:
            f.write(data)
        state = checkpoint_state(run_dir)
        results["damaged"][how] = {"checkpoint": state, "metrics": resume(run_dir, verbose=0).metrics}
    print("RESULT " + json.dumps(results))
    """
)

COMPARED = ("top1", "top5", "loss", "train_loss", "train_top1")


def env(cache):
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_CLASSICS_CACHE": str(cache)}


def same_metrics(got, want):
    for key in COMPARED:
        assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key


# The driver's runs (two uninterrupted, twelve interrupted or resumed) and the command's two processes: slow.
SLOW = pytest.mark.slow


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt")
    script = root / "driver.py"
    script.write_text(DRIVER)
    proc = subprocess.run([sys.executable, str(script), str(root), json.dumps(OVERRIDES), json.dumps(SEEDS),
                           str(STEPS), json.dumps(CLI_OVERRIDES)], env=env(root / "cache"), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.split("RESULT ", 1)[1].splitlines()[0]), proc.stderr, root


@SLOW
@pytest.mark.xdist_group("interrupt")
def test_sigint_and_sigterm_at_random_steps_then_resume_matches_an_uninterrupted_run(driver):
    results, _, root = driver
    signals = set()
    for seed, case in results["seeds"].items():
        signals.add(case["signal"])
        why = "Ctrl-C" if case["signal"] == "SIGINT" else "SIGTERM"
        assert case["message"] and f"Interrupted ({why})" in case["message"], case
        assert f"--resume {root / f'seed{seed}'}" in case["message"]
        # The last checkpoint is the one after the last finished epoch, and it is intact.
        assert case["checkpoint"] == {"epoch": case["epoch"] or None, "damaged": []}, case
        same_metrics(case["metrics"], results["full"])
        history = (root / f"seed{seed}" / "history.csv").read_text().splitlines()
        assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3"]  # each epoch logged once
    assert signals == {"SIGINT", "SIGTERM"}


@SLOW
@pytest.mark.xdist_group("interrupt")
def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(driver):
    results, stderr, _ = driver
    for how, case in results["damaged"].items():
        assert case["checkpoint"]["epoch"] == 1, (how, case)
        (line,) = case["checkpoint"]["damaged"]
        assert line.startswith("Checkpoint ckpt-0002.npz is damaged (") and "resuming from ckpt-0001.npz (epoch 1)" in line
        same_metrics(case["metrics"], results["full"])
        assert line in stderr  # resume says so, at verbose 0 too


def test_no_intact_checkpoint_is_refused_naming_the_damaged_files(tmp_path):
    directory = tmp_path / "checkpoints"
    directory.mkdir()
    for epoch in (1, 2):
        (directory / f"ckpt-{epoch:04d}.npz").write_bytes(b"PK\x03\x04 not a whole zip file")
        index = {"epoch": epoch, "step": 6 * epoch, "file": f"ckpt-{epoch:04d}.npz"}
        (directory / f"ckpt-{epoch:04d}.json").write_text(json.dumps(index))
    (directory / "checkpoint.json").write_text('{"epoch": 2, "st')  # cut short as well
    with pytest.raises(ValueError, match=r"No intact checkpoint in .*ckpt-0002\.npz \(unreadable: .*ckpt-0001\.npz"):
        cb.usable_checkpoint(directory)
    assert cb.usable_checkpoint(tmp_path / "nothing") == (None, [])


# ---------------------------------------------------------------------- through the command line
def flags():
    out = []
    for key, value in CLI_OVERRIDES.items():
        out += [f"--{key.replace('_', '-')}", json.dumps(value) if isinstance(value, dict) else str(value)]
    return out


@SLOW
@pytest.mark.xdist_group("interrupt")
def test_the_command_stopped_by_sigterm_then_resumed_in_a_new_process(driver, tmp_path):
    results, _, root = driver
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(cli_argv("train", "quickstart", *flags(), "--run-dir", run_dir), env=env(root / "cache"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    index = run_dir / "checkpoints" / "checkpoint.json"
    deadline = time.monotonic() + 300
    while not index.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, proc.communicate()  # still training after its first checkpoint
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, out + err
    assert f"--resume {run_dir}" in err and "Traceback" not in err
    assert err.count("\n") == 1, err  # one line: nothing of TensorFlow's
    checkpoint, damaged = cb.usable_checkpoint(run_dir / "checkpoints")
    assert checkpoint is not None and damaged == []

    resumed = subprocess.run(cli_argv("train", "--resume", run_dir), env=env(root / "cache"), capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from_epoch"] == checkpoint["epoch"]
    same_metrics(metrics, results["cli_full"])


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # "Exception ignored in ..."
def test_a_signal_inside_a_gc_callback_is_not_lost(capfd):
    """TensorFlow imports JAX when it is installed, and JAX runs a callback at every garbage collection;
    a signal handler's exception raised there is printed as "ignored" and lost. The handler records
    the interruption there instead, and the engine raises it at the next batch or epoch boundary."""
    import gc
    import signal

    from keras_classics.training import interrupts

    def _xla_gc_callback(phase, info):  # named as JAX's
        if phase == "start":
            signal.raise_signal(signal.SIGTERM)
            for _ in range(3):  # the handler runs at a bytecode boundary inside this callback
                pass

    previous = interrupts.catch_signals()
    gc.callbacks.append(_xla_gc_callback)
    try:
        gc.collect()  # the handler ran inside the callback: nothing raised, nothing printed
        gc.callbacks.remove(_xla_gc_callback)
        assert "Exception ignored" not in capfd.readouterr().err
        with pytest.raises(interrupts.Terminated):
            interrupts.reraise_pending()
    finally:
        if _xla_gc_callback in gc.callbacks:
            gc.callbacks.remove(_xla_gc_callback)
        interrupts.restore_signals(previous)
    interrupts.reraise_pending()  # cleared when the run's handlers are restored
