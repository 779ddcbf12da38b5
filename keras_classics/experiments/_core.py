"""The experiments' shared machinery: the catalogue, the run directory, training an
arm through the engine, repeats, ``results.json`` and the table.

This module imports no TensorFlow: the seven experiments
(:mod:`keras_classics.experiments._runs`) import the engine when they train, and
:mod:`keras_classics.experiments._figures` is imported when an experiment runs.
The statistics are :mod:`keras_classics.experiments.stats`.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import shutil
import time
from dataclasses import dataclass, field

from keras_classics.experiments._runs import RUNNERS
from keras_classics.experiments.stats import judge_rows
from keras_classics.io import write_json_atomic, write_text_atomic
from keras_classics.runs import new_run_dir

__all__ = [
    "EXPERIMENTS",
    "ExperimentSpec",
    "ExperimentResult",
    "experiment_spec",
    "list_experiments",
    "run_experiment",
    "render_table",
]


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment of the catalogue: its name, the claim it tests and where the claim is from."""

    name: str
    claim: str
    paper: str
    figure: str  # what the figure shows, in the paper's style
    min_classes: int = 2


EXPERIMENTS = {
    spec.name: spec
    for spec in (
        ExperimentSpec(
            "relu-vs-tanh",
            "A four-layer CNN with ReLUs reaches 25% training error several times (paper: six times) "
            "faster than the same network with tanh units.",
            "Krizhevsky, Sutskever & Hinton, NIPS 2012, Section 3.1 and Figure 1",
            "training error rate against epochs, ReLU solid and tanh dashed, the 25% line",
        ),
        ExperimentSpec(
            "dropout",
            "Dropout curbs overfitting: on a small training set it narrows the gap between training and "
            "validation accuracy.",
            "Krizhevsky et al., NIPS 2012, Section 4.2; Srivastava et al., JMLR 2014",
            "training and validation accuracy against epochs, with and without dropout",
        ),
        ExperimentSpec(
            "augmentation",
            "Data augmentation (random crops, flips, colour shift) curbs overfitting: it narrows the "
            "gap between training and validation accuracy.",
            "Krizhevsky et al., NIPS 2012, Section 4.1",
            "training and validation accuracy against epochs, with and without augmentation",
        ),
        ExperimentSpec(
            "plain-vs-residual",
            "Degradation: the plain 56-layer network has higher training error than the plain 20-layer "
            "one, while ResNet-56 has lower training error than ResNet-20.",
            "He, Zhang, Ren & Sun, CVPR 2016, Section 4.2, Figures 1 and 6",
            "training (dashed) and validation (solid) error against epochs: plain nets left, ResNets right",
        ),
        ExperimentSpec(
            "aux-classifiers",
            "GoogLeNet's auxiliary classifiers increase the gradient signal that reaches the lower "
            "layers (the first Inception block) and help training.",
            "Szegedy et al., CVPR 2015, Section 5",
            "gradient norm at inception_3a against epochs, and validation accuracy",
        ),
        ExperimentSpec(
            "shallow-first",
            "A deep VGG initialised from a trained shallower one (VGG-11 -> VGG-16) reaches a target "
            "accuracy in fewer epochs than the same network trained from scratch.",
            "Simonyan & Zisserman, ICLR 2015, Section 3.1",
            "validation accuracy against epochs: VGG-11, VGG-16 from VGG-11, VGG-16 from scratch",
        ),
        ExperimentSpec(
            "sharing",
            "Local connectivity and weight sharing: a convolution needs orders of magnitude fewer "
            "parameters than a dense layer with the same input and output, and at an equal parameter "
            "budget a CNN beats a fully connected network on images.",
            "LeCun, Bottou, Bengio & Haffner, Proc. IEEE 1998, Section II",
            "parameters and multiply-adds (log scale), and validation accuracy at equal budget",
        ),
    )
}


