"""Topology of a representation: H0 and H1 persistence diagrams and a tested count of loops (Betti-1).

The points are the rows of a Gram matrix (one point per (x, y) grid cell in
:func:`~manifold_lens.measure`); their Vietoris-Rips filtration is computed by
ripser (a dependency) on every point up to
:data:`MAX_POINTS`, on a greedy farthest-point subsample beyond.

Counting long H1 bars (``betti_1``). An H1 bar [birth, death) counts as a loop
of the represented manifold when it passes two tests:

1. **Null (shuffled data).** Its persistence ``death - birth`` exceeds the
   longest H1 bar of each of :data:`NULL_DRAWS` shuffled copies of the same
   points: the principal-component scores permuted independently per
   component (seeded). A shuffled copy keeps the PCA spectrum and every
   component's distribution but has no loops. The longest bar of the data
   exceeding the longest of ``K`` exchangeable nulls has probability at most
   ``1 / (K + 1)`` under the null, and comparing every bar with the null's
   *longest* bar controls the count family-wise.
2. **Scale (sampling holes).** Its death / birth ratio exceeds
   :data:`MIN_DEATH_BIRTH_RATIO` = 2. A hole between neighbouring samples
   closes soon after it opens: each square of a grid is born at its side and
   dies at its diagonal (ratio sqrt 2), which makes a flat sheet or a one-hot
   code (every pair of points equally far apart) show hundreds of equally long
   bars above any shuffle null. A loop of the manifold opens at the sampling
   step and closes at the loop's own size (a circle sampled at 32 points:
   ratio 8.8). A regular polygon needs at least :data:`MIN_POINTS` = 7
   vertices to pass (ratio 2.25; the hexagon's is 1.73), so fewer points are
   too few for homology.

Neither test is a fraction of the longest bar, so a torus whose two loops
differ in size (a 3-D torus R = 3, r = 1) shows both. Limitation: a sample
much coarser in one region than another (a 3-D ring torus on a square angle
grid, whose outer equator is sampled (R + r) / (R - r) times more coarsely
than its inner one) leaves transient loops between its coarse rows that can
pass both tests; sample such shapes evenly.

Cost. The H1 filtration is truncated at half the enclosing radius ``E`` (the
smallest radius at which the Rips complex is a cone, where every class has
died), then at ``3E/4``, and computed in full only while a bar is still alive
at the truncation. Bars born after the final truncation scale ``T`` are not
computed: each dies by ``E``, so its death / birth is below ``E / T <= 2`` and
it could not count. The shuffled copies are computed in full. H0 is exact
(the minimum spanning tree). About 1,000 points take seconds to tens of
seconds (see :func:`persistent_homology`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_POINTS = 1100
NULL_DRAWS = 3
MIN_DEATH_BIRTH_RATIO = 2.0
MIN_POINTS = 7
TRUNCATION_FRACTIONS = (0.5, 0.75)  # of the enclosing radius, tried before the full filtration
_RANK_TOL = 1e-10


@dataclass(frozen=True)
class Homology:
    """Persistent homology of one point cloud and its loop count.

    ``h0``, ``h1``: diagrams (bars, 2) of (birth, death), each sorted by
    persistence, descending (H0's one infinite bar first). ``counted``: which
    H1 bars count as loops. ``null_max``: the longest H1 persistence of each
    shuffled copy. ``truncation_scale``: H1 bars born above it were not
    computed (inf when the filtration was complete). ``n_points``: points used.
    """

    h0: np.ndarray
    h1: np.ndarray
    counted: np.ndarray
    null_max: np.ndarray
    truncation_scale: float
    n_points: int
    min_ratio: float

    @property
    def betti_1(self) -> int:
        return int(np.sum(self.counted))

    @property
    def null_threshold(self) -> float:
        """The persistence a bar must exceed (the longest bar of all shuffled copies)."""
        return float(np.max(self.null_max)) if len(self.null_max) else 0.0


def principal_scores(gram: np.ndarray) -> np.ndarray:
    """Points (n, r) whose inner products are the double-centred ``gram``: principal-component scores."""
    g = np.asarray(gram, dtype=np.float64)
    g = g - g.mean(axis=0, keepdims=True)
    g = g - g.mean(axis=1, keepdims=True)
    eigval, eigvec = np.linalg.eigh((g + g.T) / 2)
    keep = eigval > _RANK_TOL * max(float(eigval[-1]), 0.0)
    if not keep.any():
        return np.zeros((g.shape[0], 1))
    return eigvec[:, keep][:, ::-1] * np.sqrt(eigval[keep][::-1])


def distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix of the rows of ``points`` (clipped at 0 against round-off)."""
    sq = np.sum(points * points, axis=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * points @ points.T
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(np.clip(d2, 0.0, None))


def farthest_point_sample(points: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` rows chosen greedily, each the farthest from those already chosen (starting at row 0)."""
    m = points.shape[0]
    if n >= m:
        return np.arange(m)
    chosen = np.empty(n, dtype=np.int64)
    chosen[0] = 0
    nearest = np.sum((points - points[0]) ** 2, axis=1)
    for k in range(1, n):
        chosen[k] = int(np.argmax(nearest))
        nearest = np.minimum(nearest, np.sum((points - points[chosen[k]]) ** 2, axis=1))
    return np.sort(chosen)


def h0_diagram(dist: np.ndarray) -> np.ndarray:
    """Exact H0 diagram of the Rips filtration: (0, MST edge length) per merge and (0, inf), longest first."""
    from scipy.sparse.csgraph import minimum_spanning_tree

    n = dist.shape[0]
    # csgraph reads exact zeros as missing edges: duplicate points merge at the smallest positive float
    tree = minimum_spanning_tree(np.where(dist > 0, dist, np.finfo(np.float64).tiny))
    deaths = np.sort(np.asarray(tree.data, dtype=np.float64))[::-1]
    deaths = np.where(deaths <= np.finfo(np.float64).tiny, 0.0, deaths)
    deaths = np.concatenate([[np.inf], deaths[: n - 1]])
    return np.column_stack([np.zeros(len(deaths)), deaths])


def _sorted_by_persistence(dgm: np.ndarray) -> np.ndarray:
    dgm = np.asarray(dgm, dtype=np.float64).reshape(-1, 2)
    return dgm[np.argsort(-(dgm[:, 1] - dgm[:, 0]), kind="stable")]


def h1_diagram(dist: np.ndarray) -> tuple[np.ndarray, float]:
    """H1 diagram of the Rips filtration (longest first) and the scale it was truncated at (inf: complete).

    Truncated at :data:`TRUNCATION_FRACTIONS` of the enclosing radius ``E``
    while some bar is still alive there, then complete; bars born above the
    returned scale ``T`` are missing, and each has death / birth < E / T.
    """
    from ripser import ripser

    n = dist.shape[0]
    if n < 2:
        return np.zeros((0, 2)), np.inf
    enclosing = float(np.min(np.max(dist, axis=1)))
    for fraction in TRUNCATION_FRACTIONS:
        scale = fraction * enclosing
        dgm = ripser(dist, distance_matrix=True, maxdim=1, thresh=scale)["dgms"][1]
        if np.all(np.isfinite(dgm[:, 1])):
            return _sorted_by_persistence(dgm), scale
    return _sorted_by_persistence(ripser(dist, distance_matrix=True, maxdim=1)["dgms"][1]), np.inf


def shuffled_null(points: np.ndarray, draws: int = NULL_DRAWS, seed: int = 0) -> np.ndarray:
    """Longest H1 persistence of each of ``draws`` copies of ``points`` with every column permuted independently."""
    from ripser import ripser

    rng = np.random.default_rng(seed)
    longest = np.zeros(draws)
    for k in range(draws):
        shuffled = np.column_stack([rng.permutation(c) for c in points.T])
        dgm = ripser(distances(shuffled), distance_matrix=True, maxdim=1)["dgms"][1]
        longest[k] = float(np.max(dgm[:, 1] - dgm[:, 0])) if len(dgm) else 0.0
    return longest


def long_bars(h1: np.ndarray, null_threshold: float, min_ratio: float = MIN_DEATH_BIRTH_RATIO) -> np.ndarray:
    """Which bars count as loops: persistence above ``null_threshold`` and death / birth above ``min_ratio``."""
    h1 = np.asarray(h1, dtype=np.float64).reshape(-1, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(h1[:, 0] > 0, h1[:, 1] / h1[:, 0], np.inf)
    return (h1[:, 1] - h1[:, 0] > null_threshold) & (ratio > min_ratio)


def persistent_homology(gram: np.ndarray, max_points: int = MAX_POINTS, null_draws: int = NULL_DRAWS,
                        min_ratio: float = MIN_DEATH_BIRTH_RATIO, seed: int = 0) -> Homology:
    """H0 and H1 diagrams of the points whose Gram matrix is ``gram`` and their tested loop count.

    Uses every point up to ``max_points``, a farthest-point subsample beyond.
    Raises ImportError if ripser is not installed and ValueError for fewer than
    :data:`MIN_POINTS` points. Timings on one core: about 1,000 points on a
    Clifford torus (the slowest shape tried) 10-15 s, a 3-D torus 3-8 s, a
    flat sheet or one-hot code 1-3 s, plus 1-1.5 s per shuffled copy.
    """
    n_total = np.asarray(gram).shape[0]
    if n_total < MIN_POINTS:
        raise ValueError(f"{n_total} points: homology needs at least {MIN_POINTS} (the fewest vertices of a "
                         f"regular polygon whose Rips bar has death / birth > {MIN_DEATH_BIRTH_RATIO:g})")
    if null_draws < 1:
        raise ValueError(f"null_draws: need at least 1 shuffled copy, got {null_draws}")
    points = principal_scores(gram)
    if n_total > max_points:
        points = points[farthest_point_sample(points, max_points)]
    dist = distances(points)
    h1, truncation = h1_diagram(dist)
    null_max = shuffled_null(points, null_draws, seed)
    threshold = float(np.max(null_max))
    return Homology(h0=h0_diagram(dist), h1=h1, counted=long_bars(h1, threshold, min_ratio), null_max=null_max,
                    truncation_scale=truncation, n_points=points.shape[0], min_ratio=min_ratio)
