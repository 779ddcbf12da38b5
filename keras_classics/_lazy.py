"""Deferred imports of heavy modules (Keras, TensorFlow): names and modules that load on first use.

* :func:`lazy_exports`: a package that re-exports names from modules importing
  Keras or TensorFlow states them in one table; the names then load on first use
  (PEP 562), so that ``import keras_classics.data`` or the command line's
  ``--help`` stays light.
* :func:`lazy_module`: a stand-in for a module (``keras.layers``) that imports it
  on its first attribute use, so that the model families can be imported, and
  their registry entries read, without Keras (``keras-classics list``).
* :func:`when_imported`: run a function once a module is imported, now or later
  (the package's Keras layers register themselves with Keras).

Standard library only.

Example, in a package's ``__init__.py``::

    __getattr__, __dir__ = lazy_exports(__name__, {"keras_classics.data.pipeline": ("make_pipeline",)})
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import sys
import types
from typing import Callable, Iterable, Mapping

__all__ = ["lazy_exports", "lazy_module", "when_imported"]


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


class _LazyModule(types.ModuleType):
    """A module's stand-in: the first attribute looked up imports the module; each name is kept once read."""

    def __getattr__(self, attr):
        if attr.startswith("__"):  # copy, pickle and pydoc probes: no import for them
            raise AttributeError(attr)
        value = getattr(importlib.import_module(self.__name__), attr)
        setattr(self, attr, value)
        return value

    def __repr__(self):
        return f"<lazy module {self.__name__!r}>"


def lazy_module(name: str) -> types.ModuleType:
    """A stand-in for module ``name`` that imports it when one of its attributes is first used.

    ``layers = lazy_module("keras.layers")`` at a module's top, then ``layers.Conv2D(...)`` inside
    its functions: Keras is imported by the first call, not by the module's import.
    """
    return _LazyModule(name)


class _AfterImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds module ``name`` once, through the other finders, executes it inside ``around()`` (if given) and
    calls ``callback`` (if given) after it executes."""

    def __init__(self, name: str, callback: Callable | None = None, around: Callable | None = None):
        self.name, self.callback, self.around, self.loader = name, callback, around, None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once: the real spec, found without this finder
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self.loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self.loader
        with self.around() if self.around is not None else contextlib.nullcontext():
            self.loader.exec_module(module)
        if self.callback is not None:
            self.callback(module)


def around_import(name: str, context: Callable) -> None:
    """Run the first import of the top-level module ``name`` inside ``context()`` (a context manager factory).

    Nothing happens if ``name`` is imported already, or if a hook for it is already waiting.
    """
    if name not in sys.modules and not any(
            isinstance(f, _AfterImport) and f.name == name and f.around is not None for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, around=context))


def when_imported(name: str, callback: Callable) -> None:
    """Call ``callback(module)`` once the top-level module ``name`` is imported: now if it is, else after its import.

    The callback runs once the module has executed, so it may import the module's sub-modules.
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
    elif not any(isinstance(f, _AfterImport) and f.name == name and f.callback == callback for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(name, callback))
