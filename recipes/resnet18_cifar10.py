"""ResNet-18 on CIFAR-10 with the CIFAR schedule of He et al., CVPR 2016 (Sec. 4.2).

Runs the recipe shipped in the package, ``keras_classics/recipes/resnet18_cifar10.toml``: its
settings and their sources are there. Any field can be overridden on the
command line (``--epochs 3``); ``--print-config`` shows the result.

    python recipes/resnet18_cifar10.py
"""

from keras_classics.training import load_recipe, run_recipe

if __name__ == "__main__":
    run_recipe(load_recipe("resnet18_cifar10"))