def list_experiments() -> list[ExperimentSpec]:
    """The seven experiments, in catalogue order."""
    return list(EXPERIMENTS.values())


def experiment_spec(name) -> ExperimentSpec:
    """The spec of ``name``; an unknown name lists the accepted ones."""
    if not isinstance(name, str) or name not in EXPERIMENTS:
        close = difflib.get_close_matches(str(name), list(EXPERIMENTS), n=2, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"Unknown experiment {name!r}.{hint} Accepted: {', '.join(EXPERIMENTS)}.")
    return EXPERIMENTS[name]


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns.

    Attributes:
        run_dir: the experiment's run directory.
        results: the content of ``results.json``.
        table: the table printed (rendered from ``results.json``).
        figure: path of the PNG.
    """

    run_dir: str
    results: dict
    table: str
    figure: str


# ---------------------------------------------------------------------- the run context
@dataclass
class Context:
    """What an experiment function gets: its settings, seeds, data and a way to train an arm."""

    name: str
    quick: bool
    seeds: list
    run_dir: str
    dataset: str
    val: str | None
    data_dir: str | None
    verbose: int
    arms: dict = field(default_factory=dict)  # arm -> list of per-seed records
    settings: dict = field(default_factory=dict)
    _sources: dict = field(default_factory=dict)

    @property
    def shapes(self) -> bool:
        return self.dataset == "shapes"

    def log(self, text):
        if self.verbose:
            print(f"[{self.name}] {text}", flush=True)

    def source(self, *, image_size, num_train, num_val, batch_size, min_steps=2, min_classes=2):
        """The data source, loaded once per image size, and checked against what the experiment needs."""
        from keras_classics.data import get_source

        key = (image_size, num_train, num_val)
        if key not in self._sources:
            if self.shapes:
                src = get_source("shapes", image_size=image_size, num_train=num_train, num_val=num_val,
                                 seed=self.seeds[0], verbose=bool(self.verbose))
            else:
                kwargs = {"seed": self.seeds[0], "verbose": bool(self.verbose)}
                if self.val:
                    kwargs["val"] = self.val
                if self.data_dir:
                    kwargs["data_dir"] = os.path.expanduser(self.data_dir)
                src = get_source(self.dataset, **kwargs)
            _check_source(self.name, src, batch_size=batch_size, min_steps=min_steps, min_classes=min_classes)
            self._sources[key] = src
        return self._sources[key]

    def train(self, arm, seed, config_fields, *, source, callbacks=(), keep_model=False, extra=None):
        """Train one arm with one seed through the engine; record its history and metrics."""
        from keras_classics.training import RecipeConfig, train

        sub_dir = os.path.join(self.run_dir, f"{arm}-seed{seed}")
        fields = dict(config_fields)
        fields.update(
            name=f"{self.name}-{arm}",
            dataset=self.dataset,
            val=self.val,
            data_dir=self.data_dir,
            seed=seed,
            run_dir=sub_dir,
            verbose=2 if self.verbose > 1 else 0,
            keep_checkpoints=1,
        )
        config = RecipeConfig().replace(**fields)
        self.log(f"training {arm} (seed {seed}): {config.model} {json.dumps(config.model_kwargs)}, "
                 f"{config.epochs} epochs")
        started = time.time()
        result = train(config, source=source, callbacks=list(callbacks))
        from keras_classics.training.losses import metric_key

        model = result.model
        history = {
            "train_top1": _floats(result.history.get(metric_key(model, "top1"), [])),
            "train_loss": _floats(result.history.get("loss", [])),
            "val_top1": _floats(result.history.get(metric_key(model, "top1", validation=True), [])),
            "val_loss": _floats(result.history.get("val_loss", [])),
        }
        record = {
            "seed": seed,
            "run_dir": os.path.relpath(result.run_dir, self.run_dir),
            "model": config.model,
            "model_kwargs": config.model_kwargs,
            "num_params": result.metrics.get("num_params"),
            "steps_per_epoch": result.metrics.get("steps_per_epoch"),
            "history": history,
            "final_val_top1": result.metrics.get("top1"),
            "final_train_top1": result.metrics.get("train_top1"),
            "wall_time_s": round(time.time() - started, 1),
        }
        record.update(extra or {})
        self.arms.setdefault(arm, []).append(record)
        _prune(result.run_dir)
        self.log(f"  {arm} seed {seed}: train top-1 {_pct(history['train_top1'])}, "
                 f"val top-1 {_pct(history['val_top1'])}, {record['wall_time_s']:.0f} s")
        if keep_model:
            return record, model
        del model, result
        import keras

        keras.backend.clear_session()
        return record, None


def _pct(values):
    return f"{values[-1]:.1%}" if values else "n/a"


def _floats(values):
    return [float(v) for v in values]


def _prune(run_dir):
    # The experiment keeps each engine run's config, history, metrics and final model; the
    # resume checkpoints and best.keras of these short runs are dropped to save disk.
    shutil.rmtree(os.path.join(run_dir, "checkpoints"), ignore_errors=True)
    best = os.path.join(run_dir, "best.keras")
    if os.path.isfile(best):
        os.remove(best)


def _check_source(name, src, *, batch_size, min_steps, min_classes):
    classes = int(src.num_classes)
    if classes < min_classes:
        raise ValueError(
            f"Experiment {name!r} needs a dataset with at least {min_classes} classes. Received: {src.name!r} "
            f"with {classes} ({', '.join(map(str, src.class_names))}). Accepted: 'shapes' (10 classes), a "
            "folder with one sub-folder per class, or a TFDS classification dataset."
        )
    needed = batch_size * min_steps
    if src.num_train < needed:
        raise ValueError(
            f"Experiment {name!r} needs at least {needed} training images ({min_steps} batches of {batch_size}). "
            f"Received: {src.name!r} with {src.num_train}. Accepted: a larger dataset, or 'shapes'."
        )
    if not src.num_val:
        raise ValueError(
            f"Experiment {name!r} measures validation accuracy, but {src.name!r} has no validation images. "
            "Accepted: a folder with enough images per class (a validation fraction is held out), a --val "
            "source, or a TFDS dataset with a validation or test split."
        )


# ---------------------------------------------------------------------- run directory
def _claim_run_dir(name, run_dir, runs_root):
    """Create the experiment's directory atomically (``os.mkdir``); never reuse an existing one."""
    if run_dir:
        path = os.path.abspath(os.path.expanduser(os.fspath(run_dir)))
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        try:
            os.mkdir(path)
        except FileExistsError:
            raise FileExistsError(
                f"The run directory {path!r} already exists; experiments never write into an existing "
                "directory. Accepted: a new path for --run-dir."
            ) from None
        return path
    root = os.path.abspath(os.path.expanduser(os.fspath(runs_root)))
    os.makedirs(root, exist_ok=True)
    base = os.path.join(root, f"experiment-{name}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    return new_run_dir(base)


# ---------------------------------------------------------------------- the table
def render_table(results: dict) -> str:
    """The claim / measured / held table of a ``results.json`` content (a row's ``verdict`` when it has one)."""
    rows = [("claim", "measured", "held")]
    for row in results["rows"]:
        held = row.get("verdict") or {True: "yes", False: "no", None: "undecided"}[row["held"]]
        rows.append((row["claim"], row["measured"], held))
    widths = [min(max(len(r[i]) for r in rows), 70) for i in range(3)]
    lines = []
    for i, r in enumerate(rows):
        cells = [_wrap(text, widths[j]) for j, text in enumerate(r)]
        height = max(len(c) for c in cells)
        for k in range(height):
            lines.append("  ".join((c[k] if k < len(c) else "").ljust(widths[j]) for j, c in enumerate(cells))
                         .rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    seeds = ", ".join(map(str, results["seeds"]))
    head = (f"{results['experiment']} ({'quick' if results['quick'] else 'default'} size, {results['dataset']}, "
            f"seeds {seeds}; {results['paper']})")
    return head + "\n" + "\n".join(lines) + "\n"


def _wrap(text, width):
    import textwrap

    return textwrap.wrap(text, width) or [""]


# ---------------------------------------------------------------------- entry point
def run_experiment(name, *, quick=False, repeats=1, seed=0, dataset="shapes", val=None, data_dir=None,
                   run_dir=None, runs_root="runs", verbose=1) -> ExperimentResult:
    """Run one experiment of the catalogue and write its run directory.

    Args:
        name: one of :func:`list_experiments` (``"relu-vs-tanh"``, ``"dropout"``, …).
        quick: the short version (tiny images, few images and epochs), used by
            the tests; usually too small for the claim to show.
        repeats: train every arm with seeds ``seed .. seed+repeats-1``; the
            table gives mean ± standard deviation.
        seed: the first seed (weights, data order, augmentation; shapes data
            are generated once, from this seed).
        dataset: ``"shapes"``, ``"folder:PATH"`` or ``"tfds:NAME"``.
        val, data_dir: validation source and TFDS data directory, as for training.
        run_dir: the directory to create (must not exist); default
            ``RUNS_ROOT/experiment-NAME-TIMESTAMP``.
        runs_root: parent of the default run directory.
        verbose: 0 silent, 1 a line per trained arm, 2 the engine's epoch lines too.

    Returns:
        An :class:`ExperimentResult`.

    Raises:
        ValueError: an unknown name, ``repeats`` or ``seed`` out of range, a
            dataset without enough classes or images (nothing is written).

    Example:
        >>> result = run_experiment("relu-vs-tanh", quick=True)     # doctest: +SKIP
        >>> print(result.table)                                     # doctest: +SKIP
    """
    spec = experiment_spec(name)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"`repeats` must be a positive integer (1, 2, 3, ...). Received: repeats={repeats!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"`dataset` must be 'shapes', 'folder:PATH' or 'tfds:NAME'. Received: dataset={dataset!r}")
    if verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received: verbose={verbose!r}")

    from keras_classics.experiments import _figures  # numpy and the plotting helpers, once an experiment runs

    path = _claim_run_dir(spec.name, run_dir, runs_root)
    started = time.time()
    ctx = Context(name=spec.name, quick=bool(quick), seeds=[seed + i for i in range(repeats)], run_dir=path,
                  dataset=dataset, val=val, data_dir=data_dir, verbose=verbose)
    try:
        measured = RUNNERS[spec.name](ctx)
        judge_rows(measured["rows"])
    except BaseException:
        # Nothing useful was written when the inputs were refused before any training.
        if not ctx.arms:
            shutil.rmtree(path, ignore_errors=True)
        raise
    results = {
        "experiment": spec.name,
        "claim": spec.claim,
        "paper": spec.paper,
        "figure": spec.figure,
        "quick": ctx.quick,
        "repeats": repeats,
        "seeds": ctx.seeds,
        "dataset": dataset,
        "settings": ctx.settings,
        **measured,
        "arms": ctx.arms,
        "wall_time_s": round(time.time() - started, 1),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    results_path = os.path.join(path, "results.json")
    write_json_atomic(results_path, results)
    with open(results_path, encoding="utf-8") as f:  # the figure and the table read the file back
        stored = json.load(f)
    figure = _figures.draw(stored, os.path.join(path, "figure.png"))
    table = render_table(stored)
    write_text_atomic(os.path.join(path, "table.txt"), table)
    if verbose:
        print(table, end="")
        print(f"Wrote {results_path}, {figure} ({stored['wall_time_s']:.0f} s)")
    return ExperimentResult(run_dir=path, results=stored, table=table, figure=figure)
