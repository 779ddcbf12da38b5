"""The seven experiments. Each takes a :class:`~keras_classics.experiments._core.Context`,
trains its arms through the engine (``ctx.train``) and returns the measured
numbers and the table rows; :mod:`._core` writes them to ``results.json``.

The sizes (images, epochs, batch) of the default and ``quick`` versions are set
here, before anything is trained, and stored in ``results.json`` ("settings").
Each default is sized to finish in about five minutes on two shared CPU cores
(timed per training step of each network, see docs/experiments.md).
"""

from __future__ import annotations

from keras_classics.experiments.stats import difference_test, fmt, gap_arm, paired_test, proportion_arm, summarize

__all__ = ["RUNNERS"]

# Shared optimisation of the comparisons: SGD with momentum 0.9 and a constant rate, so
# that the arms of one experiment differ only in what the experiment varies.
_SGD = dict(optimizer="sgd", momentum=0.9, schedule="constant", lr_batch_size=None, deterministic=True)

# NOTE(deviation): the paper-sized networks (AlexNet, GoogLeNet, VGG without batch
# normalisation, and the 56-layer CIFAR nets) stayed at chance for a few hundred steps
# of SGD at a constant rate on two CPU cores. Their experiments train with AdamW, a short
# linear warm-up and a cosine decay (the engine's quickstart optimiser); the rate of each
# was chosen from whether the baseline arm's training loss falls well below chance
# (ln 10 = 2.30 with 10 classes) in a short trial, before the comparison was run.
# Both arms of an experiment share it.


def _adamw(s):
    return dict(optimizer="adamw", schedule="cosine", warmup_epochs=s["warmup_epochs"], lr_batch_size=None,
                deterministic=True)


def _sizes(ctx, default, quick):
    settings = dict(quick if ctx.quick else default)
    if not ctx.shapes:
        settings["note"] = "a user dataset is used whole: num_train and num_val apply to shapes only"
    ctx.settings.update(settings)
    return settings


def _first_at(values, predicate):
    """1-based index of the first value meeting ``predicate``, or None."""
    for i, v in enumerate(values, start=1):
        if predicate(v):
            return i
    return None


def _last(values):
    return values[-1] if values else float("nan")


def _less(a, b):
    """``a["mean"] < b["mean"]``, or None (undecided) when either was not measured."""
    if a["mean"] is None or b["mean"] is None:
        return None
    return a["mean"] < b["mean"]


# ---------------------------------------------------------------------- 1. relu-vs-tanh
class BatchRecorder:
    """Keras callback recording each training batch's accuracy (from the epoch's running means)."""

    def __new__(cls, model_key):
        import keras

        class _Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.batch_top1 = []
                self._prev = 0.0

            def on_epoch_begin(self, epoch, logs=None):
                self._prev = 0.0

            def on_train_batch_end(self, batch, logs=None):
                # Keras logs the mean over the epoch's batches so far; with equal batches
                # (drop_remainder) batch k's own value is k*m_k - (k-1)*m_(k-1).
                mean = float((logs or {}).get(model_key, float("nan")))
                k = batch + 1
                self.batch_top1.append(k * mean - (k - 1) * self._prev)
                self._prev = mean

        return _Recorder()


