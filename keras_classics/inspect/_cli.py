"""``keras-classics list | summary | compare | visualize | plot``: thin wrappers over
:mod:`keras_classics.inspect`."""

from __future__ import annotations

from keras_classics._cliargs import int_at_least
from keras_classics.transforms import PREPROCESSING_MODES  # no TensorFlow: the help stays fast
from keras_classics.inspect._format import FORMATS

_MODEL_HELP = (
    "a registered name (see `keras-classics list`), optionally with builder options "
    "(resnet50:stride_in=3x3), a path to a .keras file, or a training run directory (its best.keras, "
    "else final.keras)"
)


def _add_builder_options(p):
    p.add_argument("--variant", help="builder option variant=... (alexnet: owt, groups=1 …; googlenet: bn, torchvision)")
    p.add_argument("--stride-in", dest="stride_in", help="ResNet 50/101/152: 1x1 (v1, the paper) or 3x3 (v1.5)")
    p.add_argument("-O", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="any other builder option, repeatable (-O classes=10 -O aux_logits=True)")


def _builder_kwargs(args) -> dict:
    from keras_classics.inspect._model import parse_options

    kwargs = parse_options(args.option)
    if args.variant is not None:
        kwargs["variant"] = args.variant
    if args.stride_in is not None:
        kwargs["stride_in"] = args.stride_in
    return kwargs


def _add_output(p):
    p.add_argument("-o", "--output", required=True, metavar="PNG", help="the picture to write (.png)")
    p.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")


def _cmd_list(args):
    from keras_classics.inspect.compare import model_table  # the registry's stated figures: no Keras

    print(model_table(args.pattern).render(args.format))
    return 0


def _cmd_summary(args):
    from keras_classics.inspect.summary import summary

    print(summary(args.model, args.input_size, **_builder_kwargs(args)).render(args.format))
    return 0


def _cmd_compare(args):
    from keras_classics.inspect.compare import compare, inception_reduction

    if args.inception_module:
        if args.models:
            raise ValueError("Give either model names or --inception-module, not both.")
        print(inception_reduction(args.inception_module).render(args.format))
        return 0
    if not args.models:
        raise ValueError("Name at least one model to compare (or --inception-module 3a).")
    print(compare(args.models, args.input_size).render(args.format))
    return 0


def _cmd_filters(args):
    from keras_classics.inspect.pictures import plot_filters

    path = plot_filters(args.model, args.output, layer=args.layer, weights=args.weights,
                        max_filters=args.max_filters, overwrite=args.overwrite, **_builder_kwargs(args))
    print(f"wrote {path}")
    return 0


def _cmd_activations(args):
    from keras_classics.inspect.pictures import plot_activations

    path = plot_activations(args.model, args.image, args.output, layer=args.layer, weights=args.weights,
                            max_maps=args.max_maps, input_size=args.input_size,
                            preprocessing=args.preprocessing, overwrite=args.overwrite, **_builder_kwargs(args))
    print(f"wrote {path}")
    return 0


def _cmd_receptive_field(args):
    from keras_classics.inspect.pictures import plot_receptive_field

    path = plot_receptive_field(args.models, args.output, overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


def _cmd_plot(args):
    from keras_classics.inspect.pictures import plot_history

    path = plot_history(args.run_dir, args.output, overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


_WEIGHTS_HELP = ("a weights set of the model (e.g. torchvision; see `keras-classics weights list`), a "
                 "torchvision-layout .safetensors/.pth file, or a .weights.h5 or .keras file")


def register(subparsers) -> None:
    """Add ``list``, ``summary``, ``compare``, ``visualize`` and ``plot``."""
    p = subparsers.add_parser("list", help="every registered model: params, MACs, depth, min input, paper, year",
                              description="Every registered model with its parameters (reference count), "
                              "multiply-adds and depth at the paper's input size, minimum input (and with the "
                              "auxiliary heads, where a model has them), paper and year, as its registry entry "
                              "states them: nothing is built.")
    p.add_argument("pattern", nargs="?", help="glob on the names, e.g. 'resnet*'")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=_cmd_list)

    p = subparsers.add_parser("summary", help="per-layer table: shapes, params, MACs, receptive field",
                              description="One row per layer: output shape, kernel/stride/padding, groups, "
                              "parameters, multiply-adds, receptive field and jump, share of the parameters.")
    p.add_argument("model", help=_MODEL_HELP)
    p.add_argument("--input-size", type=int_at_least(1), metavar="N", help="square input side (default: the paper's)")
    p.add_argument("--format", choices=FORMATS, default="table")
    _add_builder_options(p)
    p.set_defaults(func=_cmd_summary)

    p = subparsers.add_parser("compare", help="models side by side: params, MACs, depth, min input, paper error",
                              description="One row per model and the ratios to the first. "
                              "`--inception-module 3a` compares the naive Inception module with the reduced one.")
    p.add_argument("models", nargs="*", metavar="MODEL", help=_MODEL_HELP)
    p.add_argument("--input-size", type=int_at_least(1), metavar="N", help="one square input side for all")
    p.add_argument("--inception-module", metavar="ROW",
                   help="compare the naive and the reduced Inception module of a GoogLeNet Table 1 row (3a … 5b)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(func=_cmd_compare)

    vis = subparsers.add_parser("visualize", help="pictures: filters, activations, receptive-field growth",
                                description="Draw a PNG. Models built from a name have random weights "
                                "unless --weights is given.")
    vsub = vis.add_subparsers(dest="picture", metavar="PICTURE")
    vis.set_defaults(func=lambda args: (vis.print_help(), 2)[1])

    p = vsub.add_parser("filters", help="grid of a conv layer's filters (default: the first)")
    p.add_argument("model", help=_MODEL_HELP)
    p.add_argument("--layer", help="conv layer name (default: the first conv layer)")
    p.add_argument("--weights", help=_WEIGHTS_HELP)
    p.add_argument("--max-filters", type=int_at_least(1), default=96, metavar="N")
    _add_output(p)
    _add_builder_options(p)
    p.set_defaults(func=_cmd_filters)

    p = vsub.add_parser("activations", help="the most active feature maps of a layer for an image")
    p.add_argument("model", help=_MODEL_HELP)
    p.add_argument("image", help="an image file (JPEG, PNG, …)")
    p.add_argument("--layer", required=True, help="a layer with a (H, W, C) output, e.g. conv2_block1_out")
    p.add_argument("--weights", help=_WEIGHTS_HELP)
    p.add_argument("--max-maps", type=int_at_least(1), default=15, metavar="N")
    p.add_argument("--input-size", type=int_at_least(1), metavar="N", help="square input side (default: the paper's)")
    p.add_argument("--preprocessing", choices=PREPROCESSING_MODES,
                   help="default: the model's own (registry)")
    _add_output(p)
    _add_builder_options(p)
    p.set_defaults(func=_cmd_activations)

    p = vsub.add_parser("receptive-field", help="receptive field against depth for one or more models")
    p.add_argument("models", nargs="+", metavar="MODEL", help=_MODEL_HELP)
    _add_output(p)
    p.set_defaults(func=_cmd_receptive_field)

    p = subparsers.add_parser("plot", help="training curves from a run directory's history.csv",
                              description="Plot RUN_DIR/history.csv (Keras CSVLogger): one panel per "
                              "metric, training and validation, and the learning rate if logged.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory holding history.csv (or the CSV itself)")
    _add_output(p)
    p.set_defaults(func=_cmd_plot)
