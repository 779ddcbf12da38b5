"""Data that changes under a running job: files deleted, truncated, made unreadable or rewritten after listing.

The rule (keras_classics.images: one read path): such a file is skipped, counted and reported, never a
traceback. The catalogue runs each fault through every reader of listed files: a folder dataset's training
and validation pipelines, predict on a folder, export's calibration and parity images, and the inspector's
picture of one image (a single image cannot be skipped: it is refused in one line naming it).
"""

import os
import shutil

import keras
import numpy as np
import pytest

from keras_classics import images, inspect, metadata, predict
from keras_classics.data import get_source, make_pipeline
from keras_classics.data.sources import list_splits
from keras_classics.export.samples import image_samples
from tests.helpers import image_folder

pytestmark = pytest.mark.xdist_group("changing_data")

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def _delete(path):
    os.remove(path)


def _truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 3)


def _unreadable(path):
    if ROOT:  # root reads any file whatever its mode: the name now leads to something unreadable as an image
        os.remove(path)
        os.mkdir(path)
    else:
        os.chmod(path, 0)


def _garbage(path):
    data = np.random.default_rng(1).integers(0, 256, os.path.getsize(path) + 7, dtype=np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(data)


FAULTS = {"deleted": _delete, "truncated": _truncate, "unreadable": _unreadable, "garbage": _garbage}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    files = image_folder(root, classes=("a", "b"), per_class=4, sizes=12, noise=True, formats=("PNG", "JPEG", "TIFF"))
    yield root, files
    for path in files:  # undo chmod 000, so that the temporary folder can be removed
        if os.path.isfile(path):
            os.chmod(path, 0o644)


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("split", ["train", "validation"])
def test_folder_dataset_skips_what_changed(fault, split, folder, caplog):
    root, files = folder
    src = get_source(f"folder:{root}", val_fraction=0.5, seed=0)
    listed = src.train if split == "train" else src.validation
    size = src.num_train if split == "train" else src.num_val
    victim = list_splits(f"folder:{root}", val_fraction=0.5, seed=0)[split].files[1]  # listed as get_source does
    FAULTS[fault](victim)
    with caplog.at_level("WARNING", logger="keras_classics.data"):
        for epoch in range(2):  # the second epoch meets the same file: counted once
            seen = sum(int(x.shape[0]) for x, _ in make_pipeline(
                listed, policy="none", image_size=8, batch_size=2, preprocessing="none", epoch=epoch,
                training=split == "train", drop_remainder=False))
            assert seen == size - 1
    assert list(src.stats["skipped_while_reading"]) == [victim]
    reason = src.stats["skipped_while_reading"][victim]
    assert victim in reason and reason.endswith("(it changed after the dataset was listed)")
    reports = [r.getMessage() for r in caplog.records if victim in r.getMessage()]
    assert reports == [f"Skipped an image while reading the dataset: {reason}"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(keras.layers.Rescaling(1 / 255.0)(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    path = tmp_path_factory.mktemp("model") / "m.keras"
    return metadata.save_model(model, path, {"class_names": ["x", "y", "z"], "preprocessing": "none"})


def _fault_after_listing(monkeypatch, fault, index):
    """The image listing, then the fault on the file it listed at ``index``: the file changes after listing."""
    listing = images.list_images
    hit = []

    def listed_then_changed(directory):
        files = listing(directory)
        FAULTS[fault](files[index])
        hit.append(files[index])
        return files

    monkeypatch.setattr(images, "list_images", listed_then_changed)
    return hit


@pytest.mark.parametrize("fault", list(FAULTS))
def test_predict_on_a_folder_skips_what_changed(fault, folder, model_file, monkeypatch):
    root, files = folder
    hit = _fault_after_listing(monkeypatch, fault, 2)
    results = predict.load(model_file).classify(root, top=1)
    (changed,) = hit
    assert [r["image"] for r in results] == files
    errors = [r for r in results if "error" in r]
    assert [r["image"] for r in errors] == [changed] and changed in errors[0]["error"]
    assert "\n" not in errors[0]["error"] and len([r for r in results if "predictions" in r]) == len(files) - 1


@pytest.mark.parametrize("fault", list(FAULTS))
def test_export_samples_skip_what_changed(fault, folder, monkeypatch):
    root, files = folder
    hit = _fault_after_listing(monkeypatch, fault, 0)
    with pytest.warns(UserWarning, match=r"Skipped 1 of 4 calibration image file\(s\) that could not be read: "):
        pixels, description = image_samples(str(root), (16, 16), 4, purpose="calibration")
    assert hit and pixels.shape == (3, 16, 16, 3) and str(root) in description


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_inspector_refuses_a_changed_image_in_one_line(fault, folder):
    _, files = folder
    FAULTS[fault](files[0])
    with pytest.raises(images.UNREADABLE) as raised:
        inspect.load_image(files[0], (16, 16))
    message = str(raised.value)
    assert files[0] in message and "\n" not in message and "Errno" not in message


def test_nothing_is_left_behind_by_a_failed_folder_preparation(tmp_path):
    """A folder dataset whose every file turns out unreadable: refused in one message, nothing written."""
    root = tmp_path / "data"
    files = image_folder(root, classes=("a", "b"), per_class=2, sizes=12)
    for path in files:
        _truncate(path)
    before = sorted(os.listdir(tmp_path)), sorted(str(p) for p in root.rglob("*"))
    with pytest.raises(ValueError, match=r"None of the 4 image files under .* could be read; first error: "):
        get_source(f"folder:{root}")
    assert (sorted(os.listdir(tmp_path)), sorted(str(p) for p in root.rglob("*"))) == before
    shutil.rmtree(root)
