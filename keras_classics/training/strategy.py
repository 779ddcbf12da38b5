"""``tf.distribute`` strategies by name, and which worker writes the run directory.

* ``"default"``: one device (the first GPU if there is one, else the CPU).
* ``"mirrored"``: synchronous data parallelism over the GPUs of one machine
  (or the ``devices`` given, e.g. two logical CPUs in tests).
* ``"multiworker"``: synchronous data parallelism over several machines; each
  runs the same command with its own ``TF_CONFIG`` (cluster and task).
* ``"tpu"``: a Cloud TPU, found by name or address (``tpu``) or from the
  environment.

The batch size given to the engine is always the global batch: Keras splits
each batch across the replicas.
"""

from __future__ import annotations

import json
import os

__all__ = ["make_strategy", "is_chief", "describe", "cpu_kernels_note"]


def cpu_kernels_note(mkl_enabled=None) -> str | None:
    """A line for the log when TensorFlow runs on the CPU without its oneDNN kernels, else ``None``.

    ``import keras_classics`` turns them on (``TF_ENABLE_ONEDNN_OPTS=1``), but
    TensorFlow reads the variable once, when it is imported: a script that
    imports TensorFlow (or Keras on its TensorFlow backend) first keeps
    TensorFlow's default, which is off on many CPUs (AMD EPYC, for one), and
    trains several times slower. Silent when the user set the variable to 0 or
    when a GPU is visible.

    Args:
        mkl_enabled: whether oneDNN is on (default: asked of TensorFlow).
    """
    import tensorflow as tf

    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0" or tf.config.list_physical_devices("GPU"):
        return None
    if mkl_enabled is None:
        try:
            from tensorflow.python.util import _pywrap_util_port

            mkl_enabled = bool(_pywrap_util_port.IsMklEnabled())
        except (ImportError, AttributeError):  # a TensorFlow build without the query: say nothing
            return None
    if mkl_enabled:
        return None
    return ("Note: TensorFlow's oneDNN CPU kernels are off (TensorFlow was imported before keras_classics); "
            "CPU training can be several times slower. Set TF_ENABLE_ONEDNN_OPTS=1 before importing "
            "TensorFlow, or import keras_classics first.")


def make_strategy(name: str = "default", devices=None, tpu: str | None = None):
    """Create the named ``tf.distribute.Strategy``.

    Raises:
        ValueError: for an unknown name, devices that do not exist, or a
            malformed ``TF_CONFIG``.
    """
    import tensorflow as tf

    devices = list(devices or [])
    if name == "default":
        if devices:
            if len(devices) != 1:
                raise ValueError(
                    f"--strategy default runs on one device; received devices={devices}. "
                    "Use --strategy mirrored for several."
                )
            return tf.distribute.OneDeviceStrategy(_check_devices(tf, devices)[0])
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices:
            return tf.distribute.MirroredStrategy(devices=_check_devices(tf, devices))
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        raw = os.environ.get("TF_CONFIG")
        if raw:
            try:
                spec = json.loads(raw)
                spec["cluster"], spec["task"]["type"], spec["task"]["index"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(
                    "TF_CONFIG must be JSON like {\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, "
                    f"\"task\": {{\"type\": \"worker\", \"index\": 0}}}}. Received: {raw!r} ({e})"
                ) from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}. Accepted: default, mirrored, multiworker, tpu.")


def _check_devices(tf, devices):
    def norm(name):
        name = name.lower().split("/device:")[-1].lstrip("/")
        return "/" + name

    known = {norm(d.name): d.name for d in tf.config.list_logical_devices()}
    for d in devices:
        if norm(d) not in known:
            raise ValueError(
                f"Device {d!r} does not exist on this machine. Logical devices: {', '.join(sorted(known.values()))}"
            )
    return [known[norm(d)] for d in devices]


def is_chief(strategy) -> bool:
    """Whether this process writes the run directory (multi-worker: the chief, or worker 0)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    task_type = getattr(resolver, "task_type", None)
    task_id = getattr(resolver, "task_id", None)
    if task_type in (None, "chief"):
        return True
    if task_type == "worker" and task_id == 0:
        cluster = resolver.cluster_spec().as_dict() if hasattr(resolver, "cluster_spec") else {}
        return "chief" not in cluster
    return False


def describe(strategy) -> str:
    """``"MirroredStrategy, 2 replicas"`` and the like."""
    return f"{type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s)"
