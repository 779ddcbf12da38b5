"""ZFNet on ImageNet as in Zeiler & Fergus, ECCV 2014 (Sec. 3).

Runs the recipe shipped in the package, ``keras_classics/recipes/zfnet_imagenet.toml``: its
settings and their sources are there. Any field can be overridden on the
command line (``--epochs 3``); ``--print-config`` shows the result.

    python recipes/zfnet_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics._startup import quiet_tensorflow

if __name__ == "__main__":
    # As the command line does, before anything starts TensorFlow (loading a recipe can: it reads the
    # registry, which imports the models and Keras): TensorFlow's C++ start-up lines held back.
    quiet_tensorflow()
    from keras_classics.training import load_recipe, run_recipe  # after quiet_tensorflow(), see above

    run_recipe(load_recipe("zfnet_imagenet"))
