"""keras_classics.transforms: the one resize/crop rule, the preprocessing table, and every caller held to them."""

import io
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_classics import arithmetic, export, transforms
from keras_classics.images import load_image, load_image_bytes, resize_and_crop
from keras_classics.metadata import make_metadata
from keras_classics.data import POLICIES, augment, make_pipeline
from keras_classics.inspect import pictures
from keras_classics.transforms import (
    IMAGENET_CROP_FRACTION,
    PREPROCESSING,
    PREPROCESSING_MODES,
    EvalTransform,
    crop_shorter_side,
    preprocess,
)

# (size, crop_fraction, shorter side): torchvision's 256/224, its v2 ResNet 232/224, Inception v3's 342/299,
# the whole image, and a policy's rounded crop at a small size.
RULE = [(224, 224 / 256, 256), (224, 224 / 232, 232), (299, 299 / 342, 342), (32, 1.0, 32), (16, 16 / 18, 18),
        (40, 0.5, 80)]


def test_the_module_imports_without_tensorflow():
    code = "import sys, keras_classics.transforms; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --------------------------------------------------------------------------- the resize/crop rule


@pytest.mark.parametrize("size, crop_fraction, shorter", RULE)
def test_every_statement_of_the_rule_gives_the_same_shorter_side(size, crop_fraction, shorter):
    assert crop_shorter_side(size, crop_fraction) == shorter
    assert crop_shorter_side((size, size), crop_fraction) == shorter
    assert EvalTransform(size, crop_fraction, "none").resize == shorter
    assert arithmetic.crop_shorter_side is crop_shorter_side  # a public name there, the same function
    meta = make_metadata(["a"], size, "none", crop_fraction=crop_fraction)
    assert meta["eval_resize"] == shorter and meta["crop_fraction"] == crop_fraction


def test_the_rule_on_rectangles_and_its_refusals():
    assert crop_shorter_side((40, 60), 1.0) == 60  # the longer side of the crop
    assert crop_shorter_side((40, 60), 0.5) == 120
    assert transforms.is_crop_fraction(1) and transforms.is_crop_fraction(0.875)
    for bad in (0, 1.5, -0.5, "0.875", None, True):
        assert not transforms.is_crop_fraction(bad)
        with pytest.raises(ValueError, match=r"crop_fraction.*\(0, 1\]"):
            crop_shorter_side(224, bad)
        with pytest.raises(ValueError, match=r"crop_fraction.*\(0, 1\]"):
            EvalTransform(224, bad, "torch")
    with pytest.raises(ValueError, match="Unknown preprocessing 'bgr'. Accepted: caffe, torch, tf, none."):
        EvalTransform(224, 0.875, "bgr")


def test_policy_crop_fractions_give_back_the_validation_resize():
    """A run stores ``eval_crop_fraction(policy, size)``; predict and export resize by the rule with it, which
    must give the pixels the training validation resized to: 256/224 of the crop, or the crop itself."""
    for policy in POLICIES:
        for size in range(8, 520):
            fraction = transforms.eval_crop_fraction(policy, size)
            expected = size if policy in ("cifar", "none") else crop_shorter_side(size, IMAGENET_CROP_FRACTION)
            assert crop_shorter_side(size, fraction) == expected, (policy, size)
    assert crop_shorter_side(224, IMAGENET_CROP_FRACTION) == 256 and transforms.eval_crop_fraction("resnet", 224) == 0.875
    assert make_metadata(["a"], 16, "tf", policy="vgg")["eval_resize"] == 18
    with pytest.raises(ValueError, match="Unknown policy 'bogus'"):
        transforms.eval_crop_fraction("bogus", 32)


def test_every_weights_set_uses_the_one_eval_transform():
    from keras_classics.registry import TORCHVISION_EVAL
    from keras_classics.weights import weights_sets

    assert TORCHVISION_EVAL is transforms.TORCHVISION_EVAL and TORCHVISION_EVAL.resize == 256
    resizes = set()
    for _, weights_set in weights_sets():
        t = weights_set.eval_transform
        assert type(t) is EvalTransform and t.resize == crop_shorter_side(t.size, t.crop_fraction)
        resizes.add((t.size, t.resize))
    assert {(224, 256), (224, 232), (299, 342)} <= resizes


