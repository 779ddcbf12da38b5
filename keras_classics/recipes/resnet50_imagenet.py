"""ResNet-50 on ImageNet, He, Zhang, Ren & Sun, CVPR 2016 (Sec. 3.4).

SGD with momentum 0.9, weight decay 1e-4, batch 256, learning rate 0.1
divided by 10 when the error plateaus, up to 60e4 iterations (120 epochs);
scale augmentation (shorter side in [256, 480]), random 224 crops, flips and
colour augmentation. The common fixed schedule instead of the plateau rule:
--schedule step --milestones 30,60,80 --epochs 90.

    python recipes/resnet50_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("resnet50").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "resnet50",
    name="resnet50_imagenet",
    description="ResNet-50 on ImageNet (He et al., CVPR 2016)",
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="resnet",
    epochs=120,
    batch_size=256,
    schedule="plateau",
    decay_rate=0.1,
    plateau_patience=5,
    min_lr=1e-4,
    monitor="val_top1",
)
