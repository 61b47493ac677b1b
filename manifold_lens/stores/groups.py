"""Results groups: their kinds and names, the store itself, and each group's status from its commit marks.

The one place that says whether a group exists, how much of it readers may
use (:class:`GroupStatus`, :func:`group_status`) and whether a writer may
take its name (:func:`require_new_group`). See :mod:`~manifold_lens.stores.results`
for the layout and the commit marks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import zarr

from ..errors import StoreError
from ..versions import package_versions
from .schema import RESULTS, VERSIONS, check_store, open_group

KINDS = ("evaluation", "analysis", "percolation", "comparison", "claims")  # claims: a study's own computations
DIM = "checkpoint"  # the dimension evaluation and analysis groups are streamed along
_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"results kind {kind!r}: must be one of {', '.join(KINDS)}")


def check_result_name(name) -> str:
    """``name`` if it is a valid results name (letters, digits, ``_``, ``-``, ``.``; not only dots), else a
    one-line StoreError naming the parameter ``name`` and the rule."""
    text = str(name)
    if not _NAME.fullmatch(text) or not text.strip("."):
        raise StoreError(f"name = {text!r}: a results name may hold letters, digits, '_', '-' and '.' only "
                         "(and not only dots), e.g. name = 'run1_ddim50'")
    return text


def check_results_store(path: str | Path) -> zarr.Group:
    """Open a results store read-only, or raise a one-line StoreError saying what the path is."""
    return check_store(path, RESULTS)


def is_new_store(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def ensure_results_store(path: str | Path) -> zarr.Group:
    """Open a results store for writing, creating it if the path does not exist (or is an empty folder).

    An existing path that is not a results store is refused and left untouched;
    creating never truncates (a store another process has just made is kept).
    """
    p = Path(path)
    if not is_new_store(p):
        check_results_store(p)
        return open_group(p, "r+")
    g = open_group(p, "a")
    if g.attrs.get("schema") is None and not list(g.keys()):
        g.update_attributes({"schema": RESULTS, "schema_version": VERSIONS[RESULTS], "versions": package_versions()})
    check_results_store(p)
    return g


def find_group(root: zarr.Group, kind: str, name: str) -> zarr.Group | None:
    try:
        g = root[f"{kind}/{name}"]
    except KeyError:
        return None
    return g if isinstance(g, zarr.Group) else None


def existing_group(path: str | Path, kind: str, name: str) -> zarr.Group | None:
    """Group ``kind/name`` of results store ``path`` (None when it or the store does not exist yet)."""
    p = Path(path)
    return None if is_new_store(p) else find_group(check_results_store(p), kind, name)


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


def dim_axis(arr: zarr.Array, dim: str = DIM) -> int | None:
    names = list(getattr(arr.metadata, "dimension_names", None) or [])
    return names.index(dim) if dim in names else None


def status_of(g: zarr.Group) -> GroupStatus:
    attrs = g.attrs.asdict()
    arrays = [a for _, a in g.arrays()]
    lengths = {a.shape[ax] for a in arrays if (ax := dim_axis(a)) is not None}
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
    check_kind(kind)
    g = find_group(check_results_store(path), kind, name)
    if g is None:
        raise StoreError(f"{path}: no {kind} results named {name!r}")
    return status_of(g)


def taken_error(path, kind: str, name: str) -> StoreError:
    """The one-line refusal to write over a complete group (names the parameters ``replace`` and ``name``)."""
    return StoreError(f"{path}: results '{kind}/{name}' already exist; pass replace=True to write over them "
                      "or another name= to keep both")


def group_exists(path: str | Path, kind: str, name: str) -> bool:
    """Whether results store ``path`` holds group ``kind/name`` (False when the store does not exist yet)."""
    return existing_group(path, kind, name) is not None


def require_new_group(path: str | Path, kind: str, name: str, replace: bool = False) -> None:
    """Check, before any work, that ``kind/name`` can be written to ``path``: a valid name, the path a results
    store or new, and no complete group of that name unless ``replace`` (an unfinished one is rewritten)."""
    check_kind(kind)
    check_result_name(name)
    g = existing_group(path, kind, name)
    if g is not None and not replace and status_of(g).complete:
        raise taken_error(path, kind, name)