def test_timms_transforms_bicubic_other_crops_and_a_test_size():
    t = EvalTransform(288, 1.0, "torch", "bicubic", train_size=224)  # timm's ResNet a1_in1k sets
    assert (t.resize, t.interpolation, t.train_size) == (288, "bicubic", 224)
    assert EvalTransform(224, 0.95, "torch").resize == 236 and EvalTransform(224, 0.965, "torch").resize == 232
    with pytest.raises(ValueError, match=r"Unknown interpolation 'lanczos'. Accepted: bilinear, bicubic."):
        EvalTransform(224, 0.875, "torch", "lanczos")
    for bad in (0, -1, 2.5, True, "224"):
        with pytest.raises(ValueError, match=r"train_size.*positive integer"):
            EvalTransform(224, 0.875, "torch", train_size=bad)
    meta = make_metadata(["a"], 288, "torch", crop_fraction=1.0, interpolation="bicubic")
    assert meta["interpolation"] == "bicubic" and make_metadata(["a"], 32, "none")["interpolation"] == "bilinear"
    from keras_classics.metadata import card_fields, from_card

    assert from_card(card_fields(meta))["interpolation"] == "bicubic"  # a model card carries it too
    assert "interpolation" not in card_fields(make_metadata(["a"], 32, "none"))["input"]  # cards as before
    with pytest.raises(ValueError, match="Unknown interpolation 'area'"):
        make_metadata(["a"], 32, "none", interpolation="area")


def test_a_pretrained_cfgs_mean_and_std_name_one_mode():
    assert transforms.preprocessing_for((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) == "torch"
    assert transforms.preprocessing_for([0.5] * 3, [0.5] * 3) == "tf"  # timm's IMAGENET_INCEPTION_MEAN/STD
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 3, 3, 3)).astype(np.float32)
    for mean, std in (((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5,) * 3, (0.5,) * 3)):
        mode = transforms.preprocessing_for(mean, std)  # the mode is that normalisation, to the float
        np.testing.assert_allclose(preprocess(pixels, mode), (pixels / 255 - np.array(mean)) / np.array(std),
                                   rtol=1e-5, atol=1e-5)
    for mean, std in (((0.1, 0.2, 0.3), (0.5,) * 3), ((0.5, 0.5), (0.5, 0.5)), ("abc", None)):
        with pytest.raises(ValueError, match=r"No preprocessing mode normalises with .*Accepted: ImageNet's mean"):
            transforms.preprocessing_for(mean, std)


@pytest.mark.parametrize("size, crop_fraction", [(224, 0.875), (64, 1.0), (600, 1.0)])
def test_bicubic_resizes_by_the_rule_on_every_path(size, crop_fraction):
    # (224, 0.875) and (64, 1.0) shrink the 360x480 picture (the window-only resampling); 600 enlarges it.
    image = _photo()
    expected = _by_the_rule(image, size, crop_fraction, "bicubic")
    out = transforms.eval_crop(tf.constant(image), size, crop_fraction, "bicubic").numpy()
    np.testing.assert_allclose(out, expected, atol=1e-2)
    bilinear = transforms.eval_crop(tf.constant(image), size, crop_fraction).numpy()
    assert np.max(np.abs(out - bilinear)) > 0.1  # another filter, not the bilinear one renamed


# --------------------------------------------------------------------------- every caller, to the pixel


def _photo(h=360, w=480):
    """A smooth RGB picture (resampling differences show, rounding noise does not)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([127 + 120 * np.sin(x / 17), 127 + 120 * np.cos(y / 23), 255 * (x + y) / (h + w)], -1)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _by_the_rule(image, size, crop_fraction, interpolation="bilinear"):
    """The rule written out with TensorFlow's resize: shorter side to round(size / crop_fraction), centre crop."""
    h, w = image.shape[:2]
    shorter = max(size, round(size / crop_fraction))
    new = (shorter, round(w * shorter / h)) if h <= w else (round(h * shorter / w), shorter)
    resized = tf.image.resize(tf.constant(image, tf.float32), new, method=interpolation, antialias=True).numpy()
    top, left = (new[0] - size) // 2, (new[1] - size) // 2
    return resized[top : top + size, left : left + size]


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photo")
    Image.fromarray(_photo()).save(folder / "photo.png", format="PNG")
    return folder / "photo.png"


@pytest.mark.parametrize("size, crop_fraction, shorter, interpolation",
                         [(*rule, "bilinear") for rule in RULE[:4]] + [(*RULE[1], "bicubic")])
def test_predict_export_and_the_inspector_resize_by_the_rule(photo_file, size, crop_fraction, shorter,
                                                              interpolation):
    image = _photo()
    expected = _by_the_rule(image, size, crop_fraction, interpolation)
    assert expected.shape == (size, size, 3)
    data = photo_file.read_bytes()
    outputs = {
        "transforms.eval_crop": transforms.eval_crop(tf.constant(image), size, crop_fraction, interpolation).numpy(),
        "images.resize_and_crop": resize_and_crop(tf.constant(image), size, size, crop_fraction,
                                                  interpolation).numpy(),
        "images.load_image": load_image(photo_file, (size, size), crop_fraction, interpolation=interpolation),
        "images.load_image_bytes": load_image_bytes(data, (size, size), crop_fraction, interpolation=interpolation),
        "export calibration": export.image_samples(str(photo_file.parent), (size, size), 1,
                                                   crop_fraction=crop_fraction, interpolation=interpolation)[0][0],
        "inspector": pictures.load_image(str(photo_file), (size, size), crop_fraction, interpolation),
    }
    for name, out in outputs.items():
        np.testing.assert_allclose(out, expected, atol=1e-3, err_msg=name)


