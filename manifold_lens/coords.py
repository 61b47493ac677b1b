"""The shared coordinates of every result: one long name and one unit string each.

Every stage that writes a coordinate named here takes its attrs from
:data:`COORDS` (``ds.assign_coords(...)`` then :func:`label`), so a
coordinate means and measures the same thing in every store.
"""

from __future__ import annotations

COORDS: dict[str, dict[str, str]] = {
    "checkpoint": {"long_name": "training step of the checkpoint", "units": "optimiser steps"},
    "timestep": {"long_name": "diffusion timestep t", "units": "diffusion steps"},
    "x": {"long_name": "bump centre x (column)", "units": "px"},
    "y": {"long_name": "bump centre y (row)", "units": "px"},
    "sigma": {"long_name": "bump width sigma", "units": "px"},
    "keep_fraction": {"long_name": "kept fraction of lattice sites lambda", "units": "1"},
    "image_size": {"long_name": "image side N", "units": "px"},
}


def coord_attrs(name: str) -> dict[str, str]:
    """A copy of the attrs of a shared coordinate (KeyError for a name not listed here)."""
    return dict(COORDS[name])


def label(ds):
    """``ds`` with the shared attrs set on every coordinate it has from :data:`COORDS` (in place; returned)."""
    for name, attrs in COORDS.items():
        if name in ds.coords:
            ds[name].attrs.update(attrs)
    return ds
