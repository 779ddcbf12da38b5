"""Test configuration shared by every test module: environment, Keras state, shared fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with a clean Keras graph state and the float32 policy."""
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def shapes_cache(tmp_path_factory, monkeypatch):
    """One cache of generated shapes images per test session (per pytest-xdist worker), not the user's."""
    path = tmp_path_factory.getbasetemp() / "shapes-cache"
    monkeypatch.setenv("KERAS_CLASSICS_CACHE", str(path))
    return path
