"""AlexNet on ImageNet as in Krizhevsky, Sutskever & Hinton, NIPS 2012 (Sec. 4-5).

SGD with momentum 0.9 and weight decay 5e-4, batch 128, learning rate 0.01
divided by 10 when the validation error stops improving (three times in about
90 epochs); random 224 crops of 256-pixel images, horizontal flips and PCA
lighting noise; the 10-crop test at the end. The Caffe-style 227 input keeps
the paper's 55x55 conv1 map.

    python recipes/alexnet_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("alexnet").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "alexnet",
    name="alexnet_imagenet",
    description="AlexNet on ImageNet (Krizhevsky et al., NIPS 2012)",
    dataset="tfds:imagenet2012",
    image_size=227,
    policy="alexnet",
    ten_crop=True,
    epochs=90,
    batch_size=128,
    schedule="plateau",
    decay_rate=0.1,
    plateau_patience=5,
    min_lr=1e-5,
    monitor="val_top1",
)
