"""The experiments' statistics: repeats summarised, and a claim judged against the noise.

A row of an experiment's table holds if its two arms differ in the order the
claim expects by more than :data:`NOISE_SE` standard errors. The experiment
runners (:mod:`keras_classics.experiments._runs`) build the tests with these
functions, and :func:`keras_classics.experiments.run_experiment` judges them.
Standard library only.
"""

from __future__ import annotations

import math

__all__ = [
    "NOISE_SE",
    "summarize",
    "fmt",
    "proportion_arm",
    "gap_arm",
    "paired_test",
    "difference_test",
    "judge",
    "judge_rows",
]


def summarize(values) -> dict:
    """Mean and spread of the repeats' values; ``None`` entries (a threshold never reached) are counted apart."""
    values = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    present = [v for v in values if v is not None]
    out = {"values": values, "n": len(present), "missing": len(values) - len(present)}
    if present:
        mean = sum(present) / len(present)
        out["mean"] = mean
        out["std"] = (math.sqrt(sum((v - mean) ** 2 for v in present) / (len(present) - 1))
                      if len(present) > 1 else 0.0)
        out["min"], out["max"] = min(present), max(present)
    else:
        out.update(mean=None, std=None, min=None, max=None)
    return out


def fmt(stat, *, pct=False, digits=1, unit="") -> str:
    """``mean ± std`` of a :func:`summarize` result (``n/a`` when nothing was measured)."""
    if stat["mean"] is None:
        return "n/a"
    scale, suffix = (100.0, "%") if pct else (1.0, unit)
    text = f"{stat['mean'] * scale:.{digits}f}"
    if len(stat["values"]) > 1:
        text += f" ± {stat['std'] * scale:.{digits}f}"
    text += suffix
    if stat["missing"]:
        text += f" ({stat['missing']} of {len(stat['values'])} not reached)"
    return text


# ---------------------------------------------------------------------- verdicts
# A row's verdict comes from its "test": two arms, each a measured value with a standard
# error and whether it is at chance, and the order the claim expects. A difference
# counts only beyond NOISE_SE standard errors, and arms that are both at chance decide
# nothing. Rows without a test (computed claims, thresholds) keep the runner's verdict.
NOISE_SE = 2.0


def _binomial_se(p, n):
    return math.sqrt(max(p * (1.0 - p), 0.0) / n) if n else float("inf")


def _at_chance(p, n, chance):
    return chance is not None and abs(p - chance) <= NOISE_SE * _binomial_se(chance, n)


def proportion_arm(label, stat, n, *, chance=None) -> dict:
    """One arm of a test on a proportion (an accuracy or an error rate) measured on ``n`` images.

    Args:
        label: the arm's name in the verdict.
        stat: a :func:`summarize` result over the repeats (each a proportion).
        n: images behind each repeat's proportion.
        chance: the proportion a network that learned nothing gets (``1/classes`` for an
            accuracy, ``1 - 1/classes`` for an error), or None.

    Returns:
        ``{"label", "value", "se", "at_chance"}``: the mean, its standard error (the
        larger of the binomial one over all repeats' images and the seeds' spread) and
        whether it is within NOISE_SE binomial standard errors of chance.
    """
    if stat["mean"] is None:
        return {"label": label, "value": None, "se": None, "at_chance": False}
    k = stat["n"]
    se = _binomial_se(stat["mean"], n * k)
    if k > 1:
        se = max(se, stat["std"] / math.sqrt(k))
    return {"label": label, "value": stat["mean"], "se": se, "at_chance": _at_chance(stat["mean"], n * k, chance)}


def gap_arm(label, train, n_train, val, n_val, *, chance=None) -> dict:
    """One arm of a test on a train - validation accuracy gap (``train``, ``val``: :func:`summarize` results)."""
    a = proportion_arm(label, train, n_train, chance=chance)
    b = proportion_arm(label, val, n_val, chance=chance)
    if a["value"] is None or b["value"] is None:
        return {"label": label, "value": None, "se": None, "at_chance": False}
    return {"label": label, "value": a["value"] - b["value"], "se": math.hypot(a["se"], b["se"]),
            "at_chance": a["at_chance"] and b["at_chance"]}


