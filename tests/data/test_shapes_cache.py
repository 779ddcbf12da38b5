"""The shapes cache is bounded and visible: the least recently used sets make room, a set over the bound
is rendered and not cached, and listing or clearing it touches only the cache's own files.

``keras-classics cache`` (``keras_classics/data/_cli.py``) shows and clears it, with the weights files.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from keras_classics.data.shapes import (
    CACHE_LIMIT_ENV,
    cache_limit,
    cached_shapes,
    clear_shapes_cache,
    generate_shapes,
    load_shapes,
)
from tests.helpers import run_cli

SET_BYTES = 20 * 16 * 16 * 3  # one set of 20 images of 16x16: its images alone


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KERAS_CLASSICS_CACHE", str(folder))
    monkeypatch.delenv(CACHE_LIMIT_ENV, raising=False)
    return folder


def names(folder):
    return sorted(p.name for p, _ in cached_shapes(folder))


def test_the_least_recently_used_sets_make_room_under_the_bound(cache, monkeypatch):
    monkeypatch.setenv(CACHE_LIMIT_ENV, str(3.5 * (SET_BYTES + 1500) / 2**20))  # room for three sets
    for seed in range(3):
        load_shapes(20, 16, seed)
    assert len(names(cache)) == 3
    os.utime(cache / "shapes-v2-train-n20-s16-seed0.npz", (1, 1))  # seeds 0, 1, 2 used in that order
    os.utime(cache / "shapes-v2-train-n20-s16-seed1.npz", (2, 2))
    os.utime(cache / "shapes-v2-train-n20-s16-seed2.npz", (3, 3))
    images, _ = load_shapes(20, 16, 0)  # read from the cache: now the most recently used
    assert np.array_equal(images, generate_shapes(20, 16, 0)[0])
    load_shapes(20, 16, 3)  # a fourth set: the least recently used one (seed 1) goes
    assert names(cache) == [f"shapes-v2-train-n20-s16-seed{s}.npz" for s in (0, 2, 3)]
    assert sum(size for _, size in cached_shapes(cache)) <= cache_limit()


def test_a_set_over_the_bound_is_rendered_and_not_cached(cache, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_LIMIT_ENV, str(SET_BYTES / 2 / 2**20))
    images, labels = load_shapes(20, 16, 0, progress=True)
    expected = generate_shapes(20, 16, 0)
    assert np.array_equal(images, expected[0]) and np.array_equal(labels, expected[1])
    assert names(cache) == []
    assert "not cached: 0 MiB is over the shapes cache's" in capsys.readouterr().out
    monkeypatch.setenv(CACHE_LIMIT_ENV, "0")  # no cache at all
    load_shapes(20, 16, 1)
    assert names(cache) == []
    monkeypatch.setenv(CACHE_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="KERAS_CLASSICS_SHAPES_CACHE_MB must be a number of MiB.*'lots'"):
        load_shapes(20, 16, 1)


def test_the_default_bound_keeps_the_cache_under_100_mb():
    assert cache_limit() <= 100e6
    # The quickstart's training set (22,000 images of 32x32) fits; the 10,000 images of 64x64 do not.
    assert 22_000 * 32 * 32 * 3 < cache_limit() < 10_000 * 64 * 64 * 3


def lay_out_foreign_files(folder):
    """Files that are not the cache's: the user's, a look-alike name, a directory and a link with a set's name."""
    folder.mkdir(parents=True, exist_ok=True)
    outside = folder.parent / "outside.npz"
    outside.write_bytes(b"precious")
    foreign = {
        "notes.txt": b"mine",
        "shapes-mine.npz": b"also mine",
        "shapes-v2-train-n20-s16-seed0.npz.bak": b"a copy",
    }
    for name, data in foreign.items():
        (folder / name).write_bytes(data)
    (folder / "shapes-v2-train-n5-s16-seed0.npz").mkdir()
    (folder / "shapes-v2-train-n6-s16-seed0.npz").symlink_to(outside)
    return sorted([*foreign, "shapes-v2-train-n5-s16-seed0.npz", "shapes-v2-train-n6-s16-seed0.npz"]), outside


