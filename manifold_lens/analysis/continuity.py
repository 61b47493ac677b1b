"""Continuity: how smoothly neighbouring feature values sit in representation space.

Definitions (h = activations of one condition-grid cell, distances Euclidean,
feature distances in lattice steps of that feature, wrapped around the period
for periodic runs):

- **Similarity by distance** (``x_similarity_by_distance``): the mean cosine
  similarity between the x-marginal codes a(x1), a(x2) (the mean over y of h
  minus the grand mean, from the additive fit) of all pairs of x values that
  are k steps apart, for k = 1, 2, ...; likewise for y. A smooth code decays
  gradually with k; a "hyper-factorized" code (mutually orthogonal values) is
  flat near 0 from k = 1 on.
- **continuity_index** (the number quoted in the README)::

      C_x = 1 - mean |h(x, y) - h(x', y)|^2 over pairs of adjacent x values (1 step apart)
                ---------------------------------------------------------------------------
                mean |h(x, y) - h(x', y)|^2 over all pairs of distinct x values

  both means taken over every y at which both cells are present; C_y likewise
  with x held fixed; ``continuity_index = (C_x + C_y) / 2`` (NaN when h does
  not vary with one of the features). It is one minus
  Geary's C (the classic spatial-autocorrelation ratio) of the representation
  along each feature axis. It is close to 1 when neighbouring values are much
  closer than values far apart (a smooth curve sampled finely: a circle of 32
  values gives 0.98), 0 when all values of a feature are equidistant (codes
  whose different values are mutually orthogonal with equal norms, i.e.
  "hyper-factorized", or a lookup table), and negative only when neighbours
  are farther apart than average. It is at most 1, needs no normalisation
  that can blow up (the denominator is zero only when h does not vary with
  that feature at all, and then C is NaN), and does not depend on whether the
  code is additive.
- **Neighbourhood preservation**: trustworthiness (Venna & Kaski 2001) of the
  representation with respect to condition space (x, y), with k =
  :data:`NEIGHBORS` (the 8 lattice neighbours of an interior condition):
  ``T = 1 - 2 / (n k (2n - 3k - 1)) sum_i sum_{j in U_k(i)} (r(i, j) - k)``,
  where U_k(i) are the k nearest neighbours of i in representation space that
  are not among its k nearest in condition space and r(i, j) is the rank of j
  by condition-space distance. 1 means no false neighbours. The reverse
  measure (condition space judged from representation space) is reported as
  ``neighbourhood_continuity``. Condition-space distances wrap for periodic runs.
"""

from __future__ import annotations

import numpy as np

from .factorization import ConditionGrid

NEIGHBORS = 8


def similarity_by_distance(code_gram: np.ndarray, distance_steps: np.ndarray,
                           max_distance: int) -> np.ndarray:
    """Mean cosine similarity of codes k = 1..max_distance steps apart (NaN where no pair).

    ``code_gram`` is the Gram matrix of the codes (values x values),
    ``distance_steps`` their distances in lattice steps (rounded to integers).
    """
    d = np.diag(code_gram)
    norm = np.sqrt(np.clip(d, 0.0, None))
    tol = 1e-10 * max(float(d.max()) if len(d) else 0.0, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = code_gram / (norm[:, None] * norm[None, :])
    usable = (d[:, None] > tol) & (d[None, :] > tol)
    k = np.rint(distance_steps).astype(np.int64)
    iu = np.triu_indices(len(d), 1)
    k, c, ok = k[iu], cos[iu], usable[iu]
    out = np.full(max_distance, np.nan)
    for step in range(1, max_distance + 1):
        sel = ok & (k == step)
        if sel.any():
            out[step - 1] = float(np.mean(c[sel]))
    return out


def axis_continuity_index(cell_gram: np.ndarray, grid: ConditionGrid, axis: str) -> float:
    """C_x (``axis='x'``) or C_y of the module docstring; NaN if h does not vary along ``axis``."""
    idx = grid.index_grid() if axis == "x" else grid.index_grid().T
    steps = np.rint(grid.distance_steps(axis)).astype(np.int64)
    lo, hi = np.triu_indices(idx.shape[0], 1)
    a, b = idx[lo], idx[hi]  # (pairs, other)
    adjacent = np.broadcast_to((steps[lo, hi] == 1)[:, None], a.shape)
    ok = (a >= 0) & (b >= 0)
    a, b, adjacent = a[ok], b[ok], adjacent[ok]
    d = np.diag(cell_gram)
    sq = d[a] + d[b] - 2.0 * cell_gram[a, b]
    if len(sq) == 0 or not adjacent.any():
        return float("nan")
    mean_all = float(np.mean(sq))
    if not mean_all > 1e-12 * max(float(d.mean()), 1e-300):
        return float("nan")
    return 1.0 - float(np.mean(sq[adjacent])) / mean_all


def condition_distances(grid: ConditionGrid) -> np.ndarray:
    """Euclidean distances between conditions in (x, y), wrapped per axis when periodic."""
    x = grid.xs[grid.ix]
    y = grid.ys[grid.iy]
    dx = np.abs(x[:, None] - x[None, :])
    dy = np.abs(y[:, None] - y[None, :])
    if grid.periodic:
        dx = np.minimum(dx, grid.period_x - dx)
        dy = np.minimum(dy, grid.period_y - dy)
    return np.sqrt(dx**2 + dy**2)


def trustworthiness(d_original: np.ndarray, d_embedded: np.ndarray, n_neighbors: int = NEIGHBORS) -> float:
    """Trustworthiness of an embedding given both distance matrices (same as scikit-learn's).

    Ties are broken by index order (stable sort), as in
    ``sklearn.manifold.trustworthiness``; ``n_neighbors`` must be < n / 2.
    """
    n = d_original.shape[0]
    k = int(n_neighbors)
    if not 1 <= k < n / 2:
        raise ValueError(f"n_neighbors={k} must be >= 1 and < n/2 = {n / 2}")
    do = np.array(d_original, dtype=np.float64)
    de = np.array(d_embedded, dtype=np.float64)
    np.fill_diagonal(do, np.inf)
    np.fill_diagonal(de, np.inf)
    order = np.argsort(do, axis=1, kind="stable")
    rank = np.empty((n, n), dtype=np.int64)
    rank[np.arange(n)[:, None], order] = np.arange(1, n + 1)[None, :]
    nn_emb = np.argsort(de, axis=1, kind="stable")[:, :k]
    r = rank[np.arange(n)[:, None], nn_emb] - k
    t = float(np.sum(r[r > 0]))
    return 1.0 - t * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