def paired_test(label_a, values_a, label_b, values_b, *, order, unit="", scale=1.0) -> dict:
    """A test on two series measured at the same points (e.g. gradient norms at each probe).

    The standard error is the spread of the paired differences over the square root of
    their number; with fewer than two pairs there is no noise estimate and the test is
    undecided.
    """
    pairs = [(a, b) for a, b in zip(values_a, values_b) if a is not None and b is not None]
    mean_a = sum(a for a, _ in pairs) / len(pairs) if pairs else None
    mean_b = sum(b for _, b in pairs) / len(pairs) if pairs else None
    se = None
    if len(pairs) > 1:
        d = [b - a for a, b in pairs]
        m = sum(d) / len(d)
        se = math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1)) / math.sqrt(len(d))
    return {"a": {"label": label_a, "value": mean_a, "se": None, "at_chance": False},
            "b": {"label": label_b, "value": mean_b, "se": None, "at_chance": False},
            "order": order, "se": se, "unit": unit, "scale": scale, "pairs": len(pairs)}


def difference_test(a, b, *, order, unit="points", scale=100.0) -> dict:
    """The test of a row: arms ``a`` and ``b`` (from :func:`proportion_arm` or :func:`gap_arm`).

    Args:
        order: ``"a<b"`` when the claim holds if a's value is below b's, ``"a>b"`` otherwise.
        unit, scale: how the difference is written (proportions: ``scale=100``, "points").
    """
    if order not in ("a<b", "a>b"):
        raise ValueError(f"`order` must be 'a<b' or 'a>b'. Received: {order!r}")
    return {"a": a, "b": b, "order": order, "unit": unit, "scale": scale}


def judge(test) -> tuple:
    """``(held, verdict)`` of a row's test: True/False/None and the words for the table.

    Undecided (None) when a value is missing, when both arms are at chance, or when the
    difference is within NOISE_SE standard errors (or there is no noise estimate).
    """
    a, b = test["a"], test["b"]
    if a["value"] is None or b["value"] is None:
        return None, "undecided: not measured"
    if a["at_chance"] and b["at_chance"]:
        return None, "undecided: both arms at chance"
    se = test.get("se")
    if se is None and "se" not in test:
        se = math.hypot(a["se"], b["se"]) if a["se"] is not None and b["se"] is not None else None
    scale, unit = test.get("scale", 1.0), test.get("unit", "")
    diff = (b["value"] - a["value"]) if test["order"] == "a<b" else (a["value"] - b["value"])
    amount = f"{abs(diff) * scale:.1f}{' ' + unit if unit else ''}"
    if se is None:
        return None, f"undecided: no noise estimate ({amount} apart)"
    if abs(diff) <= NOISE_SE * se:
        return None, f"undecided: {amount} apart, within noise ({NOISE_SE:g} SE = {NOISE_SE * se * scale:.1f})"
    sigmas = abs(diff) / se if se > 0 else float("inf")
    chance = ""
    if a["at_chance"] or b["at_chance"]:
        chance = f"; {(a if a['at_chance'] else b)['label']} at chance"
    if diff > 0:
        return True, f"yes, by {amount} ({sigmas:.1f} SE{chance})"
    return False, f"no: {amount} the other way ({sigmas:.1f} SE{chance})"


def judge_rows(rows) -> list:
    """Fill ``held`` and ``verdict`` of every row that carries a ``test``; other rows keep the runner's."""
    for row in rows:
        if row.get("test") is not None:
            row["held"], row["verdict"] = judge(row["test"])
        elif "verdict" not in row:
            row["verdict"] = {True: "yes", False: "no", None: "undecided"}[row["held"]]
    return rows
