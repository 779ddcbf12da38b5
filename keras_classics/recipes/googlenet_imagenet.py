"""GoogLeNet on ImageNet, Szegedy et al., CVPR 2015 (Sec. 6).

The two auxiliary classifiers are trained with their losses weighted by 0.3 and
discarded at inference. SGD with momentum 0.9, the learning rate decreased by
4% every 8 epochs, Polyak averaging of the weights for the final model (decay
0.9999, the paper gives none); Inception-style crops of 8-100% of the image area with
aspect ratios in [3/4, 4/3] and photometric distortions. The paper gives no
base rate, weight decay or length: these follow the BVLC Caffe release
(0.01 at batch 32, 2e-4, 10M iterations ≈ 250 epochs).

    python recipes/googlenet_imagenet.py --dataset folder:/data/train --val folder:/data/val
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("googlenet").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "googlenet",
    name="googlenet_imagenet",
    description="GoogLeNet with its auxiliary classifiers on ImageNet (Szegedy et al., CVPR 2015)",
    model_kwargs={"aux_logits": True},
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="inception",
    epochs=250,
    batch_size=256,
    ema=0.9999,
    schedule="step",
    decay_every=8,
    decay_rate=0.96,
)