def relu_vs_tanh(ctx):
    s = _sizes(ctx,
               default=dict(image_size=32, num_train=4000, num_val=500, epochs=12, batch_size=64, lr=0.01,
                            threshold_error=0.25, smoothing_steps=20),
               quick=dict(image_size=16, num_train=256, num_val=64, epochs=2, batch_size=32, lr=0.01,
                          threshold_error=0.25, smoothing_steps=4))
    source = ctx.source(image_size=s["image_size"], num_train=s["num_train"], num_val=s["num_val"],
                        batch_size=s["batch_size"])
    measures = {}
    for act in ("relu", "tanh"):
        for seed in ctx.seeds:
            recorder = BatchRecorder("top1")
            record, _ = ctx.train(act, seed, dict(
                model="convnet4", model_kwargs={"activation": act}, image_size=s["image_size"],
                epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], weight_decay=0.0, policy="none",
                **_SGD), source=source, callbacks=[recorder])
            err = [1 - a for a in recorder.batch_top1]
            w = s["smoothing_steps"]
            smooth = [sum(err[max(0, i - w + 1):i + 1]) / len(err[max(0, i - w + 1):i + 1]) for i in range(len(err))]
            record["batch_train_error"] = err
            record["smoothed_train_error"] = smooth
            epoch_err = [1 - a for a in record["history"]["train_top1"]]
            record["epochs_to_threshold"] = _first_at(epoch_err, lambda e: e <= s["threshold_error"])
            record["steps_to_threshold"] = _first_at(smooth, lambda e: e <= s["threshold_error"])
    for key in ("epochs_to_threshold", "steps_to_threshold"):
        for act in ("relu", "tanh"):
            measures[f"{act}_{key}"] = summarize([r[key] for r in ctx.arms[act]])
        ratios = [(t[key] / r[key]) if (r[key] and t[key]) else None
                  for r, t in zip(ctx.arms["relu"], ctx.arms["tanh"])]
        measures[f"ratio_{key}"] = summarize(ratios)
    thr = s["threshold_error"]
    r_ep, t_ep = measures["relu_epochs_to_threshold"], measures["tanh_epochs_to_threshold"]
    ratio = measures["ratio_steps_to_threshold"]
    relu_reached = r_ep["missing"] == 0
    tanh_reached = t_ep["missing"] == 0
    if ratio["mean"] is not None and ratio["missing"] == 0:
        held = ratio["mean"] > 1.0
        ratio_text = f"tanh/ReLU steps ratio {fmt(ratio, digits=2)}x (paper: about 6x)"
    elif relu_reached and not tanh_reached:
        held = True
        ratio_text = f"tanh did not reach {thr:.0%} error in {s['epochs']} epochs: ratio above {s['epochs']}/" \
                     f"{r_ep['mean']:.0f}"
    elif not relu_reached and tanh_reached:
        held = False
        ratio_text = f"ReLU did not reach {thr:.0%} error in {s['epochs']} epochs, tanh did"
    else:
        held = None
        ratio_text = f"neither reached {thr:.0%} training error in {s['epochs']} epochs"
    final = {a: summarize([1 - _last(r["history"]["train_top1"]) for r in ctx.arms[a]]) for a in ("relu", "tanh")}
    n_train, chance_err = source.num_train, 1 - 1 / int(source.num_classes)
    rows = [
        {"claim": f"ReLU reaches {thr:.0%} training error faster than tanh",
         "measured": f"epochs to {thr:.0%}: ReLU {fmt(r_ep)}, tanh {fmt(t_ep)}; steps: ReLU "
                     f"{fmt(measures['relu_steps_to_threshold'], digits=0)}, tanh "
                     f"{fmt(measures['tanh_steps_to_threshold'], digits=0)}; {ratio_text}",
         "held": held},
        {"claim": "ReLU trains to a lower training error in the same epochs",
         "measured": f"final training error ReLU {fmt(final['relu'], pct=True)}, tanh {fmt(final['tanh'], pct=True)}",
         "held": _less(final["relu"], final["tanh"]),
         "test": difference_test(proportion_arm("ReLU", final["relu"], n_train, chance=chance_err),
                                 proportion_arm("tanh", final["tanh"], n_train, chance=chance_err), order="a<b")},
    ]
    measures["final_train_error"] = final
    return {"measures": measures, "rows": rows}


