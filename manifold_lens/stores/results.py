"""Results stores: xarray Datasets in one Zarr store, one group per (kind, name).

Layout of ``RESULTS.zarr``::

    attrs: schema = "manifold-lens.results", schema_version, versions
    evaluation/<name>/   generation accuracy (``manifold-lens evaluate``)
    analysis/<name>/     representation metrics (``manifold-lens analyze``)
    percolation/<name>/  largest-cluster curves (``manifold-lens percolate``)
    comparison/<name>/   predicted vs measured onsets (``percolate test``)

Writers never touch other groups, so evaluate, analyze and percolate share a
store without clobbering each other. A writer holds the store's lock
(:func:`~manifold_lens.stores.lock.store_lock`) for its whole command, so a
second writer is refused in one line naming the holder; a new store is
created without truncating anything already there. Names are letters,
digits, ``_``, ``-`` and ``.`` (:func:`check_result_name`).

Commit marks: readers never see half-written data. Every group records in
its attributes how much of it is complete; the marks are rewritten in one
atomic file write after the data they vouch for:

- groups streamed along ``checkpoint`` (evaluation, analysis;
  :func:`open_stream`, :func:`append_results`): ``committed`` (complete
  checkpoints), ``planned`` (checkpoints the command writes), ``complete``
  (0/1) and ``settings`` (what determines the values). Rows beyond
  ``committed`` are never read. A rerun of the same command continues an
  unfinished group from its last committed checkpoint.
- groups written whole (percolation, comparison; :func:`write_results`):
  ``complete`` is 0 while the data is written, then 1.
- groups written by older versions (no marks) count as complete.

Read everything with :func:`open_results` (an ``xarray.DataTree``) or one
group with :func:`read_results`; both show only committed checkpoints, mark
an unfinished group (attrs ``complete = 0``, ``status = "unfinished: 3 of 5
checkpoints"``) and decode attributes the same way
(:func:`~manifold_lens.stores.encoding.decode`). :func:`open_results` skips,
with a warning, a group that holds no complete checkpoint or cannot be read.
"""

from __future__ import annotations

import json
import re
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr
import zarr

from ..errors import StoreError
from ..versions import package_versions
from .encoding import decode, decode_attrs, prepare_for_zarr, write_group
from .lock import store_lock
from .schema import RESULTS, VERSIONS, check_store, open_group

KINDS = ("evaluation", "analysis", "percolation", "comparison")
DIM = "checkpoint"  # the dimension evaluation and analysis groups are streamed along
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"results kind {kind!r}: must be one of {', '.join(KINDS)}")


def check_result_name(name) -> str:
    """``name`` if it is a valid results name (letters, digits, ``_``, ``-``, ``.``; not only dots), else a
    one-line StoreError naming ``--name`` and the rule."""
    text = str(name)
    if not _NAME.fullmatch(text) or not text.strip("."):
        raise StoreError(f"--name {text!r}: a results name may hold letters, digits, '_', '-' and '.' only "
                         "(and not only dots), e.g. --name run1_ddim50")
    return text


def check_results_store(path: str | Path) -> zarr.Group:
    """Open a results store read-only, or raise a one-line StoreError saying what the path is."""
    return check_store(path, RESULTS)


