"""Writing results groups: whole (:func:`write_results`) or one checkpoint at a time (:func:`open_stream`,
:func:`append_results`), each behind the commit marks readers trust (see :mod:`~manifold_lens.stores.results`).
"""

from __future__ import annotations

import json
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr
import zarr

from ..errors import StoreError
from .encoding import decode_attrs, prepare_for_zarr, write_group
from .groups import (DIM, check_kind, check_result_name, dim_axis, ensure_results_store, existing_group, find_group,
                     require_new_group, status_of, taken_error)
from .lock import store_lock


def _marks(attrs: dict, **marks) -> dict:
    """Group attrs with the commit marks (ints) set: xarray replaces a group's attrs on every write."""
    return {**attrs, **{k: int(v) for k, v in marks.items()}}


def _legacy(func: str, legacy: tuple, names: tuple[str, ...], given: dict, new_form: str, stacklevel: int = 3) -> dict:
    """The keyword arguments of the former positional form of ``func`` (with a DeprecationWarning)."""
    if len(legacy) > len(names):
        raise TypeError(f"{func}() takes at most {len(names)} positional arguments in its former form")
    taken = [n for n in names[:len(legacy)] if given.get(n) is not None]
    if taken:
        raise TypeError(f"{func}() got {taken[0]} both by position and by keyword")
    warnings.warn(f"{func}() with positional arguments is deprecated: use {new_form}", DeprecationWarning,
                  stacklevel=stacklevel)
    return {**given, **dict(zip(names, legacy))}


def _required(func: str, **values) -> None:
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise TypeError(f"{func}() missing keyword argument {missing[0]}=")


@contextmanager
def writing_results(*legacy, out: str | Path | None = None, kind: str | None = None, name: str | None = None,
                    replace: bool = False):
    """For a command that writes group ``kind/name`` whole to results store ``out`` (None: it writes nothing):
    hold the store's lock for the ``with`` block, after checking the name and, under the lock, that no complete
    group of that name exists unless ``replace`` (:func:`require_new_group`): all before the block's work.

    Keyword-only; the former ``writing_results(path, kind, name, replace)`` still works, with a DeprecationWarning.
    """
    if legacy:
        given = _legacy("writing_results", legacy, ("out", "kind", "name", "replace"),
                        {"out": out, "kind": kind, "name": name, "replace": replace or None},
                        "writing_results(out=..., kind=..., name=..., replace=...)", stacklevel=4)
        out, kind, name, replace = given["out"], given["kind"], given["name"], bool(given["replace"])
    if out is None:
        yield
        return
    _required("writing_results", kind=kind, name=name)
    check_kind(kind)
    check_result_name(name)
    with store_lock(out):
        require_new_group(out, kind, name, replace)
        yield


def _new_group(path: str | Path, group: str, prepared: xr.Dataset) -> None:
    """(Re)create ``group`` empty with the attrs of ``prepared`` (its commit marks at 0) in one write."""
    zarr.create_group(store=str(path), path=group, overwrite=True, attributes=dict(prepared.attrs), zarr_format=3)


def write_results(ds: xr.Dataset | None = None, *legacy, out: str | Path | None = None, kind: str | None = None,
                  name: str | None = None, replace: bool = False) -> str:
    """Write ``ds`` as group ``kind/name`` of results store ``out``: marked ``complete = 0``, the data, then
    ``complete = 1``.

    A complete group of that name is refused unless ``replace``; an unfinished
    one is rewritten. Holds the store's lock while writing. Returns the group
    path. Other groups in the store are not touched. The former form
    ``write_results(path, kind, name, ds)`` still works, with a DeprecationWarning.
    """
    if not isinstance(ds, xr.Dataset) and (legacy or ds is not None):
        given = _legacy("write_results", (ds, *legacy), ("out", "kind", "name", "ds"),
                        {"out": out, "kind": kind, "name": name, "ds": None},
                        "write_results(ds, out=..., kind=..., name=..., replace=...)")
        ds, out, kind, name = given["ds"], given["out"], given["kind"], given["name"]
    elif legacy:
        raise TypeError("write_results() takes the Dataset as its only positional argument")
    _required("write_results", ds=ds, out=out, kind=kind, name=name)
    path = out
    check_kind(kind)
    check_result_name(name)
    group = f"{kind}/{name}"
    with store_lock(path):
        root = ensure_results_store(path)
        old = find_group(root, kind, name)
        if old is not None and not replace and status_of(old).complete:
            raise taken_error(path, kind, name)
        prepared = prepare_for_zarr(ds.assign_attrs(_marks(ds.attrs, complete=0)))
        _new_group(path, group, prepared)
        write_group(path, group, prepared, mode="a")
        zarr.open_group(str(path), path=group, mode="r+").update_attributes({"complete": 1})
    return group


# -- streaming along checkpoint ---------------------------------------------------------

