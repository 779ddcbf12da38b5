"""BN-Inception on ImageNet, Ioffe & Szegedy, ICML 2015 (Sec. 4.2).

The "BN-x30" network of the paper's Table 2 (74.8% top-1 single crop): SGD
with momentum 0.9, mini-batches of 32, initial learning rate 0.045 (30 times
Inception's 0.0015), Inception's exponential decay (×0.96 every 8 epochs) made
6 times faster (every 4/3 epoch), the L2 weight decay reduced 5 times (4e-5),
no dropout, no LRN; Inception crops with lighter photometric distortion.

    python recipes/inception_v2_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("inception_v2").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "inception_v2",
    name="inception_v2_imagenet",
    description="BN-Inception (BN-x30) on ImageNet (Ioffe & Szegedy, ICML 2015)",
    model_kwargs={"dropout": 0.0},
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="inception",
    epochs=100,
    batch_size=256,
    lr=0.045,
    schedule="step",
    decay_every=4 / 3,
    decay_rate=0.96,
)