def _is_new(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def ensure_results_store(path: str | Path) -> zarr.Group:
    """Open a results store for writing, creating it if the path does not exist (or is an empty folder).

    An existing path that is not a results store is refused and left untouched;
    creating never truncates (a store another process has just made is kept).
    """
    p = Path(path)
    if not _is_new(p):
        check_results_store(p)
        return open_group(p, "r+")
    g = open_group(p, "a")
    if g.attrs.get("schema") is None and not list(g.keys()):
        g.update_attributes({"schema": RESULTS, "schema_version": VERSIONS[RESULTS], "versions": package_versions()})
    check_results_store(p)
    return g


def _group(root: zarr.Group, kind: str, name: str) -> zarr.Group | None:
    try:
        g = root[f"{kind}/{name}"]
    except KeyError:
        return None
    return g if isinstance(g, zarr.Group) else None


def _existing_group(path: str | Path, kind: str, name: str) -> zarr.Group | None:
    """Group ``kind/name`` of results store ``path`` (None when it or the store does not exist yet)."""
    p = Path(path)
    return None if _is_new(p) else _group(check_results_store(p), kind, name)


# -- commit marks ---------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupStatus:
    """How much of a results group readers may use, from its commit marks and array shapes.

    ``committed``: checkpoints readers see (None for a group without a
    ``checkpoint`` dim); ``planned``: checkpoints its command writes (None when
    not recorded); ``reason``: why nothing of it can be read ("" when it can).
    """

    committed: int | None
    planned: int | None
    complete: bool
    reason: str = ""

    @property
    def readable(self) -> bool:
        return not self.reason

    @property
    def text(self) -> str:
        """"complete", "unfinished: 3 of 5 checkpoints", or why the group cannot be read."""
        if self.reason:
            return self.reason
        if self.complete:
            return "complete"
        if self.committed is None:
            return "unfinished"
        of = f" of {self.planned}" if self.planned else ""
        return f"unfinished: {self.committed}{of} checkpoint{'s' if (self.planned or self.committed) != 1 else ''}"


def _dim_axis(arr: zarr.Array, dim: str = DIM) -> int | None:
    names = list(getattr(arr.metadata, "dimension_names", None) or [])
    return names.index(dim) if dim in names else None


def _status(g: zarr.Group) -> GroupStatus:
    attrs = g.attrs.asdict()
    arrays = [a for _, a in g.arrays()]
    lengths = {a.shape[ax] for a in arrays if (ax := _dim_axis(a)) is not None}
    marked_complete = int(attrs.get("complete", 1)) == 1
    planned = int(attrs["planned"]) if "planned" in attrs else None
    if "committed" in attrs:  # streamed along checkpoint: the first `committed` rows are complete
        committed = int(attrs["committed"])
        n = min([committed, *lengths])
        complete = marked_complete and n == committed
        if n == 0:
            return GroupStatus(0, planned, False, f"unfinished: no checkpoint committed yet (0 of {planned})"
                               if planned else "unfinished: no checkpoint committed yet")
        return GroupStatus(n, planned, complete)
    if not arrays:
        return GroupStatus(None, planned, False, "empty: no variables written")
    if not marked_complete:
        return GroupStatus(None, planned, False, "unfinished: interrupted while its data was written")
    if not lengths:
        return GroupStatus(None, planned, True)
    n = min(lengths)  # an older group cut off mid-append holds variables of different lengths
    if n == 0:
        return GroupStatus(0, planned, False, "unfinished: no checkpoint written")
    return GroupStatus(n, planned, len(lengths) == 1)


def group_status(path: str | Path, kind: str, name: str) -> GroupStatus:
    """The :class:`GroupStatus` of ``kind/name`` in results store ``path`` (StoreError when absent)."""
    _check_kind(kind)
    g = _group(check_results_store(path), kind, name)
    if g is None:
        raise StoreError(f"{path}: no {kind} results named {name!r}")
    return _status(g)


def _marks(attrs: dict, **marks) -> dict:
    """Group attrs with the commit marks (ints) set: xarray replaces a group's attrs on every write."""
    return {**attrs, **{k: int(v) for k, v in marks.items()}}


def _taken(path, kind: str, name: str) -> StoreError:
    return StoreError(f"{path}: results '{kind}/{name}' already exist; pass --replace to overwrite them "
                      "or --name to keep both")


def group_exists(path: str | Path, kind: str, name: str) -> bool:
    """Whether results store ``path`` holds group ``kind/name`` (False when the store does not exist yet)."""
    return _existing_group(path, kind, name) is not None


def require_new_group(path: str | Path, kind: str, name: str, replace: bool = False) -> None:
    """Check, before any work, that ``kind/name`` can be written to ``path``: a valid name, the path a results
    store or new, and no complete group of that name unless ``replace`` (an unfinished one is rewritten)."""
    _check_kind(kind)
    check_result_name(name)
    g = _existing_group(path, kind, name)
    if g is not None and not replace and _status(g).complete:
        raise _taken(path, kind, name)


@contextmanager
def writing_results(path: str | Path | None, kind: str, name: str, replace: bool = False):
    """For a command that writes group ``kind/name`` whole to results store ``path`` (None: it writes nothing):
    hold the store's lock for the ``with`` block, after checking the name and, under the lock, that no complete
    group of that name exists unless ``replace`` (:func:`require_new_group`): all before the block's work."""
    if path is None:
        yield
        return
    _check_kind(kind)
    check_result_name(name)
    with store_lock(path):
        require_new_group(path, kind, name, replace)
        yield


def _new_group(path: str | Path, group: str, prepared: xr.Dataset) -> None:
    """(Re)create ``group`` empty with the attrs of ``prepared`` (its commit marks at 0) in one write."""
    zarr.create_group(store=str(path), path=group, overwrite=True, attributes=dict(prepared.attrs), zarr_format=3)


def write_results(path: str | Path, kind: str, name: str, ds: xr.Dataset, *, replace: bool = False) -> str:
    """Write ``ds`` as group ``kind/name``: marked ``complete = 0``, the data, then ``complete = 1``.

    A complete group of that name is refused unless ``replace``; an unfinished
    one is rewritten. Holds the store's lock while writing. Returns the group
    path. Other groups in the store are not touched.
    """
    _check_kind(kind)
    check_result_name(name)
    group = f"{kind}/{name}"
    with store_lock(path):
        root = ensure_results_store(path)
        old = _group(root, kind, name)
        if old is not None and not replace and _status(old).complete:
            raise _taken(path, kind, name)
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


def open_stream(path: str | Path, kind: str, name: str, settings: dict, *, planned: int,
                replace: bool = False, log=None) -> ResultsStream:
    """Start or continue group ``kind/name``, checked before any work (hold the store's lock around it).

    A new name (or ``replace``) starts from no checkpoint. An unfinished group
    written with the same ``settings`` continues from its last committed
    checkpoint (rows beyond it are cut off); with other settings it is refused
    in one line. A complete group is refused unless ``replace``. ``log`` is
    called with the line saying a group is continued (default: printed to stderr).
    """
    _check_kind(kind)
    check_result_name(name)
    settings = _json(settings)
    stream = ResultsStream(Path(path), kind, name, settings, int(planned))
    g = _existing_group(path, kind, name)
    if g is None or replace:
        return stream
    status = _status(g)
    if status.complete:
        raise _taken(path, kind, name)
    stored = decode_attrs(g.attrs.asdict())
    if stored.get("settings") != settings:
        raise StoreError(f"{path}: results '{kind}/{name}' are unfinished ({status.text}) and were made with other "
                         f"settings ({_first_difference(stored.get('settings'), settings)}); pass --replace to start "
                         "them again or --name to keep both")
    stream.committed, stream.attrs = status.committed or 0, stored
    if stream.committed:
        g = zarr.open_group(str(path), path=stream.group, mode="r+")
        for _, arr in g.arrays():  # cut off rows a killed writer left beyond the last commit
            ax = _dim_axis(arr)
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
                status = _status(root[key])
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
