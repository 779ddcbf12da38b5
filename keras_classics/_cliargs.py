"""The command line's shared argparse pieces: the parser class, argument types and the user-error type.

Every area's ``_cli`` module and :mod:`keras_classics.cli` build their parsers
from these, so an option is refused, and a typo answered, the same way in every
command. Standard library only.
"""

from __future__ import annotations

import argparse
import difflib

__all__ = ["CLIError", "Parser", "option_hint", "int_at_least"]


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
