"""The percolation test: does the outcome (default: out-of-distribution accuracy) rise where the training set
percolates, across bump widths?

:func:`percolation_test` takes a table of runs (dim ``run``; a collected study
is one), and per bump width sigma

- fits the same sigmoid (:mod:`~manifold_lens.percolation.sigmoid`) to the
  predicted largest-cluster ratio and to the outcome vs keep fraction lambda,
  both at the runs' keep fractions; each midpoint is that side's ``lambda_c``;
- gives each a profile-likelihood interval at ``level`` (95%;
  :mod:`~manifold_lens.percolation.intervals`): binomial quasi-likelihood of
  the runs' correct counts on the measured side (its ceiling bounded by the
  width's in-distribution accuracy), least squares over the runs' own
  training sets or Newman-Ziff passes on the predicted side; never narrower
  than the keep fractions that bracket the onset;
- leaves out runs that did not learn their training conditions
  (``accuracy_id`` < ``min_train_accuracy``) and judges no width below the
  minimum design (``min_keep_fractions`` x ``min_seeds``);

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
from .design import DESIGN_GRID, lattice_curves
from .graph import coverage_graph, dataset_percolation, largest_cluster
from .intervals import Onset, profile_onset
from .result import assemble
from .settings import PercolationTestSettings
from .sigmoid import SigmoidFit
from .table import run_table

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

def _design_shortfall(lam_runs, st) -> str:
    """Why a width's converged runs fall below the minimum design (empty when they do not)."""
    levels, counts = np.unique(lam_runs, return_counts=True)
    why = []
    if len(levels) < st.min_keep_fractions:
        why.append(f"{len(levels)} keep fractions (< {st.min_keep_fractions})")
    if len(counts) and np.median(counts) < st.min_seeds:
        why.append(f"{np.median(counts):g} converged runs per keep fraction (median, < {st.min_seeds})")
    return ("below the minimum design: " + ", ".join(why)) if why else ""


def _weights(table) -> tuple[np.ndarray | None, str]:
    """The binomial n of each run (None: equal weights) and where it came from."""
    n = table["n_scored"]
    if n is None:
        return None, table["n_source"]
    bad = ~(np.isfinite(n) & (n > 0))
    if bad.any():
        ids = ", ".join(str(v) for v in table["run_id"][bad][:5])
        return None, (f"missing for {int(bad.sum())} runs ({ids}: no evaluation counts); equal weights (the "
                      "dispersion is estimated from the runs)")
    return n, table["n_source"]


