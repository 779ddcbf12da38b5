"""The ``keras-classics`` command: thin wrappers over the package's modules.

Each area adds its sub-commands from its own ``_cli`` module (a ``register``
function taking the argparse sub-parsers); handlers import TensorFlow only
when they run, so ``keras-classics --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute sub-commands, in the order they appear in --help.
_AREAS = (
    "keras_classics.inspect._cli",  # list, summary, compare, visualize, plot
    "keras_classics.training._cli",  # train
    "keras_classics._export_cli",  # export, predict
)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-classics",
        description="Classic CNNs in Keras 3: inspect, train, export and run them.",
    )
    from keras_classics import __version__

    parser.add_argument("--version", action="version", version=f"keras-classics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:
        sys.stdout.write("\n")  # end a progress bar's line: the message gets a line of its own
        sys.stdout.flush()
        print(str(e) or "Interrupted.", file=sys.stderr)
        return 130
    except (CLIError, ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            IsADirectoryError, PermissionError) as e:
        print(f"keras-classics {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
