"""VGG16 (configuration D) on ImageNet, Simonyan & Zisserman, ICLR 2015 (Sec. 3.1).

SGD, momentum 0.9, batch 256, weight decay 5e-4, dropout 0.5 on fc1 and fc2,
learning rate 0.01 divided by 10 when the validation accuracy stops improving
(three times; 74 epochs), scale jittering S in [256, 512] with random 224 crops
and flips. The paper initialised the deeper nets from a trained configuration A:

    python recipes/vgg11_imagenet.py --data-dir ~/tensorflow_datasets --run-dir runs/vgg11
    python recipes/vgg16_imagenet.py --data-dir ~/tensorflow_datasets --init-from runs/vgg11/final.keras

copies its first four conv layers and fc1, fc2, predictions (the rest stays random).
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("vgg16").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "vgg16",
    name="vgg16_imagenet",
    description="VGG16 (configuration D) on ImageNet (Simonyan & Zisserman, ICLR 2015)",
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
