"""Smoke tests of the benchmark scripts: each runs at its smallest size and writes well-formed JSON.

No test asserts a speed: they check the structure of each script's JSON and
that every figure in it is positive and finite.
"""

import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

import pytest

from tests.helpers import ROOT

BENCHMARKS = ROOT / "benchmarks"


def _load(name):
    """Import ``benchmarks/<name>.py`` (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"_benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _leaves(tree, path="$"):
    """Every leaf of a JSON tree as ``(path, value)``."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f"{path}.{key}")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _leaves(value, f"{path}[{i}]")
    else:
        yield path, tree


def _numbers(tree):
    """Every number in a JSON tree as ``(path, value)``; booleans are not numbers."""
    return [(p, v) for p, v in _leaves(tree) if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _nulls(tree):
    return [p for p, v in _leaves(tree) if v is None]


def _check_figures(result, zero_ok=(), null_ok=(), signed=()):
    """Every number positive and finite (``zero_ok`` keys: >= 0; ``signed`` keys, differences:
    any sign); no null except under ``null_ok`` keys."""
    numbers = list(_numbers(result))
    assert numbers, "the JSON holds no figures"
    for path, value in numbers:
        assert math.isfinite(value), f"{path} = {value}"
        key = path.rsplit(".", 1)[-1].split("[")[0]
        if key not in signed:
            assert value >= 0 if key in zero_ok else value > 0, f"{path} = {value}"
    nulls = [p for p in _nulls(result) if p.rsplit(".", 1)[-1] not in null_ok]
    assert not nulls, f"unexpected nulls: {nulls}"


def _read(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.slow
def test_models_benchmark_tiny(tmp_path):
    """benchmarks/models.py: ours against keras.applications (in process, TensorFlow backend).

    VGG16 rather than ResNet-50: the same code path, and tracing its four
    training and inference functions takes about a quarter of the time.
    """
    out = tmp_path / "models.json"
    returned = _load("models").main(["--tiny", "--models", "vgg16", "--json", str(out)])
    result = _read(out)
    assert result == json.loads(json.dumps(returned))
    assert {"precision", "batch_size", "jit_compile", "repeats", "method", "rows"} <= set(result)
    assert [r["model"] for r in result["rows"]] == ["vgg16"]
    row = result["rows"][0]

    for side in ("ours", "keras_applications"):
        assert set(row[side]) == {"build_s", "weight_draw_s", "infer_images_per_s", "train_images_per_s",
                                  "build_s_repeats", "infer_s_per_step_repeats", "train_s_per_step_repeats"}
        assert len(row[side]["build_s_repeats"]) == result["repeats"]
    # Each ratio is the median of the repeats' own ratios (> 1: ours faster).
    pairs = zip(row["ours"]["train_s_per_step_repeats"], row["keras_applications"]["train_s_per_step_repeats"])
    assert row["ratio_train_images_per_s"] == pytest.approx(statistics.median(t / o for o, t in pairs))
    assert {"ratio_build", "ratio_infer_images_per_s", "build_gap_s", "weight_draw_gap_s"} <= set(row)
    assert row["build_gap_s"] == pytest.approx(row["ours"]["build_s"] - row["keras_applications"]["build_s"])
    _check_figures(result, signed=("build_gap_s", "weight_draw_gap_s"))
    assert not list(tmp_path.glob("*.tmp")), "a temporary JSON file was left behind"


# Runs benchmarks/gpu.py as a script on a machine where TensorFlow cannot be imported:
# the models' import path must stay free of it on the JAX backend.
_WITHOUT_TENSORFLOW = """
import runpy, sys

class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None

sys.meta_path.insert(0, _NoTensorFlow())
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.slow
def test_gpu_benchmark_tiny_on_jax_without_tensorflow(tmp_path):
    """benchmarks/gpu.py with KERAS_BACKEND=jax, in a subprocess, TensorFlow blocked."""
    pytest.importorskip("jax")
    out = tmp_path / "gpu.json"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, "-c", _WITHOUT_TENSORFLOW, str(BENCHMARKS / "gpu.py"),
           "--tiny", "--models", "resnet18", "--torch", "off", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = _read(out)
    assert result["backend"] == "jax"
    assert {"device", "precision", "batch_size", "method", "rows"} <= set(result)
    assert [r["model"] for r in result["rows"]] == ["resnet18"]
    row = result["rows"][0]
    assert {"step_ms", "images_per_s", "spread", "compile_s", "tflops", "mfu", "final_loss"} <= set(row["ours"])
    assert "torchvision" not in row  # --torch off
    assert row["ours"]["step_ms"] == pytest.approx(1e3 * result["batch_size"] / row["ours"]["images_per_s"])
    # On a CPU the peak FLOP/s is unknown, so MFU is null; everything else is a positive figure.
    null_ok = ("peak_tflops", "mfu") if result["peak_tflops"] is None else ()
    _check_figures(result, zero_ok=("spread",), null_ok=null_ok)
    assert "resnet18" in proc.stdout


@pytest.mark.slow
def test_input_benchmark_tiny(tmp_path, monkeypatch, capsys):
    """benchmarks/input.py: every policy, ours against naive and the recipe's model (in process)."""
    bench = _load("input")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the script writes its JPEGs
    out = tmp_path / "input.json"
    bench.main(["--tiny", "--json", str(out)])
    result = _read(out)
    assert f"to {scratch}{os.sep}kc_input_bench_" in capsys.readouterr().out  # the images went there...
    left = [p.name for p in scratch.iterdir() if p.name.startswith("kc_input_bench_")]  # ...and are gone
    assert not left, f"the generated images were not deleted: {left}"
    assert {"machine", "batch_size", "images", "method", "rows"} <= set(result)
    rows = {r["policy"]: r for r in result["rows"]}
    assert list(rows) == list(bench.RECIPES)
    for policy, row in rows.items():
        assert row["model"] == bench.RECIPES[policy][0]
        for side in ("ours", "naive", "model_train"):
            assert set(row[side]) == {"images_per_s", "median_s", "times_s", "cpu_ms_per_image", "cores_used"}
            assert len(row[side]["times_s"]) == 2  # --tiny: two repeats
        assert row["images_per_epoch"] % result["batch_size"] == 0
        assert row["ratio_ours_vs_naive"] == pytest.approx(row["ours"]["images_per_s"] / row["naive"]["images_per_s"])
        compute = row["model_train"]["images_per_s"]
        assert row["ratio_input_vs_compute"] == pytest.approx(row["ours"]["images_per_s"] / compute)
        assert row["bound"] == ("input" if row["ratio_input_vs_compute"] < 1 else "compute")
        assert 0 < row["input_cpu_share"] < 1
    assert rows["cifar"]["image_size"] == 32
    _check_figures(result, null_ok=("processor",))


def test_input_naive_policies_match_ours_in_shape_and_range():
    """The naive reference produces what our pipeline produces: shape, dtype and value range per policy."""
    import numpy as np
    from PIL import Image

    bench = _load("input")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "photo.jpg")
        bench._photo(120, 90, rng).save(path, "JPEG", quality=90)
        for policy in bench.RECIPES:
            size = 32 if policy == "cifar" else 64
            if policy == "cifar":
                Image.open(path).resize((32, 32)).save(path.replace(".jpg", "_32.jpg"))
            src = path.replace(".jpg", "_32.jpg") if policy == "cifar" else path
            x = bench.naive_augment(src, policy, size, rng, bench.MEAN_RGB)
            assert x.shape == (size, size, 3) and x.dtype == np.float32, (policy, x.shape, x.dtype)
            assert np.isfinite(x).all()
            if policy in ("inception", "cifar"):  # clipped colours / untouched pixels and padding
                assert x.min() >= 0 and x.max() <= 255, policy


def test_input_benchmark_sizes():
    """The cifar folder has its own size: CIFAR-10's 50,000 by default, --tiny's 8, or as given."""
    bench = _load("input")
    assert bench.parse_args([]).cifar_images == 50_000
    assert bench.parse_args(["--tiny"]).cifar_images == 8
    args = bench.parse_args(["--cifar-images", "4096", "--images", "64"])
    assert (args.cifar_images, args.images) == (4096, 64)
    with pytest.raises(SystemExit):
        bench.parse_args(["--cifar-images", "16"])  # fewer than a batch of 32


@pytest.mark.slow  # three processes, one per setting, each starting TensorFlow (and JAX)
def test_backend_cpu_benchmark_tiny(tmp_path):
    """benchmarks/backend_cpu.py: the TensorFlow backend against JAX and against TensorFlow with XLA, on the CPU."""
    out = tmp_path / "backend.json"
    returned = _load("backend_cpu").main(["--tiny", "--json", str(out)])
    result = _read(out)
    assert result == json.loads(json.dumps(returned))
    assert result["model"] == "convnet4" and result["device"] == "CPU" and result["repeats"] == 1
    assert set(result["rows"]) == {"tensorflow", "jax", "tensorflow_xla"}
    for setting, row in result["rows"].items():
        assert len(row["s_per_step_repeats"]) == 1
        assert row["images_per_s"] == pytest.approx(result["batch_size"] / row["s_per_step_repeats"][0])
        if setting != "tensorflow":  # TensorFlow's time over the other's, round by round
            assert row["tensorflow_speedup"] == pytest.approx(
                row["s_per_step_repeats"][0] / result["rows"]["tensorflow"]["s_per_step_repeats"][0])
    _check_figures(result)
    assert not list(tmp_path.glob("*.tmp")), "a temporary JSON file was left behind"