def test_listing_and_clearing_touch_only_the_cache_files(cache, monkeypatch):
    foreign, outside = lay_out_foreign_files(cache)
    load_shapes(20, 16, 0)
    load_shapes(20, 16, 0, split="validation")
    leftover = cache / ".shapes-v2-train-n30-s16-seed0.npz.4242-0123abcd.tmp.npz"  # a killed write
    leftover.write_bytes(b"half")
    listed = cached_shapes(cache)
    assert sorted(p.name for p, _ in listed) == sorted(["shapes-v2-train-n20-s16-seed0.npz",
                                                        "shapes-v2-validation-n20-s16-seed0.npz", leftover.name])
    assert all(size == p.stat().st_size for p, size in listed)
    monkeypatch.setenv(CACHE_LIMIT_ENV, str(SET_BYTES * 1.5 / 2**20))
    load_shapes(20, 16, 1)  # making room removes cache sets only
    assert sorted(os.listdir(cache)) == sorted([*foreign, leftover.name, "shapes-v2-train-n20-s16-seed1.npz"])
    removed = clear_shapes_cache(cache)
    assert sorted(p.name for p, _ in removed) == sorted([leftover.name, "shapes-v2-train-n20-s16-seed1.npz"])
    assert sorted(os.listdir(cache)) == foreign
    assert outside.read_bytes() == b"precious" and (cache / "notes.txt").read_bytes() == b"mine"
    assert clear_shapes_cache(cache / "missing") == [] and cached_shapes(cache / "missing") == []


def test_the_cache_command_shows_and_clears_the_package_files_only(cache, tmp_path, monkeypatch, capsys):
    keras_home = tmp_path / "keras_home"
    weights = keras_home / "models"
    weights.mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    (weights / "resnet18-f37072fd.pth").write_bytes(b"w" * 3 * 2**20)  # torchvision's file: the package's download
    keras_file = weights / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"  # keras.applications': Keras's
    keras_file.write_bytes(b"k" * 2**20)
    (weights / "my_model.weights.h5").write_bytes(b"u")
    foreign, _ = lay_out_foreign_files(cache)
    load_shapes(20, 16, 0)

    code, out, err = run_cli(capsys, "cache")
    assert code == 0 and err == ""
    assert f"Shapes datasets in {cache} (bound 90.0 MiB):" in out
    assert "shapes-v2-train-n20-s16-seed0.npz" in out and "notes.txt" not in out
    assert "resnet18-f37072fd.pth" in out and "3.0 MiB  resnet18:torchvision" in out
    assert "resnet50:imagenet (keras.applications' file)" in out and "my_model" not in out
    assert "Total: 4.0 MiB." in out

    code, out, _ = run_cli(capsys, "cache", "clear", "weights")
    assert code == 0 and out.startswith("Removed 1 weights file(s), 3.0 MiB, from")
    assert sorted(os.listdir(weights)) == ["my_model.weights.h5", keras_file.name]
    assert "shapes-v2-train-n20-s16-seed0.npz" in os.listdir(cache)
    code, out, _ = run_cli(capsys, "cache", "clear", "shapes")
    assert code == 0 and out.startswith("Removed 1 shapes dataset file(s)") and "weights" not in out
    assert sorted(os.listdir(cache)) == foreign
    load_shapes(20, 16, 1)
    code, out, _ = run_cli(capsys, "cache", "clear")
    assert code == 0 and "Removed 1 shapes dataset file(s)" in out and "Removed 0 weights file(s)" in out
    assert sorted(os.listdir(cache)) == foreign and keras_file.is_file()
    code, _, err = run_cli(capsys, "cache", "clear", "everything")
    assert code == 2 and "invalid choice: 'everything'" in err


def test_the_cache_command_is_quiet_and_imports_no_tensorflow(cache, tmp_path):
    probe = ("import sys; from keras_classics.cli import main; main(['cache']); "
             "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    env = {**os.environ, "KERAS_CLASSICS_CACHE": str(cache), "KERAS_HOME": str(tmp_path / "keras_home")}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.splitlines()[-1] == "[]"
