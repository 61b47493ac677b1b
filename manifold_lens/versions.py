"""Package versions recorded in every store's attributes."""

from __future__ import annotations

import platform
from functools import lru_cache
from importlib import metadata

_PACKAGES = ("manifold-lens", "torch", "numpy", "xarray", "zarr", "scikit-learn", "networkx", "scipy")


def package_versions() -> dict[str, str]:
    """{package: version} for the packages that shape results, plus Python (a fresh dict: callers may edit it)."""
    return dict(_versions())


@lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    """Looked up once per process (about 0.2 s of metadata reads): versions do not change while it runs."""
    out = [("python", platform.python_version())]
    for name in _PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)
