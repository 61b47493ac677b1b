"""Continuity: how smoothly neighbouring feature values sit in representation space.

Definitions (h = activations of one condition-grid cell, distances Euclidean,
feature distances in lattice steps of that feature, wrapped around the period
for periodic runs):

- **Similarity by distance** (``x_similarity_by_distance``): one minus the
  normalised squared distance between the x-marginal codes a(x) (the mean
  over y of h minus the grand mean, from the additive fit)::

      S_x(k) = 1 - mean |a(x1) - a(x2)|^2 over pairs of x values k steps apart
                   -----------------------------------------------------------
                   mean |a(x1) - a(x2)|^2 over all pairs of distinct x values

  for k = 1, 2, ...; likewise for y. 1 = identical codes, 0 = as far apart
  as a typical pair of values, negative = farther apart than typical. It
  depends on distances only, so any code whose distance grows with the value
  distance gives a non-increasing curve: a linear code a(x) = x gives
  1 - k^2 / mean k^2, a Gaussian bump code decays like its overlap, and a
  "hyper-factorized" code (mutually orthogonal values of equal norm) is flat
  at 0 from k = 1 on. (The cosine of centred codes used before swung from +1
  to -1 along a straight line: centring puts the two ends on opposite sides.)
  S_x(1) is the continuity index (below) of the marginal code.
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
  Ties (equal distances, common on a lattice of conditions) are broken in a
  seeded random order, not by index order (which would favour conditions
  that happen to come first in the grid); distances equal to within 1e-9 of
  the largest count as ties.
"""

from __future__ import annotations

import numpy as np

from .factorization import ConditionGrid

NEIGHBORS = 8


def similarity_by_distance(code_gram: np.ndarray, distance_steps: np.ndarray,
                           max_distance: int) -> np.ndarray:
    """``S(k) = 1 - mean d^2 (k apart) / mean d^2 (all distinct pairs)`` for k = 1..max_distance.

    ``code_gram`` is the Gram matrix of the codes (values x values; the
    cross-draw Gram is fine: squared distances from it are unbiased and may be
    slightly negative), ``distance_steps`` their distances in lattice steps
    (rounded to integers). NaN where no pair is k steps apart, everywhere when
    the codes do not vary.
    """
    d = np.diag(code_gram)
    sq = d[:, None] + d[None, :] - 2.0 * code_gram
    iu = np.triu_indices(len(d), 1)
    k, sq = np.rint(distance_steps[iu]).astype(np.int64), sq[iu]
    out = np.full(max_distance, np.nan)
    ref = float(np.mean(sq)) if len(sq) else 0.0
    if not ref > 1e-12 * max(float(np.mean(np.abs(d))) if len(d) else 0.0, 1e-300):
        return out
    for step in range(1, max_distance + 1):
        sel = k == step
        if sel.any():
            out[step - 1] = 1.0 - float(np.mean(sq[sel])) / ref
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


def _order_with_random_ties(dist: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per row, column indices by increasing distance; ties (to 1e-9 of the largest) in random order."""
    finite = dist[np.isfinite(dist)]
    scale = float(np.max(np.abs(finite))) if finite.size else 1.0
    key = np.round(dist / (scale if scale > 0 else 1.0), 9)
    return np.lexsort((rng.random(dist.shape), key), axis=1)


def trustworthiness(d_original: np.ndarray, d_embedded: np.ndarray, n_neighbors: int = NEIGHBORS,
                    seed: int = 0) -> float:
    """Trustworthiness of an embedding given both distance matrices (scikit-learn's formula).

    Without ties the value is ``sklearn.manifold.trustworthiness``'s; ties are
    broken in a random order seeded by ``seed`` (scikit-learn: index order).
    ``n_neighbors`` must be < n / 2.
    """
    n = d_original.shape[0]
    k = int(n_neighbors)
    if not 1 <= k < n / 2:
        raise ValueError(f"n_neighbors={k} must be >= 1 and < n/2 = {n / 2}")
    do = np.array(d_original, dtype=np.float64)
    de = np.array(d_embedded, dtype=np.float64)
    np.fill_diagonal(do, np.inf)
    np.fill_diagonal(de, np.inf)
    rng = np.random.default_rng(seed)
    order = _order_with_random_ties(do, rng)
    rank = np.empty((n, n), dtype=np.int64)
    rank[np.arange(n)[:, None], order] = np.arange(1, n + 1)[None, :]
    nn_emb = _order_with_random_ties(de, rng)[:, :k]
    r = rank[np.arange(n)[:, None], nn_emb] - k
    t = float(np.sum(r[r > 0]))
    return 1.0 - t * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)))