# ---------------------------------------------------------------------- 2./3. dropout, augmentation
def _overfitting(ctx, arms, default, quick, what):
    s = _sizes(ctx, default=default, quick=quick)
    source = ctx.source(image_size=s["image_size"], num_train=s["num_train"], num_val=s["num_val"],
                        batch_size=s["batch_size"])
    for arm, changes in arms.items():
        for seed in ctx.seeds:
            fields = dict(model="alexnet", model_kwargs={"dropout": changes.get("dropout", 0.0)},
                          image_size=s["image_size"], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                          weight_decay=s["weight_decay"], policy=changes.get("policy", "none"),
                          run_eagerly=bool(s.get("run_eagerly")), **_adamw(s))
            ctx.train(arm, seed, fields, source=source)
    measures = {}
    for arm in arms:
        runs = ctx.arms[arm]
        measures[arm] = {
            "train_top1": summarize([_last(r["history"]["train_top1"]) for r in runs]),
            "val_top1": summarize([_last(r["history"]["val_top1"]) for r in runs]),
            "gap": summarize([_last(r["history"]["train_top1"]) - _last(r["history"]["val_top1"]) for r in runs]),
            "best_val_top1": summarize([max(r["history"]["val_top1"] or [float("nan")]) for r in runs]),
        }
    off, on = list(arms)
    chance = 1 / int(source.num_classes)

    def gap(arm):
        return gap_arm(arm, measures[arm]["train_top1"], source.num_train, measures[arm]["val_top1"], source.num_val,
                       chance=chance)

    def val(arm):
        return proportion_arm(arm, measures[arm]["val_top1"], source.num_val, chance=chance)

    rows = [
        {"claim": f"{what} narrows the train-validation accuracy gap",
         "measured": f"gap (train - val top-1, last epoch): without {fmt(measures[off]['gap'], pct=True)}, "
                     f"with {fmt(measures[on]['gap'], pct=True)}",
         "held": _less(measures[on]["gap"], measures[off]["gap"]),
         "test": difference_test(gap(on), gap(off), order="a<b")},
        {"claim": f"{what} raises validation accuracy",
         "measured": f"val top-1, last epoch: without {fmt(measures[off]['val_top1'], pct=True)}, "
                     f"with {fmt(measures[on]['val_top1'], pct=True)}",
         "held": _less(measures[off]["val_top1"], measures[on]["val_top1"]),
         "test": difference_test(val(off), val(on), order="a<b")},
    ]
    return {"measures": measures, "rows": rows}


# The paper's AlexNet (2012 variant: LRN, two towers) at its smallest input, 67x67, on a
# deliberately small training set (256 images) so that it can overfit.
# NOTE(deviation): AdamW lr 3e-4 (decoupled decay 0.05), one epoch of warm-up and a cosine
# decay, not the paper's SGD (momentum 0.9, lr 0.01, L2 5e-4): with SGD at lr 0.01 the
# network stayed at chance for 100 steps; with AdamW at 2e-4 to 5e-4 its training loss
# fell from 2.30 to 1.7-1.9 within 80-130 steps (trial runs of the no-dropout arm).
_ALEXNET_DEFAULT = dict(image_size=67, num_train=256, num_val=256, epochs=24, batch_size=32, optimizer="adamw",
                        lr=3e-4, weight_decay=0.05, warmup_epochs=1)
_ALEXNET_QUICK = dict(image_size=67, num_train=32, num_val=16, epochs=1, batch_size=16, optimizer="adamw", lr=3e-4,
                      weight_decay=0.05, warmup_epochs=0, run_eagerly=True)


def dropout(ctx):
    return _overfitting(ctx, {"no_dropout": {"dropout": 0.0}, "dropout": {"dropout": 0.5}},
                        dict(_ALEXNET_DEFAULT, model="alexnet", policy="none"),
                        dict(_ALEXNET_QUICK, model="alexnet", policy="none"), "Dropout (0.5 after fc6, fc7)")


