"""GoogLeNet with its auxiliary classifiers on CIFAR-10, for one GPU.

The batch-norm variant (``variant="bn"``) at 96x96 (CIFAR images upsampled, so
that the auxiliary heads' 5x5/3 pooling has a map to pool), the auxiliary
losses weighted 0.3 as in the paper; SGD with momentum 0.9, weight decay 5e-4,
learning rate 0.1 at batch 128, cosine decay over 100 epochs; CIFAR padding,
crops and flips.

    python recipes/googlenet_cifar10.py
"""

from keras_classics.training.config import RecipeConfig

CONFIG = RecipeConfig(
    name="googlenet_cifar10",
    description="GoogLeNet (BN) with auxiliary classifiers on CIFAR-10",
    model="googlenet",
    model_kwargs={"aux_logits": True, "variant": "bn"},
    aux_loss_weights={"aux_1": 0.3, "aux_2": 0.3},
    dataset="tfds:cifar10",
    image_size=96,
    policy="cifar",
    epochs=100,
    batch_size=128,
    optimizer="sgd",
    lr=0.1,
    lr_batch_size=128,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="cosine",
    warmup_epochs=1,
)
