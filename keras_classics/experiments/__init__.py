"""The course's claims, measured: seven small, seeded training comparisons.

Each experiment trains its networks with the package's one training engine
(:func:`keras_classics.training.train` on a
:class:`~keras_classics.training.RecipeConfig`) and the same data pipeline as
the recipes, on the generated shapes data unless a folder or TFDS source is
given. It writes a run directory::

    RUN_DIR/ARM-seedS/         one engine run directory per arm and seed (config.json,
                               history.csv, metrics.json, final.keras)
    RUN_DIR/results.json       settings, seeds, every measured number, the claims and whether they held
    RUN_DIR/figure.png         drawn from results.json
    RUN_DIR/table.txt          the printed table, rendered from results.json

A claim that does not hold at this scale is reported as not held; nothing is
adjusted to fit it. With ``repeats=N`` every arm is trained with seeds
``seed, seed+1, …`` and the table gives the mean and the spread.

>>> from keras_classics.experiments import list_experiments, run_experiment
>>> [e.name for e in list_experiments()][:2]
['relu-vs-tanh', 'dropout']
>>> result = run_experiment("sharing", quick=True)       # doctest: +SKIP
>>> result.results["rows"][0]["held"]                     # doctest: +SKIP

TensorFlow is imported only when an experiment runs.
"""

from keras_classics.experiments._core import (
    EXPERIMENTS,
    ExperimentResult,
    ExperimentSpec,
    experiment_spec,
    list_experiments,
    render_table,
    run_experiment,
)

__all__ = [
    "EXPERIMENTS",
    "ExperimentResult",
    "ExperimentSpec",
    "experiment_spec",
    "list_experiments",
    "render_table",
    "run_experiment",
]
