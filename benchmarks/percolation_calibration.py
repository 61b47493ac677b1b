"""Calibration of the percolation test on synthetic study tables with known answers.

The tables come from a simulation written independently of the package's
kernels: Gaussian bumps rendered on the 16 x 16 pixel lattice (centres on the
pixels, spacing 1 px), their cosine overlaps (two sites connect when the
overlap of their rendered images is >= 0.005), each run's training set a
random subset of round(lambda x 256) sites and its largest cluster from
``scipy.sparse.csgraph.connected_components``. Per run (width, keep fraction,
seed: its own training set):

- ``consistent``: accuracy_ood ~ Binomial(n, 0.1 + 0.85 x the run's largest-cluster ratio) / n with
  n = unsampled sites x samples per condition (``scored_ood``);
- ``shift+0.1`` / ``shift+0.2``: the same with the cluster ratio of a training set drawn at lambda - shift
  (the onset sits 0.1 / 0.2 later than percolation predicts);
- ``memorising``: accuracy_ood at chance (0.02; the training sites are learned, nothing else);
- ``flat``: accuracy_ood 0.5 at every keep fraction.

accuracy_id ~ Binomial(kept x samples, 0.95); one run in 20 has not learned
(accuracy_id ~ 0.6, its OOD accuracy halved): the test must leave it out.

Designs: ``cpu`` and ``paper`` (the keep fractions of data/studies/percolation.toml's scales, 2 and 3 seeds, 2 and 4
samples per condition; the paper scale's 32 x 32 widths are simulated on 16 x 16, where their onsets are nearly the
same), ``design`` (``percolate design --keep 8`` for sigma 0.5 / 0.6 / 0.7, 3 seeds, 2 samples) and ``refine``
(``design`` refined as ``study refine`` does: while a width's measured or predicted interval is wider than 0.05 and
the budget (twice the initial runs) allows, add the midpoint between the two keep fractions that bracket the onset
and run it at one more seed than the width has).

The true onset is the sigmoid midpoint of this simulation's mean largest-cluster curve (150 realisations per keep
fraction, least squares on 0.01 .. 1; plus the shift); coverage is the share of widths with an onset whose 95%
interval contains it. Prints per scenario and design the verdict rates, the coverage of the measured and predicted
intervals and the median measured interval width.

    python benchmarks/percolation_calibration.py [--reps 100] [--designs cpu,paper,design,refine] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.optimize import curve_fit
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

SIDE = 16
THRESHOLD = 0.005
SIGMAS = (0.5, 0.6, 0.7)
SCENARIOS = ("consistent", "shift+0.1", "shift+0.2", "memorising", "flat")
CPU = {0.5: [0.08, 0.24, 0.32, 0.48], 0.6: [0.05, 0.16, 0.22, 0.36], 0.7: [0.05, 0.1, 0.13, 0.22]}
PAPER = {0.4: [0.03, 0.21, 0.33, 0.4, 0.41, 0.47, 0.58, 0.75], 0.5: [0.03, 0.15, 0.24, 0.28, 0.29, 0.37, 0.52, 0.75],
         0.6: [0.03, 0.11, 0.16, 0.19, 0.2, 0.3, 0.48, 0.75], 0.7: [0.03, 0.07, 0.1, 0.11, 0.12, 0.23, 0.44, 0.75]}
TARGET_WIDTH = 0.05
NOT_LEARNED = 0.05  # share of runs that do not learn their training set


# -- the independent simulation ----------------------------------------------------------------------

def adjacency(sigma: float) -> np.ndarray:
    """Sites (SIDE^2) x sites: rendered bumps' cosine overlap >= THRESHOLD (self excluded)."""
    c = np.arange(SIDE, dtype=np.float64)
    g = np.exp(-((c[None, :] - c[:, None]) ** 2) / (2 * sigma**2))  # (centre, pixel) profile
    img = (g[:, None, :, None] * g[None, :, None, :]).reshape(SIDE * SIDE, -1)  # site (y, x) -> pixels (v, u)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    adj = img @ img.T >= THRESHOLD
    np.fill_diagonal(adj, False)
    return adj


def cluster_ratio(adj: np.ndarray, lam: float, rng) -> float:
    n = adj.shape[0]
    kept = max(1, int(round(lam * n)))
    idx = rng.choice(n, kept, replace=False)
    _, lab = connected_components(csr_matrix(adj[np.ix_(idx, idx)]), directed=False)
    return np.bincount(lab).max() / kept


