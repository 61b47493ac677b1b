"""The percolation test: does the outcome (default: out-of-distribution accuracy) rise where the training set
percolates, across bump widths?

:func:`percolation_test` takes a table of runs (dim ``run``; a collected study
is one), and per bump width sigma

- fits the same sigmoid (:mod:`~manifold_lens.percolation.sigmoid`) to the
  predicted largest-cluster ratio vs keep fraction lambda and to the outcome
  vs lambda; each midpoint is that side's ``lambda_c``;
- bootstraps both: the measured side resamples runs (seeds) within each keep
  fraction, the predicted side resamples lattice realisations (the runs' own
  training sets when their run stores are at hand, else Newman-Ziff passes
  over the lattice or the exact coverage graph of the runs' configs);
  percentile intervals at ``level`` (95%);

then across widths regresses measured on predicted onsets with errors in both
(:mod:`~manifold_lens.percolation.crosswidth`), checks whether the outcome
collapses onto one curve of predicted cluster size, and gives a verdict
(:mod:`~manifold_lens.percolation.verdict`). Its settings, defaults and
checks are :class:`~manifold_lens.percolation.settings.PercolationTestSettings`.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..config import RunConfig
from ..errors import ConfigError
from ..stores import open_run
from ..versions import package_versions
from .crosswidth import collapse, regression
from .design import DESIGN_GRID, lattice_curves
from .graph import coverage_graph, dataset_percolation, largest_cluster
from .settings import PercolationTestSettings
from .sigmoid import FORMULA, MIN_RISE, Bootstrap, SigmoidFit, bootstrap_curves, bootstrap_onsets, interval, sigmoid
from .table import run_table
from .verdict import judge

_T = PercolationTestSettings
PLOT_TRIALS = 20      # passes of the ensemble curve drawn beside own-training-set predictions
COMPLETE = 0.999      # a largest-cluster ratio this high at every keep fraction: the coverage graph is complete
BUMP_FAMILIES = ("bump", "periodic")


# -- the predicted side -------------------------------------------------------------------------

def _own_clusters(table, threshold, overlap, progress) -> np.ndarray:
    """Largest-cluster ratio of each run's own training set: the collected value where its threshold and overlap
    match, else from the run store's dataset."""
    stored = table["stored_cluster"]
    if (stored is not None and np.all(np.isfinite(stored)) and overlap == "pixel"
            and table["stored_threshold"] is not None and float(table["stored_threshold"]) == float(threshold)):
        return stored
    out = np.empty(len(table["paths"]))
    for k, p in enumerate(tqdm(table["paths"], desc="training sets", unit="run", disable=not progress)):
        ds = open_run(p).dataset
        kept = len(ds.train_index)
        out[k] = largest_cluster(coverage_graph(ds, threshold, overlap)).size / kept if kept else np.nan
    return out


def _ensemble(table, members, lam, threshold, overlap, trials, rng) -> tuple[np.ndarray | None, str]:
    """Largest-cluster ratio (len(lam), trials) of the width's lattice (or exact coverage graph when the run
    config is given), or (None, why) where there is no lattice of bumps."""
    first = members[0]
    cfg = table["configs"][first]
    if cfg:
        full = RunConfig.from_dict(cfg).with_overrides({"data.keep_fraction": 1.0, "data.keep_fractions": {}})
        p = dataset_percolation(full, keep_fractions=lam, trials=trials, threshold=threshold, overlap=overlap,
                                seed=int(rng.integers(2**31)), progress=False)
        return p["largest_cluster_ratio"].values, ""
    family = str(table["family"][first])
    if family not in BUMP_FAMILIES:
        return None, (f"family {family}: not a lattice of bumps (stripes overlap any two images), the coverage graph "
                      "is complete: percolation predicts no onset")
    curves, _ = lattice_curves(float(table["sigma"][first]), int(table["image_size"][first]),
                               float(table["spacing"][first]), threshold, overlap, lam, trials, rng)
    return curves, ""


