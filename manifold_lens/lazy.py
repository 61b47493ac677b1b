"""Lazy subpackages (PEP 562): a package's public names are imported from their module on first use.

A package ``__init__`` declares which module defines each public name::

    __getattr__, __dir__, __all__ = attach(__name__, {"evaluate": ["evaluate_run"], "settings": [...]})

so importing one light module of a package (its settings, say) does not
import its heavy siblings (torch), and ``manifold-lens --help`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from importlib.util import find_spec


def attach(package: str, exports: dict[str, list[str]]):
    """``(__getattr__, __dir__, __all__)`` for ``package``, whose submodule ``m`` defines ``exports[m]``."""
    where = {name: module for module, names in exports.items() for name in names}
    public = sorted(where)

    def __getattr__(name: str):
        if name in where:
            return getattr(import_module(f"{package}.{where[name]}"), name)
        if not name.startswith("_") and find_spec(f"{package}.{name}") is not None:  # a submodule
            return import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return public

    return __getattr__, __dir__, public