def _logistic(x, f, c, m, w):
    return f + (c - f) / (1 + np.exp(-(x - m) / w))


def true_onset(adj, rng, reps: int = 150) -> float:
    lam = np.round(np.arange(1, 101) / 100, 2)
    mean = np.array([np.mean([cluster_ratio(adj, v, rng) for _ in range(reps)]) for v in lam])
    p, _ = curve_fit(_logistic, lam, mean, p0=[0.05, 1, lam[np.argmin(np.abs(mean - 0.5))], 0.05], maxfev=20000)
    return float(p[2])


def outcome(scenario: str, adj, lam: float, rng) -> float:
    """The run's expected OOD accuracy."""
    if scenario == "memorising":
        return 0.02
    if scenario == "flat":
        return 0.5
    shift = float(scenario.split("+")[1]) if "+" in scenario else 0.0
    return 0.1 + 0.85 * cluster_ratio(adj, max(lam - shift, 0.01), rng)


def table(scenario, design: dict, seeds: dict, spc: int, adjs, rng) -> xr.Dataset:
    """One synthetic study table: per width, keep fraction and seed one run."""
    rows = []
    for s, lams in design.items():
        for lam in lams:
            for sd in range(seeds[s][lam] if isinstance(seeds[s], dict) else seeds[s]):
                kept = max(1, int(round(lam * SIDE * SIDE)))
                p = outcome(scenario, adjs[s], lam, rng)
                learned = rng.random() >= NOT_LEARNED
                n_id, n_ood = kept * spc, (SIDE * SIDE - kept) * spc
                acc_id = rng.binomial(n_id, 0.95 if learned else 0.6) / n_id
                acc_ood = rng.binomial(n_ood, p if learned else p / 2) / n_ood
                rows.append((s, lam, sd, acc_ood, acc_id, n_ood, n_id))
    a = np.array(rows)
    n = len(a)
    return xr.Dataset({"accuracy_ood": ("run", a[:, 3]), "accuracy_id": ("run", a[:, 4]),
                       "scored_ood": ("run", a[:, 5]), "scored_id": ("run", a[:, 6])},
                      coords={"sigma": ("run", a[:, 0]), "keep_fraction": ("run", a[:, 1]),
                              "seed": ("run", a[:, 2].astype(int)), "image_size": ("run", np.full(n, SIDE))})


# -- the test and the refine loop ---------------------------------------------------------------------

def run_test(t, n_boot, seed):
    from manifold_lens.percolation import percolation_test

    return percolation_test(t, n_boot=n_boot, seed=seed, progress=False, trials=50)


def refine(scenario, design, adjs, spc, rng, n_boot, seed):
    """The design refined until every width's intervals are <= TARGET_WIDTH or the budget is spent."""
    design = {s: list(v) for s, v in design.items()}
    seeds = {s: {lam: 3 for lam in v} for s, v in design.items()}
    budget = 2 * sum(len(v) * 3 for v in design.values())
    runs = [(s, lam, sd) for s in design for lam in design[s] for sd in range(3)]
    t = table(scenario, design, seeds, spc, adjs, rng)
    r = run_test(t, n_boot, seed)
    while True:
        added = False
        for k, s in enumerate(r.sigma.values):
            if s not in design:
                continue
            more = {}
            for side in ("measured", "predicted"):
                iv = r[f"lambda_c_{side}_interval"].values[k]
                br = r[f"lambda_c_{side}_bracket"].values[k]
                if np.all(np.isfinite(iv)) and iv[1] - iv[0] > TARGET_WIDTH and np.all(np.isfinite(br)) \
                        and br[1] - br[0] > 0.01:
                    mid = round(float(br.mean()), 3)
                    if mid not in design[s]:
                        more[mid] = 1 + max(seeds[s].values())
            cost = sum(more.values())
            if more and len(runs) + cost <= budget:
                for mid, n in more.items():
                    design[s].append(mid)
                    seeds[s][mid] = n
                    runs += [(s, mid, sd) for sd in range(n)]
                added = True
        if not added:
            return r
        # the new runs only: simulate the whole table again with the same generator (runs are independent draws)
        t = table(scenario, {s: sorted(v) for s, v in design.items()}, seeds, spc, adjs, rng)
        r = run_test(t, n_boot, seed)


