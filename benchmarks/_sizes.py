"""Sizing flags shared by the benchmark scripts: defaults, and the smaller ones of ``--tiny``."""


def tiny_help(tiny: dict) -> str:
    """``--tiny``'s values as ``key=value, ...`` for its help text."""
    return ", ".join(f"{k}={v}" for k, v in tiny.items())


def fill_sizes(args, defaults: dict, tiny: dict):
    """Give every sizing flag left unset (``None``) its default, or its ``--tiny`` value.

    Flags given explicitly on the command line win over both.
    """
    for key, value in (tiny if args.tiny else defaults).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args
