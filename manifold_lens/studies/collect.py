"""Collecting a study: every run of a study directory in one ``xarray.Dataset`` with dim ``run``.

A study directory (written by ``manifold-lens study run``) holds ``study.json``
(the manifest: the swept keys, each run's id, case, seed, swept values and
resolved config, the stage settings) and per run ``runs/<run_id>/`` with its
run store ``run.zarr``, its results store ``results.zarr`` (groups
``evaluation/default`` and ``analysis/default``) and ``status.json``.

:func:`open_study` reads them with the stores' readers (committed checkpoints
only, so an unfinished evaluation gives its last committed checkpoint) and
never fails on a run that is missing, failed or unfinished: its values are NaN
and its ``status`` coordinate says why. :func:`study_grid` turns a complete
grid into named dims (the swept keys, ``seed`` and ``case``) for plotting.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from ..coords import coord_attrs
from ..errors import ManifoldLensError
from ..percolation import coverage_graph, largest_cluster
from ..percolation.graph import trainable_index
from ..stores import list_results, open_run, read_group
from .layout import MANIFEST, RUN_GROUP, expects_results, read_manifest, run_dir, run_results, run_state, run_store
from .layout import RESERVED  # noqa: F401 -- the reserved coordinate names (layout checks swept keys against them)
from .layout import is_study  # noqa: F401 -- its public name here since open_study

from ..percolation.settings import PercolationSettings, PercolationTestSettings

RESULTS_NAME = RUN_GROUP  # the group name the study runner writes
# overlap threshold of the percolation quantities (docs/science.md, section 5): the percolation settings' default
THRESHOLD = PercolationSettings.default("threshold")
MIN_TRAIN_ACCURACY = PercolationTestSettings.default("min_train_accuracy")  # accuracy_id of a converged run
ACCURACY = ("accuracy", "accuracy_id", "accuracy_ood")
# summary metrics of the analysis (dims layer, timestep, reference) collected at the final checkpoint
HEADLINE = ("effective_dim", "explained_variance_top4", "factorization_score", "continuity_index",
            "x_on_y_orthogonality", "x_on_x_orthogonality", "y_on_y_orthogonality", "x_parallelism", "y_parallelism",
            "x_decoding_r2", "y_decoding_r2", "betti_1", "betti_1_conclusive")
FINAL = ("explained_variance_ratio",)  # collected at the final checkpoint only (dim component)
# the memorising baseline beside the terminal accuracy (manifold_lens/evaluation/baselines.py)
BASELINE = ("baseline_nearest_accuracy", "baseline_nearest_accuracy_id", "baseline_nearest_accuracy_ood")


def coordinate_names(keys) -> dict[str, str]:
    """Dotted key -> coordinate name: its last part, or the full key where two last parts (or a reserved
    name such as ``seed``) collide."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 and s not in RESERVED else k) for k, s in zip(keys, last)}


def _group(store: Path, kind: str, notes: list, run_id: str) -> xr.Dataset | None:
    """``kind/default`` of a results store (committed checkpoints), or None (with a note unless absent)."""
    if not store.exists():
        return None
    try:
        if RESULTS_NAME not in list_results(store).get(kind, []):
            return None
        return read_group(store, kind, RESULTS_NAME, drop_prefixes=("activations_", "image", "embedding_"))
    except Exception as e:  # noqa: BLE001 -- one damaged store must not fail the collection; say why
        notes.append(f"{run_id}: {kind}/{RESULTS_NAME} left out ({type(e).__name__}: {str(e).splitlines()[0]})")
        return None


def _percolation(run_path: Path, threshold: float, notes: list, run_id: str) -> dict:
    """The largest cluster of the run's own training set on its coverage graph (from the run store)."""
    if not run_path.exists():
        return {}
    try:
        ds = open_run(run_path).dataset
        size = largest_cluster(coverage_graph(ds, threshold)).size
    except Exception as e:  # noqa: BLE001 -- an unreadable run store gives NaN with a note
        notes.append(f"{run_id}: percolation left out ({type(e).__name__}: {str(e).splitlines()[0]})")
        return {}
    kept, sites = len(ds.train_index), len(trainable_index(ds))
    return {"kept_sites": kept, "candidate_sites": sites, "largest_cluster_size": size,
            "largest_cluster_ratio": size / kept if kept else np.nan,
            "largest_cluster_fraction": size / sites if sites else np.nan}


