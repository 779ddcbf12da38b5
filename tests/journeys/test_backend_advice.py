"""On a CPU, a run under the JAX backend or with ``--jit-compile`` prints one line with the faster setting and the
figure measured by benchmarks/backend_cpu.py; a run on TensorFlow's own kernels prints none."""

import json
import os

import pytest

from keras_classics.training import backend_advice
from tests.helpers import ROOT, run_cli_process

RECORDED = ROOT / "benchmarks" / "results" / "backend_cpu.json"
NOTE = "Note: on a CPU"


def _on_cpu():
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU")


def test_the_quoted_figures_are_the_recorded_benchmarks():
    record = json.loads(RECORDED.read_text())
    assert backend_advice.MEASURED["workload"] == (
        f"ResNet-18, {record['image_size']}x{record['image_size']}, batch {record['batch_size']}")
    assert record["model"] == "resnet18" and record["device"] == "CPU"
    for setting in ("jax", "tensorflow_xla"):
        assert backend_advice.MEASURED[setting] == round(record["rows"][setting]["tensorflow_speedup"], 2), setting
        assert backend_advice.MEASURED[setting] > 1  # the advice points to the faster setting


@pytest.mark.skipif(not _on_cpu(), reason="the advice is for a machine without an accelerator")
def test_jit_compile_on_a_cpu_gets_the_line_and_plain_tensorflow_none():
    import keras

    assert keras.backend.backend() == "tensorflow"  # the test process's backend
    line = backend_advice.cpu_advice(jit_compile=True)
    assert line.startswith(f"{NOTE} --jit-compile trains through XLA") and "\n" not in line
    assert f"{backend_advice.MEASURED['tensorflow_xla']:.1f}x faster" in line
    assert backend_advice.cpu_advice(jit_compile=False) is None


TRAIN = ("train", "quickstart", "--model", "convnet4", "--model-kwargs", "{}", "--epochs", "1", "--batch-size", "8",
         "--dataset-options", '{"num_train": 16, "num_val": 8}', "--verbose", "1")


@pytest.mark.slow  # three training runs, each a process of its own (the backend is fixed at import)
@pytest.mark.skipif(not _on_cpu(), reason="the advice is for a machine without an accelerator")
def test_train_prints_the_line_among_its_opening_lines(tmp_path):
    def train(*extra, backend="tensorflow"):
        env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
               "KERAS_CLASSICS_CACHE": str(tmp_path / "cache")}
        result = run_cli_process(*TRAIN, "--run-dir", tmp_path / f"{backend}{''.join(extra)}", *extra, env=env)
        assert result.returncode == 0, result.stderr
        notes = [line for line in result.stdout.splitlines() if line.startswith(NOTE)]
        assert len(notes) <= 1, notes
        return notes[0] if notes else None

    jax = train(backend="jax")
    assert jax.startswith(f"{NOTE} the JAX backend") and "KERAS_BACKEND=tensorflow trained" in jax
    assert f"{backend_advice.MEASURED['jax']:.1f}x faster" in jax
    assert train("--jit-compile").startswith(f"{NOTE} --jit-compile")
    assert train() is None