def _json(value):
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _first_difference(old, new) -> str:
    if not isinstance(old, dict):
        return "no settings recorded"
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            then, now = (json.dumps(v, default=str) for v in (old.get(key), new.get(key)))
            short = [t if len(t) <= 40 else t[:37] + "..." for t in (then, now)]
            return f"{key} was {short[0]}, now {short[1]}"
    return ""


@dataclass
class ResultsStream:
    """A results group written one checkpoint at a time (see :func:`open_stream`, :func:`append_results`).

    ``committed``: checkpoints already in the group (skip them);
    ``planned``: checkpoints the command writes; ``attrs``: the group's stored
    attributes when it continues an unfinished group ({} otherwise).
    """

    path: Path
    kind: str
    name: str
    settings: dict
    planned: int
    committed: int = 0
    attrs: dict = field(default_factory=dict)

    @property
    def group(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def continuing(self) -> str:
        """The line saying that an unfinished group is continued."""
        return f"continuing {self.group}: {self.committed} of {self.planned} checkpoints done"


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def open_stream(settings: dict | None = None, *legacy, out: str | Path | None = None, kind: str | None = None,
                name: str | None = None, planned: int | None = None, replace: bool = False,
                log=None) -> ResultsStream:
    """Start or continue group ``kind/name`` of results store ``out``, checked before any work (hold the store's
    lock around it).

    ``settings`` (a JSON-able dict) is what determines the values; ``planned``
    the checkpoints the caller writes. A new name (or ``replace``) starts
    from no checkpoint. An unfinished group written with the same
    ``settings`` continues from its last committed checkpoint (rows beyond it
    are cut off); with other settings it is refused in one line naming the
    first that differs. A complete group is refused unless ``replace``.
    ``log`` is called with the line saying a group is continued (default:
    printed to stderr). The former form ``open_stream(path, kind, name,
    settings, planned=...)`` still works, with a DeprecationWarning.
    """
    if not isinstance(settings, dict) and (legacy or settings is not None):
        given = _legacy("open_stream", (settings, *legacy), ("out", "kind", "name", "settings"),
                        {"out": out, "kind": kind, "name": name, "settings": None},
                        "open_stream(settings, out=..., kind=..., name=..., planned=...)")
        settings, out, kind, name = given["settings"], given["out"], given["kind"], given["name"]
    elif legacy:
        raise TypeError("open_stream() takes the settings as its only positional argument")
    _required("open_stream", settings=settings, out=out, kind=kind, name=name, planned=planned)
    path = out
    check_kind(kind)
    check_result_name(name)
    settings = _json(settings)
    stream = ResultsStream(Path(path), kind, name, settings, int(planned))
    g = existing_group(path, kind, name)
    if g is None or replace:
        return stream
    status = status_of(g)
    if status.complete:
        raise taken_error(path, kind, name)
    stored = decode_attrs(g.attrs.asdict())
    if stored.get("settings") != settings:
        raise StoreError(f"{path}: results '{kind}/{name}' are unfinished ({status.text}) and were made with other "
                         f"settings ({_first_difference(stored.get('settings'), settings)}); pass replace=True to "
                         "start them again or another name= to keep both")
    stream.committed, stream.attrs = status.committed or 0, stored
    if stream.committed:
        g = zarr.open_group(str(path), path=stream.group, mode="r+")
        for _, arr in g.arrays():  # cut off rows a killed writer left beyond the last commit
            ax = dim_axis(arr)
            if ax is not None and arr.shape[ax] != stream.committed:
                arr.resize(tuple(stream.committed if i == ax else s for i, s in enumerate(arr.shape)))
        (log or _to_stderr)(stream.continuing)
    return stream


def append_results(stream: ResultsStream, ds: xr.Dataset) -> str:
    """Write ``ds`` (rows along ``checkpoint``) as the next checkpoints of ``stream``'s group, then commit them.

    The data first (the first call creates the group), then one atomic rewrite
    of the attrs: ``committed`` grows, ``complete`` becomes 1 with the last
    planned checkpoint. Returns the group path.
    """
    k = stream.committed
    attrs = _marks({**ds.attrs, "settings": stream.settings}, committed=k, complete=0, planned=stream.planned)
    prepared = prepare_for_zarr(ds.assign_attrs(attrs))
    with store_lock(stream.path):
        if k == 0:
            ensure_results_store(stream.path)
            _new_group(stream.path, stream.group, prepared)
            write_group(stream.path, stream.group, prepared, mode="a")
        else:
            write_group(stream.path, stream.group, prepared, append_dim=DIM)
        done = k + int(ds.sizes[DIM])
        zarr.open_group(str(stream.path), path=stream.group, mode="r+").update_attributes(
            {"committed": done, "complete": int(done >= stream.planned)})
    stream.committed = done
    return stream.group
