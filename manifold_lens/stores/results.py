"""Results stores: xarray Datasets in one Zarr store, one group per (kind, name).

Layout of ``RESULTS.zarr``::

    attrs: schema = "manifold-lens.results", schema_version, versions
    evaluation/<name>/   generation accuracy (``manifold-lens evaluate``)
    analysis/<name>/     representation metrics (``manifold-lens analyze``)
    percolation/<name>/  largest-cluster curves (``manifold-lens percolate``)
    comparison/<name>/   predicted vs measured onsets (``percolate compare``)

Writers never touch other groups, so evaluate, analyze and percolate share a
store without clobbering each other. Writing a group that already exists is
refused unless ``replace=True`` (:func:`require_new_group`, checked before any
work); a store of another kind is never written to. Read everything with
:func:`open_results` (an ``xarray.DataTree``) or one group with
:func:`read_results`; both decode attributes the same way
(:func:`~manifold_lens.stores.encoding.decode`).
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr
import zarr

from ..errors import StoreError
from ..versions import package_versions
from .encoding import decode, decode_attrs, write_group
from .schema import RESULTS, VERSIONS, check_store, open_group

KINDS = ("evaluation", "analysis", "percolation", "comparison")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"results kind {kind!r}: must be one of {', '.join(KINDS)}")


def check_results_store(path: str | Path) -> zarr.Group:
    """Open a results store read-only, or raise a one-line StoreError saying what the path is."""
    return check_store(path, RESULTS)


def _is_new(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def ensure_results_store(path: str | Path) -> zarr.Group:
    """Open a results store for writing, creating it if the path does not exist (or is an empty folder).

    An existing path that is not a results store is refused and left untouched.
    """
    p = Path(path)
    if not _is_new(p):
        check_results_store(p)
        return open_group(p, "r+")
    g = open_group(p, "w")
    g.update_attributes({"schema": RESULTS, "schema_version": VERSIONS[RESULTS], "versions": package_versions()})
    return g


def _holds(root: zarr.Group, kind: str, name: str) -> bool:
    try:
        root[f"{kind}/{name}"]
        return True
    except KeyError:
        return False


def _taken(path, kind: str, name: str) -> StoreError:
    return StoreError(f"{path}: results '{kind}/{name}' already exist; pass --replace to overwrite them "
                      "or --name to keep both")


def group_exists(path: str | Path, kind: str, name: str) -> bool:
    """Whether results store ``path`` holds group ``kind/name`` (False when the store does not exist yet)."""
    p = Path(path)
    return not _is_new(p) and _holds(check_results_store(p), kind, name)


def require_new_group(path: str | Path, kind: str, name: str, replace: bool = False) -> None:
    """Check, before any work, that ``kind/name`` can be written to ``path``: the path is a results store or new,
    and the group is absent unless ``replace``."""
    _check_kind(kind)
    if not replace and group_exists(path, kind, name):
        raise _taken(path, kind, name)


def write_results(path: str | Path, kind: str, name: str, ds: xr.Dataset, *, replace: bool = False) -> str:
    """Write ``ds`` as group ``kind/name``; refuse an existing group unless ``replace``.

    Returns the group path. Other groups in the store are not touched.
    """
    _check_kind(kind)
    if not replace and _holds(ensure_results_store(path), kind, name):
        raise _taken(path, kind, name)
    group = f"{kind}/{name}"
    write_group(path, group, ds)
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
    kept = open_group(path, "r")[group].attrs.asdict()
    write_group(path, group, ds, append_dim=dim)
    # xarray replaces the group attrs with the appended chunk's: keep earlier keys it does not set
    g = zarr.open_group(str(path), path=group, mode="r+")
    g.update_attributes({**kept, **g.attrs.asdict()})
    return group


def list_results(path: str | Path) -> dict[str, list[str]]:
    """{kind: [names]} of the groups present in a results store."""
    g = check_results_store(path)
    out: dict[str, list[str]] = {}
    for kind in KINDS:
        try:
            sub = g[kind]
        except KeyError:
            continue
        out[kind] = sorted(name for name, _ in sub.groups())
    return out


def read_group(path: str | Path, kind: str, name: str, drop_prefixes: tuple[str, ...] = ()) -> xr.Dataset:
    """Group ``kind/name`` loaded and decoded, without the variables whose names start with ``drop_prefixes``."""
    with xr.open_zarr(str(path), group=f"{kind}/{name}", consolidated=False) as ds:
        bulky = [v for v in ds.data_vars if drop_prefixes and str(v).startswith(drop_prefixes)]
        return decode(ds.drop_vars(bulky).load())


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
    return read_group(path, kind, name)


def open_results(path: str | Path) -> xr.DataTree:
    """Open a results store as an ``xarray.DataTree`` (groups ``evaluation/<name>``, ...), attributes decoded.

    Slice it with plain xarray: ``open_results(p)["evaluation/default"].ds``.
    """
    check_results_store(path)
    tree = xr.open_datatree(str(path), engine="zarr", consolidated=False)
    for node in tree.subtree:
        node.attrs = decode_attrs(node.attrs)
        for var in node.variables.values():
            var.attrs = decode_attrs(var.attrs)
    return tree

