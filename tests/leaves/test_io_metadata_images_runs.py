"""The leaf modules: atomic writes (io), the one metadata schema (metadata), and the layering they allow."""

import ast
import json
import os
import pathlib
import subprocess
import sys

import pytest

from keras_classics import io as kc_io
from keras_classics import metadata

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "keras_classics"


# --------------------------------------------------------------------------- io


def test_atomic_path_replaces_the_file_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "a.json"
    kc_io.write_json_atomic(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1} and target.read_text().endswith("\n")
    with pytest.raises(RuntimeError):
        with kc_io.atomic_path(target, suffix=".json") as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and os.path.basename(tmp).startswith(".")
            pathlib.Path(tmp).write_text("half")
            raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["a.json"]  # nothing left behind
    mask = os.umask(0)
    os.umask(mask)
    kc_io.write_text_atomic(target, "b\r\n", newline="")
    assert target.read_bytes() == b"b\r\n" and target.stat().st_mode & 0o777 == 0o666 & ~mask


def _calls(path):
    """``(module.function, line)`` of every ``os.replace`` / ``os.rename`` / ``tempfile.mkstemp`` call in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            name = f"{node.func.value.id}.{node.func.attr}"
            if name in ("os.replace", "os.rename", "tempfile.mkstemp"):
                found.append((name, node.lineno))
    return found


# Writers that still rename files themselves, each with its reason; the list only shrinks.
RENAMES_ELSEWHERE = {
    "io.py": "the one helper",
    "runs.py": "the lock's stale take-over: a rename is the atomic claim, not a write",
    "export/destination.py": "finished export directories renamed into place, the previous one kept aside until then",
}


def test_every_file_write_goes_through_the_io_helper():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        calls = _calls(path)
        if calls and rel not in RENAMES_ELSEWHERE:
            offenders[rel] = calls
    assert not offenders, f"write through keras_classics.io.atomic_path instead: {offenders}"


# --------------------------------------------------------------------------- metadata


def test_the_card_and_the_keras_entry_hold_one_schema():
    meta = metadata.make_metadata(["a", "b"], (24, 32), "torch", crop_fraction=0.875, registry_name="resnet18")
    card = metadata.card_fields(meta)
    assert card == {"class_names": ["a", "b"],
                    "input": {"shape": [24, 32, 3], "preprocessing": "torch", "crop_fraction": 0.875}}
    back = metadata.from_card({**card, "model": {"registry_name": "resnet18"}})
    assert back == {k: meta[k] for k in ("class_names", "image_size", "preprocessing", "crop_fraction",
                                         "registry_name")}


def test_a_card_written_before_the_schema_reads_back():
    card = {  # the sections of an export card as written until now (keras_classics.export)
        "format": "tflite", "quantization": "float32",
        "model": {"name": "m", "registry_name": None, "variant": None, "params": 10, "num_classes": 2},
        "input": {"shape": [16, 16, 3], "dtype": "float32", "description": "RGB images already preprocessed",
                  "preprocessing": "caffe", "preprocessing_source": "run config", "resize": "bilinear",
                  "crop_fraction": 0.5},
        "output": {"name": "probabilities", "dtype": "float32", "softmax": "the model's own"},
        "class_names": ["x", "y"],
    }
    assert metadata.from_card(card) == {"class_names": ["x", "y"], "image_size": [16, 16], "preprocessing": "caffe",
                                        "crop_fraction": 0.5, "registry_name": None}
    assert metadata.from_card({}) == {}


# --------------------------------------------------------------------------- layers


def test_the_models_import_neither_weights_nor_predict():
    code = ("import sys, keras_classics.models\n"
            "print(sorted(m for m in sys.modules if m.startswith(('keras_classics.weights', 'keras_classics.predict',"
            " 'keras_classics.data', 'keras_classics.training'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