def augmentation(ctx):
    return _overfitting(ctx, {"no_augmentation": {"policy": "none"}, "augmentation": {"policy": "alexnet"}},
                        dict(_ALEXNET_DEFAULT, model="alexnet, no dropout", policy="alexnet vs none"),
                        dict(_ALEXNET_QUICK, model="alexnet, no dropout", policy="alexnet vs none"),
                        "Augmentation (crops, flips, colour shift)")


# ---------------------------------------------------------------------- 4. plain-vs-residual
def plain_vs_residual(ctx):
    # NOTE(deviation): 16x16 images (the paper: 32x32 CIFAR-10), so that the two 56-layer
    # networks get about 200 steps each in the time; stages of 16x16, 8x8 and 4x4 maps.
    # NOTE(deviation): AdamW lr 0.004 (decay 0.05), half an epoch of warm-up and a cosine
    # decay over 6 epochs, no augmentation; the paper: SGD lr 0.1, L2 1e-4, 64k iterations
    # with crops and flips. SGD at a constant 0.05 made plain-56 diverge in 80 steps; with
    # these settings ResNet-56's training loss fell from 2.8 to 1.8 in 96 steps (trial run).
    s = _sizes(ctx,
               default=dict(image_size=16, num_train=2048, num_val=512, epochs=6, batch_size=64, lr=0.004,
                            weight_decay=0.05, warmup_epochs=0.5, policy="none", depths=[20, 56]),
               quick=dict(image_size=16, num_train=64, num_val=32, epochs=1, batch_size=32, lr=0.004,
                          weight_decay=0.05, warmup_epochs=0, policy="none", depths=[20, 56], run_eagerly=True))
    source = ctx.source(image_size=s["image_size"], num_train=s["num_train"], num_val=s["num_val"],
                        batch_size=s["batch_size"])
    d1, d2 = s["depths"]
    for plain in (True, False):
        for depth in (d1, d2):
            arm = f"{'plain' if plain else 'resnet'}{depth}"
            for seed in ctx.seeds:
                ctx.train(arm, seed, dict(
                    model=f"resnet{depth}_cifar", model_kwargs={"plain": plain}, image_size=s["image_size"],
                    epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], weight_decay=s["weight_decay"],
                    policy=s["policy"], run_eagerly=bool(s.get("run_eagerly")), **_adamw(s)), source=source)
    err = {arm: summarize([1 - _last(r["history"]["train_top1"]) for r in runs]) for arm, runs in ctx.arms.items()}
    val_err = {arm: summarize([1 - _last(r["history"]["val_top1"]) for r in runs]) for arm, runs in ctx.arms.items()}
    p1, p2, r1, r2 = f"plain{d1}", f"plain{d2}", f"resnet{d1}", f"resnet{d2}"
    chance_err = 1 - 1 / int(source.num_classes)
    arm = {a: proportion_arm(label, err[a], source.num_train, chance=chance_err)
           for a, label in ((p1, f"plain-{d1}"), (p2, f"plain-{d2}"), (r1, f"ResNet-{d1}"), (r2, f"ResNet-{d2}"))}
    rows = [
        {"claim": f"plain-{d2} has higher training error than plain-{d1} (degradation)",
         "measured": f"training error, last epoch: plain-{d1} {fmt(err[p1], pct=True)}, "
                     f"plain-{d2} {fmt(err[p2], pct=True)}",
         "held": _less(err[p1], err[p2]),
         "test": difference_test(arm[p1], arm[p2], order="a<b")},
        {"claim": f"ResNet-{d2} has lower training error than ResNet-{d1}",
         "measured": f"training error, last epoch: ResNet-{d1} {fmt(err[r1], pct=True)}, "
                     f"ResNet-{d2} {fmt(err[r2], pct=True)}",
         "held": _less(err[r2], err[r1]),
         "test": difference_test(arm[r2], arm[r1], order="a<b")},
        {"claim": f"shortcuts lower the training error of the {d2}-layer network",
         "measured": f"training error, last epoch: plain-{d2} {fmt(err[p2], pct=True)}, "
                     f"ResNet-{d2} {fmt(err[r2], pct=True)}",
         "held": _less(err[r2], err[p2]),
         "test": difference_test(arm[r2], arm[p2], order="a<b")},
    ]
    return {"measures": {"train_error": err, "val_error": val_err}, "rows": rows}


