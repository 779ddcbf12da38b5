"""VGG11 (configuration A) on ImageNet, Simonyan & Zisserman, ICLR 2015 (Sec. 3.1).

Runs the recipe shipped in the package, ``keras_classics/recipes/vgg11_imagenet.toml``: its
settings and their sources are there. Any field can be overridden on the
command line (``--epochs 3``); ``--print-config`` shows the result.

    python recipes/vgg11_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training import load_recipe, run_recipe

if __name__ == "__main__":
    run_recipe(load_recipe("vgg11_imagenet"))
