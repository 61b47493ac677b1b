"""The percolation test's result: per-width onsets, intervals, the regression, the collapse and the verdict as
one Dataset (what :func:`~manifold_lens.percolation.percolation_test` returns and a study stores)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..versions import package_versions
from .crosswidth import collapse, regression
from .intervals import METHOD
from .settings import PercolationTestSettings
from .sigmoid import FORMULA, MIN_RISE, interval, sigmoid
from .verdict import judge


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


def assemble(table, sigmas, per, cluster, grid, own, st: PercolationTestSettings, weight_source: str) -> xr.Dataset:
    """The test's Dataset from the per-width onsets ``per`` (lists over ``sigmas``) and the table of runs."""
    outcome, n_boot, seed, pct = st.outcome, st.n_boot, st.seed, f"{100 * st.level:g}%"
    pred, meas = per["pred"], per["meas"]
    pc = np.array([p.fit.lambda_c for p in pred])
    mc = np.array([m.fit.lambda_c for m in meas])
    pboot = np.array([p.draws if len(p.draws) == n_boot else np.full(n_boot, np.nan) for p in pred])
    mboot = np.array([m.draws for m in meas])
    design = per["design"]
    usable = np.isfinite(pc) & np.isfinite(mc) & np.array([not d for d in design], bool)
    reg = regression(pc[usable], mc[usable], pboot[usable], mboot[usable])
    group = np.searchsorted(sigmas, table["sigma"])
    col = collapse(cluster, table["keep_fraction"], group, table["outcome"], seed=seed)
    status = ["; ".join([f"{side}: {x}" for side, x in (("predicted", ps), ("measured", ms)) if x != "ok"]
                        + ([d] if d else [])) or "ok"
              for ps, ms, d in zip(per["pred_status"], per["meas_status"], design)]
    slope_iv, intercept_iv = interval(reg.slope_boot, st.level), interval(reg.intercept_boot, st.level)
    pint = np.array([[p.low, p.high] for p in pred])
    mint = np.array([[m.low, m.high] for m in meas])
    pint[~usable & ~np.isfinite(pc)] = np.nan
    verdict, reason, overlap_ok = judge(sigmas, pc, mc, pint, mint, status, per["complete"], per["n_keep"],
                                        reg.slope, slope_iv, reg.intercept, intercept_iv, outcome, level=st.level,
                                        design=design)
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
            "lambda_c_predicted_interval": (("sigma", "bound"), pint, {**one, "long_name": f"{pct} profile-likelihood "
                                                                       "interval of the predicted onset"}),
            "lambda_c_measured_interval": (("sigma", "bound"), mint, {**one, "long_name": f"{pct} profile-likelihood "
                                                                      "interval of the measured onset"}),
            "lambda_c_predicted_bracket": (("sigma", "bound"), [list(p.bracket) for p in pred], {
                **one, "long_name": "adjacent keep fractions the predicted onset lies between"}),
            "lambda_c_measured_bracket": (("sigma", "bound"), [list(m.bracket) for m in meas], {
                **one, "long_name": "adjacent keep fractions the measured onset lies between"}),
            "measured_dispersion": ("sigma", [m.dispersion for m in meas], {
                **one, "long_name": "quasi-binomial dispersion of the runs around the measured fit"}),
            "design_shortfall": ("sigma", np.array(design, dtype=object), {
                "long_name": "why the width is below the minimum design (empty: it is not)"}),
            "excluded": ("sigma", np.array(per["excluded"], dtype=object), {
                "long_name": "runs left out at this width (not converged), with their reasons"}),
            "n_excluded": ("sigma", [len([r for r in e.split("; ") if r]) for e in per["excluded"]], {
                **one, "long_name": "runs left out (not converged)"}),
            "ceiling_max": ("sigma", per["ceiling_max"], {
                **one, "long_name": "upper bound of the outcome's ceiling (mean accuracy_id of the converged runs)"}),
            "status": ("sigma", np.array(status, dtype=object), {"long_name": "ok, or why a width has no onset"}),
            "predicted_status": ("sigma", np.array(per["pred_status"], dtype=object)),
            "measured_status": ("sigma", np.array(per["meas_status"], dtype=object)),
            "intervals_overlap": ("sigma", overlap_ok, {"long_name": "predicted and measured intervals overlap"}),
            "complete_graph": ("sigma", np.array(per["complete"]), {"long_name": "coverage graph complete"}),
            "n_keep_fractions": ("sigma", per["n_keep"], {**one, "long_name": "distinct keep fractions"}),
            "n_runs": ("sigma", per["n_runs"], {**one, "long_name": "runs used"}),
            "prediction_source": ("sigma", np.array(per["source"], dtype=object), {
                "long_name": "realisations the predicted onset is estimated from"}),
            "predicted_floor": params(pfit, "floor", "predicted sigmoid floor"),
            "predicted_ceiling": params(pfit, "ceiling", "predicted sigmoid ceiling"),
            "predicted_width": params(pfit, "width", "predicted sigmoid width"),
            "measured_floor": params(mfit, "floor", "measured sigmoid floor"),
            "measured_ceiling": params(mfit, "ceiling", "measured sigmoid ceiling"),
            "measured_width": params(mfit, "width", "measured sigmoid width"),
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
            "prediction": ("per width (prediction_source), at the runs' own keep fractions: each run's own training "
                           "set (coverage graph of its run store); or an ensemble of Newman-Ziff passes (exact "
                           "coverage graph of the runs' configs where given, else the image's lattice); the drawn "
                           "curve (predicted_curve) is finer and not used for the estimate"),
            "measurement": f"{outcome} of each converged run, k correct of n scored (binomial n: {weight_source})",
            "convergence": table["convergence"],
            "ceiling": "the outcome's ceiling is bounded by the width's mean accuracy_id of its converged runs",
            "minimum_design": f">= {st.min_keep_fractions} keep fractions and >= {st.min_seeds} converged runs per "
                              "keep fraction (median) per width, else the width gives no verdict",
            "intervals": f"{pct} {METHOD}",
            "interval_method": "profile_likelihood",
            "regression": "measured = intercept + slope x predicted, errors in both (standard errors of the onset "
                          "draws), minimising sum (y - a - b x)^2 / (sy^2 + b^2 sx^2); intervals: the fit repeated on "
                          "each draw of the onsets (drawn from each width's profile likelihood, widths paired by "
                          "draw index), percentiles",
            "collapse_method": "10-fold cross-validated Bernoulli log-likelihood per run, one monotone curve in "
                               "predicted cluster size vs one monotone curve in lambda per width",
            "dropped_runs": len(table["dropped"]), "dropped": table["dropped"],
            "versions": package_versions(),
        },
    )
    return ds
