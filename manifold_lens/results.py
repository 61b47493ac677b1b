"""Results stores: xarray Datasets in one Zarr store, one group per (kind, name).

Layout of ``RESULTS.zarr``::

    attrs: schema = "manifold-lens.results", schema_version, versions
    evaluation/<name>/   generation accuracy (``manifold-lens evaluate``)
    analysis/<name>/     representation metrics (``manifold-lens analyze``)
    percolation/<name>/  largest-cluster curves (``manifold-lens percolate``)
    comparison/<name>/   predicted vs measured onsets (``percolate compare``)

Writers never touch other groups, so evaluate, analyze and percolate share a
store without clobbering each other. Writing a group that already exists is
refused unless ``replace=True``; a store of another kind is never written to.
Read everything with :func:`open_results` (an ``xarray.DataTree``) or one
group with :func:`read_results`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

from .errors import StoreError
from .versions import package_versions

SCHEMA = "manifold-lens.results"
SCHEMA_VERSION = 1
KINDS = ("evaluation", "analysis", "percolation", "comparison")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"results kind {kind!r}: must be one of {', '.join(KINDS)}")


def check_results_store(path: str | Path) -> None:
    """Raise StoreError unless ``path`` is a results store this version can read."""
    p = Path(path)
    if not p.exists():
        raise StoreError(f"{p}: no such results store")
    try:
        g = zarr.open_group(str(p), mode="r")
    except Exception:
        raise StoreError(f"{p}: not a Zarr store (expected a manifold-lens results store)") from None
    schema = g.attrs.get("schema")
    if schema != SCHEMA:
        what = f"a {schema} store" if schema else "not a manifold-lens results store"
        raise StoreError(f"{p}: {what}; give a results store (e.g. --out results.zarr) or a new path")
    if int(g.attrs.get("schema_version", 0)) > SCHEMA_VERSION:
        raise StoreError(
            f"{p}: results schema version {g.attrs['schema_version']} is newer than this manifold-lens "
            f"supports ({SCHEMA_VERSION}); upgrade manifold-lens"
        )


def ensure_results_store(path: str | Path) -> zarr.Group:
    """Open a results store for writing, creating it if the path does not exist.

    An existing path that is not a results store is refused and left untouched.
    """
    p = Path(path)
    if p.exists():
        if p.is_dir() and not any(p.iterdir()):
            pass  # an empty folder is fine to fill
        else:
            check_results_store(p)
            return zarr.open_group(str(p), mode="r+")
    g = zarr.open_group(str(p), mode="w")
    g.update_attributes({"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "versions": package_versions()})
    return g


def group_exists(path: str | Path, kind: str, name: str) -> bool:
    p = Path(path)
    if not p.exists():
        return False
    check_results_store(p)
    g = zarr.open_group(str(p), mode="r")
    try:
        g[f"{kind}/{name}"]
        return True
    except KeyError:
        return False


def prepare_for_zarr(ds: xr.Dataset) -> xr.Dataset:
    """Make a Dataset Zarr-safe: fixed-width strings become variable-length,
    attrs that are dicts or nested lists become JSON strings."""
    ds = ds.copy()
    for name, var in list(ds.variables.items()):
        if var.dtype.kind in "UT":  # variable-length strings have a stable Zarr v3 encoding
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


def write_results(path: str | Path, kind: str, name: str, ds: xr.Dataset, *, replace: bool = False) -> str:
    """Write ``ds`` as group ``kind/name``; refuse an existing group unless ``replace``.

    Returns the group path. Other groups in the store are not touched.
    """
    _check_kind(kind)
    ensure_results_store(path)
    group = f"{kind}/{name}"
    if group_exists(path, kind, name) and not replace:
        raise StoreError(
            f"{path}: results {group!r} already exist; pass --replace to overwrite them or --name to keep both"
        )
    prepare_for_zarr(ds).to_zarr(str(path), group=group, mode="w", consolidated=False, zarr_format=3)
    return group


def append_results(path: str | Path, kind: str, name: str, ds: xr.Dataset, *, dim: str = "checkpoint",
                   replace: bool = False, first: bool = False) -> str:
    """Stream results: the first call (``first=True``) creates the group, later ones append along ``dim``.

    Used to write analysis results one checkpoint at a time so memory does not
    grow with the number of checkpoints.
    """
    if first:
        return write_results(path, kind, name, ds, replace=replace)
    group = f"{kind}/{name}"
    kept = zarr.open_group(str(path), path=group, mode="r").attrs.asdict()
    prepare_for_zarr(ds).to_zarr(str(path), group=group, mode="a", append_dim=dim, consolidated=False, zarr_format=3)
    # xarray replaces the group attrs with the appended chunk's: keep earlier keys it does not set
    g = zarr.open_group(str(path), path=group, mode="r+")
    g.update_attributes({**kept, **g.attrs.asdict()})
    return group


def list_results(path: str | Path) -> dict[str, list[str]]:
    """{kind: [names]} of the groups present in a results store."""
    check_results_store(path)
    g = zarr.open_group(str(path), mode="r")
    out: dict[str, list[str]] = {}
    for kind in KINDS:
        try:
            sub = g[kind]
        except KeyError:
            continue
        out[kind] = sorted(name for name, _ in sub.groups())
    return out


def read_results(path: str | Path, kind: str, name: str | None = None) -> xr.Dataset:
    """One results group as an (eagerly loaded) xarray Dataset.

    With ``name=None`` the store must hold exactly one group of that kind.
    """
    _check_kind(kind)
    present = list_results(path).get(kind, [])
    if name is None:
        if not present:
            raise StoreError(f"{path}: holds no {kind} results")
        if len(present) > 1:
            raise StoreError(f"{path}: holds several {kind} results ({', '.join(present)}); name one")
        name = present[0]
    if name not in present:
        raise StoreError(f"{path}: no {kind} results named {name!r}; present: {', '.join(present) or 'none'}")
    with xr.open_zarr(str(path), group=f"{kind}/{name}", consolidated=False) as ds:
        return _restore(ds.load())


def normalise_strings(ds: xr.Dataset) -> xr.Dataset:
    """Turn strings read back from Zarr (numpy StringDType / object) into plain ``str`` arrays."""
    for name, var in list(ds.variables.items()):
        if var.dtype.kind in "OT":
            values = np.asarray(var.values).astype(object)
            ds[name] = var.copy(data=np.array([str(v) for v in values.ravel()]).reshape(values.shape))
    return ds


def _restore(ds: xr.Dataset) -> xr.Dataset:
    ds = normalise_strings(ds)
    for obj in [ds, *ds.variables.values()]:
        for k, v in list(obj.attrs.items()):
            if isinstance(v, str) and v[:1] in "{[":
                try:
                    obj.attrs[k] = json.loads(v)
                except ValueError:
                    pass
    return ds


def open_results(path: str | Path) -> xr.DataTree:
    """Open a results store as an ``xarray.DataTree`` (groups ``evaluation/<name>``, ...).

    Slice it with plain xarray: ``open_results(p)["evaluation/default"].ds``.
    """
    check_results_store(path)
    tree = xr.open_datatree(str(path), engine="zarr", consolidated=False)
    return tree
