"""The card of a conversion: the JSON file :func:`keras_classics.weights.convert` writes beside its output.

The card names its output, so an earlier conversion's files can be told from
any other file (and replaced with ``overwrite``), and it records the variant
options the weights were converted for, which a builder given the converted
``.weights.h5`` file takes again (:func:`converted_options`).
"""

from __future__ import annotations

import json
import os

__all__ = ["CARD_KIND", "card_path", "is_conversion_card", "converted_options", "read_card"]

#: The ``kind`` of a conversion card: what tells an earlier conversion's output from any other file.
CARD_KIND = "keras_classics weights conversion"


def card_path(output) -> str:
    """The card :func:`convert` writes beside ``output``: ``OUT.keras.card.json``, ``OUT.weights.h5.card.json``."""
    return os.fspath(output) + ".card.json"


def is_conversion_card(card, output) -> bool:
    """Whether ``card`` (a parsed JSON document) is the conversion card of ``output``."""
    return (isinstance(card, dict) and card.get("kind") == CARD_KIND
            and card.get("output") == os.path.abspath(os.fspath(output)))


def converted_options(path) -> dict:
    """The variant options a file written by :func:`convert` was built with (from its card), or ``{}``."""
    try:
        with open(card_path(path), encoding="utf-8") as f:
            card = json.load(f)
    except (OSError, ValueError):
        return {}
    if not is_conversion_card(card, path):
        return {}
    return {k: v for k, v in card["options"].items() if k != "include_top"}


def read_card(output) -> dict:
    """The card :func:`convert` wrote beside ``output``."""
    with open(card_path(output), encoding="utf-8") as f:
        return json.load(f)
