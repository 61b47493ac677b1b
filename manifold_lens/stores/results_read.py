"""Reading results stores: one group (:func:`read_results`, :func:`read_group`) or all (:func:`open_results`),
committed checkpoints only, each marked with its status (see :mod:`~manifold_lens.stores.results`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import xarray as xr

from ..errors import StoreError
from .encoding import decode, decode_attrs
from .groups import DIM, KINDS, GroupStatus, check_kind, check_results_store, group_status, status_of

# -- reading ------------------------------------------------------------------------------

def list_results(path: str | Path) -> dict[str, list[str]]:
    """{kind: [names]} of the groups present in a results store (finished or not: see :func:`group_status`)."""
    g = check_results_store(path)
    out: dict[str, list[str]] = {}
    for kind in KINDS:
        try:
            sub = g[kind]
        except KeyError:
            continue
        out[kind] = sorted(name for name, _ in sub.groups())
    return out


def _unreadable(path, kind: str, name: str, status: GroupStatus) -> StoreError:
    again = "rerun the same command to continue them" if status.committed is not None else \
        "rerun the command that wrote them"
    return StoreError(f"{path}: results '{kind}/{name}' cannot be read ({status.text}); {again}")


def _open_group(path, kind: str, name: str, status: GroupStatus, drop_prefixes: tuple[str, ...] = ()) -> xr.Dataset:
    """Group ``kind/name`` opened lazily, cut to its committed checkpoints, marked with its status.

    Variables are opened one by one, so arrays of different lengths along
    ``checkpoint`` (a writer killed mid-append) do not stop the read; xarray's
    decoding (CF attributes, strings, coordinates) is applied as ``open_zarr`` does.
    """
    if not status.readable:
        raise _unreadable(path, kind, name, status)
    store = xr.backends.ZarrStore.open_group(str(path), group=f"{kind}/{name}", mode="r", consolidated=False,
                                             zarr_format=3)
    variables, attrs = store.load()
    keep = {}
    for key, var in variables.items():
        if drop_prefixes and str(key).startswith(drop_prefixes):
            continue
        keep[key] = var.isel({DIM: slice(0, status.committed)}) if DIM in var.dims else var
    ds = xr.decode_cf(xr.Dataset(keep, attrs=dict(attrs)))
    ds.set_close(store.close)
    ds.attrs.update({"complete": int(status.complete), "status": status.text})
    if status.committed is not None and "committed" in ds.attrs:
        ds.attrs["committed"] = status.committed
    return ds


def read_group(path: str | Path, kind: str, name: str, drop_prefixes: tuple[str, ...] = ()) -> xr.Dataset:
    """Group ``kind/name`` loaded and decoded (committed checkpoints only, attrs ``complete`` and ``status``),
    without the variables whose names start with ``drop_prefixes``; a one-line StoreError when nothing of it
    is readable."""
    status = group_status(path, kind, name)
    ds = _open_group(path, kind, name, status, drop_prefixes)
    try:
        return decode(ds.load())
    finally:
        ds.close()


def read_results(path: str | Path, kind: str, name: str | None = None) -> xr.Dataset:
    """One results group as an (eagerly loaded) xarray Dataset, committed checkpoints only.

    With ``name=None`` the store must hold exactly one group of that kind. An
    unfinished group is returned with ``attrs["complete"] == 0`` and its
    ``status`` ("unfinished: 3 of 5 checkpoints").
    """
    check_kind(kind)
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
    Groups hold their committed checkpoints only; an unfinished one has attrs
    ``complete = 0`` and ``status``. A group with nothing readable is left out
    with a warning and listed in the root attr ``skipped`` ({group: reason}).
    """
    root = check_results_store(path)
    nodes: dict[str, xr.Dataset] = {}
    skipped: dict[str, str] = {}
    for kind, names in list_results(path).items():
        for name in names:
            key = f"{kind}/{name}"
            try:
                status = status_of(root[key])
                ds = _open_group(path, kind, name, status) if status.readable else None
                reason = status.text
            except Exception as e:  # noqa: BLE001 -- a damaged group must not take the whole store down
                ds, reason = None, f"cannot be read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
            if ds is None:
                skipped[key] = reason
                warnings.warn(f"{path}: skipping results '{key}': {reason}", stacklevel=2)
                continue
            ds.attrs = decode_attrs(ds.attrs)
            for var in ds.variables.values():
                var.attrs = decode_attrs(var.attrs)
            nodes[key] = ds
    attrs = decode_attrs(root.attrs.asdict())
    if skipped:
        attrs["skipped"] = skipped
    return xr.DataTree.from_dict({"/": xr.Dataset(attrs=attrs), **nodes})
