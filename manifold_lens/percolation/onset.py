"""Retired: the side-by-side comparison of terminal accuracy with the predicted onset, replaced by
:func:`~manifold_lens.percolation.percolation_test` (bootstrap intervals, regression across widths and a verdict).

:func:`percolation_vs_accuracy` and :func:`fit_onset` still work for one
release and emit a ``DeprecationWarning``; their onsets come from the one
estimator, :mod:`~manifold_lens.percolation.sigmoid`. Given runs that differ in
bump width sigma and keep fraction lambda, each with evaluation results,
:func:`percolation_vs_accuracy`

- takes each run's *terminal accuracy* (the last evaluated checkpoint),
- groups the runs by sigma and fits the accuracy onset with the sigmoid of
  :mod:`~manifold_lens.percolation.sigmoid`; the measured ``lambda_c`` is its
  midpoint,
- predicts the largest-cluster curve of each sigma's own dataset (its exact
  coverage graph, :func:`~manifold_lens.percolation.dataset_percolation`) and
  its percolation threshold,

and returns both side by side in one xarray Dataset (dims ``sigma``, ``run``,
``keep_fraction``).

Pairing runs with evaluation results: ``evaluations`` lists results stores,
either one per run (same order) or a single store shared by all runs. Within
a store the evaluation group is the one named ``evaluation`` if given, else the
one whose ``source_run`` attribute is the run's path (the evaluate command
records it); several matches or none is an error that lists the groups.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import xarray as xr

from ..coords import coord_attrs
from ..errors import ConfigError, StoreError
from ..stores import (
    check_results_store,
    group_status,
    list_results,
    open_run,
    read_group,
    write_results,
    writing_results,
)
from ..versions import package_versions
from .graph import dataset_percolation
from .kernels import ESTIMATOR
from .lattice import DEFAULT_KEEP_FRACTIONS
from .settings import PercolationSettings, check_threshold, overlap_kind, renamed_keywords, retired_method
from .sigmoid import FORMULA, midpoint_stderr, onset, sigmoid

_P = PercolationSettings
METRICS = ("accuracy", "accuracy_id", "accuracy_ood")
MIN_RISE = 0.05  # the retired fit_onset's smallest accuracy change that counts as an onset
# Data settings that may differ between runs of one sigma (they set only which sites are kept).
_SUBSAMPLING_KEYS = ("keep_fraction", "keep_fractions", "seed")


class OnsetFit(NamedTuple):
    """An onset fit of accuracy vs keep fraction; NaNs and ``status`` say why when it fails (``top``: the ceiling)."""

    lambda_c: float
    lambda_c_stderr: float
    width: float
    top: float
    status: str


def logistic(lam, top, lambda_c, width):
    """``top / (1 + exp(-(lam - lambda_c) / width))``: :func:`~manifold_lens.percolation.sigmoid.sigmoid` with
    floor 0, accuracy rising from 0 to top around lambda_c."""
    return sigmoid(lam, 0.0, top, lambda_c, width)


def _fit(keep_fraction, accuracy, min_rise: float = MIN_RISE) -> OnsetFit:
    fit = onset(keep_fraction, accuracy, min_rise)
    return OnsetFit(fit.lambda_c, midpoint_stderr(keep_fraction, accuracy, fit), fit.width, fit.ceiling, fit.status)


def fit_onset(keep_fraction, accuracy, min_rise: float = MIN_RISE) -> OnsetFit:
    """Deprecated: :func:`manifold_lens.percolation.sigmoid.onset`, the one onset estimator, in the old shape.

    ``lambda_c``, ``width`` and ``top`` (the ceiling) are the sigmoid's;
    ``lambda_c_stderr`` is its least-squares standard error
    (:func:`~manifold_lens.percolation.sigmoid.midpoint_stderr`). Refuses to
    invent an onset as :func:`~manifold_lens.percolation.sigmoid.onset` does.
    """
    warnings.warn("fit_onset is deprecated; use manifold_lens.percolation.sigmoid.onset (the one onset estimator)",
                  DeprecationWarning, stacklevel=2)
    return _fit(keep_fraction, accuracy, min_rise)


# -- pairing runs with evaluation results ------------------------------------

def find_evaluation(run_path, store, evaluation: str | None = None) -> str:
    """Name of the evaluation group in results store ``store`` that belongs to ``run_path``."""
    store = Path(store)
    root = check_results_store(store)
    names = list_results(store).get("evaluation", [])
    if not names:
        raise StoreError(f"{store}: holds no evaluation results; evaluate the run with out={store} first")
    if evaluation is not None:
        if evaluation not in names:
            raise StoreError(f"{store}: no evaluation named {evaluation!r}; present: {', '.join(names)}")
        return evaluation
    target = str(Path(run_path).resolve())
    hits = []
    for name in names:
        if str(root[f"evaluation/{name}"].attrs.get("source_run", "")) == target:
            hits.append(name)
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise StoreError(f"{store}: no evaluation of run {target} (groups: {', '.join(names)}); "
                         "pass the matching results store, or name the group with evaluation=")
    raise StoreError(f"{store}: several evaluations of run {target} ({', '.join(hits)}); "
                     "choose one with evaluation=")


def terminal_accuracy(store, name: str, metric: str = "accuracy") -> tuple[float, int]:
    """(accuracy, step) at the last evaluated checkpoint of ``evaluation/<name>``; an unfinished evaluation is
    refused (its last committed checkpoint is not the terminal one)."""
    status = group_status(store, "evaluation", name)
    if not status.complete:
        raise StoreError(f"{store}: evaluation/{name} is {status.text}; rerun its evaluate command to finish it, "
                         "or name a finished one with evaluation=")
    ds = read_group(store, "evaluation", name, drop_prefixes=("image",))
    if metric not in ds:
        raise StoreError(f"{store}: evaluation/{name} has no variable {metric!r}")
    steps = ds["checkpoint"].values
    last = int(np.argmax(steps))
    return float(ds[metric].isel(checkpoint=last).values), int(steps[last])


def _pair_stores(runs, evaluations) -> list[Path]:
    evaluations = [Path(e) for e in ([evaluations] if isinstance(evaluations, (str, Path)) else evaluations)]
    if len(evaluations) == 1:
        return evaluations * len(runs)
    if len(evaluations) != len(runs):
        raise ConfigError(f"evaluations: give one results store per run ({len(runs)}) or one shared store, "
                          f"got {len(evaluations)}")
    return evaluations


def _data_key(cfg) -> dict:
    d = cfg.data.model_dump()
    for k in _SUBSAMPLING_KEYS:
        d.pop(k)
    return d


# -- the comparison ----------------------------------------------------------

def percolation_vs_accuracy(runs, evaluations, *, evaluation: str | None = None, metric: str = "accuracy",
                            threshold: float = _P.default("threshold"), overlap: str = _P.default("overlap"),
                            trials: int = _P.default("trials"), keep_fractions=_P.default("keep_fractions"),
                            seed: int = _P.default("seed"), out=None, name: str = "default",
                            replace: bool = False, progress: bool = True, **retired) -> xr.Dataset:
    """Deprecated (replaced by :func:`~manifold_lens.percolation.percolation_test`): terminal accuracy vs keep
    fraction beside the predicted largest-cluster curve, per sigma.

    Args:
        runs: run store paths (differing in sigma and keep_fraction).
        evaluations: results stores with their evaluations, one per run or one
            shared (see the module docstring for the pairing).
        evaluation: evaluation group name to use in every store (default: the
            group whose ``source_run`` is the run).
        metric: accuracy, accuracy_id or accuracy_ood.
        threshold, overlap: coverage-graph overlap threshold and kind (pixel or
            continuum; ``method=`` is the retired name of ``overlap``).
        trials, seed: Newman-Ziff passes of each sigma's prediction.
        keep_fractions: grid of the predicted curves (default 0.01..1).
        out, name, replace: also write the result to results store ``out`` as
            ``comparison/<name>`` (refused before any work if it exists, unless ``replace``).

    Returns dims ``sigma`` (predicted and measured lambda_c, fit status),
    ``run`` (each run's terminal accuracy and the prediction at its lambda) and
    ``keep_fraction`` (the predicted curves).
    """
    warnings.warn("percolation_vs_accuracy is deprecated; use percolation_test (bootstrap intervals, regression "
                  "across widths and a verdict)", DeprecationWarning, stacklevel=2)
    overlap = overlap_kind(overlap, retired, "percolation_vs_accuracy")
    renamed_keywords("percolation_vs_accuracy", retired, {})
    if metric not in METRICS:
        raise ConfigError(f"metric = {metric!r}: must be one of {', '.join(METRICS)}")
    check_threshold(threshold)
    with writing_results(out=out, kind="comparison", name=name, replace=replace):  # the lock, held throughout
        ds = _compare(runs, evaluations, evaluation, metric, threshold, overlap, trials, keep_fractions, seed,
                      progress)
        if out is not None:
            write_results(ds, out=out, kind="comparison", name=name, replace=replace)
    return ds


def _compare(runs, evaluations, evaluation, metric, threshold, overlap, trials, keep_fractions, seed,
             progress) -> xr.Dataset:
    """:func:`percolation_vs_accuracy` on checked settings, without writing."""
    runs = [Path(r) for r in ([runs] if isinstance(runs, (str, Path)) else runs)]
    if not runs:
        raise ConfigError("runs: give at least one run store")
    stores = _pair_stores(runs, evaluations)
    opened = [open_run(r) for r in runs]
    names = [find_evaluation(r.path, s, evaluation) for r, s in zip(opened, stores)]  # all pairings before work
    rows = []
    for r, s, group in zip(opened, stores, names):
        acc, step = terminal_accuracy(s, group, metric)
        cfg = r.config.resolved()
        rows.append({"run": str(r.path), "store": str(Path(s).resolve()), "name": group, "accuracy": acc, "step": step,
                     "last_step": r.steps[-1] if r.steps else -1, "cfg": cfg,
                     "sigma": (float(cfg.data.sigma_x), float(cfg.data.sigma_y)),
                     "keep_fraction": float(cfg.data.keep_fraction)})
    sigmas = sorted({row["sigma"] for row in rows})
    grid = DEFAULT_KEEP_FRACTIONS if keep_fractions is None else np.asarray(keep_fractions, dtype=np.float64)
    for sig in sigmas:  # validate every group before any percolation work
        group = [row for row in rows if row["sigma"] == sig]
        ref = _data_key(group[0]["cfg"])
        for row in group[1:]:
            key = _data_key(row["cfg"])
            diff = sorted(k for k in ref if ref[k] != key[k])
            if diff:
                raise ConfigError(f"runs {group[0]['run']} and {row['run']} (sigma = {sig[0]:g}) differ in "
                                  f"data.{diff[0]}; compare runs that differ only in sigma and keep_fraction")

    n_sig = len(sigmas)
    pred_ratio = np.zeros((n_sig, len(grid)))
    pred_frac = np.zeros((n_sig, len(grid)))
    fits = {k: np.full(n_sig, np.nan) for k in ("pc", "pc_se", "mc", "mc_se", "width", "top")}
    status, n_runs = [], np.zeros(n_sig, np.int64)
    run_ratio, run_frac = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for a, sig in enumerate(sigmas):
        members = [k for k, row in enumerate(rows) if row["sigma"] == sig]
        lam_runs = np.array([rows[k]["keep_fraction"] for k in members])
        lam_all = np.union1d(grid, lam_runs)
        full = rows[members[0]]["cfg"].with_overrides({"data.keep_fraction": 1.0})
        perc = dataset_percolation(full, keep_fractions=lam_all, trials=trials, threshold=threshold, overlap=overlap,
                                   seed=seed, progress=progress).mean("trial")
        pred_ratio[a] = perc.largest_cluster_ratio.sel(keep_fraction=grid).values
        pred_frac[a] = perc.largest_cluster_fraction.sel(keep_fraction=grid).values
        run_ratio[members] = perc.largest_cluster_ratio.sel(keep_fraction=lam_runs).values
        run_frac[members] = perc.largest_cluster_fraction.sel(keep_fraction=lam_runs).values
        fits["pc"][a], fits["pc_se"][a] = float(perc.lambda_c), float(perc.lambda_c_stderr)
        fit = _fit(lam_runs, [rows[k]["accuracy"] for k in members])
        fits["mc"][a], fits["mc_se"][a], fits["width"][a], fits["top"][a] = fit[:4]
        status.append(fit.status)
        n_runs[a] = len(members)

    sig_x = np.array([s[0] for s in sigmas])
    sig_y = np.array([s[1] for s in sigmas])
    one = {"units": "1"}
    ds = xr.Dataset(
        {
            "lambda_c_predicted": ("sigma", fits["pc"], {**one, "long_name": "predicted percolation threshold",
                                                        "description": ESTIMATOR + ", on each sigma's coverage graph"}),
            "lambda_c_predicted_stderr": ("sigma", fits["pc_se"], {**one,
                                                                   "long_name": "standard error of the prediction"}),
            "lambda_c_measured": ("sigma", fits["mc"], {**one, "long_name": "measured accuracy onset",
                                                       "description": "midpoint of the sigmoid fitted to terminal "
                                                                      "accuracy vs keep_fraction"}),
            "lambda_c_measured_stderr": ("sigma", fits["mc_se"], {**one, "long_name": "standard error of the onset "
                                                                                     "(least-squares covariance)"}),
            "onset_width": ("sigma", fits["width"], {**one, "long_name": "sigmoid width of the accuracy onset"}),
            "accuracy_top": ("sigma", fits["top"], {**one, "long_name": "fitted accuracy ceiling"}),
            "fit_status": ("sigma", np.array(status, dtype=str), {"long_name": "ok, or why the onset fit gave NaN"}),
            "n_runs": ("sigma", n_runs, {**one, "long_name": "runs with this sigma"}),
            "terminal_accuracy": ("run", [row["accuracy"] for row in rows], {
                **one, "long_name": f"terminal {metric}", "description": "at the last evaluated checkpoint"}),
            "terminal_step": ("run", [row["step"] for row in rows], {
                **coord_attrs("checkpoint"), "long_name": "step of the last evaluated checkpoint"}),
            "run_last_step": ("run", [row["last_step"] for row in rows], {
                **coord_attrs("checkpoint"), "long_name": "last committed step of the run"}),
            "predicted_largest_cluster_ratio": ("run", run_ratio, {
                **one, "long_name": "predicted largest cluster over kept sites at the run's lambda"}),
            "predicted_largest_cluster_fraction": ("run", run_frac, {
                **one, "long_name": "predicted largest cluster over all sites at the run's lambda"}),
            "largest_cluster_ratio": (("sigma", "keep_fraction"), pred_ratio, {
                **one, "long_name": "predicted largest cluster over kept sites", "description": "mean over trials"}),
            "largest_cluster_fraction": (("sigma", "keep_fraction"), pred_frac, {
                **one, "long_name": "predicted largest cluster over all sites", "description": "mean over trials"}),
        },
        coords={
            "sigma": ("sigma", sig_x, {"long_name": "bump width along x", "units": "px"}),
            "sigma_y": ("sigma", sig_y, {"long_name": "bump width along y", "units": "px"}),
            "keep_fraction": ("keep_fraction", grid, {**one, "long_name": "fraction of lattice sites kept (lambda)"}),
            "run_path": ("run", [row["run"] for row in rows]),
            "run_sigma": ("run", [row["sigma"][0] for row in rows], {"units": "px"}),
            "run_keep_fraction": ("run", [row["keep_fraction"] for row in rows], one),
            "evaluation_store": ("run", [row["store"] for row in rows]),
            "evaluation_name": ("run", [row["name"] for row in rows]),
        },
        attrs={
            "description": "terminal accuracy vs keep_fraction beside the predicted largest-cluster curve, per sigma",
            "metric": metric, "threshold": float(threshold), "overlap": overlap,
            "method": retired_method(overlap),
            "trials": int(trials), "seed": int(seed), "onset_model": FORMULA,
            "prediction": "Newman-Ziff on the exact coverage graph of the sites subsampling chooses from; "
                          "a dataset keeps max(1, round(lambda n)) sites",
            "versions": package_versions(),
        },
    )
    return ds
