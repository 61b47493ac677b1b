"""The table of runs the percolation test reads: per-run width, keep fraction, frame and outcome.

:func:`run_table` takes a table of runs: any Dataset with dim ``run``. Values
it lacks as per-run variables come from its ``run_config`` column (each run's
resolved config as JSON; a collected study, :func:`manifold_lens.open_study`,
carries one), and its ``run_store`` column names each run's store (the runs'
own training sets). It reads no study directory. Runs not done or with a NaN
outcome are dropped, each with its reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ConfigError

NEEDED = ("sigma", "keep_fraction", "image_size")


def _configs(runs: xr.Dataset, ids: list[str]) -> dict:
    """run_id -> the run's resolved config from the ``run_config`` column (JSON; empty without one)."""
    if "run_config" not in runs.variables or runs["run_config"].dims != ("run",):
        return {}
    out = {}
    for rid, text in zip(ids, runs["run_config"].values):
        try:
            cfg = json.loads(str(text)) if text is not None and str(text) else {}
        except ValueError:
            cfg = {}
        out[rid] = cfg if isinstance(cfg, dict) else {}
    return out


def _from_config(cfg: dict, name: str):
    d = (cfg or {}).get("data") or {}
    if name == "sigma":
        return d.get("sigma_x") or d.get("sigma")
    if name == "spacing":
        return d.get("spacing_x") or d.get("spacing")
    return d.get(name)


def _column(runs, name, configs, ids, default=None) -> list:
    """Per-run values of ``name``: the coordinate (or variable) where present, else the manifest, else default."""
    if name in runs.variables and runs[name].dims == ("run",):
        return list(runs[name].values)
    if configs:
        return [v if (v := _from_config(configs.get(i), name)) is not None else default for i in ids]
    return [default] * len(ids)


def run_table(runs: xr.Dataset, outcome: str) -> dict:
    """The runs the test uses as plain arrays, with the reasons others were dropped; one-line errors for bad
    input (no run dim, missing outcome or coordinates, outcomes outside [0, 1])."""
    if not isinstance(runs, xr.Dataset) or "run" not in runs.dims:
        raise ConfigError("runs: give an xarray Dataset with dim 'run' (e.g. manifold_lens.open_study(DIR))")
    if outcome not in runs.data_vars or runs[outcome].dims != ("run",):
        present = [v for v in runs.data_vars if runs[v].dims == ("run",)]
        raise ConfigError(f"outcome = {outcome!r}: the runs have no such per-run variable; present: "
                          f"{', '.join(present) or 'none'}")
    ids = [str(v) for v in runs["run_id"].values] if "run_id" in runs.coords else \
        [str(v) for v in runs["run"].values]
    configs = _configs(runs, ids)
    cols = {k: _column(runs, k, configs, ids) for k in NEEDED}
    cols["spacing"] = _column(runs, "spacing", configs, ids, 1.0)
    cols["family"] = [str(v or "bump") for v in _column(runs, "family", configs, ids, "bump")]
    y = np.asarray(runs[outcome].values, dtype=np.float64)
    keep = np.isfinite(y)
    dropped = [f"{ids[k]}: {outcome} is NaN (no evaluation)" for k in np.flatnonzero(~keep)]
    if "status" in runs.coords:
        st = [str(s) for s in runs["status"].values]
        for k in range(len(ids)):
            if keep[k] and st[k] != "done":
                keep[k] = False
                dropped.append(f"{ids[k]}: status {st[k]}")
    missing = [k for k in (*NEEDED, "spacing") if any(cols[k][i] is None or _nan(cols[k][i])
                                                      for i in np.flatnonzero(keep))]
    if missing:
        raise ConfigError(f"runs: no {', '.join(missing)} per run: give them as coordinates on dim run (sigma and "
                          "image_size in px), a run_config column, or pass a collected study "
                          "(manifold_lens.open_study)")
    bad = keep & ((y < 0) | (y > 1))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"outcome {outcome} = {y[k]:g} at run {ids[k]}: must lie in [0, 1] (a fraction of "
                          "samples); give an accuracy")
    idx = np.flatnonzero(keep)
    seed = (np.asarray(runs["seed"].values)[idx] if "seed" in runs.variables and runs["seed"].dims == ("run",)
            else np.zeros(len(idx), np.int64))
    stores = runs["run_store"].values if "run_store" in runs.variables and runs["run_store"].dims == ("run",) else None
    paths = [Path(str(stores[k])) for k in idx] if stores is not None and all(str(stores[k]) for k in idx) else []
    table = {"index": idx, "run_id": np.asarray([ids[k] for k in idx], dtype=object), "outcome": y[idx],
             "seed": seed, "dropped": dropped, "configs": [configs.get(ids[k]) for k in idx],
             "paths": paths if paths and all(p.exists() for p in paths) else [],
             "stored_cluster": (np.asarray(runs["largest_cluster_ratio"].values, dtype=np.float64)[idx]
                                if "largest_cluster_ratio" in runs.data_vars else None),
             "stored_threshold": runs.attrs.get("percolation_threshold")}
    for k in ("sigma", "keep_fraction", "spacing"):
        table[k] = np.asarray([float(cols[k][i]) for i in idx])
    table["image_size"] = np.asarray([int(cols["image_size"][i]) for i in idx])
    table["family"] = np.asarray([cols["family"][i] for i in idx], dtype=object)
    return table


def _nan(v) -> bool:
    try:
        return bool(np.isnan(float(v)))
    except (TypeError, ValueError):
        return False
