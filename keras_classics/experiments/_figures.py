"""One PNG per experiment, in the style of the paper's figure, drawn from ``results.json`` only."""

from __future__ import annotations

from keras_classics.inspect.pictures import save_figure

__all__ = ["draw"]

_DPI = 110


def _figure(width, height, ncols=1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _save(fig, path):
    return save_figure(fig, path, dpi=_DPI)


def _epochs(values):
    return list(range(1, len(values) + 1))


def _title(fig, results):
    size = "quick" if results["quick"] else "default"
    seeds = ", ".join(map(str, results["seeds"]))
    fig.suptitle(f"{results['experiment']} ({size} size, {results['dataset']}, seeds {seeds})", fontsize=10)


def _epoch_axes(ax, ylabel):
    """Epochs along x, a fraction in [0, 1] along y, and the legend."""
    ax.set_xlabel("Epochs")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)


def _finish(fig, results, path):
    _title(fig, results)
    return _save(fig, path)


def _curves(ax, runs, key, *, transform=lambda v: v, label=None, **style):
    for i, r in enumerate(runs):  # one line per seed, labelled once
        values = r["history"][key]
        ax.plot(_epochs(values), [transform(v) for v in values], label=label if i == 0 else None, **style)


def draw(results: dict, path: str) -> str:
    """Draw the figure of ``results`` (a ``results.json`` content) to ``path``."""
    name = results["experiment"]
    return _DRAW[name](results, path)


def _relu_tanh(results, path):
    fig, (ax,) = _figure(5.5, 4)
    thr = results["settings"]["threshold_error"]
    for arm, style in (("relu", dict(color="black", linestyle="-", label="ReLU")),
                       ("tanh", dict(color="black", linestyle="--", label="tanh"))):
        _curves(ax, results["arms"][arm], "train_top1", transform=lambda a: 1 - a, **dict(style))
    ax.axhline(thr, color="grey", linewidth=0.8)
    ax.set_xlabel("Epochs")
    ax.set_ylabel("Training error rate")
    ax.set_ylim(0, 1)
    ax.legend()
    return _finish(fig, results, path)


def _overfit(results, path):
    fig, (ax,) = _figure(6, 4)
    arms = list(results["arms"])
    for arm, color in zip(arms, ("tab:red", "tab:blue")):
        _curves(ax, results["arms"][arm], "train_top1", color=color, linestyle="--", label=f"{arm} (train)")
        _curves(ax, results["arms"][arm], "val_top1", color=color, linestyle="-", label=f"{arm} (validation)")
    _epoch_axes(ax, "Top-1 accuracy")
    return _finish(fig, results, path)


def _plain_residual(results, path):
    fig, axes = _figure(9, 4, ncols=2)
    d1, d2 = results["settings"]["depths"]
    for ax, kind, title in ((axes[0], "plain", "plain"), (axes[1], "resnet", "ResNet")):
        for depth, color in ((d1, "tab:orange"), (d2, "tab:red")):
            runs = results["arms"][f"{kind}{depth}"]
            _curves(ax, runs, "train_top1", transform=lambda a: 1 - a, color=color, linestyle="--",
                    linewidth=0.9, label=f"{title}-{depth} train")
            _curves(ax, runs, "val_top1", transform=lambda a: 1 - a, color=color, linestyle="-", linewidth=1.8,
                    label=f"{title}-{depth} val")
        ax.set_xlabel("Epochs")
        ax.set_ylabel("Error")
        ax.set_ylim(0, 1)
        ax.set_title(title)
        ax.legend(fontsize=8)
    return _finish(fig, results, path)


def _aux(results, path):
    fig, (ax1, ax2) = _figure(9, 4, ncols=2)
    for arm, color in (("no_aux", "tab:blue"), ("aux", "tab:red")):
        for i, r in enumerate(results["arms"][arm]):
            x = list(range(len(r["grad_norm_total"])))
            ax1.plot(x, r["grad_norm_total"], color=color, label=f"{arm}: total loss" if i == 0 else None)
            if arm == "aux":
                ax1.plot(x, r["grad_norm_main"], color=color, linestyle=":",
                         label="aux: main loss only" if i == 0 else None)
        _curves(ax2, results["arms"][arm], "val_top1", color=color, label=arm)
    ax1.set_yscale("log")
    ax1.set_xlabel("Epochs")
    ax1.set_ylabel("Gradient norm at inception_3a")
    ax1.legend(fontsize=8)
    _epoch_axes(ax2, "Validation top-1")
    return _finish(fig, results, path)


def _shallow(results, path):
    fig, (ax,) = _figure(6, 4)
    styles = {"vgg11": ("tab:grey", "VGG-11"), "vgg16_from_vgg11": ("tab:red", "VGG-16 from VGG-11"),
              "vgg16_scratch": ("tab:blue", "VGG-16 from scratch")}
    for arm, (color, label) in styles.items():
        _curves(ax, results["arms"][arm], "val_top1", color=color, label=label, marker="o", markersize=3)
    ax.axhline(results["settings"]["target_val_top1"], color="grey", linewidth=0.8)
    _epoch_axes(ax, "Validation top-1")
    return _finish(fig, results, path)


def _sharing(results, path):
    fig, (ax1, ax2) = _figure(9, 4, ncols=2)
    layer = results["measures"]["layer"]
    kinds = ["conv", "locally_connected", "dense"]
    labels = ["conv", "locally\nconnected", "dense"]
    x = range(len(kinds))
    ax1.bar([i - 0.2 for i in x], [layer[k]["params"] for k in kinds], width=0.4, label="parameters")
    ax1.bar([i + 0.2 for i in x], [layer[k]["macs"] for k in kinds], width=0.4, label="multiply-adds")
    ax1.set_xticks(list(x), labels)
    ax1.set_yscale("log")
    ax1.set_title("{}x{}x{} -> {}x{}x{}".format(*layer["input"], *layer["output"]), fontsize=9)
    ax1.legend(fontsize=8)
    params = results["measures"]["params"]
    for arm, color in (("cnn", "tab:red"), ("mlp", "tab:blue")):
        _curves(ax2, results["arms"][arm], "val_top1", color=color, label=f"{arm} ({params[arm]:,} params)")
    _epoch_axes(ax2, "Validation top-1")
    return _finish(fig, results, path)


_DRAW = {
    "relu-vs-tanh": _relu_tanh,
    "dropout": _overfit,
    "augmentation": _overfit,
    "plain-vs-residual": _plain_residual,
    "aux-classifiers": _aux,
    "shallow-first": _shallow,
    "sharing": _sharing,
}
