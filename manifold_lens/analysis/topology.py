"""Topology of a representation: H0 and H1 persistence diagrams and a tested count of loops (Betti-1).

The points are the rows of a Gram matrix (one point per (x, y) grid cell in
:func:`~manifold_lens.measure`); their Vietoris-Rips filtration is computed by
ripser (a dependency) on every point up to :data:`MAX_POINTS`, on a greedy
farthest-point subsample beyond.

Counting long H1 bars (``betti_1``; docs/science.md, section 3). Each H1 bar
[birth, death) is tested in two filtrations of the same points, and a loop
must be found in both: ``betti_1`` is the smaller of the two counts.

- **Plain** distances: a bar counts when its persistence ``death - birth``
  exceeds the longest H1 bar of each of :data:`NULL_DRAWS` = 19 shuffled
  copies (the principal-component scores permuted independently per
  component, seeded: the PCA spectrum and every component's distribution, no
  loops) and its death / birth exceeds :data:`PLAIN_MIN_RATIO` = 2 (a hole
  between neighbouring samples closes soon after it opens: a grid square at
  sqrt 2; a loop of the manifold opens at the sampling step and closes at its
  own size). The longest bar beating all ``K`` exchangeable nulls has
  probability at most ``1 / (K + 1)`` (0.05 with 19) under the null;
  comparing every bar with the longest null bar controls the count
  family-wise.
- **Locally scaled** distances ``d_ij / sqrt(e_i e_j)``, ``e_i`` the distance
  from point ``i`` to its :data:`NEIGHBORS` = 8th nearest neighbour: one
  sampling step is about 1 everywhere. The same test against 19 copies
  scaled alike, with death / birth above :data:`MIN_DEATH_BIRTH_RATIO` = 2.5.

Each alone fails on uneven samples. In plain distances a 3-D ring torus on an
even angle grid has its outer meridians (R + r) / r times further apart than
its tube's samples, so each meridian closes as its own loop (17 loops at
16 x 16). Locally scaled distances remove those, but blow up small, densely
sampled circles (a sphere's latitude rows at the poles). The two errors do not
coincide on any calibration shape (``benchmarks/calibration_loops.py``).

Sensitivity band. The same diagrams are also counted at neighbouring settings
of the rule (:func:`band_settings`: both ratio thresholds 0.5 lower and
higher, significance 0.10 (the second-longest null bar); optionally k -/+ 4,
with their own diagrams and nulls). A count is *conclusive* only when every
setting agrees.

Too few points. A loop needs :data:`MIN_POINTS` points (the fewest vertices of
a regular polygon whose bar passes the ratio test) and the local scale
``neighbors + 2`` (``neighbors + 4 + 2`` with the k band): fewer give NaN with the
reason (:func:`loop_count_problem`), never an error from ``measure``.

Cost. The plain H1 filtration of the data is truncated at half the enclosing
radius ``E`` (the smallest scale at which the Rips complex is a cone, where
every class has died), then at ``3E/4``, and computed in full only while a
bar is alive there; bars born after a truncation at ``T`` die by ``E``, so
their death / birth is below ``E / T``, at most the band's lowest threshold,
and none could count. The
shuffled copies are computed up to ``E``. On one core: 256 points take about
0.05-0.5 s per diagram, 576 points 0.2-2 s, 1,024 points 1-5 s; an
analysis computes ``2 (1 + null_draws)`` = 40 diagrams (20 more per k of the
band): a 16 x 16 grid 4-15 s per code, 24 x 24 about a minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_POINTS = 1100
NEIGHBORS = 8  # k of the local scale e_i (distance to the k-th nearest neighbour)
NULL_DRAWS = 19  # shuffled copies: a counted bar beats all, significance 1 / (19 + 1) = 0.05
MIN_DEATH_BIRTH_RATIO = 2.5  # of the locally scaled bars
PLAIN_MIN_RATIO = 2.0  # of the plain bars
MIN_POINTS = 7
BAND_RATIO_STEP = 0.5  # the band's ratio thresholds: MIN_DEATH_BIRTH_RATIO -/+ this
BAND_NEIGHBORS_STEP = 4  # the band's k: NEIGHBORS -/+ this (own diagrams and nulls)
TRUNCATION_FRACTIONS = (0.5, 0.75)  # of the enclosing radius, tried before the full filtration
_RANK_TOL = 1e-10


@dataclass(frozen=True)
class Homology:
    """Persistent homology of one point cloud and its loop count.

    ``h0``, ``h1``: diagrams (bars, 2) of (birth, death) in plain distances,
    each sorted by persistence, descending (H0's one infinite bar first).
    ``counted``: which plain H1 bars pass the plain test. ``null_max``: the
    longest plain H1 persistence of each shuffled copy. ``scaled_h1``,
    ``scaled_null_max``, ``scaled_count``: the same in locally scaled
    distances (k = ``neighbors``). ``betti_1`` is the smaller of the two
    counts. ``truncation_scale``: plain H1 bars born above it were not computed
    (inf when the filtration was complete). ``n_points``: points used.
    ``band``: the count at each setting of :func:`band_settings`, the rule first.
    """

    h0: np.ndarray
    h1: np.ndarray
    counted: np.ndarray
    null_max: np.ndarray
    truncation_scale: float
    n_points: int
    min_ratio: float
    neighbors: int = NEIGHBORS
    scaled_h1: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    scaled_null_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    band: dict = field(default_factory=dict)

    @property
    def betti_1(self) -> int:
        return int(self.band["rule"]) if self.band else int(np.sum(self.counted))

    @property
    def null_threshold(self) -> float:
        """The persistence a plain bar must exceed (the longest bar of all shuffled copies)."""
        return float(np.max(self.null_max)) if len(self.null_max) else 0.0

    @property
    def plain_count(self) -> int:
        """Bars passing the plain test alone (rule settings)."""
        return int(np.sum(self.counted))

    @property
    def scaled_count(self) -> int:
        """Bars passing the locally scaled test alone (rule settings)."""
        return int(np.sum(long_bars(self.scaled_h1, float(np.max(self.scaled_null_max, initial=0.0)),
                                    self.min_ratio)))

    @property
    def conclusive(self) -> bool:
        """Whether every setting of the band gives the same count."""
        return len(set(self.band.values())) <= 1


def band_settings(neighbors: int = NEIGHBORS, min_ratio: float = MIN_DEATH_BIRTH_RATIO,
                  null_draws: int = NULL_DRAWS, band_neighbors: bool = False) -> dict[str, tuple[int, float, int]]:
    """The rule and its neighbouring settings: {name: (k, scaled death/birth threshold, null rank)}.

    The plain test's threshold moves with the scaled one (``PLAIN_MIN_RATIO``
    below it). Null rank 1: a bar beats the longest null bar (significance
    1 / (draws + 1)); rank 2: the second longest (2 / (draws + 1)). The k
    settings need their own scaled diagrams and nulls (``band_neighbors``).
    """
    step = BAND_RATIO_STEP
    out = {"rule": (neighbors, min_ratio, 1),
           "ratio_low": (neighbors, min_ratio - step, 1),
           "ratio_high": (neighbors, min_ratio + step, 1)}
    if null_draws >= 2:
        out[f"alpha_{2 / (null_draws + 1):.2f}"] = (neighbors, min_ratio, 2)
    if band_neighbors:
        out["k_low"] = (max(1, neighbors - BAND_NEIGHBORS_STEP), min_ratio, 1)
        out["k_high"] = (neighbors + BAND_NEIGHBORS_STEP, min_ratio, 1)
    return out


def loop_count_problem(n_points: int, neighbors: int = NEIGHBORS, band_neighbors: bool = False) -> str:
    """Why ``n_points`` points are too few for the rule ("" when they are enough)."""
    k_max = neighbors + (BAND_NEIGHBORS_STEP if band_neighbors else 0)
    need = max(MIN_POINTS, k_max + 2)
    if n_points < need:
        return (f"{n_points} points are too few for the loop count: it needs >= {need} (a loop needs >= {MIN_POINTS} "
                f"points to pass the death/birth test, the local scale k = {k_max} neighbours plus one)")
    return ""


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


def locally_scaled(dist: np.ndarray, neighbors: int = NEIGHBORS) -> np.ndarray:
    """``d_ij / sqrt(e_i e_j)``, ``e_i`` the distance from point i to its ``neighbors``-th nearest other point.

    Dimensionless: one step of the local sampling is about 1 everywhere. A
    point whose k-th neighbour coincides with it (duplicates) keeps the
    smallest positive scale of the sample.
    """
    n = dist.shape[0]
    k = min(int(neighbors), n - 1)
    e = np.sort(dist, axis=1)[:, k]
    positive = e[e > 0]
    e = np.where(e > 0, e, positive.min() if len(positive) else 1.0)
    return dist / np.sqrt(e[:, None] * e[None, :])


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


def _enclosing(dist: np.ndarray) -> float:
    """The enclosing radius: the smallest scale at which one point is joined to all (the Rips complex is a cone)."""
    return float(np.min(np.max(dist, axis=1)))


def h1_diagram(dist: np.ndarray, min_ratio: float = 2.0) -> tuple[np.ndarray, float]:
    """H1 diagram of the Rips filtration (longest first) and the scale it was truncated at (inf: complete).

    Truncated at each of :data:`TRUNCATION_FRACTIONS` ``f`` of the enclosing
    radius ``E`` with ``1 / f <= min_ratio`` while some bar is still alive
    there, then complete; bars born above the returned scale ``T`` are
    missing, and each has death / birth < E / T <= min_ratio.
    """
    from ripser import ripser

    n = dist.shape[0]
    if n < 2:
        return np.zeros((0, 2)), np.inf
    enclosing = _enclosing(dist)
    for fraction in (f for f in TRUNCATION_FRACTIONS if 1.0 / f <= min_ratio):
        scale = fraction * enclosing
        dgm = ripser(dist, distance_matrix=True, maxdim=1, thresh=scale)["dgms"][1]
        if np.all(np.isfinite(dgm[:, 1])):
            return _sorted_by_persistence(dgm), scale
    return _sorted_by_persistence(_h1_to_enclosing(dist)), np.inf


def _h1_to_enclosing(dist: np.ndarray) -> np.ndarray:
    """The complete H1 diagram: computed up to the enclosing radius, where every class has died."""
    from ripser import ripser

    enclosing = _enclosing(dist)
    dgm = ripser(dist, distance_matrix=True, maxdim=1, thresh=enclosing)["dgms"][1]
    dgm[~np.isfinite(dgm[:, 1]), 1] = enclosing  # round-off at the cone scale
    return dgm


def shuffled_null(points: np.ndarray, draws: int = NULL_DRAWS, seed: int = 0,
                  neighbors: int | None = None) -> np.ndarray:
    """Longest H1 persistence of each of ``draws`` copies of ``points`` with every column permuted independently.

    ``neighbors``: the copies' distances are locally scaled alike (None: plain distances).
    """
    rng = np.random.default_rng(seed)
    longest = np.zeros(draws)
    for k in range(draws):
        shuffled = np.column_stack([rng.permutation(c) for c in points.T])
        dist = distances(shuffled)
        dgm = _h1_to_enclosing(dist if neighbors is None else locally_scaled(dist, neighbors))
        longest[k] = float(np.max(dgm[:, 1] - dgm[:, 0])) if len(dgm) else 0.0
    return longest


def long_bars(h1: np.ndarray, null_threshold: float, min_ratio: float = MIN_DEATH_BIRTH_RATIO) -> np.ndarray:
    """Which bars count as loops: persistence above ``null_threshold`` and death / birth above ``min_ratio``."""
    h1 = np.asarray(h1, dtype=np.float64).reshape(-1, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(h1[:, 0] > 0, h1[:, 1] / h1[:, 0], np.inf)
    return (h1[:, 1] - h1[:, 0] > null_threshold) & (ratio > min_ratio)


def _null_threshold(null_max: np.ndarray, rank: int) -> float:
    """The ``rank``-th longest of the null bars (1: the longest)."""
    ordered = np.sort(np.asarray(null_max, dtype=np.float64))[::-1]
    return float(ordered[min(rank, len(ordered)) - 1]) if len(ordered) else 0.0


def persistent_homology(gram: np.ndarray, max_points: int = MAX_POINTS, null_draws: int = NULL_DRAWS,
                        min_ratio: float = MIN_DEATH_BIRTH_RATIO, seed: int = 0, neighbors: int = NEIGHBORS,
                        band_neighbors: bool = False) -> Homology:
    """H0 and H1 diagrams of the points whose Gram matrix is ``gram``, their tested loop count and its band.

    Uses every point up to ``max_points``, a farthest-point subsample beyond.
    Raises ImportError if ripser is not installed and ValueError for fewer
    points than :func:`loop_count_problem` allows. Cost: ``1 + null_draws``
    plain diagrams and as many scaled ones per k (three k with
    ``band_neighbors``); see the module docstring.
    """
    n_total = np.asarray(gram).shape[0]
    problem = loop_count_problem(n_total, neighbors, band_neighbors)
    if problem:
        raise ValueError(problem)
    if null_draws < 1:
        raise ValueError(f"null_draws: need at least 1 shuffled copy, got {null_draws}")
    points = principal_scores(gram)
    if n_total > max_points:
        points = points[farthest_point_sample(points, max_points)]
    dist = distances(points)
    settings = band_settings(neighbors, min_ratio, null_draws, band_neighbors)
    lowest = min(c for _, c, _ in settings.values())
    plain_offset = min_ratio - PLAIN_MIN_RATIO
    h1, truncation = h1_diagram(dist, lowest - plain_offset)
    plain_null = shuffled_null(points, null_draws, seed)
    scaled = {k: (h1_diagram(locally_scaled(dist, k), lowest)[0], shuffled_null(points, null_draws, seed, k))
              for k in dict.fromkeys(k for k, _, _ in settings.values())}

    def count(k, c, rank):
        plain = long_bars(h1, _null_threshold(plain_null, rank), c - plain_offset)
        local = long_bars(scaled[k][0], _null_threshold(scaled[k][1], rank), c)
        return min(int(plain.sum()), int(local.sum()))

    band = {name: count(*setting) for name, setting in settings.items()}
    return Homology(h0=h0_diagram(dist), h1=h1, counted=long_bars(h1, _null_threshold(plain_null, 1),
                                                                     PLAIN_MIN_RATIO),
                    null_max=plain_null, truncation_scale=truncation, n_points=points.shape[0],
                    min_ratio=min_ratio, neighbors=neighbors, scaled_h1=scaled[neighbors][0],
                    scaled_null_max=scaled[neighbors][1], band=band)
