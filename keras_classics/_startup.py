"""How the ``keras-classics`` command starts: light for ``--help`` and ``list``, quiet when TensorFlow starts.

* :func:`quiet_tensorflow` keeps TensorFlow's C++ start-up lines (oneDNN, CUDA
  probes, CPU instruction sets, absl's "before InitializeLog" banner) and its
  later C++ log lines out of a command's output, unless ``--verbose`` is given
  or ``TF_CPP_MIN_LOG_LEVEL`` is set in the environment (then the lines at or
  above that level are shown, as TensorFlow would).
* :func:`quiet_native_log` does the same around a call into TensorFlow Lite's
  converter or the LiteRT interpreter, which write their own lines to the
  process's stderr ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
  the int8 quantizer's "fully_quantize: 0, inference_type: 6, ..."): held back
  at the level the command line set, shown with ``--verbose`` or a
  ``TF_CPP_MIN_LOG_LEVEL`` of 0, and shown in full when the call fails.
* :func:`metadata_backend` lets a command that only reads the models' structure
  (``list``) import Keras on its numpy backend, so that TensorFlow is not
  started at all.

Nothing here imports TensorFlow or Keras.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile

from keras_classics._lazy import around_import

__all__ = ["quiet_tensorflow", "quiet_native_log", "metadata_backend"]

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
# absl's C++ log line: severity letter, MMDD, time, thread, file:line]
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:[\d.]+\s+\d+ [^\]]+\] ")
_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# TensorFlow Lite's own log line (the converter and the LiteRT runtime): "INFO: Created TensorFlow Lite ..."
_LITE_LINE = re.compile(r"^(VERBOSE|INFO|WARNING|ERROR): ")
_LITE_SEVERITY = {"VERBOSE": 0, "INFO": 0, "WARNING": 1, "ERROR": 2}
# The int8 quantizer's settings, printed on a line of their own: "fully_quantize: 0, inference_type: 6, ..."
_QUANTIZER_LINE = "fully_quantize: "

def _filter(text: str, level: int) -> str:
    """The lines of ``text`` to show at minimum level ``level``: C++ log lines (and the lines that
    continue them) below it, TensorFlow Lite's log lines below it and absl's banner are dropped;
    anything else (a Python traceback, a warning of another kind) is kept."""
    keep, current = [], True
    for line in text.splitlines(keepends=True):
        match = _LOG_LINE.match(line)
        lite = _LITE_LINE.match(line)
        if match:
            current = _SEVERITY[match.group(1)] >= level
        elif line.rstrip("\n") == _BANNER:
            current = level == 0
        elif lite:
            current = _LITE_SEVERITY[lite.group(1)] >= level
        elif line.startswith(_QUANTIZER_LINE):
            current = level == 0
        elif not line.startswith(" ") and not line.startswith("To enable the following instructions"):
            current = True  # not a continuation of a log line
        if current:
            keep.append(line)
    return "".join(keep)


@contextlib.contextmanager
def _held_stderr(level: int):
    """Send file descriptor 2 to a temporary file while the block runs, then show what passes the
    filter at ``level``; everything, if the block raises (the library's own explanation of the
    failure is among those lines), unless what it raises is a Ctrl-C. Other threads' stderr is held
    back meanwhile too, and shown."""
    sys.stderr.flush()
    saved = os.dup(2)
    failed = False
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except KeyboardInterrupt:  # Ctrl-C during the import: not a failure the held lines explain
            raise
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            shown = text if failed else _filter(text, level)
            if shown:
                sys.stderr.write(shown)
                sys.stderr.flush()


def _level() -> int:
    """``TF_CPP_MIN_LOG_LEVEL`` as TensorFlow reads it: 0 when it is not a number."""
    try:
        return int(os.environ[LEVEL_ENV])
    except ValueError:
        return 0


# The level :func:`quiet_tensorflow` chose, for :func:`quiet_native_log`; None: nothing held back. Kept here
# because importing TensorFlow sets TF_CPP_MIN_LOG_LEVEL=1 when it is unset (--verbose looks like a choice).
_native_level: int | None = None


@contextlib.contextmanager
def quiet_native_log():
    """Around a call into TensorFlow Lite's converter or the LiteRT interpreter: the lines they write to
    the process's stderr are held back as TensorFlow's start-up lines are.

    After :func:`quiet_tensorflow` (the command line, the recipe scripts), lines below its level (3 by
    default, a user's ``TF_CPP_MIN_LOG_LEVEL`` otherwise) are dropped; with ``--verbose``, or in a
    program that did not call it, nothing is held back. If the call raises, every line it wrote is
    shown.
    """
    if not _native_level:
        yield
        return
    with _held_stderr(_native_level):
        yield


def quiet_tensorflow(verbose: bool = False) -> None:
    """Called by the command line before a command runs (TensorFlow not yet imported).

    Default: ``TF_CPP_MIN_LOG_LEVEL=3`` for TensorFlow's C++ log (no CUDA probe
    errors on a machine without a GPU) and its start-up lines held back. The
    package prints its own one-line notes for what matters (oneDNN kernels off,
    no GPU for a strategy that wants GPUs). ``verbose``: TensorFlow's defaults,
    every line shown. ``TF_CPP_MIN_LOG_LEVEL`` set by the user is kept and
    applied to the start-up lines too. The same level applies later to the
    lines of TensorFlow Lite's converter and interpreter (:func:`quiet_native_log`).
    """
    global _native_level
    if "tensorflow" in sys.modules:
        return
    if verbose:
        _native_level = None
        return
    if LEVEL_ENV in os.environ:
        level = _level()
    else:
        os.environ[LEVEL_ENV] = "3"
        level = 3
    _native_level = level
    if level > 0:
        # Import TensorFlow with file descriptor 2 sent to a temporary file, then show what passes the level
        # filter. The C++ library writes those lines before its logging is configured, so no setting
        # silences them: TF_CPP_MIN_LOG_LEVEL=3 still leaves six.
        around_import("tensorflow", lambda: _held_stderr(level))


def metadata_backend() -> None:
    """Before a command that reads only the models' structure (layers and shapes, no values) imports Keras:
    use Keras's numpy backend, which starts in a fraction of TensorFlow's time.

    Done only when Keras is not imported yet, ``KERAS_BACKEND`` is not set (the
    user's choice is kept) and JAX is installed (Keras's numpy backend needs it;
    it is a dependency of the package). Processes started later get the environment
    unchanged.
    """
    if "keras" in sys.modules or "KERAS_BACKEND" in os.environ or importlib.util.find_spec("jax") is None:
        return
    os.environ["KERAS_BACKEND"] = "numpy"
    try:
        import keras  # noqa: F401  (the backend is fixed when Keras is imported)
    finally:
        del os.environ["KERAS_BACKEND"]
