"""Multi-worker training with real workers: two processes on localhost ports, each with its own TF_CONFIG.

The chief (worker 0) runs the ``keras-classics train`` command itself; worker 1
runs the same options through a small driver that also records, with Python's
audit hooks, every file it opens for writing (TensorFlow's own C++ writes are
not seen by the hook), saves its final weights for the comparison, and in the
tests of a lost worker kills itself with SIGKILL half-way through epoch 2 of 3
(once: its restart trains on). Those tests run the driver as worker 1 or as the
chief, then restart every worker at once on the same ports (TCP TIME_WAIT
there must not refuse them), or let docs/supervise.py restart the killed one;
the restarted job must end as an uninterrupted one does.

The reference for the metrics is one process with the same global batch and
seed, with MirroredStrategy over two logical CPUs: like the two workers, two
replicas of 16 images each (the same 16: each worker's shard is its replica's
half of the one-process batch), batch-norm statistics per replica and averaged
at each epoch's end. The computation is the same; what may differ is the
order in which an all-reduce adds the replicas' gradients (a ring over
processes against a sum in one process). Here the metrics came out equal to
the last bit; the tolerance, relative 1e-4, allows a few float32 ulps of
reordering per step for 12 Adam steps, and is far below what a wrong shard
(a batch seen twice, or missed) moves the loss (several percent at this size).

Time, on 2 CPU cores shared with other work (load 4-5): the pair and the
reference 87 s, the lost worker and the restart 161 s, the misconfigurations
95 s, the in-process sharding and TF_CONFIG tests 12 s: about 6 minutes, so
the multi-process tests are marked slow. The restart tests (a smaller network)
took 15 to 20 minutes together at load 9-15: 1.5 to 4 minutes each.
"""

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from keras_classics.training.strategy import LOST_PEER_BOUND_S, cluster_task, release_port, reserve_port
from tests.helpers import ROOT, cli_argv, image_folder

# One xdist worker runs the module: the two-worker run is shared by two tests.
pytestmark = pytest.mark.xdist_group("multiworker")
SLOW = pytest.mark.slow

TIMEOUT = 300  # seconds: no subprocess of this module may run longer
DOCS = ROOT / "docs"
RTOL, ATOL = 1e-4, 1e-6  # two workers against one process, same global batch and seed (module docstring)

COMMON = ["--dataset-options", '{"num_train": 256, "num_val": 64}', "--image-size", "32", "--batch-size", "32",
          "--steps-per-epoch", "4", "--epochs", "3", "--verbose", "2"]

DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys, time
    writes = []

    def audit(event, args):
        if event == "open" and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1], args[2] or 0
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or flags & (os.O_WRONLY | os.O_RDWR):
                writes.append(os.fsdecode(args[0]))
        elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree"):
            writes.append(os.fsdecode(args[0]) if isinstance(args[0], (str, bytes)) else repr(args[0]))

    if os.environ.get("LOGICAL_CPUS"):
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import argparse

    import keras
    import numpy as np
    from keras_classics.training import train
    from keras_classics.training._cli import resolve_target
    from keras_classics.training.config import add_config_arguments, overrides_from_args

    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    add_config_arguments(parser)
    args = parser.parse_args(sys.argv[1:])
    config = resolve_target(args.target).replace(**overrides_from_args(args))

    class KillMidEpoch2(keras.callbacks.Callback):
        # Once: $KILL_MID_EPOCH_2 names a file, made just before the kill, that stops a restart doing it again.
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 1 and not os.path.exists(os.environ["KILL_MID_EPOCH_2"]):
                open(os.environ["KILL_MID_EPOCH_2"], "w").close()
                print(f"KILLED {time.time()}", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    callbacks = [KillMidEpoch2()] if os.environ.get("KILL_MID_EPOCH_2") else []
    sys.addaudithook(audit)
    result = train(config, callbacks=callbacks)
    print("WRITES " + json.dumps(writes), flush=True)
    print("METRICS " + json.dumps(result.metrics), flush=True)
    if os.environ.get("WEIGHTS_OUT"):
        np.savez(os.environ["WEIGHTS_OUT"], *result.model.get_weights())
    """
)


# ---------------------------------------------------------------------- helpers
def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def env_for(tmp, tf_conf=None, **extra):
    env = dict(os.environ, KERAS_CLASSICS_CACHE=str(tmp / "cache"), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1", **extra)
    env.pop("TF_CONFIG", None)
    if tf_conf is not None:
        env["TF_CONFIG"] = tf_conf
    return env


def cli(args, env):
    return subprocess.Popen(cli_argv("train", *args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def driver(tmp, args, env):
    script = tmp / "driver.py"
    script.write_text(DRIVER)
    return subprocess.Popen([sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=TIMEOUT):
    """``(returncode, stdout, stderr, end time)``; the process is killed if it outlives ``timeout``."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"a worker ran past {timeout} s (hang):\n{out[-3000:]}\n{err[-3000:]}")
    return proc.returncode, out, err, time.time()


def line_of(prefix, out):
    return json.loads(out.split(prefix + " ", 1)[1].splitlines()[0])


def pair(tmp, run_dir, extra=(), weights=None):
    """Start the chief (the CLI) and worker 1 (the driver) with the same options; return their results."""
    ports = free_ports(2)
    args = ["quickstart", *COMMON, "--strategy", "multiworker", "--run-dir", str(run_dir), *extra]
    worker_tmp = tmp / f"worker1-tmp-{ports[1]}"
    worker_tmp.mkdir()
    started = time.time()
    chief = cli(args, env_for(tmp, tf_config(ports, 0)))
    env1 = env_for(tmp, tf_config(ports, 1), TMPDIR=str(worker_tmp))
    if weights:
        env1["WEIGHTS_OUT"] = str(weights)
    worker = driver(tmp, args, env1)
    w = finish(worker)
    c = finish(chief)
    return {"chief": c, "worker": w, "worker_tmp": worker_tmp, "wall_s": max(c[3], w[3]) - started}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("multiworker")
    (tmp / "cache").mkdir()
    return tmp


@pytest.fixture(scope="module")
def two_workers(workdir):
    """An uninterrupted two-worker run and the one-process reference, run side by side."""
    ref_dir = workdir / "reference"
    reference = driver(workdir, ["quickstart", *COMMON, "--strategy", "mirrored", "--devices", "/cpu:0,/cpu:1",
                                 "--run-dir", str(ref_dir)], env_for(workdir, LOGICAL_CPUS="2"))
    result = pair(workdir, workdir / "run", weights=workdir / "worker1.npz")
    result["reference"] = finish(reference)
    return result


# ---------------------------------------------------------------------- sharding (in process)
def test_shards_of_shapes_are_disjoint_and_together_are_the_batches():
    from keras_classics.data import get_source, make_pipeline

    src = get_source("shapes", image_size=16, num_train=70, num_val=0, cache=False)
    kw = dict(policy="cifar", image_size=16, batch_size=8, seed=3, preprocessing="none", repeat=True)
    n = 2 * (70 // 8)  # two epochs
    full = list(make_pipeline(src.train, **kw).take(n))
    shards = [list(make_pipeline(src.train, shard=(i, 2), **kw).take(n)) for i in range(2)]
    for b, (x, y) in enumerate(full):
        parts = [shard[b] for shard in shards]
        assert [int(p[0].shape[0]) for p in parts] == [4, 4]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), x.numpy())
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y.numpy())


def test_folder_shards_read_disjoint_files_that_cover_the_epoch(tmp_path):
    from keras_classics.data import get_source, make_pipeline

    image_folder(tmp_path / "data", per_class=7)
    src = get_source(f"folder:{tmp_path / 'data'}", val_fraction=0, verbose=False)
    kw = dict(policy="none", image_size=8, batch_size=4, seed=1, preprocessing="none")
    seen = []
    for i in range(2):
        pixels = {tuple(img[0, 0].astype(int)) for x, _ in make_pipeline(src.train, shard=(i, 2), **kw)
                  for img in x.numpy()}
        seen.append(pixels)
    assert not seen[0] & seen[1]  # no file read by both workers
    assert len(seen[0]) == len(seen[1]) == 6  # 3 full batches of 4 out of 14 files: 6 files each
    everything = {tuple(img[0, 0].astype(int)) for x, _ in make_pipeline(src.train, **kw) for img in x.numpy()}
    assert seen[0] | seen[1] == everything


