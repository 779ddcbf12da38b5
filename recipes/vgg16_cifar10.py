"""VGG16 with batch norm on CIFAR-10, for one GPU.

Runs the recipe shipped in the package, ``keras_classics/recipes/vgg16_cifar10.toml``: its
settings and their sources are there. Any field can be overridden on the
command line (``--epochs 3``); ``--print-config`` shows the result.

    python recipes/vgg16_cifar10.py
"""

from keras_classics.training import load_recipe, run_recipe

if __name__ == "__main__":
    run_recipe(load_recipe("vgg16_cifar10"))
