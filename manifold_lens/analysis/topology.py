"""Topology of a representation: H1 persistent homology and the Betti-1 count.

- H1 persistence: the bars of the Vietoris-Rips filtration of the points
  (ripser, optional extra ``manifold-lens[topology]``) on their distance
  matrix, subsampled by greedy farthest-point sampling.
- Betti-1: the number of H1 bars whose persistence (death - birth, activation
  units) is at least ``relative_threshold`` (default
  :data:`BETTI_RELATIVE_THRESHOLD`) times the most persistent H1 bar. A
  2-torus shows two such bars, a circle one.
"""

from __future__ import annotations

import numpy as np

BETTI_RELATIVE_THRESHOLD = 0.5


def h1_persistence(distances: np.ndarray, n_points: int = 300) -> np.ndarray:
    """Persistences (death - birth) of the H1 bars of the Rips filtration, descending.

    Uses ripser on a precomputed distance matrix, subsampled to ``n_points`` by
    ripser's greedy farthest-point permutation. Raises ImportError if ripser is
    not installed (optional extra ``manifold-lens[topology]``).
    """
    from ripser import ripser  # optional extra

    n = distances.shape[0]
    kwargs = {"n_perm": int(n_points)} if n > n_points else {}
    dgm = ripser(distances, distance_matrix=True, maxdim=1, **kwargs)["dgms"][1]
    if len(dgm) == 0:
        return np.zeros(0)
    pers = dgm[:, 1] - dgm[:, 0]
    pers = pers[np.isfinite(pers)]
    return np.sort(pers)[::-1]


def betti_number(persistence: np.ndarray, relative_threshold: float = BETTI_RELATIVE_THRESHOLD) -> int:
    """Bars with persistence >= ``relative_threshold`` x the largest one (0 if there are none)."""
    p = np.asarray(persistence, dtype=np.float64)
    if p.size == 0 or not np.max(p) > 0:
        return 0
    return int(np.sum(p >= relative_threshold * np.max(p)))
