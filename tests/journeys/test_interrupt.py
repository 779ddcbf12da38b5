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

import numpy as np
import pytest

from keras_classics import _startup
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


# ---------------------------------------------------------------------- one interrupt rule for every command
# A command started the way the `keras-classics` script starts it (cli.main), with a Ctrl-C (SIGINT) sent to it
# from a timer thread at a chosen point: while TensorFlow's import runs (start-up), when a named function of the
# package starts (building or loading the model, the native TFLite conversion, writing a SavedModel, training),
# optionally a delay later so that the signal lands inside native code. "swallow" runs the named function with a
# Python wrapper that catches the KeyboardInterrupt and carries on (as a native callback or destructor can);
# "hang" also never returns: the rule's watchdog must end the process.
RULE_DRIVER = textwrap.dedent(
    """
    import importlib, importlib.abc, os, signal, sys, threading, time

    signal.signal(signal.SIGINT, signal.default_int_handler)  # a test run may start with SIGINT ignored
    point, mode, delay, argv = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
    from keras_classics._startup import quiet_tensorflow
    quiet_tensorflow()  # as cli.main does, before the point's module is imported (it may import TensorFlow)


    def send_later():
        threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()


    if point == "tensorflow-import":
        class Hook(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow":
                    sys.meta_path.remove(self)
                    send_later()
                return None
        sys.meta_path.insert(0, Hook())  # before the start-up filter's finder, which looks for it again
    else:
        module_name, name = point.rsplit(".", 1)
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def wrapped(*args, **kwargs):
            send_later()
            if mode == "swallow":
                try:
                    time.sleep(delay + 5)
                except KeyboardInterrupt:
                    pass  # swallowed; the real work goes on
            elif mode == "hang":
                while True:
                    try:
                        time.sleep(1)
                    except KeyboardInterrupt:
                        pass
            return original(*args, **kwargs)

        setattr(module, name, wrapped)

    from keras_classics import cli
    sys.exit(cli.main(argv))
    """
)


def _tree(root):
    """Every path under ``root``, relative, hidden ones included."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The inputs the commands read, made once: a .keras model, an image, a torchvision-layout state dict."""
    import keras

    from keras_classics import create_model
    from keras_classics.metadata import save_model
    from tests.torchvision_golden import load_golden, random_state_dict

    root = tmp_path_factory.mktemp("inputs")
    keras.utils.set_random_seed(0)
    save_model(create_model("convnet4", classes=3, input_shape=(32, 32, 3)), root / "c4.keras")
    from PIL import Image

    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(root / "image.png")
    from safetensors.numpy import save_file

    cases, _ = load_golden()
    case = next(c for name, c in cases.items() if name.startswith("resnet18/"))
    save_file(random_state_dict(case["keys"], 0), str(root / "resnet18.safetensors"))
    return root


