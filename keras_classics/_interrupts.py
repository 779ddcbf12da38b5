"""The one interrupt rule of every command: Ctrl-C (or SIGTERM) ends it with exit status 130, one line, and nothing
left behind.

How a command is interrupted, in order:

1. **In Python.** The signal handler raises ``KeyboardInterrupt`` (:class:`Terminated`, a subclass, for
   SIGTERM) in the main thread; the command's ``finally`` blocks remove what it was writing (every file goes
   through a temporary path, :mod:`keras_classics.io`), and the command line prints one line and returns 130.
   A training run keeps its directory, resumable, as it always has.
2. **Inside a destructor or a garbage-collection callback** (TensorFlow's ``AtomicFunction.__del__``, JAX's
   GC callback), where a raised exception is printed as "Exception ignored in ..." and lost, the handler
   does not raise: the watchdog signals the main thread again a moment later (``_thread.interrupt_main``),
   outside it. A Ctrl-C lost anyway is raised again at the next commit point
   (:func:`raise_if_interrupted`, called before any temporary output is renamed into place) and when the
   command returns (:meth:`Rule.check`), so nothing is committed after a Ctrl-C.
3. **In native code that does not come back.** Python runs a signal handler only between two bytecodes of the
   main thread: while TensorFlow's converter, a ``tf.data`` iterator, an XLA compilation or a destructor runs
   in C++, nothing happens. Native code can also swallow the exception (a garbage-collection callback, a
   ``__del__``: "Exception ignored in ...") or mangle it (a C++ boundary that turns it into another
   error). So the C-level handler also writes the signal number to a pipe (:func:`signal.set_wakeup_fd`),
   which a watchdog thread reads at once. If the process has not ended :data:`GRACE_S` seconds later, the
   watchdog removes every temporary path still registered (:func:`register_temporary`), prints the one line,
   gives the exit handlers (``atexit``: TensorFlow's autograph removes its generated files) two seconds, and
   ends the process with ``os._exit(130)``. That needs the GIL, which native code that runs long
   without releasing it (rare: TensorFlow releases it around its kernels and its runtime) holds; then the
   rule acts when that call returns.
4. **A second Ctrl-C** ends the process at once, by the same cleanup and ``os._exit(130)``, without waiting
   for the grace period.

:func:`installed` puts the rule in place around a command (the command line, `keras_classics.cli.main`, does);
library code only registers its temporary paths, which costs nothing when no rule is installed.

Only the standard library is imported here.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import shutil
import signal
import threading
import time

__all__ = ["GRACE_S", "EXIT_STATUS", "Terminated", "Rule", "installed", "register_temporary", "forget_temporary",
           "registered_temporary", "raise_if_interrupted", "interrupted_line"]

#: Seconds the watchdog leaves the main thread to end the command itself after a signal; the environment
#: variable ``KERAS_CLASSICS_INTERRUPT_GRACE`` changes it.
GRACE_S = 10.0
_ATEXIT_S = 2.0  # how long the watchdog leaves the exit handlers before it ends the process
#: The exit status of an interrupted command: 128 + SIGINT, as a shell reports a process Ctrl-C ended.
EXIT_STATUS = 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a command stops as it does on Ctrl-C."""


# Temporary paths being written: path -> None (a dict keeps their order). Removed by the watchdog, newest
# first, if it has to end the process itself.
_TEMPORARY: dict = {}
_LOCK = threading.Lock()
_STATE: dict = {}  # while installed, "rule": the state of the installed rule (signals received, message, pipe)


def register_temporary(path) -> None:
    """Say that ``path`` (a file or a directory) is a temporary output being written: removed if a signal
    has to end the process before its writer does. The writer calls :func:`forget_temporary` once it is
    renamed into place or removed."""
    with _LOCK:
        _TEMPORARY[os.path.abspath(os.fspath(path))] = None


def forget_temporary(path) -> None:
    """``path`` is no longer a temporary output (renamed into place, or removed by its writer)."""
    with _LOCK:
        _TEMPORARY.pop(os.path.abspath(os.fspath(path)), None)


@contextlib.contextmanager
def registered_temporary(path):
    """:func:`register_temporary` for the duration of a block."""
    register_temporary(path)
    try:
        yield path
    finally:
        forget_temporary(path)


def interrupted_line(signum: int | None = None) -> str:
    """The line an interrupted command prints when nothing more precise is known."""
    why = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    return f"Interrupted ({why}). Nothing was left half-written."


def _grace() -> float:
    try:
        return max(0.0, float(os.environ.get("KERAS_CLASSICS_INTERRUPT_GRACE", GRACE_S)))
    except ValueError:
        return GRACE_S


def _remove_temporary() -> None:
    with _LOCK:
        paths = list(_TEMPORARY)[::-1]
        _TEMPORARY.clear()
    for path in paths:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.remove(path)
        except OSError:
            pass


def _end_now(state) -> None:
    """The watchdog's end of the process: temporary paths removed, the line (unless the command printed it),
    exit status 130, no Python shutdown (which is where native destructors hang)."""
    _remove_temporary()
    if not state.get("said"):
        try:
            os.write(2, ("\n" + state["prog"] + interrupted_line(state.get("signum")) + "\n").encode())
        except OSError:
            pass
    # What the libraries clean up at exit (TensorFlow's autograph removes its generated modules from the
    # temporary folder), given a short while: a handler that hangs does not keep the process alive.
    cleanup = threading.Thread(target=atexit._run_exitfuncs, name="keras-classics-atexit", daemon=True)
    cleanup.start()
    cleanup.join(_ATEXIT_S)
    os._exit(EXIT_STATUS)


