"""Learning-rate schedules of the classic papers, with linear warm-up.

One :class:`ClassicSchedule` computes every kind from the optimizer's step
count, so the rate is a pure function of the step (and resumes exactly):

* ``"constant"``: ``lr``.
* ``"step"``: ``lr * decay_rate ** k`` where ``k`` counts the passed
  ``milestones`` (epochs), or, with ``decay_every``, ``k = epoch // decay_every``
  (GoogLeNet: ×0.96 every 8 epochs; Inception v3: ×0.94 every 2 epochs).
* ``"cosine"``: half a cosine from ``lr`` to ``min_lr`` over the epochs after warm-up.
* ``"polynomial"``: ``(1 - t) ** power`` from ``lr`` to ``min_lr`` (Caffe's "poly").
* ``"plateau"``: ``lr`` times a factor that :class:`~keras_classics.training.callbacks.ReduceOnPlateau`
  lowers when the monitored validation metric stops improving (AlexNet, VGG,
  ResNet: "divided by 10 when the error plateaus").

Every kind is multiplied by that plateau factor (1 unless the callback changed
it) and preceded by ``warmup_epochs`` of linear warm-up from ``lr / warmup_steps``
to the schedule's value (Goyal et al. 2017).

The schedule uses ``keras.ops`` only and is serializable.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["SCHEDULES", "ClassicSchedule", "scaled_learning_rate"]

SCHEDULES = ("constant", "step", "cosine", "polynomial", "plateau")


def scaled_learning_rate(lr: float, batch_size: int, reference_batch_size: int | None) -> float:
    """The linear scaling rule: ``lr * batch_size / reference_batch_size``.

    ``reference_batch_size=None`` means ``lr`` is used as given.
    """
    if reference_batch_size is None:
        return float(lr)
    return float(lr) * batch_size / reference_batch_size


@keras.saving.register_keras_serializable(package="keras_classics")
class ClassicSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A step-indexed learning-rate schedule with linear warm-up.

    Args:
        kind: one of :data:`SCHEDULES`.
        lr: the peak (initial) learning rate, already scaled for the batch size.
        steps_per_epoch: optimizer steps in one epoch.
        epochs: total epochs of the run (cosine and polynomial end there).
        warmup_epochs: epochs of linear warm-up (may be fractional).
        milestones: epochs after which ``"step"`` multiplies the rate by ``decay_rate``.
        decay_every: with ``"step"`` and no milestones, decay every this many epochs.
        decay_rate: the step factor (0.1 for "÷10").
        power: exponent of ``"polynomial"``.
        min_lr: the floor of ``"cosine"`` and ``"polynomial"``.

    Example:
        >>> s = ClassicSchedule("step", 0.045, steps_per_epoch=100, epochs=100,
        ...                     decay_every=2, decay_rate=0.94)
        >>> float(s(250))   # epoch 2.5: one decay
        0.0423
    """

    def __init__(
        self,
        kind,
        lr,
        steps_per_epoch,
        epochs,
        warmup_epochs=0.0,
        milestones=(),
        decay_every=None,
        decay_rate=0.1,
        power=1.0,
        min_lr=0.0,
        name="classic_schedule",
    ):
        if kind not in SCHEDULES:
            raise ValueError(f"Unknown schedule {kind!r}. Accepted: {', '.join(SCHEDULES)}.")
        if steps_per_epoch < 1:
            raise ValueError(f"`steps_per_epoch` must be at least 1. Received: {steps_per_epoch!r}")
        self.kind = kind
        self.lr = float(lr)
        self.steps_per_epoch = int(steps_per_epoch)
        self.epochs = float(epochs)
        self.warmup_epochs = float(warmup_epochs)
        self.milestones = tuple(float(m) for m in milestones)
        self.decay_every = None if decay_every is None else float(decay_every)
        self.decay_rate = float(decay_rate)
        self.power = float(power)
        self.min_lr = float(min_lr)
        self.name = name
        # Lowered by ReduceOnPlateau; not part of the config (checkpoints store it).
        self.factor = keras.Variable(1.0, dtype="float32", trainable=False, name="lr_factor")

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup_epochs * self.steps_per_epoch))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        # Whole epochs completed, for the staircase decays.
        epoch_index = ops.floor(step / self.steps_per_epoch)
        lr = self.lr
        if self.kind == "step":
            if self.milestones:
                passed = ops.sum(
                    ops.cast(ops.greater_equal(epoch_index, ops.convert_to_tensor(self.milestones)), "float32")
                )
            elif self.decay_every:
                passed = ops.floor(epoch_index / self.decay_every)
            else:
                passed = ops.convert_to_tensor(0.0)
            lr = self.lr * ops.power(self.decay_rate, passed)
        elif self.kind in ("cosine", "polynomial"):
            warm = float(self.warmup_steps)
            span = max(self.epochs * self.steps_per_epoch - warm, 1.0)
            t = ops.clip((step - warm) / span, 0.0, 1.0)
            if self.kind == "cosine":
                shape = 0.5 * (1.0 + ops.cos(math.pi * t))
            else:
                shape = ops.power(1.0 - t, self.power)
            lr = self.min_lr + (self.lr - self.min_lr) * shape
        lr = ops.convert_to_tensor(lr, "float32") * ops.cast(self.factor, "float32")
        if self.warmup_steps > 0:
            ramp = ops.minimum((step + 1.0) / float(self.warmup_steps), 1.0)
            lr = lr * ramp
        return lr

    def get_config(self):
        return {
            "kind": self.kind,
            "lr": self.lr,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "warmup_epochs": self.warmup_epochs,
            "milestones": list(self.milestones),
            "decay_every": self.decay_every,
            "decay_rate": self.decay_rate,
            "power": self.power,
            "min_lr": self.min_lr,
            "name": self.name,
        }
