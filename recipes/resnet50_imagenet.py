"""ResNet-50 on ImageNet, He, Zhang, Ren & Sun, CVPR 2016 (Sec. 3.4).

SGD with momentum 0.9, weight decay 1e-4, batch 256, learning rate 0.1
divided by 10 when the error plateaus, up to 60e4 iterations (120 epochs);
scale augmentation (shorter side in [256, 480]), random 224 crops, flips and
colour augmentation. The common fixed schedule instead of the plateau rule:
--schedule step --milestones 30,60,80 --epochs 90.

    python recipes/resnet50_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training import RecipeConfig, run_recipe

CONFIG = RecipeConfig(
    name="resnet50_imagenet",
    description="ResNet-50 on ImageNet (He et al., CVPR 2016)",
    model="resnet50",
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="resnet",
    epochs=120,
    batch_size=256,
    optimizer="sgd",
    lr=0.1,
    lr_batch_size=256,
    momentum=0.9,
    weight_decay=1e-4,
    schedule="plateau",
    decay_rate=0.1,
    plateau_patience=5,
    min_lr=1e-4,
    monitor="val_top1",
)

if __name__ == "__main__":
    run_recipe(CONFIG)