def test_a_file_gone_during_a_sharded_epoch_stops_the_worker_with_the_rule(tmp_path):
    # Unsharded, a vanished file is skipped (tests/journeys/test_changing_data.py). Sharded, skipping would leave
    # one worker a batch short while the others wait: the read stops with a message that says so.
    import tensorflow as tf

    from keras_classics.data import get_source, make_pipeline

    image_folder(tmp_path / "data", per_class=7)
    src = get_source(f"folder:{tmp_path / 'data'}", val_fraction=0, verbose=False)
    unchecked = get_source(f"folder:{tmp_path / 'data'}", val_fraction=0, verbose=False, validate="header")
    for path in sorted((tmp_path / "data").rglob("*.*")):
        path.unlink()  # every file gone after listing: whichever this worker reads first
    with pytest.raises(tf.errors.InvalidArgumentError, match="sharded"):
        for _ in make_pipeline(src.train, policy="none", image_size=8, batch_size=4, seed=1, preprocessing="none",
                               shard=(0, 2)):
            pass
    with pytest.raises(ValueError, match="validate='full'"):  # files not read up front: refused before reading
        make_pipeline(unchecked.train, policy="none", image_size=8, batch_size=4, shard=(0, 2))


def test_record_shards_decode_only_their_own_records():
    """TFDS splits are streams of encoded records: sharded by record, before decoding (not by file)."""
    import tensorflow as tf

    from keras_classics.data import make_pipeline
    from keras_classics.data.base import stream_dataset
    from keras_classics.data.tfds_source import decode_encoded

    images = [np.full((8, 8, 3), k * 7, np.uint8) for k in range(20)]
    encoded = [tf.io.encode_png(x).numpy() for x in images]
    records = tf.data.Dataset.from_tensor_slices((encoded, np.arange(20) % 2))
    stream = stream_dataset(records, decode_encoded, 20)  # how TFDS splits are read (before decoding)
    kw = dict(policy="none", image_size=8, batch_size=4, seed=2, preprocessing="none", shuffle_buffer=20)
    full = list(make_pipeline(stream, **kw))
    parts = [list(make_pipeline(stream, shard=(i, 2), **kw)) for i in range(2)]
    assert len(full) == len(parts[0]) == len(parts[1]) == 5
    for b, (x, _) in enumerate(full):
        np.testing.assert_array_equal(np.concatenate([parts[0][b][0], parts[1][b][0]]), x.numpy())


def test_fewer_files_than_workers_is_an_error_naming_both(tmp_path):
    from keras_classics.data import get_source, make_pipeline

    image_folder(tmp_path / "data", per_class=1)
    src = get_source(f"folder:{tmp_path / 'data'}", val_fraction=0, verbose=False)
    with pytest.raises(ValueError, match=r"has 2 element\(s\) \(images or files\), fewer than the 3 shards"):
        make_pipeline(src.train, policy="none", image_size=8, batch_size=3, shard=(0, 3))


# ---------------------------------------------------------------------- TF_CONFIG and ports (in process)
def test_tf_config_is_checked_before_training():
    assert cluster_task("") is None
    task = cluster_task(tf_config([1001, 1002], 1))
    assert (task.name, task.address, task.num_workers, task.chief) == ("worker 1", "localhost:1002", 2, False)
    with pytest.raises(ValueError, match=r"task index 2 is out of range: .* 2 worker task\(s\), .* indices are 0..1"):
        cluster_task(tf_config([1001, 1002], 2))
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON like"):
        cluster_task("{'cluster': ")
    with pytest.raises(ValueError, match="lists localhost:1001 twice"):
        cluster_task(tf_config([1001, 1001], 0))


def test_a_port_in_use_is_refused_naming_it():
    holder = socket.socket()
    holder.bind(("", 0))
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ValueError, match=f"Port {port} of this worker's address localhost:{port} .* in use"):
            reserve_port(cluster_task(tf_config([port, port + 1], 0)))
    finally:
        holder.close()
        release_port()


