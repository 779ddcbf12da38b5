"""ResNet-50 on ImageNet, He, Zhang, Ren & Sun, CVPR 2016 (Sec. 3.4).

Runs the recipe shipped in the package, ``keras_classics/recipes/resnet50_imagenet.toml``: its
settings and their sources are there. Any field can be overridden on the
command line (``--epochs 3``); ``--print-config`` shows the result.

    python recipes/resnet50_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training import load_recipe, run_recipe

if __name__ == "__main__":
    run_recipe(load_recipe("resnet50_imagenet"))