def _distinct_training_sets(table, members, lam_runs, cluster) -> int:
    """Fewest distinct training sets at one keep fraction of a width: distinct data.seed values where the
    run configs give them, else distinct largest-cluster ratios."""
    counts = []
    for v in np.unique(lam_runs):
        at = members[lam_runs == v]
        cfgs = [table["configs"][k] for k in at]
        if all(cfgs):
            counts.append(len({json.dumps((c.get("data") or {}).get("seed")) for c in cfgs}))
        else:
            counts.append(len(np.unique(cluster[at])))
    return min(counts)


def _check_width(table, members, s) -> None:
    for key in ("image_size", "spacing"):
        vals = np.unique(table[key][members])
        if len(vals) > 1:
            raise ConfigError(f"runs at sigma = {s:g} px differ in {key} ({', '.join(f'{v:g}' for v in vals)}): "
                              "test runs that differ only in sigma, keep_fraction and seed (select them first)")


# -- the test ---------------------------------------------------------------------------------------

def percolation_test(runs: xr.Dataset, outcome: str = _T.default("outcome"),
                     threshold: float = _T.default("threshold"), overlap: str = _T.default("overlap"),
                     n_boot: int = _T.default("n_boot"), seed: int = _T.default("seed"), progress: bool = True, *,
                     level: float = _T.default("level"), trials: int = _T.default("trials"),
                     configs=None, run_stores=None) -> xr.Dataset:
    """Predicted vs measured onsets per bump width, with bootstrap intervals, regression, collapse and verdict.

    Args:
        runs: a table: Dataset with dim ``run``, per-run ``sigma`` (px),
            ``keep_fraction``, ``image_size`` (px), optional ``spacing`` (px,
            default 1), ``family`` and ``seed``, and the ``outcome`` variable
            (a fraction in [0, 1]); optional per-run ``run_config`` (the run's
            resolved config, JSON) and ``run_store`` (its path), as a collected
            study holds them. Runs not done or with a NaN outcome are dropped.
        outcome: the per-run variable whose onset is measured (default
            ``accuracy_ood``: overall accuracy rises with lambda by memorisation).
        threshold, overlap: when two training images connect (``pixel`` overlaps
            of the rendered images, or ``continuum``).
        n_boot, seed: bootstrap resamples and their seed (same seed, same result).
        level: confidence level of the percentile intervals (0.95).
        trials: Newman-Ziff passes of an ensemble prediction.
        configs: run id -> the run's resolved config (a dict; completes or
            replaces ``run_config``): values the table lacks, and the exact
            coverage graph of the ensemble prediction.
        run_stores: run id -> run store (completes or replaces ``run_store``):
            predictions from each run's own training set (used when every
            kept run has one).

    Returns a Dataset with dims ``sigma``, ``bound`` (low, high), ``run``,
    ``lambda_grid``, ``cluster_grid`` and ``replicate``; ``attrs["verdict"]`` is
    consistent, inconsistent or insufficient, ``attrs["reason"]`` says why.
    """
    st = _T(outcome=outcome, threshold=threshold, overlap=overlap, n_boot=n_boot, level=level, trials=trials,
            seed=seed).check()
    threshold, overlap, n_boot, seed = float(st.threshold), st.overlap, st.n_boot, st.seed
    table = run_table(runs, outcome, configs, run_stores)
    if len(table["index"]) == 0:
        raise ConfigError(f"runs: none has a finite {outcome} and status done; collect a study whose runs finished")
    own = bool(table["paths"])
    cluster = _own_clusters(table, threshold, overlap, progress) if own else np.full(len(table["index"]), np.nan)
    rng_meas, rng_pred, rng_lat = (np.random.default_rng([int(seed), k]) for k in range(3))
    sigmas = np.unique(table["sigma"])
    grid = DESIGN_GRID
    per: dict[str, list] = {k: [] for k in ("pred", "meas", "pred_status", "meas_status", "n_keep", "n_runs",
                                            "curve", "complete", "source")}
    for s in tqdm(sigmas, desc="percolation test", unit="sigma", disable=not progress):
        members = np.flatnonzero(table["sigma"] == s)
        _check_width(table, members, s)
        lam_runs = table["keep_fraction"][members]
        levels = np.unique(lam_runs)
        meas = bootstrap_onsets(lam_runs, table["outcome"][members], n_boot, rng_meas, level=st.level)
        use_own = own and _distinct_training_sets(table, members, lam_runs, cluster) >= 2
        at = np.union1d(levels, grid)
        curves, why = _ensemble(table, members, at, threshold, overlap, PLOT_TRIALS if use_own else st.trials,
                                rng_lat)
        curve = np.full(len(grid), np.nan)
        if curves is not None:
            curve = curves[np.isin(at, grid)].mean(1)
            at_levels = curves[np.isin(at, levels)]
            if not own:
                cluster[members] = at_levels.mean(1)[np.searchsorted(levels, lam_runs)]
        if use_own:
            pred = bootstrap_onsets(lam_runs, cluster[members], n_boot, rng_pred, level=st.level)
            complete = bool(np.all(cluster[members] >= COMPLETE))
            source = "the runs' own training sets"
        elif curves is None:
            pred = Bootstrap(SigmoidFit(np.nan, np.nan, np.nan, np.nan, why), np.full(n_boot, np.nan), np.nan,
                             np.nan, 1.0)
            complete, source = True, "none"
        else:
            pred = bootstrap_curves(levels, at_levels, n_boot, rng_pred, level=st.level)
            complete = bool(np.all(at_levels >= COMPLETE))
            source = (f"ensemble of {st.trials} Newman-Ziff passes" + (
                " (the runs share one training set per keep fraction: fix data.seed per seed to bootstrap them)"
                if own else ""))
        pstatus = pred.fit.status
        if complete:
            pstatus = why or ("coverage graph complete: every kept site is in the largest cluster at every keep "
                              "fraction (e.g. SOS stripes): percolation predicts no onset")
            pred = pred._replace(fit=pred.fit._replace(lambda_c=np.nan, status=pstatus), low=np.nan, high=np.nan)
        per["pred"].append(pred)
        per["meas"].append(meas)
        per["pred_status"].append(pstatus)
        per["meas_status"].append(meas.fit.status)
        per["n_keep"].append(len(levels))
        per["n_runs"].append(len(members))
        per["curve"].append(curve)
        per["complete"].append(complete)
        per["source"].append(source)
    return _assemble(table, sigmas, per, cluster, grid, own, st)