def _steps_trained(run_path: Path) -> int:
    """The optimiser steps a run trained: its recorded ``steps_trained``, else its last committed step (-1 when
    the run store is absent or unreadable)."""
    if not run_path.exists():
        return -1
    try:
        attrs = open_run(run_path).attrs
    except Exception:  # noqa: BLE001 -- an unreadable store: -1; _percolation says why
        return -1
    return int(attrs.get("steps_trained", attrs.get("last_step", -1)))


def _scored(ev: xr.Dataset | None) -> tuple[int, int]:
    """Samples scored in and out of distribution at the group's last checkpoint (-1 each without per-sample
    scores): conditions in the region x samples per condition."""
    if ev is None or not ev.sizes.get("checkpoint", 0) or "in_train" not in ev.coords or "sample" not in ev.dims:
        return -1, -1
    in_train = np.asarray(ev["in_train"].values).astype(bool)
    k = int(ev.sizes["sample"])
    return int(in_train.sum()) * k, int((~in_train).sum()) * k


def _convergence(ds: xr.Dataset, ids: list[str], evals: dict, root: Path, threshold: float) -> xr.Dataset:
    """``converged``, ``steps_trained``, ``scored_id`` and ``scored_ood`` per run."""
    acc = ds["accuracy_id"].values
    ds["converged"] = ("run", np.isfinite(acc) & (np.nan_to_num(acc, nan=-1.0) >= threshold), _attrs(
        "the run learned its training conditions", "", f"accuracy_id >= {threshold:g} at the evaluated checkpoint; "
        "false where accuracy_id is NaN (no evaluation, or no training conditions evaluated)"))
    ds["converged"].attrs["min_train_accuracy"] = float(threshold)
    ds["steps_trained"] = ("run", np.asarray([_steps_trained(run_store(root, rid)) for rid in ids], dtype=np.int64),
                           _attrs("optimiser steps trained", "step", "the run store's steps_trained (a run "
                                  "stopped by train.until_accuracy), else its last committed step; -1 without one"))
    scored = np.asarray([_scored(evals.get(rid)) for rid in ids], dtype=np.int64).reshape(len(ids), 2)
    for k, (var, where) in enumerate((("scored_id", "in-distribution (training) conditions"),
                                      ("scored_ood", "out-of-distribution (held-out) conditions"))):
        ds[var] = ("run", scored[:, k], _attrs(f"samples scored, {where}", "samples", "at the evaluated "
                                               "checkpoint: conditions x samples_per_condition, the binomial n of "
                                               f"accuracy_{var[7:]}; -1 without per-sample scores"))
    return ds


def _attrs(long_name: str, units: str = "1", description: str = "") -> dict:
    return {"long_name": long_name, "units": units, **({"description": description} if description else {})}


def _values(values: list):
    """A coordinate's values as an array: numeric where every value is a number, else strings."""
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64 if any(isinstance(v, float) for v in values) else np.int64)
    return np.asarray([json.dumps(v) if isinstance(v, (list, dict)) else str(v) for v in values], dtype=object)


def _curves(evals: dict, what: str = "accuracy curves") -> tuple[list[int] | None, str]:
    """The shared checkpoint schedule of the groups (each a prefix of the longest), or None and why."""
    steps = {rid: [int(s) for s in ds["checkpoint"].values] for rid, ds in evals.items() if "checkpoint" in ds.dims}
    if not steps:
        return None, "no evaluation results"
    longest = max(steps.values(), key=len)
    odd = [rid for rid, s in steps.items() if s != longest[:len(s)]]
    if odd:
        return None, (f"{what} omitted: the runs do not share a checkpoint schedule ({odd[0]} has "
                      f"{steps[odd[0]]}, others {longest})")
    return longest, ""


def _merge_runs(ds: xr.Dataset, ids: list[str], groups: dict, names, keep_dims) -> xr.Dataset:
    """Variables ``names`` of each run's group concatenated along ``run`` (NaN for runs without them)."""
    parts = []
    for rid in ids:
        g = groups.get(rid)
        part = xr.Dataset({v: g[v].reset_coords(drop=True) for v in names if g is not None and v in g})
        parts.append(part.drop_vars([c for c in part.coords if c not in keep_dims]))
    merged = xr.concat(parts, dim="run", join="outer", fill_value=np.nan, coords="minimal", compat="override",
                       data_vars="all")
    return merged.assign_coords(run=ds["run"])