def new_design(sigmas):
    from manifold_lens.percolation import design_keep_fractions

    d = design_keep_fractions(list(sigmas), SIDE, keep=8, progress=False)
    return {float(s): [float(v) for v in d.keep_fractions.sel(sigma=s).values if np.isfinite(v)] for s in sigmas}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--designs", default="cpu,paper,design,refine")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--n-boot", type=int, default=20, help="onset draws per width (only the regression, which does "
                    "not decide the verdict, reads them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truth-cache", default=None, help="JSON file of true onsets per sigma (written if missing)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    all_sigmas = sorted(set(SIGMAS) | (set(PAPER) if "paper" in args.designs else set()))
    adjs = {s: adjacency(s) for s in all_sigmas}
    cache = json.loads(Path(args.truth_cache).read_text()) if args.truth_cache and Path(args.truth_cache).exists() \
        else {}
    truth = {s: cache.get(f"{s:g}") or true_onset(adjs[s], np.random.default_rng(1000 + k))
             for k, s in enumerate(all_sigmas)}
    if args.truth_cache:
        Path(args.truth_cache).write_text(json.dumps({**cache, **{f"{s:g}": v for s, v in truth.items()}}))
    print("true onsets (this simulation, sigmoid midpoint of the mean largest-cluster ratio): "
          + ", ".join(f"sigma {s:g}: {v:.3f}" for s, v in truth.items()), flush=True)
    designs = {"cpu": (CPU, 2, 2), "paper": (PAPER, 3, 4), "design": (new_design(SIGMAS), 3, 2),
               "refine": (new_design(SIGMAS), 3, 2)}
    print(f"{args.reps} repetitions per row; verdict rates in % of repetitions; coverage: share of widths with an "
          "interval whose 95% interval holds the true onset (count); width: median measured interval", flush=True)
    print("new design (percolate design --keep 8): " + "; ".join(
        f"sigma {s:g}: {', '.join(f'{v:g}' for v in lam)}" for s, lam in designs["design"][0].items()))
    print(f"{'design':8s} {'scenario':11s} {'reps':>4s} {'consistent':>10s} {'inconsistent':>12s} "
          f"{'insufficient':>12s} {'cover meas':>10s} {'cover pred':>10s} {'width meas':>10s} {'runs':>5s}")
    for name in args.designs.split(","):
        design, seeds, spc = designs[name]
        for scenario in args.scenarios.split(","):
            t0 = time.time()
            counts = {"consistent": 0, "inconsistent": 0, "insufficient": 0}
            cover = {"measured": [], "predicted": []}
            widths, nruns = [], []
            shift = float(scenario.split("+")[1]) if "+" in scenario else 0.0
            for rep in range(args.reps):
                if name == "refine":
                    r = refine(scenario, design, adjs, spc, rng, args.n_boot, args.seed + rep)
                else:
                    r = run_test(table(scenario, design, {s: seeds for s in design}, spc, adjs, rng), args.n_boot,
                                 args.seed + rep)
                counts[r.attrs["verdict"]] += 1
                nruns.append(r.sizes["run"] + len(r.attrs["dropped"]))
                for k, s in enumerate(r.sigma.values):
                    for side, true in (("measured", truth[float(s)] + shift), ("predicted", truth[float(s)])):
                        iv = r[f"lambda_c_{side}_interval"].values[k]
                        if np.all(np.isfinite(iv)) and (side == "predicted" or scenario not in ("memorising", "flat")):
                            cover[side].append(iv[0] <= true <= iv[1])
                            if side == "measured":
                                widths.append(iv[1] - iv[0])
            n = args.reps
            cv = {k: (f"{100 * np.mean(v):.0f}% ({len(v)})" if v else "-") for k, v in cover.items()}
            print(f"{name:8s} {scenario:11s} {n:4d} {100 * counts['consistent'] / n:9.0f}% "
                  f"{100 * counts['inconsistent'] / n:11.0f}% {100 * counts['insufficient'] / n:11.0f}% "
                  f"{cv['measured']:>10s} {cv['predicted']:>10s} "
                  f"{(np.median(widths) if widths else np.nan):10.3f} {np.median(nruns):5.0f}"
                  f"   ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
