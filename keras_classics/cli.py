"""The ``keras-classics`` command: thin wrappers over the package's modules.

Each area adds its sub-commands from its own ``_cli`` module (a ``register``
function taking the argparse sub-parsers), built from the shared parser pieces
of :mod:`keras_classics._cliargs`; handlers import TensorFlow only when they
run, so ``keras-classics --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from keras_classics._cliargs import CLIError, Parser

# Modules that contribute sub-commands, in the order they appear in --help.
_AREAS = (
    "keras_classics.inspect._cli",  # list, summary, compare, visualize, plot
    "keras_classics.training._cli",  # train
    "keras_classics.export._cli",  # export, predict
    "keras_classics.evaluation._cli",  # evaluate
    "keras_classics.weights._cli",  # weights list, weights convert
    "keras_classics.experiments._cli",  # experiment
    "keras_classics.data._cli",  # cache, cache clear
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="keras-classics",
        description="Classic CNNs in Keras 3: inspect, train, export and run them.",
    )
    from keras_classics import __version__

    parser.add_argument("--version", action="version", version=f"keras-classics {__version__}")
    parser.add_argument("--verbose", dest="tensorflow_log", action="store_true",
                        help="show TensorFlow's own start-up and C++ log lines (hidden by default; a "
                             "TF_CPP_MIN_LOG_LEVEL set in the environment is honoured). Give it before COMMAND: "
                             "`train --verbose N` is the progress display")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in _AREAS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:  # an area not installed in this build
            if e.name != module:
                raise
            continue
        mod.register(sub)
    return parser


def main(argv=None) -> int:
    from keras_classics import _interrupts

    # One interrupt rule for every command, from its start: Ctrl-C ends it with exit status 130, one line and
    # nothing left behind, even where native code would swallow it (keras_classics/_interrupts.py).
    with _interrupts.installed("keras-classics: ") as rule:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
        except KeyboardInterrupt:
            print(_interrupts.interrupted_line(rule.signum), file=sys.stderr)
            rule.said()
            return _interrupts.EXIT_STATUS
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        from keras_classics._startup import quiet_tensorflow

        quiet_tensorflow(verbose=args.tensorflow_log)
        return _run(args, rule)


def _run(args, rule) -> int:
    """Run the command's handler; its errors become one line and an exit status."""
    from keras_classics._interrupts import EXIT_STATUS, interrupted_line

    try:
        status = int(args.func(args) or 0)
        rule.check()  # a Ctrl-C that native code swallowed ends the command as one that was not
        return status
    except KeyboardInterrupt as e:
        sys.stdout.write("\n")  # end a progress bar's line: the message gets a line of its own
        sys.stdout.flush()
        print(str(e) or interrupted_line(rule.signum), file=sys.stderr)
        rule.said()
        return EXIT_STATUS
    except (CLIError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            IsADirectoryError, PermissionError) as e:
        print(f"keras-classics {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        if not getattr(e, "user_facing", False):  # a missing optional reader (PyTorch for .pth files)
            raise
        print(f"keras-classics {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError as e:
        if e.filename is not None:  # a file, not the output
            raise
        # The reader of the output left (`keras-classics list | head`): stop quietly, as shell tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush goes nowhere instead of failing
        return 128 + 13  # SIGPIPE
    except OSError as e:  # the machine, not the input: a full disk, a read-only file system
        where = f" ({e.filename})" if e.filename else ""
        print(f"keras-classics {args.command}: error: {e.strerror or e}{where}. Nothing was left half-written; "
              "free space or choose another destination, then run the command again.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
