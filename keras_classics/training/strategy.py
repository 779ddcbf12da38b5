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

Several workers (``"multiworker"`` with a ``TF_CONFIG`` naming more than one
task) are held to a few bounds, so that no misstep leaves a process waiting
forever:

* :func:`cluster_task` checks ``TF_CONFIG`` before TensorFlow starts (the task
  type and index exist in the cluster, addresses are ``host:port`` and appear
  once) and :func:`reserve_port` checks that this task's port is free, which
  also catches two workers started with the same index on one machine. A
  port left in TCP TIME_WAIT by a worker that just died counts as free, so
  every worker can be restarted at once after a loss.
* A worker waits at most :data:`CLUSTER_TIMEOUT_S` seconds (or
  ``$KERAS_CLASSICS_CLUSTER_TIMEOUT``) for the others to start.
* TensorFlow's coordination service watches the running workers by their
  heartbeats: a worker silent for :data:`HEARTBEAT_TIMEOUT_S` seconds is
  declared lost, and the pending all-reduce on the others stops with an error
  that the engine turns into :class:`WorkerLostError`, within
  :data:`LOST_PEER_BOUND_S` seconds of the loss.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass

__all__ = [
    "make_strategy",
    "is_chief",
    "describe",
    "cpu_kernels_note",
    "missing_gpu_note",
    "cluster_task",
    "reserve_port",
    "ClusterTask",
    "WorkerLostError",
    "CLUSTER_TIMEOUT_S",
    "LOST_PEER_BOUND_S",
]

CLUSTER_TIMEOUT_ENV = "KERAS_CLASSICS_CLUSTER_TIMEOUT"
CLUSTER_TIMEOUT_S = 300  # how long a worker waits for the whole cluster to start
HEARTBEAT_TIMEOUT_S = 10  # a worker whose heartbeats stop for this long is declared lost
LOST_PEER_BOUND_S = 2 * HEARTBEAT_TIMEOUT_S  # the timeout, plus the time to tell the other workers
_JOBS = ("chief", "worker")  # the task types MultiWorkerMirroredStrategy trains with


class WorkerLostError(RuntimeError):
    """A multi-worker job lost a worker (or never gathered them all); the job stopped.

    Restart every worker, at once, with the same command (or with
    ``keras-classics train --resume RUN_DIR``): the run continues from its last
    checkpoint.
    """


@dataclass(frozen=True)
class ClusterTask:
    """This process's place in a ``TF_CONFIG`` cluster.

    Attributes:
        task_type: ``"worker"`` or ``"chief"``.
        index: the task's index among its type.
        cluster: ``{"chief": [...], "worker": ["host:port", ...]}``.
    """

    task_type: str
    index: int
    cluster: dict

    @property
    def address(self) -> str:
        return self.cluster[self.task_type][self.index]

    @property
    def num_workers(self) -> int:
        return sum(len(self.cluster.get(job, ())) for job in _JOBS)

    @property
    def chief(self) -> bool:
        """Whether this task writes the run directory: the chief, or worker 0 of a cluster without one."""
        return self.task_type == "chief" or (self.index == 0 and "chief" not in self.cluster)

    @property
    def name(self) -> str:
        return f"{self.task_type} {self.index}"


def cluster_task(raw: str | None = None) -> ClusterTask | None:
    """Parse and check ``TF_CONFIG`` (default: the environment's); ``None`` when it is unset or empty.

    Raises:
        ValueError: malformed JSON, a cluster without workers, a task type or
            index that the cluster does not have, an address that is not
            ``host:port`` or that is listed twice.
    """
    raw = os.environ.get("TF_CONFIG") if raw is None else raw
    if not raw or not raw.strip():
        return None
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}')
    try:
        spec = json.loads(raw)
        cluster, task = spec["cluster"], spec["task"]
        task_type, index = task["type"], task["index"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"TF_CONFIG must be JSON like {example}. Received: {raw!r} ({type(e).__name__}: {e})") from None
    if not isinstance(cluster, dict) or not cluster.get("worker") and not cluster.get("chief"):
        raise ValueError(f"TF_CONFIG's cluster names no worker. Received: {cluster!r}. Accepted: e.g. {example}.")
    others = sorted(set(cluster) - set(_JOBS))
    if others:
        raise ValueError(
            f"TF_CONFIG's cluster has task type(s) {', '.join(others)}, which --strategy multiworker does not "
            f"use. Accepted: {' and '.join(_JOBS)} (one chief at most)."
        )
    seen = {}
    for job in _JOBS:
        addresses = cluster.get(job, [])
        if not isinstance(addresses, list) or (job == "chief" and len(addresses) > 1):
            raise ValueError(f"TF_CONFIG's cluster[{job!r}] must be a list of \"host:port\" strings"
                             f"{' (one at most)' if job == 'chief' else ''}. Received: {addresses!r}.")
        for i, address in enumerate(addresses):
            host, _, port = str(address).rpartition(":")
            if not isinstance(address, str) or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"TF_CONFIG's cluster[{job!r}][{i}] must be \"host:port\". Received: {address!r}.")
            if address in seen:
                raise ValueError(f"TF_CONFIG lists {address} twice ({seen[address]} and {job} {i}): every task "
                                 "needs its own address.")
            seen[address] = f"{job} {i}"
    if task_type not in _JOBS or task_type not in cluster:
        raise ValueError(f"TF_CONFIG's task type {task_type!r} is not in its cluster. Accepted: "
                         f"{', '.join(repr(j) for j in _JOBS if j in cluster)}.")
    size = len(cluster[task_type])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise ValueError(
            f"TF_CONFIG's task index {index!r} is out of range: the cluster has {size} {task_type} task(s), so "
            f"the accepted indices are 0..{size - 1}. Give each machine its own index."
        )
    return ClusterTask(task_type, index, {job: list(cluster[job]) for job in _JOBS if job in cluster})


