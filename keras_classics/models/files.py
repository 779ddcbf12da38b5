"""Loading a ``.keras`` file of this package's models: safe mode, readable errors, the metadata attached.

The one ``.keras`` loader: predict, export, the inspector and ``--init-from``
warm starts all read model files through :func:`load_keras_model`. It lives with
the models because loading needs their layers registered with Keras (importing
:mod:`keras_classics.models` does that).
"""

from __future__ import annotations

import os
import re
import zipfile

import keras

from keras_classics.metadata import read_keras_metadata, set_model_metadata

__all__ = ["load_keras_model"]


def load_keras_model(path, custom_objects=None, safe_mode: bool = True):
    """Load a ``.keras`` file with safe mode on (unless ``safe_mode=False``), without compiling it.

    Safe mode refuses ``Lambda`` layers, whose Python code is stored in the
    file and runs when it is loaded; ``safe_mode=False`` (CLI:
    ``--unsafe-deserialization``) loads them, for files you trust.

    The metadata the file carries (see :func:`keras_classics.metadata.save_model`)
    is attached to the model (:func:`keras_classics.metadata.model_metadata`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a ``.keras`` file, unreadable, or using a custom object
            that is not registered (import the module that defines it first).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Model not found: {path!r}")
    if not path.endswith(".keras") or not os.path.isfile(path):
        raise ValueError(f"Expected a .keras model file, received {path!r}.")
    if not zipfile.is_zipfile(path):  # Keras would answer "File not found" for it
        raise ValueError(
            f"{path!r} could not be loaded as a Keras model: it is not a .keras file. A .keras file is a zip "
            f"archive (the model's configuration and weights), and this one ({os.path.getsize(path):,} bytes) is "
            "not: it may be truncated, or another kind of file with a .keras name. Accepted: a file written by "
            "model.save(), "
            "keras_classics.metadata.save_model() or `keras-classics weights convert ... -o NAME.keras`."
        )
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=safe_mode, custom_objects=custom_objects)
    except TypeError as e:
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", str(e))
        registered = re.search(r"'registered_name': '([^']+)'", str(e)[missing.end():]) if missing else None
        if missing:
            name = registered.group(1) if registered else missing.group(1)
            raise ValueError(
                f"{path!r} uses {missing.group(1)!r} ({name}), a layer or function that is not registered "
                "with Keras in this process. Import the module that defines it (decorated with "
                "@keras.saving.register_keras_serializable) or pass custom_objects; safe mode stays on."
            ) from None
        raise ValueError(f"{path!r} could not be loaded as a Keras model: {e}") from None
    except Exception as e:  # zip errors, bad config, Lambda layers refused by safe mode
        if "safe_mode" in str(e):
            raise ValueError(
                f"{path!r} holds a Lambda layer: Python code stored in the file, which runs when it is loaded, "
                "so it is refused by default. Accepted: files without Lambda layers; for a file you trust, "
                "the CLI's --unsafe-deserialization (Python: safe_mode=False)."
            ) from None
        cause = next((line.strip() for line in str(e).splitlines() if line.strip()), "")[:300]
        raise ValueError(f"{path!r} could not be loaded as a Keras model: {type(e).__name__}: {cause}") from None
    return set_model_metadata(model, read_keras_metadata(path))