def _fit_curve(fit, x):
    if not np.isfinite(fit.floor):
        return np.full(len(x), np.nan)
    return sigmoid(x, fit.floor, fit.ceiling, fit.lambda_c if np.isfinite(fit.lambda_c) else np.nan, fit.width)


def _curve_on(curve, x):
    """The monotone collapse curve at x, NaN outside its range of cluster sizes."""
    ux, fy = curve
    if len(ux) == 0:
        return np.full(len(x), np.nan)
    return np.where((x >= ux[0]) & (x <= ux[-1]), np.interp(x, ux, fy), np.nan)


def _assemble(table, sigmas, per, cluster, grid, own, st: PercolationTestSettings) -> xr.Dataset:
    outcome, n_boot, seed, pct = st.outcome, st.n_boot, st.seed, f"{100 * st.level:g}%"
    pred, meas = per["pred"], per["meas"]
    pc = np.array([p.fit.lambda_c for p in pred])
    mc = np.array([m.fit.lambda_c for m in meas])
    pboot = np.array([p.replicates if len(p.replicates) == n_boot else np.full(n_boot, np.nan) for p in pred])
    mboot = np.array([m.replicates for m in meas])
    usable = np.isfinite(pc) & np.isfinite(mc)
    reg = regression(pc[usable], mc[usable], pboot[usable], mboot[usable])
    group = np.searchsorted(sigmas, table["sigma"])
    col = collapse(cluster, table["keep_fraction"], group, table["outcome"], seed=seed)
    status = [("ok" if ps == "ok" and ms == "ok" else
               "; ".join(f"{side}: {st}" for side, st in (("predicted", ps), ("measured", ms)) if st != "ok"))
              for ps, ms in zip(per["pred_status"], per["meas_status"])]
    slope_iv, intercept_iv = interval(reg.slope_boot, st.level), interval(reg.intercept_boot, st.level)
    pint = np.array([[p.low, p.high] for p in pred])
    mint = np.array([[m.low, m.high] for m in meas])
    verdict, reason, overlap_ok = judge(sigmas, pc, mc, pint, mint, status, per["complete"], per["n_keep"],
                                        reg.slope, slope_iv, reg.intercept, intercept_iv, outcome, level=st.level)
    if verdict == "insufficient":  # no onsets to compare: a collapse says nothing either
        col = col._replace(collapse="undetermined")
    cgrid = np.round(np.linspace(0, 1, 101), 2)
    one = {"units": "1"}
    pfit = [p.fit for p in pred]
    mfit = [m.fit for m in meas]

    def params(fits, name, long):
        return ("sigma", [getattr(f, name) for f in fits], {**one, "long_name": long})

    ds = xr.Dataset(
        {
            "lambda_c_predicted": ("sigma", pc, {**one, "long_name": "predicted onset lambda_c",
                                                 "description": "midpoint of the sigmoid fitted to the predicted "
                                                                "largest-cluster ratio vs keep fraction"}),
            "lambda_c_measured": ("sigma", mc, {**one, "long_name": f"measured onset lambda_c ({outcome})",
                                                "description": f"midpoint of the sigmoid fitted to {outcome} vs "
                                                               "keep fraction"}),
            "lambda_c_predicted_interval": (("sigma", "bound"), pint, {**one, "long_name": f"{pct} bootstrap "
                                                                       "interval of the predicted onset"}),
            "lambda_c_measured_interval": (("sigma", "bound"), mint, {**one, "long_name": f"{pct} bootstrap "
                                                                      "interval of the measured onset"}),
            "status": ("sigma", np.array(status, dtype=object), {"long_name": "ok, or why a width has no onset"}),
            "predicted_status": ("sigma", np.array(per["pred_status"], dtype=object)),
            "measured_status": ("sigma", np.array(per["meas_status"], dtype=object)),
            "intervals_overlap": ("sigma", overlap_ok, {"long_name": "predicted and measured intervals overlap"}),
            "complete_graph": ("sigma", np.array(per["complete"]), {"long_name": "coverage graph complete"}),
            "n_keep_fractions": ("sigma", per["n_keep"], {**one, "long_name": "distinct keep fractions"}),
            "n_runs": ("sigma", per["n_runs"], {**one, "long_name": "runs used"}),
            "prediction_source": ("sigma", np.array(per["source"], dtype=object), {
                "long_name": "realisations the predicted onset is bootstrapped over"}),
            "predicted_floor": params(pfit, "floor", "predicted sigmoid floor"),
            "predicted_ceiling": params(pfit, "ceiling", "predicted sigmoid ceiling"),
            "predicted_width": params(pfit, "width", "predicted sigmoid width"),
            "measured_floor": params(mfit, "floor", "measured sigmoid floor"),
            "measured_ceiling": params(mfit, "ceiling", "measured sigmoid ceiling"),
            "measured_width": params(mfit, "width", "measured sigmoid width"),
            "bootstrap_failed_predicted": ("sigma", [p.failed for p in pred], {**one, "long_name": "share of "
                                                                               "resamples without an onset"}),
            "bootstrap_failed_measured": ("sigma", [m.failed for m in meas], {**one, "long_name": "share of "
                                                                              "resamples without an onset"}),
            "outcome": ("run", table["outcome"], {**one, "long_name": outcome}),
            "predicted_cluster": ("run", cluster, {**one, "long_name": "predicted largest cluster over kept sites",
                                                   "description": "the run's own training set" if own else
                                                   "ensemble mean at the run's keep fraction"}),
            "predicted_curve": (("sigma", "lambda_grid"), np.array(per["curve"]), {
                **one, "long_name": "mean predicted largest-cluster ratio (Newman-Ziff passes)"}),
            "predicted_fit": (("sigma", "lambda_grid"), np.array([_fit_curve(f, grid) for f in pfit]),
                              {**one, "long_name": "sigmoid fitted to the predicted largest-cluster ratio"}),
            "outcome_fit": (("sigma", "lambda_grid"), np.array([_fit_curve(f, grid) for f in mfit]),
                            {**one, "long_name": f"sigmoid fitted to {outcome}"}),
            "lambda_c_predicted_boot": (("sigma", "replicate"), pboot, one),
            "lambda_c_measured_boot": (("sigma", "replicate"), mboot, one),
            "slope": ((), reg.slope, {**one, "long_name": "slope of measured on predicted lambda_c"}),
            "intercept": ((), reg.intercept, {**one, "long_name": "intercept of measured on predicted lambda_c"}),
            "slope_interval": ("bound", list(slope_iv), one),
            "intercept_interval": ("bound", list(intercept_iv), one),
            "slope_boot": ("replicate", reg.slope_boot, one),
            "intercept_boot": ("replicate", reg.intercept_boot, one),
            "collapse_loglik_single": ((), col.loglik_single, {
                "units": "nats per run", "long_name": "cross-validated log-likelihood: one curve in cluster size"}),
            "collapse_loglik_separate": ((), col.loglik_separate, {
                "units": "nats per run", "long_name": "cross-validated log-likelihood: one curve in lambda per width"}),
            "collapse": ((), col.collapse, {"long_name": "outcome follows one curve of predicted cluster size"}),
            "collapse_curve": ("cluster_grid", _curve_on(col.curve, cgrid), {
                **one, "long_name": f"monotone fit of {outcome} in predicted cluster size (all widths)"}),
        },
        coords={
            "sigma": ("sigma", sigmas, {"units": "px", "long_name": "bump width"}),
            "bound": ("bound", ["low", "high"]),
            "run": ("run", np.arange(len(table["outcome"]))),
            "run_id": ("run", table["run_id"]),
            "run_sigma": ("run", table["sigma"], {"units": "px"}),
            "run_keep_fraction": ("run", table["keep_fraction"], one),
            "run_seed": ("run", np.asarray(table["seed"]).astype(np.int64)),
            "lambda_grid": ("lambda_grid", grid, {**one, "long_name": "keep fraction lambda"}),
            "cluster_grid": ("cluster_grid", cgrid, one),
            "replicate": ("replicate", np.arange(n_boot)),
        },
        attrs={
            "description": "percolation test: predicted vs measured onsets per bump width",
            "verdict": verdict, "reason": reason, **st.attrs(), "onset_model": FORMULA, "min_rise": MIN_RISE,
            "prediction": ("per width (prediction_source): each run's own training set (coverage graph of its run "
                           "store), bootstrap over runs within each keep fraction; or an ensemble of Newman-Ziff "
                           "passes at the runs' keep fractions (exact coverage graph of the runs' configs where given, "
                           "else the image's lattice), bootstrap over passes"),
            "measurement": f"{outcome} of each run; bootstrap over runs (seeds) within each keep fraction",
            "intervals": f"{pct} percentile intervals of the bootstrap replicates",
            "regression": "measured = intercept + slope x predicted, errors in both (bootstrap standard errors), "
                          "minimising sum (y - a - b x)^2 / (sy^2 + b^2 sx^2); intervals: the fit repeated on each "
                          "bootstrap replicate of the onsets (widths paired by replicate index), percentiles",
            "collapse_method": "10-fold cross-validated Bernoulli log-likelihood per run, one monotone curve in "
                               "predicted cluster size vs one monotone curve in lambda per width",
            "dropped_runs": len(table["dropped"]), "dropped": table["dropped"],
            "versions": package_versions(),
        },
    )
    return ds