# ---------------------------------------------------------------------- 5. aux-classifiers
def _gradient_probe(x, y, layer_prefix):
    """Keras callback: gradient norms at the layers named ``layer_prefix*`` on one fixed batch."""
    import keras
    import tensorflow as tf

    class _Probe(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.main, self.total = [], []

        def measure(self):
            variables = [v for layer in self.model.layers if layer.name.startswith(layer_prefix)
                         for v in layer.trainable_weights]
            with tf.GradientTape(persistent=True) as tape:
                out = self.model(x, training=False)
                outputs = out if isinstance(out, dict) else {"predictions": out}
                losses = {k: tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, v))
                          for k, v in outputs.items()}
                main = losses["predictions"]
                total = main + sum(0.3 * v for k, v in losses.items() if k != "predictions")
            self.main.append(float(tf.linalg.global_norm(tape.gradient(main, variables))))
            self.total.append(float(tf.linalg.global_norm(tape.gradient(total, variables))))
            del tape

        def on_train_begin(self, logs=None):
            if not self.main:
                self.measure()

        def on_epoch_end(self, epoch, logs=None):
            self.measure()

    return _Probe()


def aux_classifiers(ctx):
    # The paper's GoogLeNet (no batch normalisation, LRN) at 72x72.
    # NOTE(deviation): AdamW lr 1e-4 (decay 0.05), half an epoch of warm-up, cosine decay;
    # the paper: asynchronous SGD, momentum 0.9, lr decreased 4% every 8 epochs. With SGD
    # at lr 0.01 both networks collapsed to a constant prediction in the first epoch; with
    # AdamW at 5e-4 the network without heads stayed at chance for 96 steps, at 1e-4 its
    # training loss fell below chance (2.27, 15% top-1) within 96 steps (trial runs). The
    # batch-normalised variant learned faster in training but its validation accuracy stayed
    # at chance (running statistics not settled), and batch norm removes the vanishing
    # gradients the heads were meant to fight, so the paper's variant is kept.
    s = _sizes(ctx,
               default=dict(image_size=72, num_train=1024, num_val=256, epochs=7, batch_size=32, lr=1e-4,
                            weight_decay=0.05, warmup_epochs=0.5, aux_weight=0.3, probe_images=32,
                            variant="paper"),
               quick=dict(image_size=72, num_train=64, num_val=32, epochs=1, batch_size=16, lr=1e-4,
                          weight_decay=0.05, warmup_epochs=0, aux_weight=0.3, probe_images=8, variant="paper",
                          run_eagerly=True))
    source = ctx.source(image_size=s["image_size"], num_train=s["num_train"], num_val=s["num_val"],
                        batch_size=s["batch_size"])
    import numpy as np

    from keras_classics.data import make_pipeline
    from keras_classics.models import model_info

    probe = make_pipeline(source.train, policy="none", image_size=s["image_size"], batch_size=s["probe_images"],
                          training=False, preprocessing=model_info("googlenet").preprocessing, repeat=False)
    x, y = next(iter(probe))
    x, y = np.asarray(x), np.asarray(y)
    for arm, aux in (("no_aux", False), ("aux", True)):
        for seed in ctx.seeds:
            callback = _gradient_probe(x, y, "inception_3a")
            weights = {"aux_1": s["aux_weight"], "aux_2": s["aux_weight"]} if aux else {}
            record, _ = ctx.train(arm, seed, dict(
                model="googlenet", model_kwargs={"aux_logits": aux, "variant": s["variant"]},
                image_size=s["image_size"], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"],
                weight_decay=s["weight_decay"], aux_loss_weights=weights, policy="none",
                run_eagerly=bool(s.get("run_eagerly")), **_adamw(s)), source=source, callbacks=[callback])
            record["grad_norm_main"] = callback.main  # at the start, then after each epoch
            record["grad_norm_total"] = callback.total
    measures = {}
    for arm in ("no_aux", "aux"):
        runs = ctx.arms[arm]
        measures[arm] = {
            "grad_norm_total_mean": summarize([float(np.mean(r["grad_norm_total"])) for r in runs]),
            "grad_norm_main_mean": summarize([float(np.mean(r["grad_norm_main"])) for r in runs]),
            "val_top1": summarize([_last(r["history"]["val_top1"]) for r in runs]),
        }
    g_off, g_on = measures["no_aux"]["grad_norm_total_mean"], measures["aux"]["grad_norm_total_mean"]
    share = summarize([float(np.mean(r["grad_norm_total"])) / float(np.mean(r["grad_norm_main"]))
                       if np.mean(r["grad_norm_main"]) > 0 else None for r in ctx.arms["aux"]])
    measures["aux_total_over_main"] = share
    v_off, v_on = measures["no_aux"]["val_top1"], measures["aux"]["val_top1"]
    chance = 1 / int(source.num_classes)
    probes = {arm: [g for r in ctx.arms[arm] for g in r["grad_norm_total"]] for arm in ("no_aux", "aux")}
    rows = [
        {"claim": "the auxiliary heads add gradient at the first Inception block (3a)",
         "measured": f"mean gradient norm at inception_3a over training: without heads {fmt(g_off, digits=3)}, "
                     f"with heads {fmt(g_on, digits=3)} (with heads, total/main-loss gradient "
                     f"{fmt(share, digits=2)}x)",
         "held": _less(g_off, g_on),
         # Paired by probe (the same batch at the same epoch of the same seed).
         "test": paired_test("without heads", probes["no_aux"], "with heads", probes["aux"], order="a<b", unit="",
                             scale=1.0)},
        {"claim": "the auxiliary heads raise validation accuracy",
         "measured": f"val top-1, last epoch: without {fmt(v_off, pct=True)}, with {fmt(v_on, pct=True)}",
         "held": _less(v_off, v_on),
         "test": difference_test(proportion_arm("without heads", v_off, source.num_val, chance=chance),
                                 proportion_arm("with heads", v_on, source.num_val, chance=chance), order="a<b")},
    ]
    return {"measures": measures, "rows": rows}


