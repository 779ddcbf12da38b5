"""Folders of images and TFDS datasets as sources; get_source's errors."""

import io
import logging

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from keras_classics.data import get_source, make_pipeline

# Module fixtures are expensive: one pytest-xdist worker runs this file.
pytestmark = pytest.mark.xdist_group("data_sources")


def _rgb(h, w, seed):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (1, 1, 3))
    return np.clip(base + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _jpeg_bytes(h, w, seed):
    buf = io.BytesIO()
    Image.fromarray(_rgb(h, w, seed)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three classes of files in every format and mode, and three unreadable files."""
    root = tmp_path_factory.mktemp("images")
    files = {
        "cat": [
            ("rgb.jpg", lambda p: Image.fromarray(_rgb(40, 60, 1)).save(p, "JPEG")),
            ("grey.png", lambda p: Image.fromarray(_rgb(50, 30, 2)).convert("L").save(p)),
            ("rgba.png", lambda p: Image.fromarray(_rgb(33, 33, 3)).convert("RGBA").save(p)),
            ("cmyk.jpg", lambda p: Image.fromarray(_rgb(64, 48, 4)).convert("CMYK").save(p, "JPEG")),
            ("broken.jpg", lambda p: open(p, "wb").write(b"\x00not an image at all")),
            ("notes.txt", lambda p: open(p, "w").write("ignored")),
        ],
        "dog": [
            ("palette.gif", lambda p: Image.fromarray(_rgb(20, 80, 5)).convert("P").save(p)),
            ("palette.png", lambda p: Image.fromarray(_rgb(30, 30, 6)).convert("P").save(p)),
            ("image.bmp", lambda p: Image.fromarray(_rgb(25, 35, 7)).save(p)),
            ("binary.bmp", lambda p: Image.fromarray(_rgb(16, 24, 8)).convert("1").save(p)),  # PIL decodes it
            ("empty.png", lambda p: open(p, "wb").close()),
            ("nested/deep.JPEG", lambda p: Image.fromarray(_rgb(45, 45, 9)).save(p, "JPEG")),
        ],
        "fish": [
            ("tiff.tif", lambda p: Image.fromarray(_rgb(24, 24, 10)).save(p, "TIFF")),
            ("truncated.jpg", lambda p: open(p, "wb").write(_jpeg_bytes(64, 64, 11)[:900])),
            ("grey16.png", lambda p: Image.fromarray((_rgb(20, 20, 12)[..., 0].astype(np.uint16) * 257)).save(p)),
        ]
        + [(f"many_{i}.png", lambda p, i=i: Image.fromarray(_rgb(30 + i, 40, 20 + i)).save(p)) for i in range(6)],
    }
    for cls, entries in files.items():
        for name, write in entries:
            path = root / cls / name
            path.parent.mkdir(parents=True, exist_ok=True)
            write(str(path))
    (root / "empty_class").mkdir()
    return root


def _all(ds):
    return [(x, int(y)) for x, y in ds.as_numpy_iterator()]


def test_folder_loads_every_mode_and_skips_unreadable(folder, caplog):
    with caplog.at_level(logging.WARNING, logger="keras_classics.data"):
        src = get_source(f"folder:{folder}", val_fraction=0.0)
    assert src.class_names == ["cat", "dog", "fish"] and src.num_classes == 3
    assert src.stats["skipped"] == 3
    assert sorted(p.rsplit("/", 1)[-1] for p in src.stats["skipped_files"]) == ["broken.jpg", "empty.png", "truncated.jpg"]
    assert "Skipped 3 unreadable" in caplog.text and "empty_class" in caplog.text
    assert src.stats["ignored_files"] == 1 and src.stats["ignored_folders"] == ["empty_class"]
    assert src.stats["decoded_with_pil"] == 2  # the 1-bit BMP and the TIFF
    assert src.num_train == 4 + 5 + 8 and src.validation is None and src.num_val is None
    items = _all(src.train)
    assert len(items) == src.num_train
    assert [y for _, y in items] == [0] * 4 + [1] * 5 + [2] * 8  # unshuffled: class by class
    for image, _ in items:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
    sizes = {img.shape[:2] for img, _ in items}
    assert {(40, 60), (50, 30), (64, 48), (20, 80), (16, 24), (24, 24)} <= sizes  # mixed sizes, kept as they are


def test_folder_pixels_match_pil_conversion(folder):
    src = get_source(f"folder:{folder}", val_fraction=0.0)
    images = [img for img, _ in _all(src.train)]
    # Files are in sorted order inside each class: cmyk.jpg, grey.png, rgb.jpg, rgba.png.
    cmyk, grey, _, rgba = images[:4]
    with Image.open(folder / "cat" / "cmyk.jpg") as im:
        np.testing.assert_allclose(cmyk, np.asarray(im.convert("RGB")), atol=3)
    with Image.open(folder / "cat" / "grey.png") as im:
        np.testing.assert_array_equal(grey, np.asarray(im.convert("RGB")))
        assert (grey[..., 0] == grey[..., 1]).all()
    with Image.open(folder / "cat" / "rgba.png") as im:
        np.testing.assert_array_equal(rgba, np.asarray(im.convert("RGB")))
    dog = [img for img, y in _all(src.train) if y == 1]
    with Image.open(folder / "dog" / "binary.bmp") as im:  # decoded by PIL
        np.testing.assert_array_equal(dog[0], np.asarray(im.convert("RGB")))


def test_folder_split_is_stratified_and_seeded(folder):
    a = get_source(f"folder:{folder}", val_fraction=0.25, seed=1)
    b = get_source(f"folder:{folder}", val_fraction=0.25, seed=1)
    c = get_source(f"folder:{folder}", val_fraction=0.25, seed=2)
    assert a.num_train + a.num_val == 17 and a.num_val == 1 + 1 + 2
    val_labels = sorted(y for _, y in _all(a.validation))
    assert val_labels == [0, 1, 2, 2]
    fingerprint = lambda s: [img.tobytes() for img, _ in _all(s.validation)]  # noqa: E731
    assert fingerprint(a) == fingerprint(b) and fingerprint(a) != fingerprint(c)
    train_bytes = {img.tobytes() for img, _ in _all(a.train)}
    assert not train_bytes & set(fingerprint(a))  # disjoint


def test_folder_with_separate_validation_folder(folder, tmp_path):
    for cls in ("dog", "cat"):
        (tmp_path / cls).mkdir()
        Image.fromarray(_rgb(30, 30, 99)).save(tmp_path / cls / "a.png")
    src = get_source(f"folder:{folder}", val=f"folder:{tmp_path}")
    assert src.num_val == 2 and [y for _, y in _all(src.validation)] == [0, 1]  # labels from the training folder
    (tmp_path / "zebra").mkdir()
    Image.fromarray(_rgb(30, 30, 98)).save(tmp_path / "zebra" / "z.png")
    with pytest.raises(ValueError, match="zebra"):
        get_source(f"folder:{folder}", val=str(tmp_path))


def test_folder_header_validation_drops_bad_files_while_reading(folder):
    src = get_source(f"folder:{folder}", val_fraction=0.0, validate="header")
    # Opening headers catches the garbage and empty files; the truncated JPEG is dropped when read.
    assert src.stats["skipped"] == 2
    assert len(_all(src.train)) == 17
    ds = make_pipeline(src.train, policy="inception", image_size=24, batch_size=4, drop_remainder=False)
    assert sum(int(tf.shape(y)[0]) for _, y in ds) == 17


def test_folder_through_every_policy(folder):
    src = get_source(f"folder:{folder}", val_fraction=0.2)
    for policy in ("alexnet", "inception", "cifar"):
        ds = make_pipeline(src.train, policy=policy, image_size=32, batch_size=5, num_classes=3, one_hot=True)
        images, labels = next(iter(ds))
        assert images.shape == (5, 32, 32, 3) and labels.shape == (5, 3)
    a = [x.numpy() for x, _ in make_pipeline(src.train, image_size=32, batch_size=5, seed=3, epoch=1)]
    b = [x.numpy() for x, _ in make_pipeline(src.train, image_size=32, batch_size=5, seed=3, epoch=1)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b))


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        get_source(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        get_source(f"folder:{tmp_path / 'file.txt'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        get_source(f"folder:{empty}")
    Image.fromarray(_rgb(10, 10, 1)).save(empty / "loose.png")
    with pytest.raises(ValueError, match="1 image file"):
        get_source(f"folder:{empty}")
    one = tmp_path / "one"
    (one / "only").mkdir(parents=True)
    Image.fromarray(_rgb(10, 10, 1)).save(one / "only" / "a.png")
    with pytest.raises(ValueError, match="single class.*'only'"):
        get_source(f"folder:{one}")
    bad = tmp_path / "bad"
    for cls in ("a", "b"):
        (bad / cls).mkdir(parents=True)
        (bad / cls / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="None of the 2 image files"):
        get_source(f"folder:{bad}")
    with pytest.raises(ValueError, match="val_fraction"):
        get_source(f"folder:{one}", val_fraction=1.5)
    with pytest.raises(ValueError, match="folder:/path"):
        get_source("folder:")


# --------------------------------------------------------------------------- TFDS


class KcTinyImages(tfds.core.GeneratorBasedBuilder):
    """A three-class image dataset written by TFDS itself, offline."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "label": tfds.features.ClassLabel(names=["red", "green", "blue"]),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(12, 0), "test": self._generate_examples(6, 1)}

    def _generate_examples(self, n, seed):
        for i in range(n):
            yield i, {"image": _rgb(20 + i, 24, seed * 100 + i), "label": i % 3}


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    KcTinyImages(data_dir=str(data_dir)).download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
    )
    return data_dir


def test_tfds_source(tfds_dir):
    src = get_source("tfds:kc_tiny_images", data_dir=tfds_dir)
    assert src.class_names == ["red", "green", "blue"]
    assert (src.num_train, src.num_val) == (12, 6) and src.stats["val_split"] == "test"
    items = _all(src.train)
    assert len(items) == 12 and all(x.dtype == np.uint8 and x.shape[-1] == 3 for x, _ in items)
    expected = {_rgb(20 + i, 24, i).tobytes(): i % 3 for i in range(12)}
    assert {x.tobytes(): y for x, y in items} == expected  # PNG round trip is lossless
    a = [x.numpy() for x, _ in make_pipeline(src.train, policy="resnet", image_size=16, batch_size=4, epoch=5)]
    b = [x.numpy() for x, _ in make_pipeline(src.train, policy="resnet", image_size=16, batch_size=4, epoch=5)]
    assert len(a) == 3 and all(np.array_equal(p, q) for p, q in zip(a, b))
    sliced = get_source("tfds:kc_tiny_images", data_dir=tfds_dir, train_split="train[:8]", val="train[8:]")
    assert (sliced.num_train, sliced.num_val) == (8, 4)


def test_tfds_errors(tmp_path, tfds_dir):
    with pytest.raises(ValueError, match="cifar10"):
        get_source("tfds:cifar11")
    with pytest.raises(FileNotFoundError, match="tfds build cifar10"):
        get_source("tfds:cifar10", data_dir=tmp_path, download=False)
    with pytest.raises(ValueError, match="no split"):
        get_source("tfds:kc_tiny_images", data_dir=tfds_dir, val="validation")


def test_get_source_errors():
    with pytest.raises(ValueError, match="'shapes'"):
        get_source("shape")
    with pytest.raises(ValueError, match="tfds:cifar10 "):
        get_source("cifar10")
    with pytest.raises(ValueError, match="seed"):
        get_source("shapes", seed=-1)
    with pytest.raises(ValueError, match="num_train must be an integer >= 1"):
        get_source("shapes", num_train=0)
    with pytest.raises(ValueError, match="image_size"):
        get_source("shapes", image_size=8)
    with pytest.raises(ValueError, match="val="):
        get_source("shapes", val="folder:/x")
    with pytest.raises(ValueError, match="data_dir"):
        get_source("shapes", data_dir="/x")
    with pytest.raises(ValueError, match="num_train"):
        get_source("tfds:cifar10", num_train=10)
    with pytest.raises(ValueError, match="tfds:cifar10"):
        get_source("tfds:")


def test_a_registered_tfds_dataset_reaches_its_download_step(tmp_path, monkeypatch):
    """tfds:cifar10 in an empty data directory gets past tensorflow-datasets' imports to the download,
    which fails here (proxied to a closed port: nothing is downloaded) with advice that can work."""
    for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    from tensorflow_datasets.core.download import downloader

    monkeypatch.setattr(downloader, "MAX_RETRIES", 1)  # its default retries a refused connection for minutes
    with pytest.raises(FileNotFoundError, match="preparing it failed") as caught:
        get_source("tfds:cifar10", data_dir=tmp_path / "tfds")
    cause = caught.value.__cause__
    assert cause is not None and not isinstance(cause, ImportError), repr(cause)
    assert "tfds build cifar10" in str(caught.value)


# --------------------------------------------------------------------------- listing without reading


def test_list_splits_names_the_sources_own_examples(tmp_path, tfds_dir):
    """list_splits lists the splits get_source loads, in the same order, and reads only what is asked."""
    from keras_classics.data.sources import list_splits

    shapes = list_splits("shapes", image_size=32, num_train=30, num_val=12, seed=3)
    src = get_source("shapes", image_size=32, num_train=30, num_val=12, seed=3, cache=False)
    assert {k: (v.name, v.split, v.size) for k, v in shapes.items()} == {
        "train": ("shapes", "train", 30), "validation": ("shapes", "validation", 12)}
    expected = [x for x, _ in _all(src.validation)]
    assert all(np.array_equal(a, b) for a, b in zip(shapes["validation"].read(9, 12), expected[9:]))
    assert list(list_splits("shapes", num_val=0)) == ["train"]

    for c, cls in enumerate(("b_cls", "a_cls")):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(_rgb(20, 20 + i, 10 * c + i)).save(tmp_path / "data" / cls / f"{i}.png")
    (tmp_path / "data" / "a_cls" / "9.png").write_bytes(b"")  # listed all the same: no file is opened
    folder = list_splits(f"folder:{tmp_path / 'data'}", val_fraction=0.4, seed=1)
    assert folder["validation"].name == f"folder:{tmp_path / 'data'}" and folder["validation"].read is None
    assert folder["train"].size + folder["validation"].size == 11 and folder["validation"].size == 4
    (tmp_path / "data" / "a_cls" / "9.png").unlink()
    folder = list_splits(f"folder:{tmp_path / 'data'}", val_fraction=0.4, seed=1)
    src = get_source(f"folder:{tmp_path / 'data'}", val_fraction=0.4, seed=1)
    for split, ds in (("train", src.train), ("validation", src.validation)):
        listed = [np.asarray(Image.open(p).convert("RGB")) for p in folder[split].files]
        assert [x.tobytes() for x in listed] == [x.tobytes() for x, _ in _all(ds)], split

    tfds_splits = list_splits("tfds:kc_tiny_images", data_dir=tfds_dir, download=False)
    src = get_source("tfds:kc_tiny_images", data_dir=tfds_dir)
    assert (tfds_splits["train"].size, tfds_splits["validation"].size) == (12, 6)
    expected = [x for x, _ in _all(src.validation)]
    assert [x.tobytes() for x in tfds_splits["validation"].read(2, 5)] == [x.tobytes() for x in expected[2:5]]
    with pytest.raises(TypeError, match="bogus"):
        list_splits("shapes", bogus=1)
    with pytest.raises(ValueError, match="does not exist"):
        list_splits(f"folder:{tmp_path / 'moved'}")


class FailingPreparationForTest(tfds.core.GeneratorBasedBuilder):
    """A TFDS dataset whose preparation fails midway, after writing some examples (offline: nothing to download)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, supervised_keys=("image", "label"), features=tfds.features.FeaturesDict(
            {"image": tfds.features.Image(shape=(8, 8, 3)), "label": tfds.features.ClassLabel(names=["a", "b"])}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(5):
            if i == 3:
                raise OSError("the source went away midway")
            yield i, {"image": np.zeros((8, 8, 3), np.uint8), "label": i % 2}


@pytest.mark.parametrize("existing", [False, True])
def test_a_failed_preparation_leaves_nothing_behind(tmp_path, existing):
    """What a failed TFDS preparation made (its dataset and download folders) goes; what was there stays."""
    data_dir = tmp_path / "tfds"
    if existing:
        (data_dir / "downloads" / "other").mkdir(parents=True)
        (data_dir / "downloads" / "other" / "kept.gz").write_bytes(b"an earlier download")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(FileNotFoundError, match=r"preparing it failed \(OSError: the source went away midway\)"):
        get_source("tfds:failing_preparation_for_test", data_dir=data_dir)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
