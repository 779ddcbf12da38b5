"""Lazy re-exports for package ``__init__`` files: a public name is imported from its module on first use.

A package that re-exports names from modules importing Keras or TensorFlow
states them in one table and calls :func:`lazy_exports`; the names then load on
first use (PEP 562), so that ``import keras_classics.data`` or the command
line's ``--help`` stays light. Standard library only.

Example, in a package's ``__init__.py``::

    __getattr__, __dir__ = lazy_exports(__name__, {"keras_classics.data.pipeline": ("make_pipeline",)})
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, Iterable[str]], *, everything_from: str | None = None,
                 extra_all: Iterable[str] = (), submodules: bool = False) -> tuple[Callable, Callable]:
    """The ``__getattr__`` and ``__dir__`` of a package whose public names load on first use.

    Args:
        package: the package's ``__name__``.
        exports: ``{module: names}``: each name is re-exported from that module
            (a full module name).
        everything_from: a module whose ``__all__`` is re-exported too; the
            package's ``__all__`` (when the package does not define one) is then
            that list, the names of ``exports`` and ``extra_all``.
        extra_all: names the package defines itself, for that ``__all__``.
        submodules: an attribute that names a sub-module imports it
            (``keras_classics.training``) before ``everything_from`` is asked.

    Returns:
        ``(__getattr__, __dir__)``, to assign at the package's top level.

    A name that is both a sub-module and the function it defines
    (``keras_classics.inspect.summary``) stays the function once the sub-module
    is imported.
    """
    module_of = {name: module for module, names in exports.items() for name in names}
    extra_all = tuple(extra_all)
    namespace = sys.modules[package].__dict__

    def load(name):
        value = getattr(importlib.import_module(module_of[name]), name)
        namespace[name] = value
        return value

    def everything():
        return importlib.import_module(everything_from)

    def __getattr__(name):
        if name in module_of:
            return load(name)
        if name == "__all__" and everything_from:
            value = [*everything().__all__, *module_of, *extra_all]
            namespace[name] = value
            return value
        if not name.startswith("_"):
            if submodules and importlib.util.find_spec(f"{package}.{name}") is not None:
                return importlib.import_module(f"{package}.{name}")
            if everything_from and name in everything().__all__:
                value = getattr(everything(), name)
                namespace[name] = value
                return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        names = set(namespace) | set(module_of)
        if everything_from:
            names |= set(everything().__all__)
        return sorted(names)

    # The import system sets an imported sub-module as an attribute of its package: where the
    # sub-module has the name of the function re-exported from it, the package keeps the function.
    shadowed = {name for name, module in module_of.items() if module == f"{package}.{name}"}
    if shadowed:
        class _Package(types.ModuleType):
            def __setattr__(self, name, value):
                if name in shadowed and isinstance(value, types.ModuleType):
                    value = getattr(value, name)
                super().__setattr__(name, value)

        sys.modules[package].__class__ = _Package
    return __getattr__, __dir__
