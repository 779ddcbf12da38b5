"""The recipe configuration: one dataclass, its JSON form and its command line.

A :class:`RecipeConfig` holds everything a training run needs: model, data,
augmentation, optimizer, schedule, losses, epochs, batch, precision, strategy.
Every field is a command-line option of the same name (``batch_size`` →
``--batch-size``); :func:`add_config_arguments` and :func:`overrides_from_args`
turn an ``argparse`` namespace into a dict of the fields the user set, and
:meth:`RecipeConfig.replace` applies it.

This module imports no TensorFlow, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
from dataclasses import dataclass, field

__all__ = [
    "RecipeConfig",
    "OPTIMIZERS",
    "PRECISIONS",
    "STRATEGIES",
    "RUN_INFO_KEYS",
    "add_config_arguments",
    "overrides_from_args",
    "config_for_model",
    "load_run_config",
    "source_arguments",
]

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("default", "mirrored", "multiworker", "tpu")
SCHEDULES = ("constant", "step", "cosine", "polynomial", "plateau")  # == schedules.SCHEDULES
MONITOR_MODES = ("auto", "min", "max")
MONITORS = ("val_top1", "val_top5", "val_loss", "top1", "top5", "loss")

# Keys the engine adds to config.json next to the fields (read back by export and predict).
RUN_INFO_KEYS = (
    "class_names",
    "num_classes",
    "dataset_name",
    "num_train",
    "num_val",
    "steps_per_epoch_resolved",
    "learning_rate",
    "num_replicas",
    "keras_classics_version",
    "keras_version",
    "keras_backend",
    "tensorflow_version",
    "created",
)

# Fields that define what is being trained: a resumed run keeps them.
FROZEN_ON_RESUME = ("name", "model", "model_kwargs", "dataset", "val", "dataset_options", "image_size",
                    "preprocessing", "seed")


def _field(default, help, *, choices=None, metavar=None, factory=False, none_is_a_value=False):
    # none_is_a_value: "none" on the command line is a value of the field (the augmentation
    # policy "none"), not the null it means for the other optional fields.
    meta = {"help": help, "choices": choices, "metavar": metavar, "none_is_a_value": none_is_a_value}
    if factory:
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RecipeConfig:
    """Everything one training run needs. Defaults: ResNet-18 on the generated shapes dataset, SGD, cosine.

    The learning rate ``lr`` is given at the reference batch size
    ``lr_batch_size`` and scaled linearly to ``batch_size`` (the global batch,
    summed over replicas); without ``lr_batch_size`` it is used as is. On the
    command line, ``--lr`` alone is absolute (it clears the recipe's
    ``lr_batch_size``); ``--lr X --lr-batch-size N`` is a base rate and its batch.
    ``weight_decay`` is the papers' L2 coefficient:
    ``weight_decay * w`` is added to each kernel's gradient, as in Caffe and
    PyTorch's SGD; with ``optimizer="adamw"`` it is AdamW's decoupled decay
    instead (Loshchilov & Hutter, ICLR 2019).

    Example:
        >>> config = RecipeConfig(name="resnet50_imagenet", model="resnet50", dataset="tfds:imagenet2012",
        ...                       lr=0.1, lr_batch_size=256, weight_decay=1e-4, schedule="plateau")
        >>> config.replace(epochs=3, batch_size=64).epochs
        3
    """

    # What is trained.
    name: str = _field("train", "recipe name; the run directory is named after it")
    description: str = _field("", "one line on what the recipe reproduces")
    model: str = _field("resnet18", "registered model name (keras-classics list)")
    model_kwargs: dict = _field(
        dict, "builder arguments as JSON, e.g. '{\"aux_logits\": true}'", factory=True, metavar="JSON"
    )
    init_from: str | None = _field(
        None,
        "start from a trained model (.keras file or run directory); VGG copies the first four conv "
        "layers and the three FC layers (Simonyan & Zisserman, Sec. 3.1), other families copy every "
        "layer whose name and shapes match",
        metavar="PATH",
    )

    # Data.
    dataset: str = _field("shapes", "'shapes', 'folder:/path' or 'tfds:NAME'", metavar="SOURCE")
    val: str | None = _field(None, "validation source (default: the dataset's own split)", metavar="SOURCE")
    data_dir: str | None = _field(None, "TFDS data directory (manually prepared datasets)", metavar="DIR")
    dataset_options: dict = _field(
        dict, "more keras_classics.data.get_source arguments as JSON, e.g. '{\"num_train\": 2000}'", factory=True,
        metavar="JSON",
    )
    image_size: int | None = _field(None, "training resolution (default: 64 for shapes, else the model's)")
    policy: str | None = _field(None, "augmentation policy (default, or 'default': the model family's paper policy)",
                                none_is_a_value=True)
    preprocessing: str | None = _field(None, "input preprocessing (default, or 'default': the model's)",
                                       none_is_a_value=True)
    label_smoothing: float = _field(0.0, "label smoothing of the cross-entropy")
    mixup: float = _field(0.0, "mixup alpha (0: off)")
    cutmix: float = _field(0.0, "cutmix alpha (0: off)")
    shuffle_buffer: int | None = _field(None, "shuffle buffer (default: the data pipeline's)")
    cache: bool = _field(False, "cache decoded training images in memory")
    ten_crop: bool = _field(False, "final evaluation with 10 crops (AlexNet's test)")

    # How long, how much.
    epochs: int = _field(10, "number of epochs")
    batch_size: int = _field(64, "global batch size (all replicas together)")
    steps_per_epoch: int | None = _field(None, "cap on training steps per epoch (default: the whole split)")
    validation_steps: int | None = _field(None, "cap on validation steps (default: the whole split)")
    validation_freq: int = _field(1, "validate every N epochs")

    # Optimizer.
    optimizer: str = _field("sgd", "optimizer", choices=OPTIMIZERS)
    lr: float = _field(0.1, "learning rate, used as is when given alone; with --lr-batch-size N, the rate at batch "
                            "N, scaled linearly to --batch-size (a recipe's lr is at its own lr_batch_size)")
    lr_batch_size: int | None = _field(None, "reference batch of --lr for linear scaling (default: no scaling)")
    momentum: float = _field(0.9, "momentum (SGD, RMSProp)")
    nesterov: bool = _field(False, "Nesterov momentum (SGD)")
    weight_decay: float = _field(0.0, "L2 coefficient on conv and dense kernels (coupled, Caffe style); adamw: decoupled decay")
    rho: float = _field(0.9, "RMSProp decay")
    epsilon: float = _field(1e-7, "RMSProp / Adam epsilon")
    clipnorm: float | None = _field(None, "clip each gradient tensor to this L2 norm")
    global_clipnorm: float | None = _field(None, "clip the global gradient norm")
    ema: float | None = _field(None, "Polyak averaging: EMA momentum of the weights; the final model holds the average")
    filter_rms_max: float | None = _field(None, "renormalise conv filters whose RMS exceeds this radius (ZFNet: 0.1)")

    # Schedule.
    schedule: str = _field("cosine", "learning-rate schedule", choices=SCHEDULES)
    warmup_epochs: float = _field(0.0, "epochs of linear warm-up")
    milestones: list = _field(list, "epochs where 'step' multiplies the rate by --decay-rate", factory=True,
                              metavar="E1,E2,...")
    decay_every: float | None = _field(None, "'step' without milestones: decay every N epochs")
    decay_rate: float = _field(0.1, "factor of 'step' and 'plateau'")
    power: float = _field(1.0, "exponent of 'polynomial'")
    min_lr: float = _field(0.0, "floor of cosine, polynomial and plateau")
    plateau_patience: int = _field(5, "'plateau': epochs without improvement before decaying")
    plateau_min_delta: float = _field(1e-4, "'plateau': smallest change that counts as an improvement")

    # Losses and model selection.
    aux_loss_weights: dict = _field(
        dict, "weights of auxiliary heads as JSON, e.g. '{\"aux_1\": 0.3, \"aux_2\": 0.3}'", factory=True,
        metavar="JSON",
    )
    monitor: str = _field("val_top1", "metric that selects best.keras and drives 'plateau'")
    monitor_mode: str = _field("auto", "whether --monitor improves up or down", choices=MONITOR_MODES)

    # Execution.
    seed: int = _field(0, "random seed (weights, data order, augmentation)")
    deterministic: bool = _field(True, "deterministic ops (exact resume; slower on GPU)")
    precision: str = _field("float32", "dtype policy", choices=PRECISIONS)
    jit_compile: bool = _field(False, "compile the train step with XLA")
    run_eagerly: bool = _field(False, "run the train and evaluation steps eagerly: no graph tracing, for debugging")
    strategy: str = _field("default", "tf.distribute strategy", choices=STRATEGIES)
    devices: list = _field(list, "devices of 'mirrored' (default: all GPUs)", factory=True, metavar="D1,D2,...")
    tpu: str | None = _field(None, "TPU name or address for --strategy tpu")
    run_dir: str | None = _field(None, "run directory (default: RUNS_ROOT/NAME-TIMESTAMP)", metavar="DIR")
    runs_root: str = _field("runs", "parent of the default run directories", metavar="DIR")
    keep_checkpoints: int = _field(2, "checkpoints kept for --resume")
    verbose: int = _field(1, "0 silent, 1 progress bar, 2 one line per epoch", choices=(0, 1, 2))

    # ------------------------------------------------------------------ dict / JSON
    def to_dict(self) -> dict:
        """All fields as JSON-compatible values."""
        return {f.name: _copy(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict, *, ignore_run_info: bool = True) -> RecipeConfig:
        """Build a config from :meth:`to_dict` output (or a run's ``config.json``).

        Raises:
            ValueError: for a key that is neither a field nor run information.
        """
        if not isinstance(data, dict):
            raise ValueError(f"A recipe configuration must be a dict. Received: {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in data if k not in names and not (ignore_run_info and k in RUN_INFO_KEYS)]
        if unknown:
            raise ValueError(_unknown_fields(unknown, names))
        config = cls(**{k: _copy(v) for k, v in data.items() if k in names})
        config.validate()
        return config

    def replace(self, **changes) -> RecipeConfig:
        """A copy with ``changes`` applied and validated (unknown names are refused)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = [k for k in changes if k not in names]
        if unknown:
            raise ValueError(_unknown_fields(unknown, names))
        config = dataclasses.replace(self, **{k: _copy(v) for k, v in changes.items()})
        config.validate()
        return config

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    # ------------------------------------------------------------------ validation
    def validate(self) -> RecipeConfig:
        """Check types, ranges and choices; return ``self``.

        Raises:
            ValueError: naming the field, the value received and what is accepted.
        """
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ValueError(
                    f"`{f.name}` must be one of {', '.join(map(repr, choices))}. Received: {f.name}={value!r}"
                )
        _check(isinstance(self.name, str) and self.name and os.sep not in self.name,
               "name", self.name, "a non-empty name without path separators")
        _check(isinstance(self.model, str) and self.model, "model", self.model, "a registered model name")
        _check(isinstance(self.model_kwargs, dict), "model_kwargs", self.model_kwargs, "a dict")
        _check(isinstance(self.dataset_options, dict), "dataset_options", self.dataset_options, "a dict")
        _check(isinstance(self.aux_loss_weights, dict)
               and all(_is_number(v) and v >= 0 for v in self.aux_loss_weights.values()),
               "aux_loss_weights", self.aux_loss_weights, "a dict of output name -> non-negative weight")
        _check(isinstance(self.dataset, str) and self.dataset, "dataset", self.dataset,
               "'shapes', 'folder:/path' or 'tfds:NAME'")
        for name in ("epochs", "batch_size", "validation_freq"):
            _check(_is_int(getattr(self, name)) and getattr(self, name) >= 1, name, getattr(self, name),
                   "a positive integer")
        for name in ("image_size", "steps_per_epoch", "validation_steps", "lr_batch_size", "shuffle_buffer"):
            value = getattr(self, name)
            _check(value is None or (_is_int(value) and value >= 1), name, value, "a positive integer or None")
        _check(_is_int(self.keep_checkpoints) and self.keep_checkpoints >= 1, "keep_checkpoints",
               self.keep_checkpoints, "an integer >= 1")
        _check(_is_int(self.plateau_patience) and self.plateau_patience >= 0, "plateau_patience",
               self.plateau_patience, "an integer >= 0")
        _check(_is_int(self.seed) and self.seed >= 0, "seed", self.seed, "a non-negative integer")
        _check(_is_number(self.lr) and self.lr > 0 and math.isfinite(self.lr), "lr", self.lr,
               "a positive finite number")
        for name in ("momentum", "rho"):
            _check(_is_number(getattr(self, name)) and 0 <= getattr(self, name) < 1, name, getattr(self, name),
                   "a number in [0, 1)")
        for name in ("label_smoothing",):
            _check(_is_number(getattr(self, name)) and 0 <= getattr(self, name) < 1, name, getattr(self, name),
                   "a number in [0, 1)")
        for name in ("weight_decay", "mixup", "cutmix", "warmup_epochs", "min_lr", "epsilon", "plateau_min_delta"):
            _check(_is_number(getattr(self, name)) and getattr(self, name) >= 0, name, getattr(self, name),
                   "a non-negative number")
        _check(_is_number(self.decay_rate) and 0 < self.decay_rate <= 1, "decay_rate", self.decay_rate,
               "a number in (0, 1]")
        _check(_is_number(self.power) and self.power > 0, "power", self.power, "a positive number")
        _check(self.ema is None or (_is_number(self.ema) and 0 < self.ema < 1), "ema", self.ema,
               "a number in (0, 1) or None")
        for name in ("clipnorm", "global_clipnorm", "decay_every", "filter_rms_max"):
            value = getattr(self, name)
            _check(value is None or (_is_number(value) and value > 0), name, value, "a positive number or None")
        _check(isinstance(self.milestones, list) and all(_is_number(m) and m > 0 for m in self.milestones)
               and list(self.milestones) == sorted(self.milestones),
               "milestones", self.milestones, "increasing positive epoch numbers")
        _check(isinstance(self.devices, list) and all(isinstance(d, str) for d in self.devices),
               "devices", self.devices, "a list of device names like '/gpu:0'")
        _check(self.monitor in MONITORS, "monitor", self.monitor, f"one of {', '.join(MONITORS)}")
        if self.jit_compile and self.run_eagerly:
            raise ValueError("Set at most one of `jit_compile` and `run_eagerly`. Received both.")
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError("Set at most one of `clipnorm` and `global_clipnorm`. Received both.")
        return self


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy(v) for v in value]
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(ok, name, value, accepted):
    if not ok:
        raise ValueError(f"`{name}` must be {accepted}. Received: {name}={value!r}")