# ---------------------------------------------------------------------- 6. shallow-first
def shallow_first(ctx):
    # The paper's VGG-11 (A) and VGG-16 (D), no batch normalisation, at their smallest input (32x32).
    # NOTE(deviation): AdamW lr 1e-4 (decay 0.05), half an epoch of warm-up, cosine decay;
    # the paper: SGD, momentum 0.9, lr 0.01, L2 5e-4, 74 epochs. No setting tried let VGG
    # learn in 96 steps (trial runs of VGG-11: SGD 0.01; AdamW 3e-4; AdamW 1e-4, the only
    # one whose validation accuracy moved, 14% after 3 epochs; the same with inputs scaled
    # like torchvision's; VGG-11 with batch norm at AdamW 1e-3), so VGG-11 gets 160 steps
    # here and each VGG-16 96, and the target is 30% validation top-1 (3x chance).
    s = _sizes(ctx,
               default=dict(image_size=32, num_train=1024, num_val=256, shallow_epochs=5, epochs=3, batch_size=32,
                            lr=1e-4, weight_decay=0.05, warmup_epochs=0.5, target_val_top1=0.3),
               quick=dict(image_size=32, num_train=32, num_val=16, shallow_epochs=1, epochs=1, batch_size=16,
                          lr=1e-4, weight_decay=0.05, warmup_epochs=0, target_val_top1=0.2, run_eagerly=True))
    source = ctx.source(image_size=s["image_size"], num_train=s["num_train"], num_val=s["num_val"],
                        batch_size=s["batch_size"])
    common = dict(image_size=s["image_size"], batch_size=s["batch_size"], lr=s["lr"], weight_decay=s["weight_decay"],
                  policy="none", run_eagerly=bool(s.get("run_eagerly")), **_adamw(s))
    import os

    for seed in ctx.seeds:
        shallow, _ = ctx.train("vgg11", seed, dict(model="vgg11", epochs=s["shallow_epochs"], **common),
                               source=source)
        ctx.train("vgg16_from_vgg11", seed, dict(model="vgg16", epochs=s["epochs"],
                                                 init_from=os.path.join(ctx.run_dir, shallow["run_dir"]),
                                                 **common), source=source)
        ctx.train("vgg16_scratch", seed, dict(model="vgg16", epochs=s["epochs"], **common), source=source)
    target = s["target_val_top1"]
    measures = {}
    for arm in ("vgg11", "vgg16_from_vgg11", "vgg16_scratch"):
        runs = ctx.arms[arm]
        measures[arm] = {
            "epochs_to_target": summarize([_first_at(r["history"]["val_top1"], lambda a: a >= target) for r in runs]),
            "val_top1": summarize([_last(r["history"]["val_top1"]) for r in runs]),
        }
    warm, cold = measures["vgg16_from_vgg11"], measures["vgg16_scratch"]
    we, ce = warm["epochs_to_target"], cold["epochs_to_target"]
    chance = 1 / int(source.num_classes)
    if we["missing"] == 0 and ce["missing"] == 0:
        held = None if we["mean"] == ce["mean"] else we["mean"] < ce["mean"]
        verdict = ("undecided: the same epoch" if held is None else
                   f"{'yes' if held else 'no'}, by {abs(ce['mean'] - we['mean']):g} epochs")
    elif we["missing"] == 0 and ce["missing"]:
        held, verdict = True, f"yes: from scratch did not reach {target:.0%} in {s['epochs']} epochs"
    elif we["missing"] and ce["missing"] == 0:
        held, verdict = False, f"no: from VGG-11 did not reach {target:.0%} in {s['epochs']} epochs"
    else:
        held, verdict = None, f"undecided: neither reached {target:.0%}"
    rows = [
        {"claim": f"VGG-16 from VGG-11 reaches {target:.0%} val top-1 in fewer epochs than from scratch",
         "measured": f"epochs to {target:.0%}: from VGG-11 {fmt(we)}, from scratch {fmt(ce)} "
                     f"(of {s['epochs']}; VGG-11 pretrained {s['shallow_epochs']} epochs)",
         "held": held, "verdict": verdict},
        {"claim": "VGG-16 from VGG-11 ends with higher val accuracy than from scratch",
         "measured": f"val top-1, last epoch: from VGG-11 {fmt(warm['val_top1'], pct=True)}, from scratch "
                     f"{fmt(cold['val_top1'], pct=True)}",
         "held": _less(cold["val_top1"], warm["val_top1"]),
         "test": difference_test(proportion_arm("from scratch", cold["val_top1"], source.num_val, chance=chance),
                                 proportion_arm("from VGG-11", warm["val_top1"], source.num_val, chance=chance),
                                 order="a<b")},
    ]
    return {"measures": measures, "rows": rows}


