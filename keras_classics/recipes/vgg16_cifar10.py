"""VGG16 with batch norm on CIFAR-10, for one GPU.

Configuration D with batch normalisation after each conv (the paper's net
without BN needs its shallow-to-deep initialisation to train), dropout 0.5 in
the FC layers; SGD with momentum 0.9, weight decay 5e-4, learning rate 0.05 at
batch 128 with 2 epochs of warm-up and a cosine decay over 200 epochs; CIFAR
padding, crops and flips.

    python recipes/vgg16_cifar10.py
"""

from keras_classics.training.config import RecipeConfig

CONFIG = RecipeConfig(
    name="vgg16_cifar10",
    description="VGG16-BN on CIFAR-10",
    model="vgg16_bn",
    dataset="tfds:cifar10",
    image_size=32,
    policy="cifar",
    epochs=200,
    batch_size=128,
    optimizer="sgd",
    lr=0.05,
    lr_batch_size=128,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_epochs=2,
)
