"""What a report is drawn from: results groups and the run stores they name.

Results stores are read group by group (without the bulky per-unit and
per-pixel variables no figure reads); a result's ``source_run`` attribute
names the run store its data and loss come from. A run that cannot be opened
is kept with the reason, so the report can say why its figures are missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from ..errors import ManifoldLensError
from ..stores import RESULTS, RUN, check_results_store, list_results, open_run, read_group, store_schema

BULKY = ("activations_", "image")  # per-unit / per-pixel variables no figure reads


@dataclass
class Group:
    """One results group: store path, kind, name and its (small) variables loaded."""

    store: Path
    kind: str
    name: str
    ds: xr.Dataset

    def label(self, several_stores: bool) -> str:
        return f"{self.kind}/{self.name}" + (f" in {self.store.name}" if several_stores else "")


@dataclass
class Sources:
    """What a report is drawn from: results groups, and run stores (opened, or why not)."""

    stores: list[Path] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    runs: dict = field(default_factory=dict)          # path -> Run
    missing_runs: dict = field(default_factory=dict)  # path -> reason

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
                    sources.groups.append(Group(p, kind, name, read_group(p, kind, name, drop_prefixes=BULKY)))
        else:
            raise ManifoldLensError(f"{p}: neither a manifold-lens results store nor a run store")
    for g in sources.groups:
        src = g.ds.attrs.get("source_run")
        if src:
            _open_run_or_reason(str(src), sources)
    return sources
