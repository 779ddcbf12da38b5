"""VGG16 (configuration D) on ImageNet, Simonyan & Zisserman, ICLR 2015 (Sec. 3.1).

SGD, momentum 0.9, batch 256, weight decay 5e-4, dropout 0.5 on fc1 and fc2,
learning rate 0.01 divided by 10 when the validation accuracy stops improving
(three times; 74 epochs), scale jittering S in [256, 512] with random 224 crops
and flips. The paper initialised the deeper nets from a trained configuration A:

    python recipes/vgg11_imagenet.py --data-dir ~/tensorflow_datasets --run-dir runs/vgg11
    python recipes/vgg16_imagenet.py --data-dir ~/tensorflow_datasets --init-from runs/vgg11/final.keras

copies its first four conv layers and fc1, fc2, predictions (the rest stays random).
"""

from keras_classics.training import RecipeConfig, run_recipe

CONFIG = RecipeConfig(
    name="vgg16_imagenet",
    description="VGG16 (configuration D) on ImageNet (Simonyan & Zisserman, ICLR 2015)",
    model="vgg16",
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="vgg",
    epochs=74,
    batch_size=256,
    optimizer="sgd",
    lr=0.01,
    lr_batch_size=256,
    momentum=0.9,
    weight_decay=5e-4,
    schedule="plateau",
    decay_rate=0.1,
    plateau_patience=5,
    min_lr=1e-5,
    monitor="val_top1",
)

if __name__ == "__main__":
    run_recipe(CONFIG)
