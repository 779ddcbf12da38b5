"""``keras-classics cache``: what the package keeps on disk (shapes datasets, weights files), and clearing it.

Reads folders only: no TensorFlow, no Keras. Only the package's own files are
listed and removed, recognised by their names and kinds
(:func:`keras_classics.data.shapes.cached_shapes`,
:func:`keras_classics.weights.cached_weights_files`); anything else in the
folders stays.
"""

from __future__ import annotations

import os

KINDS = ("shapes", "weights")


def register(subparsers) -> None:
    """Add ``cache`` and ``cache clear``."""
    cache = subparsers.add_parser(
        "cache", help="show the cached shapes datasets and weights files; `cache clear` removes them",
        description="The package's cached files with their sizes: the generated shapes datasets "
                    "($KERAS_CLASSICS_CACHE, default ~/.cache/keras_classics; bounded by "
                    "$KERAS_CLASSICS_SHAPES_CACHE_MB, default 90 MiB) and the pretrained weights files of "
                    "the registry's sets in Keras's cache ($KERAS_HOME/models, default ~/.keras/models).")
    csub = cache.add_subparsers(dest="cache_command", metavar="ACTION")
    cache.set_defaults(func=_cmd_show)
    p = csub.add_parser("clear", help="remove the package's own cached files (shapes, weights, or both)",
                        description="Remove the shapes datasets the package cached and the weights files it "
                                    "downloaded. Nothing else in those folders is touched: not your files, "
                                    "not keras.applications' weights, which Keras manages.")
    p.add_argument("kind", nargs="?", choices=KINDS, help="only this kind (default: both)")
    p.set_defaults(func=_cmd_clear)


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"


def _cmd_show(args) -> int:
    # NumPy and the registry load when the command runs, so that `keras-classics --help` stays light.
    from keras_classics.data.shapes import cache_dir, cache_limit, cached_shapes
    from keras_classics.weights import cached_weights_files, keras_cache_dir

    shapes = cached_shapes()
    weights = cached_weights_files()
    rows = [(path.name, size, "") for path, size in shapes]
    print(f"Shapes datasets in {cache_dir()} (bound {_mib(cache_limit())}):")
    _print_rows(rows)
    print(f"Weights files in {keras_cache_dir()}:")
    _print_rows([(_name(f.path), f.size, ", ".join(f.sets) + ("" if f.own else " (keras.applications' file)"))
                 for f in weights])
    total = sum(size for _, size in shapes) + sum(f.size for f in weights)
    print(f"Total: {_mib(total)}. `keras-classics cache clear [shapes|weights]` removes the package's own files.")
    return 0


def _name(path) -> str:
    name = os.path.basename(path)
    return f"{name} (partial download)" if name.startswith(".") else name


def _print_rows(rows) -> None:
    if not rows:
        print("  (none)")
        return
    width = max(len(name) for name, _, _ in rows)
    for name, size, note in rows:
        print(f"  {name:<{width}}  {_mib(size):>12}  {note}".rstrip())
    print(f"  {'total':<{width}}  {_mib(sum(size for _, size, _ in rows)):>12}")


def _cmd_clear(args) -> int:
    # NumPy and the registry load when the command runs, so that `keras-classics --help` stays light.
    from keras_classics.data.shapes import cache_dir, clear_shapes_cache
    from keras_classics.weights import clear_weights_cache, keras_cache_dir

    kinds = (args.kind,) if args.kind else KINDS
    if "shapes" in kinds:
        removed = clear_shapes_cache()
        print(f"Removed {len(removed)} shapes dataset file(s), {_mib(sum(s for _, s in removed))}, from {cache_dir()}.")
    if "weights" in kinds:
        removed = clear_weights_cache()
        print(f"Removed {len(removed)} weights file(s), {_mib(sum(f.size for f in removed))}, from "
              f"{keras_cache_dir()}.")
    return 0
