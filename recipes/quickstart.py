"""Quickstart: train ResNet-18 on the generated shapes dataset, offline, on a laptop CPU.

Runs the recipe shipped in the package, ``keras_classics/recipes/quickstart.toml``: its
settings and their sources are there. Any field can be overridden on the
command line (``--epochs 3``); ``--print-config`` shows the result.

    python recipes/quickstart.py
    python recipes/quickstart.py --epochs 6 --policy cifar   # any field can be overridden
"""

from keras_classics.training import load_recipe, run_recipe

if __name__ == "__main__":
    run_recipe(load_recipe("quickstart"))