def _unknown_fields(unknown, names) -> str:
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), sorted(names), n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"Unknown recipe field(s): {', '.join(parts)}. Fields: {', '.join(sorted(names))}."


# ---------------------------------------------------------------------- per-family defaults
def config_for_model(model: str, family: str | None = None, **changes) -> RecipeConfig:
    """A configuration training ``model`` with its family's paper optimizer and a cosine schedule.

    The paper settings are the model's registry entry's ``recipe``
    (``keras_classics.model_info(model).recipe``); its augmentation ``policy``
    is left to the engine, which uses it unless the images are small (64 pixels
    or less: the CIFAR policy). ``family`` is accepted for compatibility and
    must match the registry's when given.
    """
    from keras_classics.models import model_info

    info = model_info(model)
    if family is not None and family != info.family:
        raise ValueError(f"{model!r} belongs to the family {info.family!r}. Received: family={family!r}")
    base = {k: v for k, v in info.recipe.items() if k != "policy"}
    base.update(name=model, model=model, schedule="cosine")
    base.update(changes)
    return RecipeConfig().replace(**base)


def load_run_config(run_dir) -> dict:
    """The parsed ``config.json`` of a run directory.

    Raises:
        FileNotFoundError: when ``run_dir`` or its ``config.json`` does not exist.
    """
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"Run directory not found: {run_dir!r}")
    path = os.path.join(run_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{run_dir!r} is not a run directory: it has no config.json")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path!r} is not valid JSON: {e}") from None


