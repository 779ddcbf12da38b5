"""VGG11 (configuration A) on ImageNet, Simonyan & Zisserman, ICLR 2015 (Sec. 3.1).

The shallow net trained from random initialisation, whose first four conv
layers and three FC layers then initialise the deeper configurations
(recipes/vgg16_imagenet.py --init-from RUN_DIR). Training as for every
configuration: SGD, momentum 0.9, batch 256, weight decay 5e-4, dropout 0.5,
learning rate 0.01 divided by 10 when the validation accuracy stops improving,
74 epochs, scale jittering S in [256, 512] with 224 crops and flips.

    python recipes/vgg11_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training import RecipeConfig, run_recipe

CONFIG = RecipeConfig(
    name="vgg11_imagenet",
    description="VGG11 (configuration A) on ImageNet (Simonyan & Zisserman, ICLR 2015)",
    model="vgg11",
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="vgg",
    epochs=74,
    batch_size=256,
    optimizer="sgd",
    lr=0.01,
    lr_batch_size=256,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="plateau",
    decay_rate=0.1,
    plateau_patience=5,
    min_lr=1e-5,
    monitor="val_top1",
)

if __name__ == "__main__":
    run_recipe(CONFIG)