def percolation_test(runs: xr.Dataset, outcome: str = _T.default("outcome"),
                     threshold: float = _T.default("threshold"), overlap: str = _T.default("overlap"),
                     n_boot: int = _T.default("n_boot"), seed: int = _T.default("seed"), progress: bool = True, *,
                     level: float = _T.default("level"), trials: int = _T.default("trials"),
                     min_train_accuracy: float = _T.default("min_train_accuracy"),
                     min_keep_fractions: int = _T.default("min_keep_fractions"),
                     min_seeds: int = _T.default("min_seeds"), configs=None, run_stores=None) -> xr.Dataset:
    """Predicted vs measured onsets per bump width, with profile-likelihood intervals, regression, collapse and
    verdict.

    Args:
        runs: a table: Dataset with dim ``run``, per-run ``sigma`` (px),
            ``keep_fraction``, ``image_size`` (px), optional ``spacing`` (px,
            default 1), ``family`` and ``seed``, and the ``outcome`` variable
            (a fraction in [0, 1]); optional per-run ``accuracy_id`` (the
            convergence rule and the ceiling), ``scored_ood`` / ``scored_id``
            (samples scored: the binomial n), ``run_config`` (the run's
            resolved config, JSON) and ``run_store`` (its path), as a collected
            study holds them. Runs not done, with a NaN outcome or not
            converged are left out, each with its reason.
        outcome: the per-run variable whose onset is measured (default
            ``accuracy_ood``: overall accuracy rises with lambda by memorisation).
        threshold, overlap: when two training images connect (``pixel`` overlaps
            of the rendered images, or ``continuum``).
        n_boot, seed: draws of each onset from its profile (for the regression
            across widths) and their seed (same seed, same result).
        level: confidence level of the intervals (0.95).
        trials: Newman-Ziff passes of an ensemble prediction.
        min_train_accuracy: a run enters when its accuracy_id reaches this.
        min_keep_fractions, min_seeds: the minimum design of a width for the
            verdict (keep fractions; converged runs per keep fraction, median).
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
            seed=seed, min_train_accuracy=min_train_accuracy, min_keep_fractions=min_keep_fractions,
            min_seeds=min_seeds).check()
    threshold, overlap, n_boot, seed = float(st.threshold), st.overlap, st.n_boot, st.seed
    table = run_table(runs, outcome, configs, run_stores, min_train_accuracy=float(st.min_train_accuracy))
    unlearned = ""
    if len(table["index"]) == 0 and table["excluded"]:  # no run learned: show their onsets, judge none
        table = run_table(runs, outcome, configs, run_stores)
        unlearned = (f"no run converged (accuracy_id >= {st.min_train_accuracy:g}): onsets of runs that did not "
                     "learn their training conditions are shown, not judged (train longer, e.g. train.until_accuracy)")
    if len(table["index"]) == 0:
        raise ConfigError(f"runs: none has a finite {outcome} and status done; collect a study whose runs finished")
    own = bool(table["paths"])
    cluster = _own_clusters(table, threshold, overlap, progress) if own else np.full(len(table["index"]), np.nan)
    rng_meas, rng_pred, rng_lat = (np.random.default_rng([int(seed), k]) for k in range(3))
    weights, weight_source = _weights(table)
    sigmas = np.unique(table["sigma"])
    grid = DESIGN_GRID
    per: dict[str, list] = {k: [] for k in ("pred", "meas", "pred_status", "meas_status", "n_keep", "n_runs",
                                            "curve", "complete", "source", "design", "excluded", "ceiling_max")}
    for s in tqdm(sigmas, desc="percolation test", unit="sigma", disable=not progress):
        members = np.flatnonzero(table["sigma"] == s)
        _check_width(table, members, s)
        lam_runs = table["keep_fraction"][members]
        levels = np.unique(lam_runs)
        acc_id = table["accuracy_id"]
        cmax = (float(np.nanmean(acc_id[members])) if acc_id is not None and outcome != "accuracy_id"
                and np.isfinite(acc_id[members]).any() else 1.0)
        meas = profile_onset(lam_runs, table["outcome"][members], None if weights is None else weights[members],
                             kind="binomial", ceiling_max=cmax, level=st.level, n_draws=n_boot, rng=rng_meas)
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
            pred = profile_onset(lam_runs, cluster[members], kind="gaussian", level=st.level, n_draws=n_boot,
                                 rng=rng_pred)
            complete = bool(np.all(cluster[members] >= COMPLETE))
            source = "the runs' own training sets"
        elif curves is None:
            pred = Onset(SigmoidFit(np.nan, np.nan, np.nan, np.nan, why), np.nan, np.nan, (np.nan, np.nan),
                         np.full(n_boot, np.nan), np.nan, 0)
            complete, source = True, "none"
        else:
            pred = profile_onset(np.repeat(levels, at_levels.shape[1]), at_levels.ravel(), kind="gaussian",
                                 level=st.level, n_draws=n_boot, rng=rng_pred)
            complete = bool(np.all(at_levels >= COMPLETE))
            source = (f"ensemble of {st.trials} Newman-Ziff passes at the runs' keep fractions" + (
                " (the runs share one training set per keep fraction: fix data.seed per seed to use them)"
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
        per["design"].append(unlearned or _design_shortfall(lam_runs, st))
        per["excluded"].append("; ".join(r for sx, r in table["excluded"] if sx == s))
        per["ceiling_max"].append(cmax)
    for sx, _ in table["excluded"]:  # widths whose every run was left out
        if not np.any(sigmas == sx) and np.isfinite(sx):
            table["dropped"].append(f"sigma {sx:g} px: no converged run")
    table["dropped"] += [r for _, r in table["excluded"]]
    return assemble(table, sigmas, per, cluster, grid, own, st, weight_source)
