"""What the evaluation tests share: the collapsed model of issue 21, and hand-built classifiers whose
predictions are known."""

import keras
import numpy as np
import pytest

from keras_classics.data.shapes import SHAPE_CLASSES
from keras_classics.metadata import make_metadata, set_model_metadata


def collapsed_model(classes: int = 10, size: int = 16, winner: int = 0, name: str = "collapsed"):
    """A classifier that gives class ``winner`` a high score and every other class the same low one, whatever
    the image: what a diverged training run ends as (one class, nine tied values)."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    bias = np.zeros(classes, np.float32)
    bias[winner] = 5.0
    outputs = keras.layers.Dense(classes, activation="softmax", kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant(bias), name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def colour_model(class_names=("red", "green", "blue"), size: int = 16):
    """A classifier of the dominant colour: the mean of each channel, times 0.1, through a softmax (class i is
    channel i). Its metadata names the classes and preprocessing 'none'."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", use_bias=False, name="predictions",
                                 kernel_initializer=keras.initializers.Constant(0.1 * np.eye(3)))(x)
    model = keras.Model(inputs, outputs, name="colours")
    return set_model_metadata(model, make_metadata(list(class_names), size, "none"))


@pytest.fixture
def shape_names():
    return list(SHAPE_CLASSES)
