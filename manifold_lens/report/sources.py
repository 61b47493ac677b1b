"""What a report is drawn from: results groups and the run stores they name.

Results stores are read group by group (without the bulky per-unit and
per-pixel variables no figure reads); a result's ``source_run`` attribute
names the run store its data and loss come from. A run that cannot be opened
is kept with the reason, so the report can say why its figures are missing.

Only committed checkpoints are read. An unfinished group (a killed evaluate
or analyze) is kept and flagged: its label says "unfinished: 3 of 5
checkpoints", so no figure or number quotes it as final. A group with
nothing readable is left out with the reason (:attr:`Sources.skipped_groups`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from ..errors import ManifoldLensError
from ..stores import (
    RESULTS,
    RUN,
    check_results_store,
    group_status,
    list_results,
    open_run,
    read_group,
    store_schema,
)

BULKY = ("activations_", "image")  # per-unit / per-pixel variables no figure reads


@dataclass
class Group:
    """One results group: store path, kind, name and its (small) variables loaded."""

    store: Path
    kind: str
    name: str
    ds: xr.Dataset
    status: str = "complete"  # or "unfinished: 3 of 5 checkpoints"

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    def label(self, several_stores: bool) -> str:
        """``kind/name`` (and the store when there are several), marked when unfinished."""
        return (f"{self.kind}/{self.name}" + (f" in {self.store.name}" if several_stores else "")
                + ("" if self.complete else f", {self.status}"))


@dataclass
class Sources:
    """What a report is drawn from: results groups, and run stores (opened, or why not)."""

    stores: list[Path] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    runs: dict = field(default_factory=dict)          # path -> Run
    missing_runs: dict = field(default_factory=dict)  # path -> reason
    skipped_groups: dict = field(default_factory=dict)  # "kind/name in store" -> why nothing of it is read

    @property
    def unfinished(self) -> list[Group]:
        return [g for g in self.groups if not g.complete]

    def of_kind(self, kind: str) -> list[Group]:
        return [g for g in self.groups if g.kind == kind]


def as_list(paths) -> list:
    """One path or several, as a list."""
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _open_run_or_reason(path: str, sources: Sources) -> None:
    if path in sources.runs or path in sources.missing_runs:
        return
    try:
        sources.runs[path] = open_run(path)
    except ManifoldLensError as e:
        sources.missing_runs[path] = str(e)


def _add_group(sources: Sources, store: Path, kind: str, name: str) -> None:
    """Read one results group into ``sources`` (committed checkpoints), or record why it is left out."""
    where = f"{kind}/{name} in {store}"
    try:
        status = group_status(store, kind, name)
        if not status.readable:
            sources.skipped_groups[where] = status.text
            return
        ds = read_group(store, kind, name, drop_prefixes=BULKY)
    except Exception as e:  # noqa: BLE001 -- a damaged group must not take the report down; say why it is left out
        first = str(e).splitlines()[0] if str(e) else ""
        sources.skipped_groups[where] = f"cannot be read ({type(e).__name__}: {first})"
        return
    sources.groups.append(Group(store, kind, name, ds, status.text))


def load_sources(paths) -> Sources:
    """Open every results store and run store in ``paths`` (and the runs the results name as source_run)."""
    paths = list({Path(p).resolve(): Path(p) for p in as_list(paths)}.values())  # each store once
    if not paths:
        raise ManifoldLensError("give at least one results store (RESULTS.zarr) or run store (RUN.zarr)")
    sources = Sources()
    for p in paths:
        if not p.exists():
            raise ManifoldLensError(f"{p}: no such results store or run store")
        schema = store_schema(p)
        if schema == RUN:
            _open_run_or_reason(str(p.resolve()), sources)
        elif schema == RESULTS:
            check_results_store(p)
            sources.stores.append(p)
            for kind, names in list_results(p).items():
                for name in names:
                    _add_group(sources, p, kind, name)
        else:
            raise ManifoldLensError(f"{p}: neither a manifold-lens results store nor a run store")
    for g in sources.groups:
        src = g.ds.attrs.get("source_run")
        if src:
            _open_run_or_reason(str(src), sources)
    return sources
