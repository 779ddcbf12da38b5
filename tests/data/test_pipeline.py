"""The generated dataset, the augmentation policies and make_pipeline."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_classics.data import (
    IMAGENET_EIGVAL,
    IMAGENET_EIGVEC,
    POLICIES,
    SHAPE_CLASSES,
    generate_shapes,
    get_source,
    load_shapes,
    make_pipeline,
    mix_batch,
    ten_crop,
    train_transform,
    eval_transform,
)
from keras_classics import transforms
from keras_classics.data import augment
from keras_classics.transforms import IMAGENET_MEAN_RGB

pytestmark = pytest.mark.usefixtures("shapes_cache")


@pytest.fixture(scope="module")
def small():
    return get_source("shapes", image_size=32, num_train=120, num_val=40, cache=False)


# --------------------------------------------------------------------------- generated dataset


def test_shapes_deterministic_and_seeded():
    a, la = generate_shapes(60, image_size=32, seed=3)
    b, lb = generate_shapes(60, image_size=32, seed=3)
    assert a.dtype == np.uint8 and a.shape == (60, 32, 32, 3) and la.dtype == np.int64
    assert a.tobytes() == b.tobytes() and np.array_equal(la, lb)
    c, _ = generate_shapes(60, image_size=32, seed=4)
    assert not np.array_equal(a, c)
    v, _ = generate_shapes(60, image_size=32, seed=3, split="validation")
    assert not np.array_equal(a, v)
    # Every image is a real picture: varied pixels, not a flat colour.
    assert (a.reshape(60, -1).std(axis=1) > 5).all()


def test_shapes_class_balance():
    _, labels = generate_shapes(100, image_size=16, seed=0)
    assert np.bincount(labels, minlength=10).tolist() == [10] * 10
    _, labels = generate_shapes(97, image_size=16, seed=1)
    counts = np.bincount(labels, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 97
    assert len(SHAPE_CLASSES) == 10 and len(set(SHAPE_CLASSES)) == 10


@pytest.mark.parametrize(
    "kwargs", [dict(n=0), dict(n=5, image_size=8), dict(n=5, seed=-1), dict(n=5, split="test"), dict(n=2.5)]
)
def test_shapes_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        generate_shapes(**kwargs)


def test_shapes_cache_written_atomically_and_reused(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KERAS_CLASSICS_CACHE", str(tmp_path))
    images, labels = load_shapes(30, image_size=24, seed=5)
    files = os.listdir(tmp_path)
    assert files == ["shapes-v2-train-n30-s24-seed5.npz"]  # no temporary file left behind
    again, _ = load_shapes(30, image_size=24, seed=5)
    assert np.array_equal(images, again)
    (tmp_path / files[0]).write_bytes(b"not a zip file")  # a damaged cache is regenerated
    with caplog.at_level("WARNING", logger="keras_classics.data"):
        fixed, fixed_labels = load_shapes(30, image_size=24, seed=5)
    assert np.array_equal(fixed, images) and np.array_equal(fixed_labels, labels)
    assert "Ignoring unreadable cache file" in caplog.text
    assert np.load(tmp_path / files[0])["images"].shape == (30, 24, 24, 3)


def test_shapes_source(small):
    assert small.class_names == list(SHAPE_CLASSES) and small.num_classes == 10
    assert (small.num_train, small.num_val) == (120, 40)
    image_spec, label_spec = small.train.element_spec
    assert image_spec.shape == (32, 32, 3) and image_spec.dtype == tf.uint8 and label_spec.dtype == tf.int64
    images, labels = generate_shapes(120, image_size=32, seed=0)
    got = list(small.train.as_numpy_iterator())
    assert len(got) == 120 and int(small.train.cardinality()) == 120
    assert np.array_equal(np.stack([g[0] for g in got]), images)  # unshuffled, the generator's order
    assert np.array_equal(np.array([g[1] for g in got]), labels)
    assert "shapes" in repr(small)


@pytest.mark.slow  # six epochs of training on 2,000 images
def test_shapes_learnable():
    """A tiny conv net trained for a few seconds does far better than chance (10%)."""
    import keras

    keras.utils.set_random_seed(0)
    x, y = generate_shapes(2000, image_size=32, seed=0)
    xv, yv = generate_shapes(400, image_size=32, seed=0, split="validation")
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 127.5, offset=-1),
            keras.layers.Conv2D(24, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(48, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=50, epochs=6, verbose=0)
    _, accuracy = model.evaluate(xv, yv, verbose=0)
    assert accuracy > 0.35, accuracy  # measured: 0.55


# --------------------------------------------------------------------------- augmentation geometry


def _ramp(h, w):
    """A float image whose red channel is the row index and green the column index."""
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    return tf.constant(np.stack([rows, cols, np.full_like(rows, 100.0)], axis=-1))


def _samples(policy, image, size, n, preprocessing_zero=(0.0, 0.0, 0.0)):
    fn = train_transform(policy, size, preprocessing_zero)
    if n <= 4:  # eager calls: cheaper than tracing a dataset for a few samples
        return np.stack([fn(image, tf.constant([7, i])).numpy() for i in range(n)])
    seeds = tf.data.Dataset.range(n).map(lambda i: tf.random.experimental.stateless_fold_in([7, 11], i))
    return np.stack(list(seeds.map(lambda s: fn(image, s)).as_numpy_iterator()))


@pytest.mark.parametrize("policy", POLICIES)
def test_output_size_any_input(policy):
    for hw in ((50, 80), (300, 200), (40, 40)):
        out = _samples(policy, tf.random.uniform([*hw, 3], 0, 255), 40, 2)
        assert out.shape == (2, 40, 40, 3) and np.isfinite(out).all()
        ev = eval_transform(policy, 40)(tf.random.uniform([*hw, 3], 0, 255))
        assert ev.shape == (40, 40, 3)


def test_alexnet_crop_bounds_and_flip_rate():
    # 64 = 56 * 256 / 224, so a 64x96 ramp is not resized: its centre 64x64
    # (columns 16..79) is cut, then a random 56 crop; read the offsets off the ramp.
    fn = train_transform("alexnet", 56, lighting_std=0.0)
    seeds = tf.data.Dataset.range(400).map(lambda i: tf.random.experimental.stateless_fold_in([7, 11], i))
    out = np.stack(list(seeds.map(lambda s: fn(_ramp(64, 96), s)).as_numpy_iterator()))
    assert out.shape == (400, 56, 56, 3)
    flipped = out[:, 0, 0, 1] > out[:, 0, -1, 1]
    assert 0.4 < flipped.mean() < 0.6
    top = out[:, 0, 0, 0]
    left = np.where(flipped, out[:, 0, -1, 1], out[:, 0, 0, 1])
    assert top.min() == 0 and top.max() == 8  # every row offset in [0, 64 - 56]
    assert left.min() == 16 and left.max() == 16 + 8  # within the centre square
    np.testing.assert_array_equal(out[:, -1, 0, 0] - top, 55)  # 56 consecutive rows, unscaled
    np.testing.assert_array_equal(np.abs(out[:, 0, -1, 1] - out[:, 0, 0, 1]), 55)


@pytest.mark.parametrize("policy", ["vgg", "inception", "resnet", "cifar"])
def test_flip_rate(policy):
    ramp = _ramp(64, 96)[..., 1:2] * 2.0  # a grey ramp, brighter to the right: colour changes keep the order
    out = _samples(policy, tf.concat([ramp] * 3, axis=-1), 32, 240).mean(axis=-1)
    left, right = out[:, 16, 8], out[:, 16, -9]
    assert (left != right).all()
    assert 0.4 < (left > right).mean() < 0.6


def test_lighting_statistics():
    out = _samples("alexnet", tf.fill([64, 64, 3], 128.0), 56, 600)
    per_image = out - 128.0
    assert np.allclose(per_image, per_image[:, :1, :1, :], atol=1e-3)  # one shift per image
    shift = per_image[:, 0, 0, :] / 255.0
    alpha_times_eigval = np.linalg.solve(np.array(IMAGENET_EIGVEC), shift.T).T
    alpha = alpha_times_eigval / np.array(IMAGENET_EIGVAL)
    np.testing.assert_allclose(alpha.std(axis=0), 0.1, rtol=0.15)
    assert np.all(np.abs(alpha.mean(axis=0)) < 3 * 0.1 / math.sqrt(600))
    # The largest component (luminance) dominates: std of the shift is ~5.5 levels.
    assert 4.5 < (alpha_times_eigval[:, 0] * 255).std() < 6.5


@pytest.mark.parametrize("policy,lo,hi", [("vgg", 256, 512), ("resnet", 256, 480)])
def test_scale_jittering_range(policy, lo, hi):
    size = 56
    lo_px, hi_px = round(lo * size / 224), round(hi * size / 224)  # 64 and 128 / 120
    out = _samples(policy, _ramp(128, 128), size, 300)
    steps = np.abs(np.diff(out[:, size // 2, :, 1], axis=1))  # column ramp along the middle row
    shorter = 128 / np.median(steps, axis=1)
    assert shorter.min() >= lo_px - 1 and shorter.max() <= hi_px + 1
    assert shorter.min() < lo_px + 6 and shorter.max() > hi_px - 6  # the whole range is used


def _windows(shape, n):
    seeds = tf.data.Dataset.range(n).map(lambda i: tf.stack([i, tf.constant(5, tf.int64)]))
    return np.array(list(seeds.map(lambda s: tf.stack(augment.inception_crop_window(shape, s))).as_numpy_iterator()))


def test_inception_crop_window_bounds():
    for h, w in ((240, 240), (200, 300)):
        top, left, ch, cw = _windows([h, w, 3], 400).T
        assert (top >= 0).all() and (top + ch <= h).all() and (left >= 0).all() and (left + cw <= w).all()
        areas, ratios = ch * cw / (h * w), cw / ch
        assert areas.min() >= 0.08 * 0.97 and areas.max() <= 1.0 and areas.min() < 0.1
        assert ratios.min() >= 0.75 * 0.97 and ratios.max() <= 4 / 3 * 1.03
        assert ratios.min() < 0.8 and ratios.max() > 1.25
    assert areas.max() > 0.85  # on 200x300 a 4:3 window covers at most 89%
    # A very wide image: no candidate fits, the fallback keeps the allowed aspect ratio.
    top, left, ch, cw = _windows([10, 300, 3], 1)[0]
    assert (ch, cw) == (10, 13) and left == (300 - 13) // 2


def test_inception_photometric_range_and_flip():
    image = _ramp(64, 64) * tf.constant([2.0, 2.0, 1.0])
    out = _samples("inception", image, 32, 200)
    assert out.min() >= 0.0 and out.max() <= 255.0 + 1e-3  # clipped like the original
    # Colours really change: per-image channel means spread out.
    assert out.mean(axis=(1, 2)).std(axis=0).min() > 5


def test_cifar_pad_and_crop():
    size = 32
    out = _samples("cifar", tf.fill([32, 32, 3], 200.0), size, 300, preprocessing_zero=IMAGENET_MEAN_RGB)
    is_pad = np.all(np.abs(out - np.array(IMAGENET_MEAN_RGB, np.float32)) < 1e-3, axis=-1)
    is_image = np.all(out == 200.0, axis=-1)
    assert np.all(is_pad | is_image)
    pad_rows = is_pad.all(axis=2).sum(axis=1)
    pad_cols = is_pad.all(axis=1).sum(axis=1)
    assert pad_rows.max() == 4 and pad_cols.max() == 4 and (pad_rows == 0).any()
    # Through the pipeline with caffe preprocessing, the padding is exactly zero.
    ds = tf.data.Dataset.from_tensors((tf.fill([32, 32, 3], tf.constant(200, tf.uint8)), tf.constant(0, tf.int64)))
    images, _ = next(iter(make_pipeline(ds.repeat(64), policy="cifar", image_size=32, batch_size=64)))
    assert np.isclose(images.numpy(), 0.0, atol=1e-4).all(axis=-1).any()


def test_eval_is_resize_and_centre_crop():
    image = tf.random.uniform([70, 90, 3], 0, 255, seed=1)
    out = eval_transform("resnet", 56)(image).numpy()
    shorter = round(56 * 256 / 224)  # 64
    resized = tf.image.resize(image, [64, round(90 * 64 / 70)], antialias=True).numpy()
    top, left = (64 - 56) // 2, (resized.shape[1] - 56) // 2
    # Only the window is resampled: the same pixels up to float32 rounding (< 0.001 of 255).
    np.testing.assert_allclose(out, resized[top : top + 56, left : left + 56], atol=1e-3)
    assert shorter == 64
    # Small images with the cifar / none policies are only resized, never cut.
    same = tf.random.uniform([32, 32, 3], 0, 255)
    for policy in ("cifar", "none"):
        np.testing.assert_array_equal(eval_transform(policy, 32)(same).numpy(), same.numpy())


@pytest.mark.parametrize("resized", [(48, 64), (120, 160), (75, 100)])  # shrink, enlarge, same size
def test_resized_window_is_resize_then_crop(resized):
    image = tf.random.uniform([75, 100, 3], 0, 255, seed=3)
    full = transforms.resize(image, tf.constant(resized)).numpy()
    for top, left, h, w in ((0, 0, 40, 40), (5, 17, 40, 30), (resized[0] - 40, resized[1] - 40, 40, 40)):
        window = transforms.resized_window(image, tf.constant(resized), top, left, h, w).numpy()
        np.testing.assert_allclose(window, full[top : top + h, left : left + w], atol=2e-3)
    # Offsets as tf.image.stateless_random_crop draws them.
    for i in range(5):
        seed = tf.constant([3, i])
        top, left = augment.crop_offsets(resized[0], resized[1], 40, seed)
        expected = tf.image.stateless_random_crop(tf.constant(full), [40, 40, 3], seed=seed).numpy()
        np.testing.assert_array_equal(full[int(top) : int(top) + 40, int(left) : int(left) + 40], expected)


@pytest.mark.parametrize("shape", [(32, 32), (40, 32), (24, 50)])
def test_resized_centre_static_and_dynamic_shapes_agree(shape):
    """A statically known size x size image skips the branch; unknown shapes take it; same pixels."""
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (*shape, 3)), tf.uint8)
    static = transforms.resized_centre(image, 32, 32)
    dynamic = tf.function(lambda x: transforms.resized_centre(x, 32, 32),
                          input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    graph = dynamic.get_concrete_function().graph
    assert any(op.type in ("If", "StatelessIf") for op in graph.get_operations())
    np.testing.assert_array_equal(static.numpy(), dynamic(image).numpy())
    if shape == (32, 32):
        np.testing.assert_array_equal(static.numpy(), image.numpy().astype(np.float32))
        static_graph = tf.function(lambda x: transforms.resized_centre(x, 32, 32)).get_concrete_function(
            tf.TensorSpec([32, 32, 3], tf.uint8)).graph
        assert not any(op.type in ("If", "StatelessIf") for op in static_graph.get_operations())


def test_crop_offsets_checks_sizes():
    with pytest.raises(ValueError, match="30x40 image is smaller than 32"):
        augment.crop_offsets(30, 40, 32, tf.constant([1, 2]))
    top, left = augment.crop_offsets(40, 40, 32, tf.constant([1, 2]))  # static: no assert op, same draw
    expected = augment.crop_offsets(tf.constant(40), tf.constant(40), 32, tf.constant([1, 2]))
    assert (int(top), int(left)) == tuple(int(v) for v in expected)
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than 32"):
        augment.crop_offsets(tf.constant(30), tf.constant(40), 32, tf.constant([1, 2]))


def test_ten_crop_shapes_and_content():
    image = tf.random.uniform([256, 300, 3])
    crops = ten_crop(image, 224).numpy()
    assert crops.shape == (10, 224, 224, 3)
    x = image.numpy()
    np.testing.assert_array_equal(crops[0], x[:224, :224])
    np.testing.assert_array_equal(crops[1], x[:224, -224:])
    np.testing.assert_array_equal(crops[2], x[-224:, :224])
    np.testing.assert_array_equal(crops[3], x[-224:, -224:])
    np.testing.assert_array_equal(crops[4], x[16:240, 38:262])
    np.testing.assert_array_equal(crops[5:], crops[:5, :, ::-1])
    batch = ten_crop(tf.stack([image, image * 2]), 224)
    assert batch.shape == (2, 10, 224, 224, 3)
    np.testing.assert_allclose(batch[1].numpy(), 2 * crops, rtol=1e-6)
    with pytest.raises(ValueError):
        ten_crop(tf.zeros([5, 5]), 3)


def test_ten_crop_eval_pipeline(small):
    ds = make_pipeline(small.validation, policy="alexnet", image_size=28, batch_size=8, training=False, eval_crops=10)
    images, labels = next(iter(ds))
    assert images.shape == (8, 10, 28, 28, 3) and labels.shape == (8,)


# --------------------------------------------------------------------------- make_pipeline


def _epoch(ds):
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_pipeline_output_types(small):
    x, y = next(iter(make_pipeline(small.train, policy="resnet", image_size=24, batch_size=16, preprocessing="caffe")))
    assert x.shape == (16, 24, 24, 3) and x.dtype == tf.float32 and y.shape == (16,) and y.dtype == tf.int32
    x, y = next(iter(make_pipeline(small.train, image_size=24, batch_size=16, num_classes=10, one_hot=True)))
    assert y.shape == (16, 10) and y.dtype == tf.float32 and np.allclose(y.numpy().sum(axis=1), 1)


def test_pipeline_deterministic_per_seed_and_epoch(small):
    kw = dict(policy="alexnet", image_size=24, batch_size=32, preprocessing="tf")
    a = _epoch(make_pipeline(small.train, seed=1, epoch=2, **kw))
    b = _epoch(make_pipeline(small.train, seed=1, epoch=2, **kw))
    assert len(a) == 120 // 32  # drop_remainder when training
    assert all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(a, b))
    c = _epoch(make_pipeline(small.train, seed=1, epoch=3, **kw))
    d = _epoch(make_pipeline(small.train, seed=2, epoch=2, **kw))
    assert not np.array_equal(a[0][1], c[0][1]) and not np.array_equal(a[0][1], d[0][1])
    # repeat=True yields the same epochs back to back, starting at `epoch`.
    r = _epoch(make_pipeline(small.train, seed=1, epoch=2, repeat=True, **kw).take(2 * len(a)))
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a + c, r))


def test_pipeline_shuffle_is_a_permutation(small):
    labels = np.array([y for _, y in small.train.as_numpy_iterator()])
    ds = make_pipeline(small.train, policy="none", image_size=32, batch_size=50, drop_remainder=False, preprocessing="none")
    got = np.concatenate([y for _, y in _epoch(ds)])
    assert len(got) == 120 and sorted(got) == sorted(labels) and not np.array_equal(got, labels)
    # Each image appears exactly once: compare the raw pixels.
    images = np.concatenate([x for x, _ in _epoch(ds)]).astype(np.uint8)
    source = np.stack([x for x, _ in small.train.as_numpy_iterator()])
    assert sorted(map(bytes, images)) == sorted(map(bytes, source))
    # A buffered shuffle (for datasets not made by get_source) is deterministic too.
    plain = tf.data.Dataset.from_tensor_slices((source, labels))
    e1 = _epoch(make_pipeline(plain, policy="none", image_size=32, batch_size=40, shuffle_buffer=50))
    tf.random.set_seed(123)  # the order depends on (seed, epoch) only, not on the global seed
    e2 = _epoch(make_pipeline(plain, policy="none", image_size=32, batch_size=40, shuffle_buffer=50))
    assert all(np.array_equal(p[1], q[1]) for p, q in zip(e1, e2))
    assert not np.array_equal(np.concatenate([y for _, y in e1]), labels[:120])


def test_eval_pipeline_in_order(small):
    ds = make_pipeline(small.validation, policy="vgg", image_size=32, batch_size=16, training=False, preprocessing="none")
    batches = _epoch(ds)
    assert [len(y) for _, y in batches] == [16, 16, 8]
    expected = np.stack([x for x, _ in small.validation.as_numpy_iterator()])
    # vgg eval at 32: resize to 37 then centre 32; compare the labels and one image.
    assert np.array_equal(np.concatenate([y for _, y in batches]), [y for _, y in small.validation.as_numpy_iterator()])
    ref = eval_transform("vgg", 32)(tf.cast(expected[0], tf.float32)).numpy()
    np.testing.assert_allclose(batches[0][0][0], ref, atol=1e-3)


def test_pipeline_cache(small):
    kw = dict(policy="cifar", image_size=32, batch_size=30, seed=4)
    a = _epoch(make_pipeline(small.train, cache=True, repeat=True, **kw).take(8))
    b = _epoch(make_pipeline(small.train, cache=True, repeat=True, **kw).take(8))
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))
    assert not np.array_equal(a[0][1], a[4][1])  # epoch 1 differs from epoch 0


@pytest.mark.parametrize("mix", [dict(mixup=0.4), dict(cutmix=1.0), dict(mixup=0.2, cutmix=1.0)])
def test_mixup_cutmix_labels(small, mix):
    ds = make_pipeline(small.train, policy="none", image_size=32, batch_size=40, num_classes=10, one_hot=True, **mix)
    a = _epoch(ds)
    for images, y in a:
        np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-5)
        assert (y >= 0).all() and (np.count_nonzero(y > 1e-6, axis=1) <= 2).all()
    assert any((y.max(axis=1) < 0.99).any() for _, y in a)  # labels are really mixed
    b = _epoch(make_pipeline(small.train, policy="none", image_size=32, batch_size=40, num_classes=10, one_hot=True, **mix))
    assert all(np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) for p, q in zip(a, b))


def test_cutmix_pastes_a_box_and_weights_by_area():
    images = tf.concat([tf.zeros([1, 20, 20, 3]), tf.ones([1, 20, 20, 3])], axis=0)
    labels = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    pasted = 0
    for i in range(30):
        mixed, mixed_labels = mix_batch(images, labels, tf.constant([i, 0]), cutmix=1.0)
        ones = mixed.numpy()[0, :, :, 0]
        # The weight of the second class is the pasted area, whatever the pairing.
        np.testing.assert_allclose(mixed_labels.numpy()[0, 1], ones.mean(), atol=1e-6)
        np.testing.assert_allclose(mixed_labels.numpy().sum(axis=1), 1.0, atol=1e-6)
        if ones.any():
            pasted += 1
            rows, cols = np.nonzero(ones)
            assert ones[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # one rectangle
    assert pasted >= 5


def test_mixup_is_a_convex_combination():
    images = tf.concat([tf.zeros([1, 4, 4, 3]), tf.fill([1, 4, 4, 3], 10.0)], axis=0)
    labels = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    lams = []
    for i in range(20):
        mixed, y = mix_batch(images, labels, tf.constant([i, 3]), mixup=1.0)
        # Each image is 10 x (its weight on the second image's label).
        np.testing.assert_allclose(mixed.numpy(), 10.0 * y.numpy()[:, 1, None, None, None] * np.ones([2, 4, 4, 3]), atol=1e-4)
        lams.append(y.numpy()[0, 0])
    assert 0.05 < np.std(lams)  # Beta(1, 1): spread over [0.5, 1] or [0, 1]


@pytest.mark.parametrize("policy", POLICIES)
def test_pipeline_images_are_train_transform_of_each_image(small, policy):
    """The pipeline splits each policy into per-image and per-batch (XLA) parts: together they
    must give train_transform's pixels, image by image, with the seeds the module docstring states."""
    from keras_classics.data import pipeline
    from keras_classics.transforms import preprocess

    seed, epoch, size, batch = 5, 3, 24, 16
    ds = make_pipeline(small.train, policy=policy, image_size=size, batch_size=batch, seed=seed, epoch=epoch,
                       preprocessing="caffe")
    images, labels = next(iter(ds))
    perm = tf.argsort(tf.random.stateless_uniform([small.num_train], seed=pipeline._key(seed, epoch, pipeline._SHUFFLE)))
    source = list(small.train.as_numpy_iterator())
    aug_key = pipeline._key(seed, epoch, pipeline._AUGMENT)
    fn = train_transform(policy, size, IMAGENET_MEAN_RGB)
    for i in range(batch):
        image, label = source[int(perm[i])]
        expected = fn(tf.cast(image, tf.float32), tf.random.experimental.stateless_fold_in(aug_key, tf.constant(i, tf.int64)))
        np.testing.assert_array_equal(images[i].numpy(), preprocess(expected[None], "caffe")[0].numpy())
        assert labels[i] == label


def test_pipeline_errors(small):
    with pytest.raises(ValueError, match="'resnet'"):
        make_pipeline(small.train, policy="resnett")
    with pytest.raises(ValueError, match="one_hot"):
        make_pipeline(small.train, mixup=0.2)
    with pytest.raises(ValueError, match="num_classes"):
        make_pipeline(small.train, one_hot=True)
    with pytest.raises(ValueError, match="preprocessing"):
        make_pipeline(small.train, preprocessing="imagenet")
    with pytest.raises(ValueError, match="batch_size"):
        make_pipeline(small.train, batch_size=0)
    with pytest.raises(ValueError, match="training=False"):
        make_pipeline(small.train, eval_crops=10)
    with pytest.raises(ValueError, match="batch after"):
        make_pipeline(small.train.batch(4))
    bad = tf.data.Dataset.from_tensor_slices((np.zeros([4, 8, 8, 3], np.uint8), np.array([0, 1, 12, 2])))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label out of range"):
        _epoch(make_pipeline(bad, image_size=8, batch_size=4, num_classes=10))
