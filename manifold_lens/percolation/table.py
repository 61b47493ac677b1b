"""The table of runs the percolation test reads: per-run width, keep fraction, frame and outcome.

:func:`run_table` takes any Dataset with dim ``run`` (a table, not a study
directory); values it lacks as per-run coordinates or variables come from each
run's resolved config: the per-run ``run_config`` (a JSON string or dict) or
the ``configs`` argument (run id -> config dict). Each run's store, the per-run
``run_store`` or the ``run_stores`` argument (run id -> path), lets the test
read the run's own training set. A collected study supplies both
(``manifold_lens.studies``). Runs not done or with a NaN outcome are dropped,
each with its reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import ConfigError

NEEDED = ("sigma", "keep_fraction", "image_size")
CONFIG = "run_config"  # per-run variable: the run's resolved config (JSON string or dict)
STORE = "run_store"    # per-run variable: the run's store (path)


def _per_run(runs, name, ids, given) -> dict:
    """run id -> value of per-run variable ``name`` (empty values left out), updated with ``given``."""
    out = {}
    if name in runs.variables and runs[name].dims == ("run",):
        out = {i: v for i, v in zip(ids, runs[name].values) if v is not None and str(v) not in ("", "nan")}
    out.update({str(k): v for k, v in (given or {}).items()})
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


def _region_counts(runs, outcome) -> tuple[np.ndarray | None, str]:
    """Samples each run's outcome was scored on (the binomial n), and where it came from."""
    names = {"accuracy_ood": ("scored_ood",), "accuracy_id": ("scored_id",),
             "accuracy": ("scored_id", "scored_ood")}.get(outcome, ())
    if names and all(v in runs.data_vars and runs[v].dims == ("run",) for v in names):
        n = sum(np.asarray(runs[v].values, dtype=np.float64) for v in names)
        return n, " + ".join(names) + " per run"
    return None, (f"not recorded ({' and '.join(names) or 'no scored_* variable for ' + outcome}): equal weights "
                  "(the dispersion is estimated from the runs, so only relative weights matter)")


def _converged(runs, ids, keep, min_train_accuracy, sigma_col) -> tuple[np.ndarray, list, str]:
    """Which kept runs learned their training conditions: accuracy_id >= min_train_accuracy (else the per-run
    ``converged`` where present, else all); (converged mask, [(sigma, reason)] of those left out, rule)."""
    conv = np.ones(len(ids), bool)
    if "accuracy_id" in runs.data_vars and runs["accuracy_id"].dims == ("run",):
        acc = np.asarray(runs["accuracy_id"].values, dtype=np.float64)
        conv = np.isfinite(acc) & (acc >= min_train_accuracy)
        why = [f"{ids[k]}: not converged (accuracy_id {acc[k]:.2f} < {min_train_accuracy:g})" for k in range(len(ids))]
        rule = f"accuracy_id >= {min_train_accuracy:g} at the evaluated checkpoint"
    elif "converged" in runs.variables and runs["converged"].dims == ("run",):
        conv = np.asarray(runs["converged"].values).astype(bool)
        why = [f"{ids[k]}: not converged (converged = False)" for k in range(len(ids))]
        rule = "the runs' own converged flag"
    else:
        return conv, [], "no accuracy_id or converged per run: every run counted as converged"
    out = []
    for k in np.flatnonzero(keep & ~conv):
        s = sigma_col[k]
        out.append((float(s) if s is not None and not _nan(s) else np.nan, why[k]))
    return conv, out, rule


def run_table(runs: xr.Dataset, outcome: str, configs: Mapping[str, dict] | None = None,
              run_stores: Mapping[str, str | Path] | None = None, min_train_accuracy: float = 0.0) -> dict:
    """The runs the test uses as plain arrays, with the reasons others were dropped; one-line errors for bad
    input (no run dim, missing outcome or coordinates, outcomes outside [0, 1]).

    ``configs`` and ``run_stores`` (keyed by ``run_id``, the coordinate, else
    the ``run`` index as a string) complete or replace the per-run
    ``run_config`` and ``run_store``; run stores are used only when every kept
    run has one that exists. Runs whose ``accuracy_id`` is below
    ``min_train_accuracy`` have not learned their training conditions: they
    are left out, each with its width and reason in ``excluded``.
    """
    if not isinstance(runs, xr.Dataset) or "run" not in runs.dims:
        raise ConfigError("runs: give an xarray Dataset with dim 'run' (e.g. manifold_lens.open_study(DIR))")
    if outcome not in runs.data_vars or runs[outcome].dims != ("run",):
        present = [v for v in runs.data_vars if runs[v].dims == ("run",)]
        raise ConfigError(f"outcome = {outcome!r}: the runs have no such per-run variable; present: "
                          f"{', '.join(present) or 'none'}")
    ids = [str(v) for v in runs["run_id"].values] if "run_id" in runs.coords else \
        [str(v) for v in runs["run"].values]
    configs = {k: (json.loads(v) if isinstance(v, str) else dict(v or {}))
               for k, v in _per_run(runs, CONFIG, ids, configs).items()}
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
    conv, excluded, rule = _converged(runs, ids, keep, float(min_train_accuracy), cols["sigma"])
    keep &= conv
    missing = [k for k in (*NEEDED, "spacing") if any(cols[k][i] is None or _nan(cols[k][i])
                                                      for i in np.flatnonzero(keep))]
    if missing:
        raise ConfigError(f"runs: no {', '.join(missing)} per run: give them as coordinates on dim run (sigma and "
                          "image_size in px), a per-run run_config, or "
                          "configs= (run_id -> the run's config)")
    bad = keep & ((y < 0) | (y > 1))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"outcome {outcome} = {y[k]:g} at run {ids[k]}: must lie in [0, 1] (a fraction of "
                          "samples); give an accuracy")
    idx = np.flatnonzero(keep)
    seed = (np.asarray(runs["seed"].values)[idx] if "seed" in runs.variables and runs["seed"].dims == ("run",)
            else np.zeros(len(idx), np.int64))
    stores = _per_run(runs, STORE, ids, run_stores)
    paths = [Path(stores[ids[k]]) for k in idx] if stores and all(ids[k] in stores for k in idx) else []
    n_scored, n_source = _region_counts(runs, outcome)
    acc_id = (np.asarray(runs["accuracy_id"].values, dtype=np.float64)[idx]
              if "accuracy_id" in runs.data_vars and runs["accuracy_id"].dims == ("run",) else None)
    table = {"index": idx, "n_scored": None if n_scored is None else n_scored[idx], "n_source": n_source,
             "accuracy_id": acc_id, "excluded": excluded, "convergence": rule,
             "run_id": np.asarray([ids[k] for k in idx], dtype=object), "outcome": y[idx],
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
