"""``keras-classics weights``: the pretrained sets of the registry, and converting torchvision files."""

from __future__ import annotations

import os


def register(subparsers):
    weights = subparsers.add_parser(
        "weights", help="pretrained weights: list the sets, convert a torchvision file",
        description="The pretrained weights sets of the registry (keras.applications' and torchvision's "
                    "ImageNet weights), and conversion of torchvision-layout .pth/.safetensors files.")
    wsub = weights.add_subparsers(dest="weights_command", metavar="ACTION")
    weights.set_defaults(func=lambda args: (weights.print_help(), 2)[1])

    p = wsub.add_parser("list", help="every (model, set): source, published top-1/top-5, file size, cached",
                        description="Every pretrained weights set: model, set name (the builders' weights= "
                                    "value), source, the publisher's ImageNet top-1/top-5 accuracy, file size, "
                                    "and whether the file is in the Keras cache.")
    p.add_argument("pattern", nargs="?", help="only models matching this glob, e.g. 'resnet*'")
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.set_defaults(func=_cmd_list)

    p = wsub.add_parser("convert", help="port a torchvision-layout .pth/.safetensors file into a Keras file",
                        description="Port a state dict in torchvision's layout into MODEL and save it as "
                                    "OUT.weights.h5 (weights) or OUT.keras (the model, with the set's eval "
                                    "transform and the ImageNet class names), with a card OUT.keras.card.json (the "
                                    "source file's SHA-256, the set, the variant options used).")
    p.add_argument("model", metavar="MODEL",
                   help="a registered model with torchvision weights (see `keras-classics weights list`)")
    p.add_argument("file", metavar="FILE", help="a .pth or .safetensors file in torchvision's (or timm's) layout")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="OUT.weights.h5 or OUT.keras")
    p.add_argument("--set", dest="set_name", metavar="NAME",
                   help="the set the file is (default: recognised by its SHA-256, else the model's first "
                        "torchvision set)")
    p.add_argument("--no-top", dest="include_top", action="store_false",
                   help="leave the classifier out (a backbone for include_top=False models)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier conversion's output (never any other file)")
    p.set_defaults(func=_cmd_convert)


def _cmd_list(args):
    from keras_classics._startup import metadata_backend

    metadata_backend()  # the registry only: no TensorFlow needed
    rows = _rows(args.pattern)
    if not rows:
        having = sorted({r["model"] for r in _rows(None)})
        raise ValueError(f"No weights sets for models matching {args.pattern!r}. Models with sets: "
                         f"{', '.join(having)} (a pattern is a glob: 'resnet*').")
    if args.format == "json":
        import json

        print(json.dumps(rows, indent=1))
        return 0
    headers = ["model", "weights=", "source", "top-1 %", "top-5 %", "size MiB", "variant", "cached"]
    table = [[r["model"], r["set"], r["source"], f"{r['top1']:.2f}", f"{r['top5']:.2f}", f"{r['size_mib']:.0f}",
              ", ".join(f"{k}={v!r}" for k, v in r["requires"].items()) or "-", r["cached"]] for r in rows]
    if args.format == "markdown":
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" for _ in headers) + "|")
        for row in table:
            print("| " + " | ".join(row) + " |")
        return 0
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    numeric = {3, 4, 5}
    for row in [headers] + table:
        print("  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    print(f"\n{len(rows)} sets. Accuracy: the publisher's, ImageNet-1k validation, single crop with the set's "
          "eval transform. Cache: " + _cache_dir())
    return 0


def _cache_dir():
    from keras_classics.weights import keras_cache_dir

    return keras_cache_dir()


def _rows(pattern):
    from keras_classics.models import list_models, model_info
    from keras_classics.weights import cached_file, safetensors_twin

    rows = []
    for name in list_models(pattern):
        for s in model_info(name).weights.values():
            if s.source == "keras.applications":
                cache = cached_file(s)
                cached = "yes" if os.path.isfile(cache) else "no"
            else:
                cached = ("yes" if os.path.isfile(cached_file(s))
                          else "safetensors" if os.path.isfile(safetensors_twin(s)) else "no")
            rows.append({
                "model": name, "set": s.name, "source": s.source, "top1": s.top1, "top5": s.top5,
                "size_mib": s.size_mib, "file": s.file, "url": s.url or None, "sha256_prefix": s.sha256 or None,
                "requires": dict(s.requires),
                "eval_transform": {"resize": s.eval_transform.resize, "size": s.eval_transform.size,
                                   "crop_fraction": s.eval_transform.crop_fraction,
                                   "preprocessing": s.eval_transform.preprocessing},
                "cached": cached,
            })
    return rows


def _cmd_convert(args):
    from keras_classics.weights import convert

    card = convert(args.model, args.file, args.output, set_name=args.set_name, include_top=args.include_top,
                   overwrite=args.overwrite)
    options = ", ".join(f"{k}={v!r}" for k, v in card["options"].items())
    print(f"wrote {card['output']} ({args.model}, {options}; {card['loaded_arrays']} arrays, "
          f"{card['loaded_values']:,} values)")
    recognised = "recognised by its SHA-256" if card["set_recognised_by_hash"] else "not a published file: assumed"
    print(f"set {card['weights_set']!r} ({recognised}); eval transform: resize {card['eval_transform']['resize']}, "
          f"crop {card['eval_transform']['size']}, preprocessing {card['eval_transform']['preprocessing']!r}")
    if card.get("note"):
        print(card["note"])
    print(f"card: {card['card']}")
    return 0