def _analysis_curves(ds: xr.Dataset, ids: list[str], analyses: dict, notes: list) -> xr.Dataset:
    """``<metric>_curve`` (run, analysis_checkpoint, ...) of every headline metric where the runs share an
    analysis schedule of at least 2 checkpoints (else nothing, with a note when schedules differ)."""
    schedule, why = _curves(analyses, "analysis curves")
    if schedule is None:
        notes.append(why)
        return ds
    if len(schedule) < 2:
        return ds
    present = [v for v in HEADLINE if any(v in a for a in analyses.values())]
    merged = _merge_runs(ds, ids, analyses, present, ("checkpoint", "layer", "timestep", "reference"))
    merged = merged.reindex(checkpoint=schedule).rename(checkpoint="analysis_checkpoint")
    for v in present:
        src = next(a[v] for a in analyses.values() if v in a)
        ds[f"{v}_curve"] = merged[v]
        ds[f"{v}_curve"].attrs = {**src.attrs, "description": f"{v} at every analysed checkpoint (NaN beyond a "
                                  "run's committed ones)"}
    ds["analysis_checkpoint"].attrs.update({**coord_attrs("checkpoint"), "long_name": "analysed checkpoint"})
    return ds


def open_study(path, *, threshold: float = THRESHOLD, percolation: bool = True,
               min_train_accuracy: float = MIN_TRAIN_ACCURACY) -> xr.Dataset:
    """Every run of study directory ``path`` in one Dataset with dim ``run``.

    Coordinates: one per swept key (named by the key's last dotted part, the
    full key where two collide), ``seed``, ``case``, ``run_id``, ``status`` (the
    run's state: done, failed, running, pending, missing; damaged: done, but a
    store cannot be read), ``error``, and what a table of runs needs beyond the swept values: ``run_store`` (the run store's
    path) and ``run_config`` (the resolved config, JSON).
    Variables: the terminal ``accuracy``, ``accuracy_id``, ``accuracy_ood`` (the
    last committed checkpoint of ``evaluation/default``, its step in
    ``evaluation_step``) and ``accuracy_region`` (run, region_name), beside
    them the memorising baseline ``baseline_nearest_accuracy[_id, _ood]``
    (run) and ``baseline_nearest_accuracy_region`` (run, region_name) where
    any evaluation stored it (NaN for a run without it); the final
    analysed checkpoint's headline metrics (run, layer, timestep, reference);
    the largest cluster of each run's own training set on its coverage graph
    (``largest_cluster_ratio`` over kept sites, ``largest_cluster_fraction``
    over candidate sites, at overlap ``threshold``; skip with
    ``percolation=False``); and the accuracy curves ``accuracy_curve``,
    ``accuracy_id_curve``, ``accuracy_ood_curve`` (run, checkpoint) where the
    runs share a checkpoint schedule (else omitted, attr ``notes`` says why);
    likewise every headline metric over the analysed checkpoints,
    ``<metric>_curve`` (run, analysis_checkpoint, layer, timestep, reference),
    where the runs share an analysis schedule of at least 2 checkpoints; the
    final ``explained_variance_ratio`` (run, component, ...). Attributes
    ``claim`` and ``scale`` repeat the manifest's (the study's claim, e.g.
    "lesion", and its scale "cpu" / "paper"; "" when absent).
    Convergence: ``converged`` (``accuracy_id`` >= ``min_train_accuracy`` at
    the evaluated checkpoint; False where NaN), ``steps_trained`` (optimiser
    steps), ``scored_id`` / ``scored_ood`` (samples scored per region at the
    evaluated checkpoint, the binomial n of its accuracy; -1 when unknown).
    A run without results is NaN, never an error.
    """
    PercolationTestSettings(min_train_accuracy=min_train_accuracy).check()  # a bad threshold: one line
    root = Path(path)
    manifest = read_manifest(root)
    runs = manifest["runs"]
    if not runs:
        raise ManifoldLensError(f"{root / MANIFEST}: lists no runs")
    keys = list(manifest.get("keys") or dict.fromkeys(k for r in runs for k in r.get("swept", {})))
    names = coordinate_names(keys)
    ids = [str(r["run_id"]) for r in runs]
    notes: list[str] = []
    state, error, evals, analyses, perc = [], [], {}, {}, {}
    for rid in ids:
        s, err = run_state(run_dir(root, rid), expects_results(manifest))
        state.append(s)
        error.append(err)
        ev = _group(run_results(root, rid), "evaluation", notes, rid)
        if ev is not None:
            evals[rid] = ev
        an = _group(run_results(root, rid), "analysis", notes, rid)
        if an is not None and an.sizes.get("checkpoint", 0):
            analyses[rid] = an
        if percolation:
            perc[rid] = _percolation(run_store(root, rid), threshold, notes, rid)
        if s == "done" and notes and notes[-1].startswith(f"{rid}: "):  # a store of the run cannot be read
            state[-1], error[-1] = "damaged", notes[-1][len(rid) + 2:]

    n = len(ids)
    coords = {"run": ("run", np.arange(n)), "run_id": ("run", np.asarray(ids, dtype=object)),
              "seed": ("run", np.asarray([int(r.get("seed", 0)) for r in runs])),
              "case": ("run", np.asarray([str(r.get("case") or "") for r in runs], dtype=object)),
              "status": ("run", np.asarray(state, dtype=object)),
              "error": ("run", np.asarray(error, dtype=object)),
              "run_store": ("run", np.asarray([str(run_store(root, rid)) for rid in ids], dtype=object),
                            {"long_name": "the run's run store (path)"}),
              "run_config": ("run", np.asarray([json.dumps(r.get("config") or {}, sort_keys=True) for r in runs],
                                               dtype=object), {"long_name": "the run's resolved config (JSON)"})}
    for key in keys:
        coords[names[key]] = ("run", _values([r.get("swept", {}).get(key, np.nan) for r in runs]),
                              {"key": key, "long_name": key})
    ds = xr.Dataset(coords=coords)

    # terminal accuracy
    for var in ACCURACY:
        vals = np.full(n, np.nan)
        for k, rid in enumerate(ids):
            if rid in evals and var in evals[rid] and evals[rid].sizes.get("checkpoint", 0):
                vals[k] = float(evals[rid][var].isel(checkpoint=-1))
        ds[var] = ("run", vals, _attrs(f"terminal {var.replace('_', ' ')}",
                                       description="at the last committed checkpoint of evaluation/default"))
    steps = [int(evals[rid]["checkpoint"].values[-1]) if rid in evals and evals[rid].sizes.get("checkpoint", 0)
             else -1 for rid in ids]
    ds["evaluation_step"] = ("run", np.asarray(steps), _attrs("step of the terminal accuracy", "step",
                                                              "-1 where the run has no evaluation"))
    ds = _convergence(ds, ids, evals, root, float(min_train_accuracy))
    ds["evaluation_status"] = ("run", np.asarray([evals[rid].attrs.get("status", "") if rid in evals else "absent"
                                                  for rid in ids], dtype=object))
    regions = list(dict.fromkeys(str(r) for ev in evals.values() if "region_name" in ev.dims
                                 for r in ev["region_name"].values))
    if regions:
        acc = np.full((n, len(regions)), np.nan)
        for k, rid in enumerate(ids):
            ev = evals.get(rid)
            if ev is not None and "accuracy_region" in ev and ev.sizes.get("checkpoint", 0):
                last = ev["accuracy_region"].isel(checkpoint=-1)
                for r in last["region_name"].values:
                    acc[k, regions.index(str(r))] = float(last.sel(region_name=r))
        ds["accuracy_region"] = (("run", "region_name"), acc,
                                 _attrs("terminal accuracy per region", description="NaN where a run has no such "
                                        "region"))
        ds = ds.assign_coords(region_name=np.asarray(regions, dtype=object))
    if any(v in ev for ev in evals.values() for v in BASELINE):  # memorising baseline: NaN where a run has none
        for var in BASELINE:
            ds[var] = ("run", np.asarray([float(evals[rid][var]) if var in evals.get(rid, {}) else np.nan
                                          for rid in ids]), _attrs(var.replace("_", " "), description="the nearest "
                                                                   "training condition's image, scored like the model"))
        base = np.full((n, len(regions)), np.nan)
        for k, rid in enumerate(ids):
            b = evals[rid].get("baseline_nearest_accuracy_region") if rid in evals else None
            for r in [] if b is None or "region_name" not in b.dims else b["region_name"].values:
                base[k, regions.index(str(r))] = float(b.sel(region_name=r))
        if regions:
            ds["baseline_nearest_accuracy_region"] = (("run", "region_name"), base, _attrs(
                "memorising baseline per region", description="nearest training condition; NaN where none"))

    # accuracy curves
    schedule, why = _curves(evals)
    if schedule is not None:
        for var in ACCURACY:
            curve = np.full((n, len(schedule)), np.nan)
            for k, rid in enumerate(ids):
                if rid in evals and var in evals[rid]:
                    v = evals[rid][var].values
                    curve[k, :len(v)] = v
            ds[f"{var}_curve"] = (("run", "checkpoint"), curve, _attrs(f"{var.replace('_', ' ')} over training",
                                                                       description="NaN beyond a run's committed "
                                                                       "checkpoints"))
        ds = ds.assign_coords(checkpoint=("checkpoint", np.asarray(schedule), coord_attrs("checkpoint")))
    elif evals:
        notes.append(why)

    # analysis headline metrics at the final analysed checkpoint
    if analyses:
        finals = {rid: an.isel(checkpoint=-1) for rid, an in analyses.items()}
        present = [v for v in (*HEADLINE, *FINAL) if any(v in f for f in finals.values())]
        merged = _merge_runs(ds, ids, finals, present, ("layer", "timestep", "reference", "component"))
        for v in present:
            if v in merged:
                ds[v] = merged[v]
                src = next(f[v] for f in finals.values() if v in f)
                ds[v].attrs = dict(src.attrs)
        ds["analysis_step"] = ("run", np.asarray([int(finals[rid]["checkpoint"]) if rid in finals else -1
                                                  for rid in ids]),
                               _attrs("step of the analysed checkpoint", "step", "-1 where the run has no analysis"))
        ds = _analysis_curves(ds, ids, analyses, notes)

    # percolation of each run's own training set
    if percolation:
        for var, long in [("largest_cluster_ratio", "largest cluster over kept training sites"),
                          ("largest_cluster_fraction", "largest cluster over candidate sites"),
                          ("largest_cluster_size", "largest cluster of the training set's coverage graph"),
                          ("kept_sites", "training sites kept"),
                          ("candidate_sites", "sites subsampling chooses from")]:
            ds[var] = ("run", np.asarray([perc[rid].get(var, np.nan) for rid in ids], dtype=np.float64),
                       _attrs(long, description=f"coverage graph of the run's own training set at overlap "
                              f">= {threshold:g} (pixels)"))

    ds.attrs.update({"title": f"study {manifest.get('name', root.name)}", "study": str(manifest.get("name", "")),
                     "source": str(manifest.get("source", "")), "study_dir": str(root.resolve()),
                     "created": str(manifest.get("created", "")), "versions": manifest.get("versions", {}),
                     "keys": keys, "coordinate_names": names, "stages": manifest.get("stages", {}),
                     "executor": manifest.get("executor", {}), "percolation_threshold": float(threshold),
                     "claim": str(manifest.get("claim") or ""), "scale": str(manifest.get("scale") or ""),
                     "notes": notes})
    return ds


