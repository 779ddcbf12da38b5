"""The one line a run on a CPU prints when its backend setting trains far slower than the alternative.

On a CPU, XLA's convolutions are much slower than TensorFlow's own (oneDNN)
kernels. Two settings run every training step through XLA: Keras's JAX backend
(JAX compiles every step) and ``jit_compile=True`` (``--jit-compile``) on the
TensorFlow backend. A run in either setting on a machine without an accelerator
says so once, among its opening lines, with the figure measured by
``benchmarks/backend_cpu.py`` (the same model, batch and input under each
setting, in the same run; the recorded run is ``benchmarks/results/backend_cpu.json``,
and ``tests/journeys/test_backend_advice.py`` holds the figures here equal to it).
"""

from __future__ import annotations

__all__ = ["MEASURED", "cpu_advice"]

#: ``benchmarks/backend_cpu.py``'s recorded run: how many times faster Keras's TensorFlow backend without XLA
#: trained than each setting, and on what.
MEASURED = {
    "workload": "ResNet-18, 32x32, batch 32",
    "jax": 3.85,
    "tensorflow_xla": 2.6,
}


def cpu_advice(jit_compile: bool) -> str | None:
    """The line to print before a run trains on a CPU under the JAX backend or with ``jit_compile``; else
    ``None`` (a GPU or TPU is present, or the run uses TensorFlow's own kernels)."""
    import keras  # the backend is Keras's; imported by the run already

    backend = keras.backend.backend()
    if backend == "jax":
        import jax  # the JAX backend's own devices

        if jax.default_backend() != "cpu":
            return None
        return (f"Note: on a CPU the JAX backend trains through XLA, whose CPU convolutions are slow: "
                f"KERAS_BACKEND=tensorflow trained {MEASURED['jax']:.1f}x faster ({MEASURED['workload']}, "
                "benchmarks/backend_cpu.py).")
    if backend == "tensorflow" and jit_compile:
        import tensorflow as tf  # the TensorFlow backend's devices

        if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
            return None
        return (f"Note: on a CPU --jit-compile trains through XLA, whose CPU convolutions are slow: without it "
                f"training ran {MEASURED['tensorflow_xla']:.1f}x faster ({MEASURED['workload']}, "
                "benchmarks/backend_cpu.py).")
    return None
