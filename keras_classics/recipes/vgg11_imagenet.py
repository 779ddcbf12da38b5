"""VGG11 (configuration A) on ImageNet, Simonyan & Zisserman, ICLR 2015 (Sec. 3.1).

The shallow net trained from random initialisation, whose first four conv
layers and three FC layers then initialise the deeper configurations
(recipes/vgg16_imagenet.py --init-from RUN_DIR). Training as for every
configuration: SGD, momentum 0.9, batch 256, weight decay 5e-4, dropout 0.5,
learning rate 0.01 divided by 10 when the validation accuracy stops improving,
74 epochs, scale jittering S in [256, 512] with 224 crops and flips.

    python recipes/vgg11_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("vgg11").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "vgg11",
    name="vgg11_imagenet",
    description="VGG11 (configuration A) on ImageNet (Simonyan & Zisserman, ICLR 2015)",
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="vgg",
    epochs=74,
    batch_size=256,
    schedule="plateau",
    decay_rate=0.1,
    plateau_patience=5,
    min_lr=1e-5,
    monitor="val_top1",
)
