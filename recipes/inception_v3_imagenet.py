"""Inception v3 on ImageNet, Szegedy et al., CVPR 2016 (Sec. 7-8).

RMSProp with decay 0.9 and epsilon 1.0, learning rate 0.045 (per batch of 32)
decayed ×0.94 every 2 epochs, gradient clipping at 2.0, label smoothing 0.1,
the auxiliary classifier's loss weighted 0.4 (the released training code),
weight decay 4e-5, 100 epochs at 299x299 with Inception crops and photometric
distortions.

    python recipes/inception_v3_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training import RecipeConfig, run_recipe

CONFIG = RecipeConfig(
    name="inception_v3_imagenet",
    description="Inception v3 with its auxiliary classifier on ImageNet (Szegedy et al., CVPR 2016)",
    model="inception_v3",
    model_kwargs={"aux_logits": True},
    aux_loss_weights={"aux": 0.4},
    dataset="tfds:imagenet2012",
    image_size=299,
    policy="inception",
    label_smoothing=0.1,
    epochs=100,
    batch_size=256,
    optimizer="rmsprop",
    lr=0.045,
    lr_batch_size=32,
    rho=0.9,
    momentum=0.9,
    epsilon=1.0,
    clipnorm=2.0,
    weight_decay=4e-5,
    schedule="step",
    decay_every=2,
    decay_rate=0.94,
)

if __name__ == "__main__":
    run_recipe(CONFIG)
