"""Lazy subpackages (PEP 562): a package's public names are imported from their module on first use.

A package ``__init__`` declares which module defines each public name::

    __getattr__, __dir__, __all__ = attach(__name__, {"evaluate": ["evaluate_run"], "settings": [...]})

so importing one light module of a package (its settings, say) does not
import its heavy siblings (torch), and ``manifold-lens --help`` stays fast.
"""

from __future__ import annotations

import sys
import types
from importlib import import_module
from importlib.util import find_spec


def attach(package: str, exports: dict[str, list[str]]):
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose submodule ``m`` defines ``exports[m]``."""
    where = {name: module for module, names in exports.items() for name in names}
    public = sorted(where)
    _shadow_guard(package, {name for name, module in where.items() if name == module})

    def __getattr__(name: str):
        if name in where:
            return getattr(import_module(f"{package}.{where[name]}"), name)
        if not name.startswith("_") and find_spec(f"{package}.{name}") is not None:  # a submodule
            return import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return public

    return __getattr__, __dir__, public


def _shadow_guard(package: str, clashes: set[str]) -> None:
    """Keep a public name that is also its module's name (``analysis.measure``) bound to the function.

    Importing submodule ``pkg.measure`` makes the import system set ``pkg.measure``
    to the module; an eager ``from .measure import measure`` used to rebind it.
    Here the package's class intercepts that binding and stores the function.
    """
    if not clashes:
        return

    class _Package(types.ModuleType):
        def __setattr__(self, key, value):
            if key in clashes and isinstance(value, types.ModuleType) and value.__name__ == f"{package}.{key}":
                value = getattr(value, key)
            super().__setattr__(key, value)

    sys.modules[package].__class__ = _Package