def _watch(state) -> None:
    """The watchdog thread: woken by the C-level handler through the wakeup pipe, even while the main thread
    is in native code."""
    read_fd = state["read_fd"]
    deadline = None
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready = _wait_readable(read_fd, timeout)
        if state.get("closing"):
            return
        if not ready:  # the grace period ran out: the main thread did not end the command
            _end_now(state)
        try:
            data = os.read(read_fd, 64)
        except BlockingIOError:
            continue
        except OSError:
            return
        if state.get("closing"):
            return
        for signum in data:
            if signum == _DEFERRED:  # raised inside a destructor: signal the main thread again, outside it
                time.sleep(0.02)
                state["resent"] = state.get("resent", 0) + 1
                _thread.interrupt_main(state.get("signum", signal.SIGINT))
                continue
            if signum not in (signal.SIGINT, signal.SIGTERM):
                continue
            if state.get("resent"):  # the watchdog's own repeat, not the user's second Ctrl-C
                state["resent"] -= 1
                continue
            state["count"] = state.get("count", 0) + 1
            state.setdefault("signum", signum)
            if state["count"] >= 2:  # a second Ctrl-C: end now
                _end_now(state)
            if deadline is None:
                deadline = time.monotonic() + _grace()


def _wait_readable(fd, timeout) -> bool:
    import select

    ready, _, _ = select.select([fd], [], [], timeout)
    return bool(ready)


# Where an exception raised by a signal handler is printed as "Exception ignored in ..." and lost: a destructor,
# and the garbage-collection callback JAX registers (TensorFlow imports JAX when it is installed).
_SWALLOWING = ("__del__", "_xla_gc_callback")
_DEFERRED = 0xFE  # the byte the handler writes to the watchdog's pipe: "raise it again in a moment"


def _swallowing(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name in _SWALLOWING:
            return True
        frame = frame.f_back
    return False


def _handler(signum, frame):
    """In the main thread, between bytecodes: raise the interruption there (recorded by the watchdog too).

    Inside a destructor or a garbage-collection callback, where the exception would be printed as "ignored"
    and lost, it is not raised: the watchdog signals the main thread again a moment later, outside it.
    """
    state = _STATE.get("rule")
    if state is not None:  # for a commit point right after, before the watchdog has read the pipe
        state.setdefault("signum", signum)
        state["raised"] = True
        if _swallowing(frame):
            try:
                os.write(state["write_fd"], bytes([_DEFERRED]))
            except OSError:
                pass
            return
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def raise_if_interrupted() -> None:
    """At a commit point (a temporary output about to be renamed into place): raise the interruption a signal
    asked for, if native code swallowed the first raise, so that nothing is committed after a Ctrl-C."""
    state = _STATE.get("rule") or {}
    if state.get("count") or state.get("raised"):
        _raise(state)


class Rule:
    """What :func:`installed` yields to the command it guards."""

    def __init__(self, state):
        self._state = state

    def said(self) -> None:
        """The command has printed its own line about the interruption: the watchdog will not print another."""
        self._state["said"] = True

    @property
    def signum(self) -> int | None:
        """The first signal received (``signal.SIGINT`` or ``SIGTERM``), or None."""
        return self._state.get("signum")

    def check(self) -> None:
        """After the command returned: raise the interruption if a signal came and native code swallowed it."""
        if self._state.get("count") or self._state.get("raised"):
            _raise(self._state)


def _raise(state) -> None:
    raise Terminated() if state.get("signum") == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def installed(prog: str = ""):
    """The rule in place for the block (main thread only; elsewhere the block runs as it is).

    Args:
        prog: the command's name, prefixed to the line the watchdog prints (``"keras-classics export: "``).

    Yields:
        A :class:`Rule`: ``said()`` once the command has printed its own line about the interruption;
        ``check()`` after it returned, to raise an interruption native code swallowed.
    """
    if threading.current_thread() is not threading.main_thread() or _STATE:
        yield Rule({})
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    os.set_blocking(read_fd, False)
    state = {"read_fd": read_fd, "write_fd": write_fd, "prog": prog}
    try:
        # A signal the process was started ignoring (a job started in the background) stays ignored.
        previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)
                    if signal.getsignal(sig) is not signal.SIG_IGN}
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # no signals here (an embedded interpreter)
        os.close(read_fd)
        os.close(write_fd)
        yield Rule({})
        return
    _STATE["rule"] = state
    watchdog = threading.Thread(target=_watch, args=(state,), name="keras-classics-interrupt", daemon=True)
    watchdog.start()
    try:
        yield Rule(state)
    finally:
        # The command has ended (returned, raised, or printed its line): the watchdog stands down.
        state["closing"] = True
        signal.set_wakeup_fd(previous_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.write(write_fd, b"\0")  # wake the watchdog: it sees "closing" and returns
        watchdog.join(timeout=5)
        os.close(read_fd)
        os.close(write_fd)
        _STATE.clear()
