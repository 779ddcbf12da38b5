"""ZFNet on ImageNet as in Zeiler & Fergus, ECCV 2014 (Sec. 3).

As AlexNet's training: SGD, momentum 0.9, batch 128, learning rate 0.01 lowered
by hand when the validation error plateaus (here: ÷10 after 5 epochs without
improvement), dropout 0.5 in the FC layers, 70 epochs; 224 crops of
256-pixel images with flips; the 10-crop test. Conv filters whose RMS exceeds
0.1 are renormalised to 0.1 after every step (Sec. 3). The paper states no
weight decay: AlexNet's 5e-4 is used.

    python recipes/zfnet_imagenet.py --data-dir ~/tensorflow_datasets
"""

from keras_classics.training.config import config_for_model

# The optimisation settings of the paper (optimizer, learning rate at its batch size, momentum,
# weight decay, and the like) come from the model\'s registry entry,
# keras_classics.model_info("zfnet").recipe; the lines below are this recipe\'s own.
CONFIG = config_for_model(
    "zfnet",
    name="zfnet_imagenet",
    description="ZFNet on ImageNet (Zeiler & Fergus, ECCV 2014)",
    dataset="tfds:imagenet2012",
    image_size=224,
    policy="alexnet",
    ten_crop=True,
    epochs=70,
    batch_size=128,
    filter_rms_max=0.1,
    schedule="plateau",
    decay_rate=0.1,
    plateau_patience=5,
    min_lr=1e-5,
    monitor="val_top1",
)
