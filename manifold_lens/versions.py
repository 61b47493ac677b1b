"""Package versions recorded in every store's attributes."""

from __future__ import annotations

import platform
from importlib import metadata

_PACKAGES = ("manifold-lens", "torch", "numpy", "xarray", "zarr", "scikit-learn", "networkx", "scipy")


def package_versions() -> dict[str, str]:
    """{package: version} for the packages that shape results, plus Python."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
