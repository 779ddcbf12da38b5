"""Inception v3 on ImageNet, Szegedy et al., CVPR 2016 (Sec. 7-8).

RMSProp with decay 0.9 and epsilon 1.0, learning rate 0.045 (per batch of 32)
decayed ×0.94 every 2 epochs, gradient clipping at 2.0, label smoothing 0.1,
the auxiliary classifier's loss weighted 0.4 (the released training code),
weight decay 4e-5, 100 epochs at 299x299 with Inception crops and photometric
distortions.

    python recipes/inception_v3_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("inception_v3").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "inception_v3",
    name="inception_v3_imagenet",
    description="Inception v3 with its auxiliary classifier on ImageNet (Szegedy et al., CVPR 2016)",
    model_kwargs={"aux_logits": True},
    dataset="tfds:imagenet2012",
    image_size=299,
    policy="inception",
    epochs=100,
    batch_size=256,
    schedule="step",
    decay_every=2,
    decay_rate=0.94,
)
