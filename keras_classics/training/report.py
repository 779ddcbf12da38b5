"""What a run reports: its opening lines, its final metrics (the content of metrics.json) and its closing lines."""

from __future__ import annotations

import math
import time

import numpy as np

from keras_classics.data import make_pipeline
from keras_classics.models import strip_aux
from keras_classics.training.backend_advice import cpu_advice
from keras_classics.training.losses import metric_key
from keras_classics.training.metrics import ranked_classes
from keras_classics.training.strategy import describe

__all__ = ["trainable_parameters", "say_opening", "run_metrics", "say_closing"]


def trainable_parameters(model) -> int:
    return int(sum(math.prod(v.shape) for v in model.trainable_variables))


def say_opening(config, run_dir, data, num_params, lr, placement, start, say):
    """The lines before training: the run directory, model, data, optimizer and, when resuming, where from."""
    source, image_size = data.source, data.image_size
    say(f"Run directory: {run_dir}")
    say(f"Model: {config.model} ({num_params:,} trainable parameters, {image_size}x{image_size}, "
        f"{data.num_classes} classes, precision {config.precision}{', XLA' if config.jit_compile else ''}{', eager' if config.run_eagerly else ''})")
    say(f"Data: {source.name}: {source.num_train} training images"
        + (f", {source.num_val} validation images" if data.has_validation and source.num_val else "")
        + f"; policy {data.policy!r}, preprocessing {data.preprocessing!r}")
    say(f"Optimizer: {config.optimizer}, lr {lr:.4g} (base {config.lr:g}"
        + (f" at batch {config.lr_batch_size}" if config.lr_batch_size else "")
        + f"), schedule {config.schedule}; batch {config.batch_size} on {describe(placement.strategy)}; "
        f"{data.steps} steps per epoch")
    if advice := cpu_advice(config.jit_compile):  # JAX or --jit-compile on a CPU: the faster setting, measured
        say(advice)
    if start.index is not None:
        say(f"Resuming after epoch {start.initial_epoch} (step {start.index['step']}) from {start.checkpoint_dir}")


def run_metrics(config, run_dir, data, model, history, val_ds, callbacks, start, num_params, started) -> dict:
    """The content of ``metrics.json``: the final model's validation metrics (ten-crop ones too, when asked),
    the best epoch, the run's size and speed.

    Args:
        config: the run's configuration.
        run_dir: the run directory.
        data: the run's :class:`~keras_classics.training.inputs.RunData`.
        model: the trained model.
        history: ``model.fit``'s history of this call.
        val_ds: the validation batches, or None.
        callbacks: the run's :class:`~keras_classics.training.fitting.RunCallbacks`.
        start: the run's :class:`~keras_classics.training.fitting.StartingPoint`.
        num_params: the model's trainable parameters.
        started: the run's start, in ``time.time()`` seconds.
    """
    final = _final_metrics(model, history, val_ds, config)
    if config.ten_crop and data.has_validation:
        final.update(_ten_crop_metrics(model, data, config))
    return {
        "model": config.model,
        "dataset": data.source.name,
        **final,
        "best": callbacks.best.best,
        "best_epoch": callbacks.best.best_epoch,
        "monitor": callbacks.best.monitor,
        "epochs": config.epochs,
        "epochs_this_run": max(config.epochs - start.initial_epoch, 0),
        "steps_per_epoch": data.steps,
        "batch_size": config.batch_size,
        "images_per_sec": callbacks.throughput.images_per_sec,
        "wall_time_s": round(time.time() - started, 2),
        "num_params": num_params,
        "resumed_from_epoch": start.initial_epoch if start.index is not None else None,
        "run_dir": run_dir,
    }


def _final_metrics(model, history, val_ds, config):
    """Validation loss, top-1 and top-5 of the final weights (and the last training values)."""
    out = {"top1": None, "top5": None, "loss": None}
    last_train = {k: v[-1] for k, v in history.items() if v}
    for name in ("top1", "top5", "loss"):
        key = metric_key(model, name)
        if key in last_train:
            out[f"train_{name}"] = float(last_train[key])
    if val_ds is None:
        return out
    # The last epoch's validation logs hold the final weights' metrics, except with weight
    # averaging (the averages replace the weights after the last validation).
    validated_last = (history and len(history.get("val_loss", [])) and config.epochs % config.validation_freq == 0
                      and config.ema is None)
    if validated_last:
        logs = {k[4:]: v[-1] for k, v in history.items() if k.startswith("val_")}
    else:
        logs = model.evaluate(val_ds, return_dict=True, verbose=0)
    for name in ("top1", "top5", "loss"):
        key = metric_key(model, name)
        if key in logs:
            out[name] = float(logs[key])
    return out


def _ten_crop_metrics(model, data, config):
    """AlexNet's test: average the softmax of 10 crops (corners, centre, and their flips)."""
    main = strip_aux(model)
    ds = make_pipeline(data.source.validation, policy=data.policy, image_size=data.image_size,
                       batch_size=max(config.batch_size // 10, 1), training=False, preprocessing=data.preprocessing,
                       eval_crops=10)
    if config.validation_steps:
        ds = ds.take(config.validation_steps)
    correct1 = correct5 = total = 0
    for crops, labels in ds:
        n, k = int(crops.shape[0]), int(crops.shape[1])
        probs = main.predict_on_batch(np.reshape(crops, (n * k,) + tuple(crops.shape[2:])))
        probs = np.asarray(probs).reshape(n, k, -1).mean(axis=1)
        labels = np.asarray(labels)
        order = ranked_classes(probs)  # ties by class index: the one top-k rule
        correct1 += int((order[:, 0] == labels).sum())
        correct5 += int((order[:, :5] == labels[:, None]).any(axis=1).sum())
        total += n
    return {"ten_crop_top1": correct1 / total,
            "ten_crop_top5": correct5 / total if probs.shape[-1] > 5 else None}


def say_closing(metrics, final_path, chief, say):
    """The validation line (verbose) and where the model went (always)."""
    if metrics.get("top1") is not None:
        say(f"Validation top-1 {metrics['top1']:.2%}" + (f", top-5 {metrics['top5']:.2%}" if metrics.get("top5")
                                                           is not None else "")
            + f", loss {metrics['loss']:.4f}; {metrics['wall_time_s']:.0f} s")
    print(f"Saved the trained model to {final_path}" if chief else "Training finished (non-chief worker).")
