"""How xarray objects cross into Zarr and back: strings and attributes, encoded once and decoded once.

Going in (:func:`prepare_for_zarr`): fixed-width strings become
variable-length strings (a stable Zarr v3 encoding), and attributes that are
dicts or nested lists become JSON strings, ``None`` becomes ``"none"``.
Coming out (:func:`decode`): strings read back (numpy StringDType or objects)
become plain ``str`` arrays, and JSON attribute strings become dicts and lists
again. Every reader of a store uses :func:`decode`.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr


def as_strings(values) -> np.ndarray:
    """Any string array (numpy U, StringDType, object) as an array of Python ``str``, same shape."""
    arr = np.asarray(values)  # StringDType cannot be cast to an unsized str dtype: convert element by element
    return np.array([str(v) for v in arr.ravel()], dtype=object).reshape(arr.shape).astype(str)


def prepare_for_zarr(ds: xr.Dataset) -> xr.Dataset:
    """A Zarr-safe copy: variable-length strings, JSON strings for dict and nested-list attrs."""
    ds = ds.copy()
    for name, var in list(ds.variables.items()):
        if var.dtype.kind in "UT":
            ds[name] = var.astype(object)
    for obj in [ds, *ds.variables.values()]:
        for k, v in list(obj.attrs.items()):
            if isinstance(v, dict) or (isinstance(v, (list, tuple)) and any(isinstance(i, (dict, list)) for i in v)):
                obj.attrs[k] = json.dumps(v, sort_keys=True, default=str)
            elif isinstance(v, np.generic):
                obj.attrs[k] = v.item()
            elif v is None:
                obj.attrs[k] = "none"
    return ds


def write_group(path, group: str, ds: xr.Dataset, append_dim: str | None = None, mode: str | None = None) -> None:
    """Write ``ds`` as ``group`` of the Zarr v3 store at ``path``: replacing it, appending along ``append_dim``,
    or with ``mode="a"`` adding its variables to the (existing, empty) group."""
    prepare_for_zarr(ds).to_zarr(str(path), group=group, mode=mode or ("a" if append_dim else "w"),
                                 append_dim=append_dim, consolidated=False, zarr_format=3)


def normalise_strings(ds: xr.Dataset) -> xr.Dataset:
    """Strings read back from Zarr (numpy StringDType / object) as plain ``str`` arrays, in place."""
    for name, var in list(ds.variables.items()):
        if var.dtype.kind in "OT":
            ds[name] = var.copy(data=as_strings(var.values))
    return ds


def decode_attrs(attrs: dict) -> dict:
    """Attributes with JSON strings (written by :func:`prepare_for_zarr`) turned back into dicts and lists."""
    out = dict(attrs)
    for k, v in out.items():
        if isinstance(v, str) and v[:1] in "{[":
            try:
                out[k] = json.loads(v)
            except ValueError:
                pass
    return out


def decode(ds: xr.Dataset) -> xr.Dataset:
    """A Dataset as written by :func:`prepare_for_zarr`, read back: plain strings and decoded attrs, in place."""
    ds = normalise_strings(ds)
    for obj in [ds, *ds.variables.values()]:
        obj.attrs = decode_attrs(obj.attrs)
    return ds