# ---------------------------------------------------------------------- command line
def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_json_dict(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"key\": 1}}'; got {text!r} ({e})")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object; got {text!r}")
    return value


def _parse_number_list(text):
    if not text.strip():
        return []
    try:
        return [float(x) if "." in x or "e" in x.lower() else int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 30,60,80; got {text!r}")


def _parse_str_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


# What an optional field's command-line value reads as None; "default" where "none" is a value.
_NULLS = ("none", "null", "")
_NULLS_WHERE_NONE_IS_A_VALUE = ("default", "null", "")


def _optional(kind, nulls=_NULLS):
    def parse(text):
        if text.lower() in nulls:
            return None
        return kind(text)

    parse.__name__ = kind.__name__
    return parse


def add_config_arguments(parser: argparse.ArgumentParser, defaults: RecipeConfig | None = None) -> None:
    """Add one ``--field-name`` option per :class:`RecipeConfig` field.

    Options default to ``argparse.SUPPRESS`` so that :func:`overrides_from_args`
    returns only what was given; the help shows ``defaults``' values.
    """
    defaults = defaults or RecipeConfig()
    group = parser.add_argument_group("recipe fields (each overrides the recipe's value)")
    for f in dataclasses.fields(RecipeConfig):
        value = getattr(defaults, f.name)
        kwargs = dict(default=argparse.SUPPRESS, dest=f.name)
        help_text = f.metadata.get("help", "")
        shown = json.dumps(value) if isinstance(value, (dict, list)) else value
        kwargs["help"] = f"{help_text} (recipe: {shown})".replace("%", "%%")
        if f.metadata.get("metavar"):
            kwargs["metavar"] = f.metadata["metavar"]
        if f.metadata.get("choices"):
            kwargs["choices"] = f.metadata["choices"]
        annotation = str(f.type)
        if annotation == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif annotation == "dict":
            kwargs["type"] = _parse_json_dict
        elif annotation == "list":
            kwargs["type"] = _parse_str_list if f.name == "devices" else _parse_number_list
        elif annotation.startswith("int"):
            kwargs["type"] = _optional(int) if "None" in annotation else int
        elif annotation.startswith("float"):
            kwargs["type"] = _optional(float) if "None" in annotation else float
        else:
            nulls = _NULLS_WHERE_NONE_IS_A_VALUE if f.metadata.get("none_is_a_value") else _NULLS
            kwargs["type"] = _optional(str, nulls) if "None" in annotation else str
        group.add_argument(_option(f.name), **kwargs)


def overrides_from_args(args: argparse.Namespace) -> dict:
    """The recipe fields present in ``args`` (those given on the command line)."""
    names = {f.name for f in dataclasses.fields(RecipeConfig)}
    return {k: v for k, v in vars(args).items() if k in names}


def source_arguments(config, image_size) -> tuple[str, dict]:
    """``(name, options)`` of a run's dataset for :func:`keras_classics.data.get_source` (and
    :func:`keras_classics.data.sources.list_splits`, with which export reads a few of a run's images)."""
    kwargs = dict(config.dataset_options)
    kwargs.setdefault("seed", config.seed)
    if config.dataset == "shapes":
        kwargs.setdefault("image_size", image_size)
    if config.val:
        kwargs["val"] = config.val
    if config.data_dir:
        kwargs["data_dir"] = os.path.expanduser(config.data_dir)
    return config.dataset, kwargs
