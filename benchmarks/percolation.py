"""Newman-Ziff largest-cluster curves vs networkx relabelling, side by side.

Prints, for site percolation on an L x L lattice:

- Newman-Ziff: one trial = a random site order and one union-find pass, which
  gives the largest cluster after every number of kept sites (the full curve,
  L^2 keep fractions); also with the canonical averaging at 100 keep fractions
  and with the extended neighbourhood of sigma = 1 px bumps (68 offsets);
- networkx: the kept-site subgraph's connected components at 20 keep
  fractions, on the same lattice if it finishes within the budget, else on the
  largest lattice that does (lattices double from 128);

and the ratio at the lattice both ran on (goal: >= 100x; Newman-Ziff goal at
1024 x 1024: <= 1 s per trial).

    python benchmarks/percolation.py [--lattice-side 1024] [--trials 5] [--budget 60]
"""

from __future__ import annotations

import argparse
import time

import networkx as nx
import numpy as np

from manifold_lens.percolation import DEFAULT_KEEP_FRACTIONS, PercolationSettings, lattice_neighbourhood
from manifold_lens.percolation.kernels import binomial_weights, canonical, newman_ziff

NN = (np.array([0, 0, 1, -1]), np.array([1, -1, 0, 0]))


def nz_trial(rng, offsets, L, weights=None):
    t0 = time.perf_counter()
    largest, _ = newman_ziff(rng.permutation(L * L), offsets, (L, L))
    if weights is not None:
        canonical(largest, DEFAULT_KEEP_FRACTIONS, weights)
    return time.perf_counter() - t0


def nz_time(L, trials, offsets=NN, with_canonical=False, seed=0):
    """Median seconds per trial; binomial weights are shared by all trials (as in lattice_percolation)."""
    rng = np.random.default_rng(seed)
    nz_trial(rng, offsets, 4)  # compile (or load the numba cache) outside the timing
    weights = [binomial_weights(L * L, p) for p in DEFAULT_KEEP_FRACTIONS] if with_canonical else None
    return float(np.median([nz_trial(rng, offsets, L, weights) for _ in range(trials)]))


def networkx_time(L, n_fractions=20, seed=0):
    """(graph build seconds, seconds for connected components at n_fractions keep fractions)."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    g = nx.grid_2d_graph(L, L)
    g = nx.convert_node_labels_to_integers(g, ordering="sorted")
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for lam in np.linspace(0.05, 1.0, n_fractions):
        kept = np.flatnonzero(rng.random(L * L) < lam)
        sub = g.subgraph(kept.tolist())
        max((len(c) for c in nx.connected_components(sub)), default=0)
    return build, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lattice-side", "--lattice", dest="lattice_side", type=int, default=1024,
                    help="L, sites per side of the Newman-Ziff lattice (default 1024; --lattice is the former name)")
    ap.add_argument("--trials", type=int, default=5, help="Newman-Ziff trials timed (median)")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds networkx may take at one lattice size")
    args = ap.parse_args()
    L = args.lattice_side

    t_nn = nz_time(L, args.trials)
    t_can = nz_time(L, args.trials, with_canonical=True)
    oy, ox, _ = lattice_neighbourhood(1.0, 1.0, PercolationSettings.default("threshold"), L)
    t_ext = nz_time(L, args.trials, offsets=(oy, ox))
    print(f"Newman-Ziff, {L} x {L} lattice, median of {args.trials} trials (goal <= 1 s per trial):")
    print(f"  full curve, nearest neighbours:                 {t_nn:8.3f} s per trial ({L * L} keep fractions)")
    print(f"  + canonical curves at 100 keep fractions:       {t_can:8.3f} s per trial")
    print(f"  full curve, sigma = 1 px neighbourhood ({len(oy)} offsets): {t_ext:8.3f} s per trial")

    # networkx: double the lattice until the next size would exceed the budget (cost grows ~4x per doubling)
    size, done = 128, None
    while size <= L:
        build, comp = networkx_time(size)
        done = (size, build, comp)
        print(f"networkx, {size} x {size}: graph build {build:7.2f} s, components at 20 keep fractions {comp:7.2f} s",
              flush=True)
        if size == L or 4.5 * (build + comp) > args.budget:
            break
        size *= 2
    size, build, comp = done
    t_same = t_nn if size == L else nz_time(size, max(args.trials, 5))
    print(f"side by side at {size} x {size} (nearest neighbours):")
    print(f"  Newman-Ziff full curve, one trial:             {t_same:8.4f} s")
    print(f"  networkx, 20 keep fractions (build excluded):  {comp:8.2f} s")
    print(f"  ratio: {comp / t_same:.0f}x (goal >= 100x); with the graph build {(comp + build) / t_same:.0f}x")
    if size < L:
        print(f"  (networkx stopped at {size} x {size}: {L} x {L} would exceed the {args.budget:g} s budget)")


if __name__ == "__main__":
    main()
