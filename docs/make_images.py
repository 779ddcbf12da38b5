"""Draw the pictures shown in the README and docs/inspect.md.

    python docs/make_images.py --overwrite                       # receptive field + activations
    python docs/make_images.py --run-dir runs/quickstart --overwrite   # + training curves and trained filters

The receptive-field figure needs no weights. The activation maps use the
trained model of ``--run-dir`` (its ``final.keras``) when given, else ResNet-18
with random weights (the title says which). The photograph is the Grace Hopper
portrait that ships with matplotlib's sample data.

AlexNet's conv1 filters with torchvision's ImageNet weights
(``alexnet_filters_torchvision.png``) are drawn when those weights are in the
Keras cache (``keras-classics weights list alexnet`` says), and skipped with a
message otherwise: this script never downloads.
"""

from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "images"), help="output directory (default: docs/images)")
    parser.add_argument("--run-dir", help="a training run (history.csv, final.keras) for the curves and trained filters")
    parser.add_argument("--overwrite", action="store_true", help="replace existing pictures")
    args = parser.parse_args(argv)

    import keras
    import matplotlib.cbook

    from keras_classics import inspect

    keras.utils.set_random_seed(0)  # the same random weights every time

    os.makedirs(args.out, exist_ok=True)
    out = lambda name: os.path.join(args.out, name)  # noqa: E731
    photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    written = [
        inspect.plot_receptive_field(
            ["alexnet", "vgg16", "googlenet", "inception_v3", "resnet50"],
            out("receptive_field.png"),
            overwrite=args.overwrite,
        )
    ]
    if args.run_dir:
        trained = os.path.join(args.run_dir, "final.keras")
        written.append(inspect.plot_history(args.run_dir, out("training_curves.png"), overwrite=args.overwrite))
        written.append(inspect.plot_filters(trained, out("filters.png"), overwrite=args.overwrite))
        written.append(
            inspect.plot_activations(trained, photo, out("activations.png"), layer="conv2_block2_out",
                                     max_maps=15, overwrite=args.overwrite)
        )
    else:
        written.append(
            inspect.plot_activations("resnet18", photo, out("activations.png"), layer="conv1_relu",
                                     max_maps=15, overwrite=args.overwrite)
        )
    written += _pretrained_filters(out, args.overwrite)
    for path in written:
        print(f"wrote {os.path.relpath(path)}")
    return 0


def _pretrained_filters(out, overwrite):
    """AlexNet's conv1 filters with torchvision's weights, if they are cached (never downloaded here)."""
    from keras_classics import inspect, model_info
    from keras_classics.weights import cached_file, safetensors_twin

    weights_set = model_info("alexnet").weights["torchvision"]
    if not any(os.path.isfile(p) for p in (cached_file(weights_set), safetensors_twin(weights_set))):
        print(f"skipped alexnet_filters_torchvision.png: {weights_set.file} is not in the Keras cache "
              f"({os.path.dirname(cached_file(weights_set))}); build alexnet(weights='torchvision') once online, "
              "then run this again.")
        return []
    return [inspect.plot_filters("alexnet", out("alexnet_filters_torchvision.png"), weights="torchvision",
                                 overwrite=overwrite)]


if __name__ == "__main__":
    sys.exit(main())