def grid_dims(ds: xr.Dataset) -> list[str]:
    """The dims of :func:`study_grid`: the swept coordinates, ``seed``, and ``case`` when any run has one."""
    names = list(ds.attrs.get("coordinate_names", {}).values())
    dims = [*names, "seed"]
    if "case" in ds.coords and any(str(c) for c in ds["case"].values):
        dims.append("case")
    return dims


def study_grid(ds: xr.Dataset) -> xr.Dataset:
    """The runs of a complete grid as named dims (swept keys, ``seed`` [, ``case``]) instead of ``run``.

    One-line error when the grid is incomplete (a combination has no run) or
    holds a combination twice.
    """
    dims = grid_dims(ds)
    combos = list(zip(*[ds[d].values.tolist() for d in dims]))
    seen: dict = {}
    for combo, rid in zip(combos, ds["run_id"].values):
        if combo in seen:
            raise ManifoldLensError(f"study grid: runs {seen[combo]} and {rid} share "
                                    + ", ".join(f"{d}={v}" for d, v in zip(dims, combo)))
        seen[combo] = rid
    full = int(np.prod([len(set(ds[d].values.tolist())) for d in dims]))
    if full != len(combos):
        raise ManifoldLensError(f"study grid: incomplete, {len(combos)} runs for {full} combinations of "
                                f"{', '.join(dims)}; select a complete part first (ds.sel / ds.where)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ds.drop_vars("run").set_index(run=dims).unstack("run")
    return out.transpose(*dims, ...)
