"""Ctrl-C and SIGTERM during a run: stop it as a ``KeyboardInterrupt`` at a safe point, and say how to continue.

While a run trains, SIGTERM raises :class:`Terminated` and Ctrl-C raises
``KeyboardInterrupt`` in the main thread, so that both stop the run the same
way. Python runs a signal handler between any two bytecodes, also inside a
garbage-collection callback (TensorFlow imports JAX when it is installed, and
JAX registers one), where an exception is printed as "ignored" and lost. There
the handler only records the interruption; :func:`reraise_pending`, called by a
callback at every batch and epoch boundary and after ``fit``, raises it.

Around this, the command line's one interrupt rule (:mod:`keras_classics._interrupts`) watches the same
signals from a thread: if the run has not ended some seconds after a signal (native code that does not
return, an exception swallowed), it removes the temporary files being written and ends the process
with exit status 130. The checkpoints already written are whole files, so the run stays resumable.
"""

from __future__ import annotations

import os
import signal
import threading

from keras_classics import _interrupts

__all__ = ["Terminated", "catch_signals", "reraise_pending", "restore_signals", "interrupted_message"]


# SIGTERM, raised in the main thread so that a run stops as it does on Ctrl-C: the one class of every command.
Terminated = _interrupts.Terminated


# The interruption a signal asked for, kept until the run ends (see the module docstring).
_PENDING: dict = {}
_GC_CALLBACKS = ("_xla_gc_callback",)


def catch_signals():
    """Turn SIGTERM into :class:`Terminated` and Ctrl-C into ``KeyboardInterrupt`` while a run trains
    (main thread only), both remembered for :func:`reraise_pending`; return the old handlers."""
    _PENDING.clear()
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        _PENDING["exception"] = Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        if frame is not None and frame.f_code.co_name in _GC_CALLBACKS:
            return
        raise _PENDING["exception"]()

    try:
        return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # no signals here (an embedded interpreter)
        return None


def reraise_pending():
    """Raise the interruption a signal asked for, if an earlier raise of it was swallowed."""
    if "exception" in _PENDING:
        raise _PENDING["exception"]()


def restore_signals(previous):
    """Put back the handlers :func:`catch_signals` returned and forget any pending interruption."""
    _PENDING.clear()
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)


def interrupted_message(run_dir, exc) -> str:
    """What an interrupted run says: which signal, that its directory is kept, and how to continue it."""
    from keras_classics.training.callbacks import latest_checkpoint  # callbacks imports Keras

    why = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
    try:
        index = latest_checkpoint(os.path.join(run_dir, "checkpoints"))
    except (OSError, ValueError):
        index = None
    where = (f"from its checkpoint after epoch {index['epoch']}" if index else
             "from the start (no epoch had finished; the directory keeps its config and logs)")
    return (f"Interrupted ({why}). The run directory {run_dir} is kept: `keras-classics train --resume {run_dir}` "
            f"continues it {where}.")
