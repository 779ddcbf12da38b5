"""``keras-classics experiment NAME``: a thin wrapper over :func:`keras_classics.experiments.run_experiment`."""

from __future__ import annotations

from keras_classics._cliargs import int_at_least
from keras_classics.experiments._core import EXPERIMENTS, list_experiments, run_experiment


def _listing() -> str:
    width = max(len(name) for name in EXPERIMENTS)
    return "\n".join(f"{spec.name.ljust(width)}  {spec.claim}  [{spec.paper}]" for spec in list_experiments())


def _cmd_experiment(args):
    if args.list:
        print(_listing())
        return 0
    if not args.name:
        raise ValueError(f"Name an experiment. Accepted: {', '.join(EXPERIMENTS)} (or --list).")
    result = run_experiment(args.name, quick=args.quick, repeats=args.repeats, seed=args.seed,
                            dataset=args.dataset, val=args.val, data_dir=args.data_dir, run_dir=args.run_dir,
                            runs_root=args.runs_root, verbose=args.verbose)
    if not args.verbose:
        print(result.table, end="")
    return 0


def register(subparsers) -> None:
    """Add ``experiment``."""
    p = subparsers.add_parser(
        "experiment",
        help="run one of the course's claims as a small seeded training comparison",
        description="Train the arms of one experiment with the training engine, write RUN_DIR/results.json, "
        "RUN_DIR/figure.png and print the table: the claim, what was measured, whether it held. "
        f"Experiments: {', '.join(EXPERIMENTS)}.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help=f"one of: {', '.join(EXPERIMENTS)}")
    p.add_argument("--list", action="store_true", help="list the experiments and their claims")
    p.add_argument("--quick", action="store_true", help="the short version (tiny images, 1-2 epochs)")
    p.add_argument("--repeats", type=int_at_least(1), default=1, metavar="N",
                   help="train every arm with N seeds (seed, seed+1, ...); the table gives mean ± std")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="first seed (default 0)")
    p.add_argument("--dataset", default="shapes", metavar="SOURCE",
                   help="'shapes' (default, generated offline), 'folder:/path' or 'tfds:NAME'")
    p.add_argument("--val", metavar="SOURCE", help="validation source (folders, TFDS)")
    p.add_argument("--data-dir", dest="data_dir", metavar="DIR", help="TFDS data directory")
    p.add_argument("--run-dir", dest="run_dir", metavar="DIR", help="directory to create (must not exist)")
    p.add_argument("--runs-root", dest="runs_root", default="runs", metavar="DIR",
                   help="parent of the default run directory (default: runs)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="0 the table only, 1 a line per trained arm and the table, 2 the engine's epoch lines too")
    p.set_defaults(func=_cmd_experiment)
