"""The ``keras-classics`` command: thin wrappers over the package's modules.

Each area adds its sub-commands from its own ``_cli`` module (a ``register``
function taking the argparse sub-parsers); handlers import TensorFlow only
when they run, so ``keras-classics --help`` stays fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys

# Modules that contribute sub-commands, in the order they appear in --help.
_AREAS = (
    "keras_classics.inspect._cli",  # list, summary, compare, visualize, plot
    "keras_classics.training._cli",  # train
    "keras_classics.export._cli",  # export, predict
    "keras_classics._weights_cli",  # weights list, weights convert
    "keras_classics.experiments._cli",  # experiment
)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# Options people type from other tools, and this command's name for them.
_SYNONYMS = {"--learning-rate": "--lr", "--learning_rate": "--lr", "--num-epochs": "--epochs", "--bs": "--batch-size",
             "--output": "--run-dir", "--out": "--run-dir"}


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes options only as spelled in full (``--epoch`` is not ``--epochs``)
    and answers an unknown option with the closest known ones."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self
            for action in self._actions:  # the sub-command's parser knows the options that were meant
                if isinstance(action, argparse._SubParsersAction):
                    parser = action.choices.get(getattr(args, action.dest, None) or "", self)
            parser.error(f"unrecognized arguments: {' '.join(extras)}.{option_hint(extras, parser)}")
        return args

    def error(self, message):
        # The error and where to read more: the full usage of `train` alone is 40 lines.
        self.exit(2, f"{self.prog}: error: {message}\nSee `{self.prog} --help`.\n")


def option_hint(extras, parser) -> str:
    """`` Did you mean --lr?`` for the unknown options in ``extras``, or an empty string."""
    known = [s for a in parser._actions for s in a.option_strings if s.startswith("--")]
    hints = []
    for word in extras:
        option = word.split("=", 1)[0]
        if not option.startswith("-"):
            continue
        match = _SYNONYMS.get(option) if _SYNONYMS.get(option) in known else None
        close = [match] if match else difflib.get_close_matches(option.replace("_", "-"), known, n=1, cutoff=0.6)
        if close:
            hints.append(f"{option}: did you mean {' or '.join(close)}?")
    return (" " + " ".join(hints)) if hints else ""


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


def int_at_least(minimum: int):
    """An argparse type: an integer of at least ``minimum``; the refusal names what was received."""
    accepted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {accepted}, received {text!r}")
        return value

    parse.__name__ = accepted
    return parse


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from keras_classics._startup import quiet_tensorflow

    quiet_tensorflow(verbose=args.tensorflow_log)
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
    except ImportError as e:
        if not getattr(e, "user_facing", False):  # a missing optional reader (PyTorch for .pth files)
            raise
        print(f"keras-classics {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the machine, not the input: a full disk, a read-only file system
        where = f" ({e.filename})" if e.filename else ""
        print(f"keras-classics {args.command}: error: {e.strerror or e}{where}. Nothing was left half-written; "
              "free space or choose another destination, then run the command again.", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