_reserved: socket.socket | None = None


def reserve_port(task: ClusterTask) -> None:
    """Check that this task's port is free and hold it until :func:`make_strategy` starts the worker.

    Holding the port from the start of a run, through the seconds TensorFlow
    takes to import, means that of two workers started with the same index on
    one machine, the second is refused here (TensorFlow's own server would
    share the port silently and the cluster would never form).

    A port whose only sockets are connections in TCP TIME_WAIT, which a worker
    that just died leaves for up to a minute, is free: TensorFlow's server
    binds it as well (with ``SO_REUSEADDR``, as here), and a scheduler that
    restarts every worker at once after a loss must not be refused. A port
    that a process listens on, or holds as this function does, is in use.

    Raises:
        ValueError: the port is in use.
    """
    global _reserved
    release_port()
    port = int(task.address.rpartition(":")[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # POSIX SO_REUSEADDR lets the bind through TIME_WAIT and still refuses a listener or a held port
        # (Windows' would take over a port in use: a plain bind there); turned off once bound, so that
        # this reservation refuses a second worker with the same index.
        reuse = os.name == "posix"
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("", port))
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    except OSError as e:
        sock.close()
        if e.errno != errno.EADDRINUSE:
            raise
        raise ValueError(
            f"Port {port} of this worker's address {task.address} (TF_CONFIG task {task.name}) is already in use: "
            f"another worker was started with the same index ({task.index}), or another program holds the port. "
            f"Accepted: each worker its own index, 0..{len(task.cluster[task.task_type]) - 1}, at an address "
            "whose port is free."
        ) from None
    _reserved = sock


def release_port() -> None:
    """Let go of the port that :func:`reserve_port` holds (no-op when none)."""
    global _reserved
    if _reserved is not None:
        _reserved.close()
        _reserved = None


def cluster_timeout() -> float:
    """Seconds a worker waits for the cluster to start: ``$KERAS_CLASSICS_CLUSTER_TIMEOUT`` or :data:`CLUSTER_TIMEOUT_S`."""
    raw = os.environ.get(CLUSTER_TIMEOUT_ENV)
    if not raw:
        return CLUSTER_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not value > 0:
        raise ValueError(f"{CLUSTER_TIMEOUT_ENV} must be a number of seconds > 0. Received: {raw!r}.")
    return value


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


def missing_gpu_note(strategy: str, devices=(), precision: str = "float32") -> str | None:
    """A line for the log when the configuration asks for GPUs and TensorFlow sees none, else ``None``.

    Asking means ``--strategy mirrored`` without ``--devices`` (all GPUs), a
    device named ``/gpu:N``, or a ``mixed_*`` precision (float16 and bfloat16
    arithmetic pay off on GPUs; on a CPU they are slower than float32).
    TensorFlow's own CUDA probe messages are hidden by the command line.
    """
    import tensorflow as tf

    named = [d for d in devices or () if "gpu" in str(d).lower()]
    wants = (strategy == "mirrored" and not devices) or named or str(precision).startswith("mixed")
    if not wants or tf.config.list_physical_devices("GPU"):
        return None
    why = (f"--devices {','.join(named)}" if named else "--strategy mirrored" if strategy == "mirrored" and not devices
           else f"--precision {precision}")
    return f"Note: {why} asks for a GPU, and TensorFlow sees none on this machine: training runs on the CPU."


def make_strategy(name: str = "default", devices=None, tpu: str | None = None):
    """Create the named ``tf.distribute.Strategy``.

    Raises:
        ValueError: for an unknown name, devices that do not exist, or a
            malformed ``TF_CONFIG``.
        WorkerLostError: ``"multiworker"``: not every worker of ``TF_CONFIG``'s
            cluster started within :func:`cluster_timeout` seconds.
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
        return _multiworker(tf, cluster_task())
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}. Accepted: default, mirrored, multiworker, tpu.")


def _multiworker(tf, task):
    """``MultiWorkerMirroredStrategy`` with bounded waits (see the module docstring)."""
    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        # Two calls that Keras' fit() makes with several workers, which this strategy refuses:
        # * the first batch, a tuple, reduced with one call to learn its shapes (it reduces
        #   single values only: "Attempt to convert a value (PerReplica...) to a Tensor");
        # * each step's logs, scalars, reduced with axis=0 ("Invalid reduction dimension 0").
        # So: a nest is reduced element by element, and a scalar across replicas only.
        def reduce(self, reduce_op, value, axis):
            one = super().reduce

            def single(v):
                local = self.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v
                rank = getattr(getattr(local, "shape", None), "rank", None)
                return one(reduce_op, v, None if rank == 0 else axis)

            if isinstance(value, (tuple, list, dict)):
                return tf.nest.map_structure(single, value)
            return single(value)

    release_port()
    if task is None or task.num_workers < 2:
        return MultiWorkerMirroredStrategy()
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    timeout = cluster_timeout()
    # TensorFlow's coordination service starts the cluster and watches it (heartbeats); its
    # registration wait is otherwise unbounded, and its heartbeat limit is set here to be stated.
    spec = tf.train.ClusterSpec(task.cluster)
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(spec),
        cluster_register_timeout_in_ms=int(timeout * 1000),
        heartbeat_timeout_in_ms=HEARTBEAT_TIMEOUT_S * 1000,
        coordinated_jobs=[_coordinated_job(job, len(task.cluster[job])) for job in _JOBS if job in task.cluster],
    )
    if task.chief:
        # The coordination service's leader waits for the others without a limit: it starts only
        # once every other worker listens (each starts listening before it registers).
        _wait_for_peers(task, timeout)
    try:
        return MultiWorkerMirroredStrategy()
    except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError, tf.errors.AbortedError,
            tf.errors.InternalError) as e:
        peers = ", ".join(f"{job} {i} at {a}" for job in _JOBS for i, a in enumerate(task.cluster.get(job, ())))
        detail = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise WorkerLostError(
            f"{task.name} could not gather the cluster ({peers}) within {timeout:g} s: not every worker joined "
            f"({detail}). Start every worker with the same cluster in TF_CONFIG and its own index (or allow "
            f"longer with {CLUSTER_TIMEOUT_ENV}=SECONDS)."
        ) from None


def _wait_for_peers(task, timeout):
    """Return once every other task's address accepts a connection; :class:`WorkerLostError` after ``timeout`` s."""
    import time

    deadline = time.monotonic() + timeout
    waiting = [(job, i, a) for job in _JOBS for i, a in enumerate(task.cluster.get(job, ()))
               if (job, i) != (task.task_type, task.index)]
    while waiting:
        job, i, address = waiting[0]
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
            waiting.pop(0)
            continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            missing = ", ".join(f"{j} {k} at {a}" for j, k, a in waiting)
            raise WorkerLostError(
                f"{task.name} waited {timeout:g} s for the cluster and these workers never started: {missing}. "
                f"Start every worker with the same cluster in TF_CONFIG and its own index (or allow longer with "
                f"{CLUSTER_TIMEOUT_ENV}=SECONDS)."
            )
        time.sleep(0.5)


def _coordinated_job(name, num_tasks):
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2

    return coordination_config_pb2.CoordinatedJob(name=name, num_tasks=num_tasks)


def lost_worker_message(task, error, where: str, run_dir: str) -> str:
    """The one-line explanation of a collective that stopped because a peer went away, and how to continue."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    who = f"this worker ({task.name} at {task.address})" if task is not None else "this worker"
    return (
        f"Lost a worker {where}: {who} stopped because a peer stopped answering ({detail[:200]}). A lost peer is "
        f"noticed within {LOST_PEER_BOUND_S} s. Restart every worker, at once, with the same command or with "
        f"`keras-classics train --resume {run_dir}`: the run continues from its last checkpoint."
    )


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
    """``"MirroredStrategy, 2 replica(s)"``, ``"MultiWorkerMirroredStrategy, 2 replica(s) on 2 workers"``.

    TensorFlow's default strategy (no ``tf.distribute``) is named by what runs the steps: ``"one
    device (TensorFlow)"``, or ``"one device (JAX backend)"`` when Keras runs on another backend.
    """
    import keras
    import tensorflow as tf

    if type(strategy) is type(tf.distribute.get_strategy()) and not tf.distribute.has_strategy():
        backend = keras.backend.backend()
        return f"one device ({'TensorFlow' if backend == 'tensorflow' else backend.upper() + ' backend'})"
    workers = getattr(strategy.extended, "_num_workers", 1)
    on = f" on {workers} workers" if workers > 1 else ""
    return f"{type(strategy).__name__}, {strategy.num_replicas_in_sync} replica(s){on}"