def interrupted(tmp_path, inputs, point, argv, *, mode="signal", delay=0.0, grace=None, kept=None):
    """Run ``keras-classics ARGV`` in ``tmp_path/out`` (its own TMPDIR in ``tmp_path/tmp``) with a SIGINT at
    ``point``; check exit status 130, a one-line message and nothing left behind; return the result."""
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    tmp.mkdir()
    (out / "keep.txt").write_text("the user's file")
    before = _tree(out)
    script = tmp_path / "driver.py"
    script.write_text(RULE_DRIVER)
    environment = {**env(tmp_path / "cache"), "TMPDIR": str(tmp)}
    if grace is not None:
        environment["KERAS_CLASSICS_INTERRUPT_GRACE"] = str(grace)
    argv = [str(a).replace("{in}", str(inputs)) for a in argv]
    proc = subprocess.run([sys.executable, str(script), point, mode, str(delay), *argv], cwd=out, env=environment,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 130, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    # TensorFlow's own C++ start-up lines (the start-up filter's job, not this rule's) are left out: a Ctrl-C
    # during TensorFlow's import can let them through.
    lines = _startup._filter(proc.stderr, 3).strip().splitlines()
    assert len(lines) == 1 and "Interrupted (Ctrl-C)" in lines[0], proc.stderr
    after = [p for p in _tree(out) if kept is None or p.split(os.sep)[0] != kept]
    assert after == before, "the command left something behind"
    assert _tree(tmp) == [], "the command left a temporary file behind"
    return proc


INT8 = ("export", "{in}/c4.keras", "--format", "tflite", "--quantize", "int8", "--representative", "shapes",
        "--representative-samples", 8, "--parity-samples", 8, "-o", "c4.tflite")
SAVEDMODEL = ("export", "{in}/c4.keras", "--parity-samples", 8, "-o", "c4_savedmodel")
TRAIN = ("train", "quickstart", "--model", "convnet4", "--model-kwargs", "{}", "--epochs", 2, "--batch-size", 8,
         "--dataset-options", '{"num_train": 64, "num_val": 8}', "--verbose", 0)

CATALOGUE = [
    # (command, where the Ctrl-C lands, the point, delay after it)
    ("export-int8", "start-up", "tensorflow-import", 0.2, INT8),
    ("export-int8", "model loading", "keras_classics.export.exporters.prepare", 0.0, INT8),
    ("export-int8", "native conversion", "keras_classics.export.exporters.convert", 0.5, INT8),
    ("export-savedmodel", "writing the SavedModel", "keras_classics.export.source.write_archive", 0.3, SAVEDMODEL),
    ("predict", "start-up", "tensorflow-import", 0.2, ("predict", "{in}/c4.keras", "{in}/image.png")),
    ("predict", "model loading", "keras_classics.models.files.load_keras_model", 0.1,
     ("predict", "{in}/c4.keras", "{in}/image.png")),
    ("summary", "model building", "keras_classics.inspect._model.resolve", 0.0, ("summary", "resnet50")),
    ("visualize", "model loading", "keras_classics.models.files.load_keras_model", 0.1,
     ("visualize", "filters", "{in}/c4.keras", "-o", "filters.png")),
    ("weights-convert", "the port", "keras_classics.weights._convert.convert", 0.3,
     ("weights", "convert", "resnet18", "{in}/resnet18.safetensors", "-o", "r18.keras")),
    ("train", "start-up", "tensorflow-import", 0.2, (*TRAIN, "--run-dir", "run")),
    ("experiment", "start-up", "tensorflow-import", 0.2,
     ("experiment", "relu-vs-tanh", "--quick", "--run-dir", "exp", "--verbose", 0)),
]


@SLOW  # one command-line process each, starting TensorFlow
@pytest.mark.parametrize("command, where, point, delay, argv", CATALOGUE,
                         ids=[f"{c[0]}-{c[1].replace(' ', '-')}" for c in CATALOGUE])
def test_ctrl_c_ends_every_command_with_130_and_nothing_left(tmp_path, inputs, command, where, point, delay, argv):
    interrupted(tmp_path, inputs, point, argv, delay=delay)


@SLOW
def test_ctrl_c_during_training_keeps_the_run_resumable_and_nothing_else(tmp_path, inputs):
    """Training: the run directory is kept as it was (config, logs, whole checkpoints) and the line says how to
    resume; no temporary file is left in it."""
    longer = [*TRAIN[:-4], "--dataset-options", '{"num_train": 4000, "num_val": 8}', "--verbose", 0]
    proc = interrupted(tmp_path, inputs, "keras_classics.training.fitting.fit_epochs", (*longer, "--run-dir", "run"),
                       delay=1.5, kept="run")
    assert f"--resume {tmp_path / 'out' / 'run'}`" in proc.stderr
    run = tmp_path / "out" / "run"
    assert (run / "config.json").is_file()
    assert not [p for p in _tree(run) if ".tmp" in p], _tree(run)


@SLOW
def test_a_swallowed_ctrl_c_still_ends_the_export_with_nothing_written(tmp_path, inputs):
    """The conversion's wrapper swallows the KeyboardInterrupt and converts anyway: the commit point raises it
    again, so the export ends with 130 and writes nothing."""
    interrupted(tmp_path, inputs, "keras_classics.export.exporters.convert", INT8, mode="swallow", delay=0.2)


@SLOW
def test_a_conversion_that_never_returns_is_ended_by_the_watchdog(tmp_path, inputs):
    proc = interrupted(tmp_path, inputs, "keras_classics.export.exporters.convert", INT8, mode="hang", delay=0.2,
                       grace=2)
    assert proc.stderr.startswith("\nkeras-classics: Interrupted (Ctrl-C)")


# The rule itself, in a process that imports nothing but the standard library and two leaves of the package
# (well under a second each): the daily tier's part of the catalogue.
RULE_ALONE = textwrap.dedent(
    """
    import os, signal, sys, threading, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from keras_classics import _interrupts
    from keras_classics.io import atomic_path

    out, case = sys.argv[1], sys.argv[2]


    def ctrl_c(after=0.05):
        threading.Timer(after, os.kill, (os.getpid(), signal.SIGINT)).start()


    def swallow(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass  # as a native callback or destructor can


    with _interrupts.installed("prog: ") as rule:
        try:
            with atomic_path(os.path.join(out, "result.txt")) as tmp:
                with open(tmp, "w") as f:
                    f.write("half")
                if case == "hang":  # swallows every interrupt and never returns: the watchdog ends it
                    ctrl_c()
                    swallow(600)
                elif case == "twice":  # a second Ctrl-C ends it at once, long before the grace period
                    ctrl_c()
                    ctrl_c(0.3)
                    swallow(600)
                elif case == "swallowed":  # swallowed once, then the write carries on: never committed
                    ctrl_c()
                    swallow(0.5)
        except KeyboardInterrupt:
            print("Interrupted at the commit point.", file=sys.stderr)
            rule.said()
            sys.exit(_interrupts.EXIT_STATUS)
    """
)


@pytest.mark.parametrize("case, grace, said", [
    ("hang", "0.5", "\\nprog: Interrupted (Ctrl-C). Nothing was left half-written.\\n"),
    ("twice", "60", "\\nprog: Interrupted (Ctrl-C). Nothing was left half-written.\\n"),
    ("swallowed", "60", "Interrupted at the commit point.\\n"),
])
def test_the_rule_ends_a_process_that_swallows_ctrl_c_with_130_and_removes_its_temporary_file(
        tmp_path, case, grace, said):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", RULE_ALONE, str(tmp_path), case],
                          env={**os.environ, "KERAS_CLASSICS_INTERRUPT_GRACE": grace},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == said.encode().decode("unicode_escape")
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)  # neither the result nor its temporary file
    assert time.monotonic() - started < 30  # "twice" did not wait for its 60 s grace


def test_the_rule_stands_down_after_the_command_and_restores_the_handlers():
    from keras_classics import _interrupts
    from keras_classics.training import interrupts

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before[2])
    with _interrupts.installed() as rule:
        assert signal.getsignal(signal.SIGINT) is not before[0]
        rule.check()  # no signal came: nothing raised
        _interrupts.raise_if_interrupted()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before[:2]
    assert not [t for t in __import__("threading").enumerate() if t.name == "keras-classics-interrupt"]
    assert interrupts.Terminated is _interrupts.Terminated  # one class for SIGTERM, training's and every command's