# ---------------------------------------------------------------------- 7. sharing
def sharing(ctx):
    from keras_classics import arithmetic
    from keras_classics.models.small_nets import CONVNET4_FILTERS, mlp_params

    s = _sizes(ctx,
               default=dict(image_size=32, num_train=4000, num_val=500, epochs=10, batch_size=64, lr=0.01),
               quick=dict(image_size=16, num_train=256, num_val=64, epochs=2, batch_size=32, lr=0.01))
    size = s["image_size"]
    # One layer: conv1 of convnet4 (5x5, 3 -> 32 channels, 'same') against the dense layer with
    # the same input (size*size*3) and output (size*size*32) sizes, and the locally connected
    # layer between them (the same 5x5 windows, no sharing).
    cin, cout, k = 3, CONVNET4_FILTERS[0], 5
    n_in, n_out = size * size * cin, size * size * cout
    layer = {
        "input": [size, size, cin], "output": [size, size, cout], "kernel": k,
        "conv": {"params": arithmetic.conv_params(k, cin, cout), "macs": arithmetic.conv_macs(k, cin, cout, size)},
        "locally_connected": {"params": size * size * arithmetic.conv_params(k, cin, cout),
                              "macs": arithmetic.conv_macs(k, cin, cout, size)},
        "dense": {"params": arithmetic.dense_params(n_in, n_out), "macs": arithmetic.dense_macs(n_in, n_out)},
    }
    source = ctx.source(image_size=size, num_train=s["num_train"], num_val=s["num_val"], batch_size=s["batch_size"])
    classes = int(source.num_classes)
    for seed in ctx.seeds:
        conv, _ = ctx.train("cnn", seed, dict(model="convnet4", image_size=size, epochs=s["epochs"],
                                              batch_size=s["batch_size"], lr=s["lr"], weight_decay=0.0,
                                              policy="none", **_SGD), source=source)
        budget = conv["num_params"]
        # The widest one-hidden-layer network within the CNN's parameter budget.
        hidden = max(1, (budget - classes) // (n_in + 1 + classes))
        while mlp_params(n_in, (hidden + 1,), classes) <= budget:
            hidden += 1
        ctx.train("mlp", seed, dict(model="mlp", model_kwargs={"hidden": [hidden]}, image_size=size,
                                    epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], weight_decay=0.0,
                                    policy="none", **_SGD), source=source)
    cnn_val = summarize([_last(r["history"]["val_top1"]) for r in ctx.arms["cnn"]])
    mlp_val = summarize([_last(r["history"]["val_top1"]) for r in ctx.arms["mlp"]])
    params = {a: ctx.arms[a][0]["num_params"] for a in ("cnn", "mlp")}
    ratio = layer["dense"]["params"] / layer["conv"]["params"]
    rows = [
        {"claim": "a convolution has far fewer parameters than a dense layer with the same input and output",
         "measured": f"{size}x{size}x{cin} -> {size}x{size}x{cout}: conv {layer['conv']['params']:,} params, "
                     f"locally connected {layer['locally_connected']['params']:,}, dense "
                     f"{layer['dense']['params']:,} ({ratio:,.0f}x the conv); MACs conv "
                     f"{layer['conv']['macs']:,}, dense {layer['dense']['macs']:,}",
         "held": ratio > 1},
        {"claim": "at an equal parameter budget the CNN beats the fully connected network",
         "measured": f"val top-1, last epoch: CNN ({params['cnn']:,} params) {fmt(cnn_val, pct=True)}, "
                     f"MLP ({params['mlp']:,} params) {fmt(mlp_val, pct=True)}",
         "held": _less(mlp_val, cnn_val),
         "test": difference_test(proportion_arm("MLP", mlp_val, source.num_val, chance=1 / classes),
                                 proportion_arm("CNN", cnn_val, source.num_val, chance=1 / classes), order="a<b")},
    ]
    return {"measures": {"layer": layer, "params": params, "cnn_val_top1": cnn_val, "mlp_val_top1": mlp_val,
                         "dense_over_conv_params": ratio}, "rows": rows}


RUNNERS = {
    "relu-vs-tanh": relu_vs_tanh,
    "dropout": dropout,
    "augmentation": augmentation,
    "plain-vs-residual": plain_vs_residual,
    "aux-classifiers": aux_classifiers,
    "shallow-first": shallow_first,
    "sharing": sharing,
}
