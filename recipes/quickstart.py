"""Quickstart: train ResNet-18 on the generated shapes dataset, offline, on a laptop CPU.

Ten classes of rendered shapes with background clutter (keras_classics.data,
no download), 10,000 training and 1,000 validation images at 32x32;
ResNet-18 (He et al., CVPR 2016) with SGD + Nesterov momentum, a one-epoch
warm-up and a cosine decay. On two CPU cores it trains in about ten minutes and
saves the model in runs/quickstart-TIMESTAMP/; the accuracy measured so far is
in docs/training.md.

    python recipes/quickstart.py
    python recipes/quickstart.py --epochs 3 --image-size 64   # any field can be overridden
"""

from keras_classics.training import RecipeConfig, run_recipe

CONFIG = RecipeConfig(
    name="quickstart",
    description="ResNet-18 on the generated shapes dataset (offline, CPU friendly)",
    model="resnet18",
    dataset="shapes",
    image_size=32,
    policy="cifar",
    epochs=6,
    batch_size=64,
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_epochs=1,
)

if __name__ == "__main__":
    run_recipe(CONFIG)