@pytest.mark.parametrize("policy, size", [("resnet", 224), ("alexnet", 227), ("cifar", 32), ("none", 48)])
def test_the_pipelines_validation_is_the_rule_with_the_policys_crop(policy, size):
    image = _photo()
    crop_fraction = transforms.eval_crop_fraction(policy, size)
    ds = tf.data.Dataset.from_tensors((tf.constant(image), tf.constant(0, tf.int64)))
    validation = make_pipeline(ds, policy=policy, image_size=size, batch_size=1, training=False,
                               preprocessing="none", repeat=False)
    (images, _), = list(validation)
    expected = _by_the_rule(image, size, crop_fraction)
    np.testing.assert_allclose(images[0].numpy(), expected, atol=1e-3)
    np.testing.assert_allclose(resize_and_crop(tf.constant(image), size, size, crop_fraction).numpy(),
                               images[0].numpy(), atol=1e-4)


def test_ten_crops_come_from_the_imagenet_square():
    image = tf.constant(_photo(), tf.float32)
    crops = augment.eval_transform("vgg", 224, crops=10)(image).numpy()
    square = _by_the_rule(_photo(), 256, 1.0)  # the centre 256 x 256 of the image resized to 256
    np.testing.assert_allclose(crops[4], square[16:240, 16:240], atol=1e-3)  # the centre crop
    np.testing.assert_allclose(crops[0], square[:224, :224], atol=1e-3)


# --------------------------------------------------------------------------- the preprocessing table


def _written_out(x, mode):
    mean_rgb = np.array([123.68, 116.779, 103.939])
    if mode == "caffe":
        return x[..., ::-1] - mean_rgb[::-1]
    if mode == "torch":
        return (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    if mode == "tf":
        return x / 127.5 - 1.0
    return x


def test_the_table_holds_every_mode():
    assert PREPROCESSING_MODES == ("caffe", "torch", "tf", "none") == tuple(PREPROCESSING)
    assert all(PREPROCESSING[m].name == m for m in PREPROCESSING_MODES)
    with pytest.raises(ValueError, match="Unknown preprocessing 'bgr'. Accepted: caffe, torch, tf, none."):
        preprocess(np.zeros((1, 2, 2, 3)), "bgr")


@pytest.mark.parametrize("mode", ["caffe", "torch", "tf", "none"])
def test_each_mode_is_its_formula_everywhere(mode):
    x = np.random.default_rng(1).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    expected = _written_out(x.astype(np.float64), mode)
    np.testing.assert_allclose(preprocess(x, mode), expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(preprocess(tf.constant(x), mode).numpy(), expected, rtol=1e-5, atol=1e-4)
    # The colour mapped to zero, which the CIFAR policy pads with.
    zero = np.broadcast_to(np.array(PREPROCESSING[mode].zero_colour, np.float32), (1, 2, 2, 3))
    np.testing.assert_allclose(preprocess(zero, mode), 0.0, atol=1e-5)
    # The training pipeline's preprocessing (compiled with XLA) is the same function, to a rounding step.
    from keras_classics.data.pipeline import _transform_steps

    preprocess_batch = _transform_steps("none", 5, PREPROCESSING[mode].zero_colour, mode)[2]
    np.testing.assert_allclose(preprocess_batch(tf.constant(x)).numpy(), preprocess(x, mode), rtol=1e-6, atol=1e-5)


def test_the_command_line_and_export_read_the_table():
    from keras_classics.export import _cli as _export_cli
    from keras_classics.inspect import _cli as inspect_cli

    assert _export_cli.PREPROCESSING_MODES is PREPROCESSING_MODES is inspect_cli.PREPROCESSING_MODES
    with pytest.raises(ValueError, match="Unknown preprocessing 'bgr'. Accepted: caffe, torch, tf, none."):
        export.prepare(object(), preprocessing="bgr")
    with pytest.raises(ValueError, match=r"`crop_fraction` must be in \(0, 1\]"):
        export.prepare(object(), crop_fraction=1.5)


def test_the_data_package_re_exports_the_table():
    from keras_classics import data

    assert data.preprocess is preprocess and data.PREPROCESSING_MODES is PREPROCESSING_MODES


def test_encoded_png_round_trip_is_exact():
    """The fixture's PNG decodes to the array the rule tests resize (no colour management on the way)."""
    buffer = io.BytesIO()
    Image.fromarray(_photo(16, 16)).save(buffer, format="PNG")
    np.testing.assert_array_equal(load_image_bytes(buffer.getvalue(), (16, 16)), _photo(16, 16))