def _time_wait_port():
    """A port whose only socket is a connection in TCP TIME_WAIT, as a worker that just died leaves it.

    The server side closes first, so the TIME_WAIT is on the listening port; the listener sets
    SO_REUSEADDR, as TensorFlow's gRPC server does (its accepted connections inherit it).
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("localhost", port))
    accepted, _ = listener.accept()
    accepted.close()
    client.close()
    listener.close()
    plain = socket.socket()
    with pytest.raises(OSError):  # what reserve_port's plain bind used to meet: "already in use"
        plain.bind(("", port))
    plain.close()
    return port


def test_a_port_in_time_wait_is_free_and_then_held():
    port = _time_wait_port()
    try:
        reserve_port(cluster_task(tf_config([port, port + 1], 0)))
        # Held as before: a second worker with the same index is refused, even one that binds as gRPC does.
        second = socket.socket()
        second.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with pytest.raises(OSError):
            second.bind(("", port))
        second.close()
    finally:
        release_port()


def test_a_port_another_process_listens_on_is_refused():
    listener = subprocess.Popen(
        [sys.executable, "-c", "import socket, sys\n"
         "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', 0)); "
         "s.listen(); print(s.getsockname()[1], flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(listener.stdout.readline())
        with pytest.raises(ValueError) as e:
            reserve_port(cluster_task(tf_config([port, port + 1], 0)))
        assert str(e.value) == (
            f"Port {port} of this worker's address localhost:{port} (TF_CONFIG task worker 0) is already in use: "
            "another worker was started with the same index (0), or another program holds the port. Accepted: "
            "each worker its own index, 0..1, at an address whose port is free.")
    finally:
        release_port()
        listener.communicate("", timeout=30)


# ---------------------------------------------------------------------- two real workers
@SLOW
def test_two_workers_train_as_one_process_would(two_workers, workdir):
    code, out, err, _ = two_workers["chief"]
    assert code == 0, out[-3000:] + err[-3000:]
    wcode, wout, werr, _ = two_workers["worker"]
    assert wcode == 0, wout[-3000:] + werr[-3000:]
    assert "MultiWorkerMirroredStrategy, 2 replica(s) on 2 workers" in out
    run = workdir / "run"
    names = {p.name for p in run.iterdir()} - {"logs"}  # logs/: when TensorBoard is installed
    assert names == {"best.keras", "checkpoints", "config.json", "final.keras", "history.csv", "metrics.json"}

    # Worker 1 wrote nothing in the run directory: only in its temporary directory (left empty) and in
    # the data cache, where the shapes images it generated are kept for the next run.
    writes = line_of("WRITES", wout)
    allowed = (str(two_workers["worker_tmp"]), str(workdir / "cache"))
    assert [w for w in writes if not w.startswith(allowed)] == []
    assert not [w for w in writes if w.startswith(str(run))]
    assert list(two_workers["worker_tmp"].iterdir()) == []

    # The workers end with the same weights, bit for bit (one all-reduce result applied on both).
    import keras

    chief_weights = keras.saving.load_model(run / "final.keras").get_weights()
    with np.load(workdir / "worker1.npz") as f:
        worker_weights = [f[f"arr_{i}"] for i in range(len(f.files))]
    assert len(chief_weights) == len(worker_weights)
    for a, b in zip(chief_weights, worker_weights):
        np.testing.assert_array_equal(a, b)

    # Close to one process with the same global batch and seed.
    rcode, rout, rerr, _ = two_workers["reference"]
    assert rcode == 0, rout[-3000:] + rerr[-3000:]
    ref = line_of("METRICS", rout)
    got = json.loads((run / "metrics.json").read_text())
    assert line_of("METRICS", wout)["loss"] == got["loss"]
    for key in ("loss", "top1", "train_loss", "train_top1"):
        assert got[key] == pytest.approx(ref[key], rel=RTOL, abs=ATOL), key
    print(f"\ntwo workers {two_workers['wall_s']:.1f} s; metrics {got}; reference {ref}")


# ---------------------------------------------------------------------- restarting every worker at once
# What a scheduler does after a loss: every worker starts again on its own port within a second of the
# survivor's exit, while the ports the old workers used may still be in TCP TIME_WAIT.
# A smaller network than the other tests' (ResNet-18) keeps these many runs short.
SMALL = ["convnet4", "--dataset", "shapes", *COMMON, "--strategy", "multiworker"]
RESTARTS = {"the same command": None, "--resume RUN": ["--resume"]}


def _start_workers(workdir, ports, args, victim=None, marker=None):
    """One process per worker (the CLI); the victim, if any, runs the driver that kills itself in epoch 2."""
    procs = []
    for i in range(len(ports)):
        env = env_for(workdir, tf_config(ports, i))
        if i == victim:
            procs.append(driver(workdir, args, dict(env, KILL_MID_EPOCH_2=str(marker))))
        else:
            procs.append(cli(args, env))
    return procs


@pytest.fixture(scope="module")
def uninterrupted(workdir):
    """The final metrics of the small job, run by two workers without a loss."""
    run = workdir / "small"
    workers = _start_workers(workdir, free_ports(2), [*SMALL, "--run-dir", str(run)])
    for code, out, err, _ in [finish(p) for p in workers]:
        assert code == 0, out[-3000:] + err[-3000:]
    return json.loads((run / "metrics.json").read_text())


def _assert_finished_as_uninterrupted(run, uninterrupted):
    got = json.loads((run / "metrics.json").read_text())
    for key in ("loss", "top1", "train_loss", "train_top1"):
        assert got[key] == pytest.approx(uninterrupted[key], rel=RTOL, abs=ATOL), key
    epochs = [line.split(",")[0] for line in (run / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["1", "2", "3"]
    return got


@SLOW
# Each victim and each way of restarting, once: a killed worker 1 restarted with the same command, a killed chief
# with --resume (the full matrix adds minutes of two-process training and no new code path).
@pytest.mark.parametrize("victim, restart", [(1, "the same command"), (0, "--resume RUN")],
                         ids=["worker 1 killed-the same command", "chief killed---resume RUN"])
def test_every_worker_restarted_at_once_after_a_kill_finishes_the_run(uninterrupted, workdir, victim, restart):
    run = workdir / f"restart-{victim}-{'resume' if RESTARTS[restart] else 'same'}"
    ports = free_ports(2)
    args = [*SMALL, "--run-dir", str(run)]
    first = _start_workers(workdir, ports, args, victim, workdir / f"killed-{ports[victim]}")
    vcode, vout, _, _ = finish(first[victim])
    assert vcode == -signal.SIGKILL, vout[-3000:]
    killed_at = float(vout.split("KILLED ", 1)[1].split()[0])
    scode, sout, serr, survivor_exit = finish(first[1 - victim])
    assert scode == 1, sout[-3000:] + serr[-3000:]
    assert survivor_exit - killed_at < LOST_PEER_BOUND_S + 15, survivor_exit - killed_at  # the bound, plus the exit
    assert json.loads((run / "checkpoints" / "checkpoint.json").read_text())["epoch"] == 1
    line = _one_line_error(serr)
    assert "Lost a worker" in line, line
    assert f"with the same command or with `keras-classics train --resume {run}`: the run continues" in line, line

    # No sleep: the same ports, at once.
    again = args if RESTARTS[restart] is None else ["--resume", str(run)]
    restarted = [finish(p) for p in _start_workers(workdir, ports, again)]
    for code, out, err, _ in restarted:
        assert code == 0, out[-3000:] + err[-3000:]
    assert "Resuming after epoch 1" in restarted[0][1]
    got = _assert_finished_as_uninterrupted(run, uninterrupted)
    done = max(r[3] for r in restarted)
    print(f"\n{restart}, worker {victim} killed: survivor exited {survivor_exit - killed_at:.1f} s after the "
          f"kill, the run finished {done - killed_at:.1f} s after it; metrics {got}")


@SLOW
@pytest.mark.parametrize("victim", [1], ids=["worker 1 killed"])  # a killed chief: the restart test above
def test_a_supervisor_restarting_the_killed_worker_finishes_the_run(uninterrupted, workdir, victim):
    """docs/supervise.py, a stand-in for a scheduler's restart policy, restarts each worker that fails, at once."""
    run = workdir / f"supervised-{victim}"
    ports = free_ports(2)
    marker = workdir / f"killed-{ports[victim]}"
    (workdir / "driver.py").write_text(DRIVER)
    args = [*SMALL, "--run-dir", str(run)]
    commands = []
    for i in range(2):
        program = [str(workdir / "driver.py")] if i == victim else ["-m", "keras_classics.cli", "train"]
        kill = f"KILL_MID_EPOCH_2={shlex.quote(str(marker))} " if i == victim else ""
        commands.append(f"TF_CONFIG={shlex.quote(tf_config(ports, i))} {kill}exec "
                        f"{shlex.join([sys.executable, *program, *args])}")
    supervisor = subprocess.Popen([sys.executable, str(DOCS / "supervise.py"), "--max-restarts", "6", *commands],
                                  env=env_for(workdir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    code, out, err, done = finish(supervisor, 2 * TIMEOUT)
    assert code == 0, out[-5000:] + err[-5000:]
    events = re.findall(r"supervise: ([\d.]+) worker (\d) exited with status (-?\d+)", out)
    killed_at = float(out.split("KILLED ", 1)[1].split()[0])
    assert (str(victim), str(-signal.SIGKILL)) in [(w, c) for _, w, c in events]
    survivor = [float(t) for t, w, c in events if w == str(1 - victim) and c != "0" and float(t) > killed_at]
    got = _assert_finished_as_uninterrupted(run, uninterrupted)
    restarts = out.count("start worker") - 2
    print(f"\nsupervised, worker {victim} killed: {restarts} restart(s); survivor exited "
          f"{survivor[0] - killed_at if survivor else float('nan'):.1f} s after the kill, the run finished "
          f"{done - killed_at:.1f} s after it; metrics {got}")


# ---------------------------------------------------------------------- misconfiguration
def _one_line_error(err):
    """The command's own message: one line, no traceback (TensorFlow's C++ log lines may surround it)."""
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("keras-classics train:")]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def test_task_index_out_of_range_is_refused(workdir):
    ports = free_ports(2)
    code, _, err, _ = finish(cli(["quickstart", *COMMON, "--strategy", "multiworker", "--run-dir",
                                  str(workdir / "bad-index")], env_for(workdir, tf_config(ports, 2))), 120)
    assert code == 2
    assert "task index 2 is out of range" in _one_line_error(err)
    assert not (workdir / "bad-index").exists()


@SLOW
def test_two_workers_with_one_index_and_a_missing_peer_fail_with_clear_errors(workdir):
    ports = free_ports(2)
    args = ["quickstart", *COMMON, "--strategy", "multiworker", "--run-dir", str(workdir / "same-index")]
    env = env_for(workdir, tf_config(ports, 1), KERAS_CLASSICS_CLUSTER_TIMEOUT="10")
    first = cli(args, env)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until the first holds its port
        probe = socket.socket()
        try:
            probe.bind(("", ports[1]))
        except OSError:
            break
        finally:
            probe.close()
        time.sleep(0.2)
    second = finish(cli(args, env), 120)
    assert second[0] == 2
    assert f"Port {ports[1]}" in _one_line_error(second[2]) and "same index (1)" in second[2]
    code, _, err, _ = finish(first, 150)  # worker 0 never comes: the first gives up after 10 s
    assert code == 1
    line = _one_line_error(err)
    assert "could not gather the cluster" in line and "within 10 s" in line, line


@SLOW
def test_multiworker_without_tf_config_trains_as_one_worker_with_a_note(workdir):
    args = ["quickstart", "--dataset-options", '{"num_train": 64, "num_val": 0}', "--image-size", "32",
            "--batch-size", "32", "--steps-per-epoch", "1", "--epochs", "1", "--strategy", "multiworker",
            "--run-dir", str(workdir / "one-worker")]
    code, out, err, _ = finish(cli(args, env_for(workdir)), 240)
    assert code == 0, out[-3000:] + err[-3000:]
    assert "Note: --strategy multiworker without a TF_CONFIG naming several workers: training as one worker" in out


@SLOW
def test_a_worker_with_another_batch_size_is_refused(workdir):
    ports = free_ports(2)
    run = workdir / "mismatch"
    args = ["quickstart", *COMMON, "--strategy", "multiworker", "--run-dir", str(run)]
    chief = cli(args, env_for(workdir, tf_config(ports, 0)))
    other = [a if a != "32" or args[i - 1] != "--batch-size" else "16" for i, a in enumerate(args)]
    worker = finish(cli(other, env_for(workdir, tf_config(ports, 1))), 240)
    assert worker[0] == 2
    line = _one_line_error(worker[2])
    assert re.search(r"batch_size=16 here, 32 in config.json", line), line
    code, _, err, _ = finish(chief, 240)  # the chief then loses its peer
    assert code == 1 and "Lost a worker" in _one_line_error(err)
