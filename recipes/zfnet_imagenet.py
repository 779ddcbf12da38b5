"""ZFNet on ImageNet as in Zeiler & Fergus, ECCV 2014 (Sec. 3).

Runs the recipe shipped in the package, ``keras_classics/recipes/zfnet_imagenet.toml``: its
settings and their sources are there. Any field can be overridden on the
command line (``--epochs 3``); ``--print-config`` shows the result.

    python recipes/zfnet_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training import load_recipe, run_recipe

if __name__ == "__main__":
    run_recipe(load_recipe("zfnet_imagenet"))
