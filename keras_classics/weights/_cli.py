"""``keras-classics weights``: the pretrained sets of the registry, prefetching them, and converting
torchvision files."""

from __future__ import annotations



def register(subparsers):
    weights = subparsers.add_parser(
        "weights", help="pretrained weights: list the sets, download them, convert a torchvision file",
        description="The pretrained weights sets of the registry (keras.applications', torchvision's and "
                    "timm's ImageNet weights), prefetching them for offline use, and conversion of "
                    "torchvision-layout .pth/.safetensors files.")
    wsub = weights.add_subparsers(dest="weights_command", metavar="ACTION")
    weights.set_defaults(func=lambda args: (weights.print_help(), 2)[1])

    p = wsub.add_parser("list", help="every (model, set): source, where from, top-1/top-5, eval transform, cached",
                        description="Every pretrained weights set: model, set name (the builders' weights= "
                                    "value), source and where it is downloaded from (a URL or a Hugging Face Hub "
                                    "repository; torchvision's sets also name timm's Hub copy, read without "
                                    "PyTorch), the publisher's ImageNet top-1/top-5 accuracy, the eval transform "
                                    "it was measured with, file size, and whether it is cached.")
    p.add_argument("pattern", nargs="?", help="only models matching this glob, e.g. 'resnet*'")
    p.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    p.set_defaults(func=_cmd_list)

    p = wsub.add_parser("download", help="fill the cache with a model's sets (or a Hub checkpoint), for offline use",
                        description="Download weights into the caches they are read from (the Keras cache, "
                                    "~/.keras/models, and huggingface_hub's, HF_HOME), so that building with "
                                    "them later works offline (KERAS_CLASSICS_OFFLINE=1, HF_HUB_OFFLINE=1). "
                                    "A torchvision set fetches the file this machine reads: the .pth with "
                                    "PyTorch installed, timm's safetensors copy without.")
    p.add_argument("name", metavar="NAME",
                   help="a model (e.g. resnet50) or a Hub handle (e.g. hf://timm/resnet50.a1_in1k)")
    p.add_argument("sets", nargs="*", metavar="SET", help="the model's sets (default: all of them)")
    p.add_argument("--no-top", dest="include_top", action="store_false",
                   help="keras.applications sets: the _notop file that include_top=False reads")
    p.set_defaults(func=_cmd_download)

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
    headers = ["model", "weights=", "source", "from", "top-1 %", "top-5 %", "eval", "size MiB", "variant",
               "cached"]
    table = [[r["model"], r["set"], r["source"], _where(r), f"{r['top1']:.2f}", f"{r['top5']:.2f}",
              _transform(r["eval_transform"]), "-" if r["size_mib"] is None else f"{r['size_mib']:.0f}",
              ", ".join(f"{k}={v!r}" for k, v in r["requires"].items()) or "-", r["cached"]] for r in rows]
    if args.format == "markdown":
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" for _ in headers) + "|")
        for row in table:
            print("| " + " | ".join(row) + " |")
        return 0
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(headers)]
    numeric = {4, 5, 7}
    for row in [headers] + table:
        print("  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    print(f"\n{len(rows)} sets. Accuracy: the publisher's, ImageNet-1k validation, single crop with the set's "
          "eval transform (size/crop fraction, resampling, preprocessing). Caches: " + " and ".join(_cache_dirs())
          + ". Fill them for offline use: keras-classics weights download MODEL [SET ...]")
    return 0


def _where(row):
    """Where a set comes from: its file's URL, its Hub handle, or both (torchvision's, with timm's copy)."""
    if row["source"] == "timm":
        return "hf://" + row["hub"]
    return row["file"] + (f" | hf://{row['hub']}" if row["hub"] else "")


def _transform(t):
    train = f", trained {t['train_size']}" if t["train_size"] else ""
    return f"{t['size']}/{t['crop_fraction']:.3f} {t['interpolation']} {t['preprocessing']}{train}"


def _cache_dirs():
    from keras_classics.weights import hub_cache_dir, keras_cache_dir

    return keras_cache_dir(), hub_cache_dir()


def _cmd_download(args):
    from keras_classics.weights import prefetch

    for what, path in prefetch(args.name, args.sets, include_top=args.include_top):
        print(f"{what}: {path}")
    return 0


def _rows(pattern):
    from keras_classics.models import list_models, model_info
    from keras_classics.weights import is_cached

    rows = []
    for name in list_models(pattern):
        for s in model_info(name).weights.values():
            t = s.eval_transform
            rows.append({
                "model": name, "set": s.name, "source": s.source, "top1": s.top1, "top5": s.top5,
                "size_mib": s.size_mib, "file": s.file, "url": s.url or None, "sha256_prefix": s.sha256 or None,
                "hub": s.hub or None, "requires": dict(s.requires),
                "eval_transform": {"resize": t.resize, "size": t.size, "crop_fraction": t.crop_fraction,
                                   "interpolation": t.interpolation, "preprocessing": t.preprocessing,
                                   "train_size": t.train_size},
                "cached": is_cached(s),
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
