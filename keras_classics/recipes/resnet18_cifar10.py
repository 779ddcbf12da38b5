"""ResNet-18 on CIFAR-10 with the CIFAR schedule of He et al., CVPR 2016 (Sec. 4.2).

SGD with momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1
divided by 10 at 32k and 48k iterations and stopped at 64k (epochs 82, 123,
164 of 391 iterations); 4-pixel padding, random 32x32 crops and flips. The
network is the ImageNet ResNet-18 (7x7/2 stem and max pool), so the last stage
sees a 1x1 map: expect less than the paper's CIFAR ResNets. One GPU, about an hour.

    python recipes/resnet18_cifar10.py
"""

from keras_classics.training.config import RecipeConfig

CONFIG = RecipeConfig(
    name="resnet18_cifar10",
    description="ResNet-18 on CIFAR-10 (He et al.'s CIFAR schedule)",
    model="resnet18",
    dataset="tfds:cifar10",
    image_size=32,
    policy="cifar",
    epochs=164,
    batch_size=128,
    optimizer="sgd",
    lr=0.1,
    lr_batch_size=128,
    momentum=0.9,
    weight_decay=1e-4,
    schedule="step",
    milestones=[82, 123],
    decay_rate=0.1,
)
