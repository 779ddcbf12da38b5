"""Test configuration shared by every test module."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def count_trainable(model) -> int:
    """Trainable parameters of a model (torch's convention: BN statistics left out)."""
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture
def trainable():
    """:func:`count_trainable`, for the tests that count parameters."""
    return count_trainable


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with a clean Keras graph state and the float32 policy."""
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)
