"""Chord statistics: how steps along x and along y sit relative to each other (docs/science.md, section 3.5).

An x-chord is ``u = h(x2, y) - h(x1, y)`` with x1 < x2, a y-chord
``h(x, y2) - h(x, y1)``, h the cell codes of
:class:`~manifold_lens.analysis.factorization.ConditionGrid`. Random pairs of
chords are drawn with a seeded generator:

- x-on-y: an x-chord and a y-chord, both uniform over all chords;
- x-on-x (y-on-y): two x-chords (y-chords) whose value pairs share no value
  (x1, x2, x3, x4 all distinct; each at its own uniformly drawn y);
- x-parallelism (y-parallelism): the same value pair (x1, x2) at two
  different y (y pair at two different x).

Summaries (pairs (u, v), sums over the sampled pairs)::

    orthogonality = sum |<u, v>| / sum |u| |v|      (0 = orthogonal)
    parallelism   = sum  <u, v>  / sum |u| |v|      (1 = parallel)

the mean |cos| (mean cos) with each pair weighted by its chord lengths
|u| |v|: the directions of short chords, which noise hides first, count less.
On the references the weighted and unweighted means differ by <= 0.015
(benchmarks/calibration_chords.py). Histograms hold the unweighted signed
cosines in fixed bins. Everything comes from Gram matrices of the cells, so the
cost does not grow with the number of units.

Noise (:mod:`~manifold_lens.analysis.measure`). With K noise draws the
inner products come from the cross-draw Gram, which is unbiased, but |<u, v>|
of a noisy estimate is not: it is biased *up* by about 0.8 x its noise sd
where the truth is 0 (x-on-y of a factorized code at SNR 1, 4 draws: +0.12).
With K >= 4 draws, ``|<u, v>|`` is estimated by sign-splitting:
``(d_A sgn d_B + d_B sgn d_A) / 2`` with d_A, d_B the inner products from
the cross-draw Grams of two disjoint halves of the draws
(:func:`~manifold_lens.analysis.geometry.split_grams`). Their noises are
independent, so the expectation is ``<u, v> E sgn d_B``: exact where the
truth is 0 or far above the noise, and between these biased toward 0 by at
most 0.17 x a half's noise sd. Parallelism's numerator ``sum <u, v>`` is
unbiased from the pooled cross-draw Gram as it is; the denominators come
from the pooled cross-draw Gram (squared lengths unbiased; their square roots
slightly biased low). Pairs whose chord has a squared length <= 0 there
(shorter than the noise; possible because the cross-draw Gram is not positive
semi-definite) are dropped and counted. Calibrated biases:
docs/science.md, section 6.
"""

from __future__ import annotations

import numpy as np

CHORD_STATISTICS = ("x_on_y", "x_on_x", "y_on_y", "x_parallelism", "y_parallelism")



def chord_table(index_grid: np.ndarray, axis: str) -> dict[str, np.ndarray]:
    """All chords along ``axis``: cell indices ``start``/``end``, value indices ``lo`` < ``hi``, ``other``."""
    g = index_grid if axis == "x" else index_grid.T
    nv, no = g.shape
    lo, hi = np.triu_indices(nv, 1)
    lo = np.repeat(lo, no)
    hi = np.repeat(hi, no)
    other = np.tile(np.arange(no), len(lo) // max(no, 1))
    start, end = g[lo, other], g[hi, other]
    ok = (start >= 0) & (end >= 0)
    return {"start": start[ok], "end": end[ok], "lo": lo[ok], "hi": hi[ok], "other": other[ok]}


def _disjoint_pairs(ch, n_pairs, rng):
    """Pairs of chords whose value pairs share no value (rejection sampling)."""
    m = len(ch["lo"])
    got: list[np.ndarray] = []
    have = 0
    for _ in range(50):
        if m == 0 or have >= n_pairs:
            break
        k, k2 = rng.integers(0, m, size=(2, 2 * n_pairs))
        ok = ((ch["lo"][k] != ch["lo"][k2]) & (ch["lo"][k] != ch["hi"][k2])
              & (ch["hi"][k] != ch["lo"][k2]) & (ch["hi"][k] != ch["hi"][k2]))
        got.append(np.stack([k[ok], k2[ok]]))
        have += int(ok.sum())
    if not got or have == 0:
        return np.zeros((2, 0), dtype=np.int64)
    return np.concatenate(got, axis=1)[:, :n_pairs]


def _parallel_pairs(ch, n_pairs, rng):
    """Pairs of chords with the same value pair at two different values of the other feature."""
    key = ch["lo"] * (ch["hi"].max() + 1 if len(ch["hi"]) else 1) + ch["hi"]
    order = np.argsort(key, kind="stable")
    _, start, counts = np.unique(key[order], return_index=True, return_counts=True)
    group_size = np.repeat(counts, counts)
    group_start = np.repeat(start, counts)
    eligible = np.flatnonzero(group_size >= 2)
    if len(eligible) == 0:
        return np.zeros((2, 0), dtype=np.int64)
    pos = rng.choice(eligible, size=n_pairs)
    size = group_size[pos]
    offset = 1 + (rng.random(n_pairs) * (size - 1)).astype(np.int64)
    partner = group_start[pos] + (pos - group_start[pos] + offset) % size
    return np.stack([order[pos], order[partner]])


def sample_chord_pairs(index_grid: np.ndarray, n_pairs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded chord pairs for each statistic in :data:`CHORD_STATISTICS`.

    Returns ``{name: (4, m) int array}`` of cell indices (start1, end1, start2,
    end2); m <= n_pairs, 0 when the grid cannot supply such pairs (e.g.
    x-on-x needs at least 4 distinct x values).
    """
    rng = np.random.default_rng(seed)
    cx, cy = chord_table(index_grid, "x"), chord_table(index_grid, "y")

    def cells(c1, c2, k1, k2):
        return np.stack([c1["start"][k1], c1["end"][k1], c2["start"][k2], c2["end"][k2]])

    out = {}
    if len(cx["lo"]) and len(cy["lo"]):
        out["x_on_y"] = cells(cx, cy, rng.integers(0, len(cx["lo"]), n_pairs),
                              rng.integers(0, len(cy["lo"]), n_pairs))
    else:
        out["x_on_y"] = np.zeros((4, 0), dtype=np.int64)
    for name, ch in (("x_on_x", cx), ("y_on_y", cy)):
        k = _disjoint_pairs(ch, n_pairs, rng)
        out[name] = cells(ch, ch, k[0], k[1])
    for name, ch in (("x_parallelism", cx), ("y_parallelism", cy)):
        k = _parallel_pairs(ch, n_pairs, rng) if len(ch["lo"]) else np.zeros((2, 0), dtype=np.int64)
        out[name] = cells(ch, ch, k[0], k[1])
    return out


def chord_cosines(gram: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosines between chord pairs ``(start1, end1, start2, end2)`` from a Gram matrix.

    Pairs where either chord has (numerically) zero length, or a squared
    length <= 0 (possible with a cross-draw Gram, which is not positive
    semi-definite), are dropped; cosines are clipped to [-1, 1].
    """
    s1, e1, s2, e2 = pairs
    dot = gram[e1, e2] - gram[e1, s2] - gram[s1, e2] + gram[s1, s2]
    d = np.diag(gram)
    n1 = d[e1] + d[s1] - 2 * gram[s1, e1]
    n2 = d[e2] + d[s2] - 2 * gram[s2, e2]
    tol = 1e-10 * max(float(np.mean(d)) if len(d) else 0.0, 1e-300)
    ok = (n1 > tol) & (n2 > tol)
    return np.clip(dot[ok] / np.sqrt(n1[ok] * n2[ok]), -1.0, 1.0)


def summarize_cosines(cos: np.ndarray, name: str, bin_edges: np.ndarray) -> tuple[float, np.ndarray]:
    """(summary, histogram fractions): mean |cos| for orthogonality, mean cos for parallelism."""
    if len(cos) == 0:
        return float("nan"), np.full(len(bin_edges) - 1, np.nan)
    hist = np.histogram(cos, bins=bin_edges)[0] / len(cos)
    summary = np.mean(cos) if name.endswith("parallelism") else np.mean(np.abs(cos))
    return float(summary), hist


def chord_products(gram: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(``<u, v>``, ``|u|^2``, ``|v|^2``) of chord pairs ``(start1, end1, start2, end2)`` from a Gram matrix."""
    s1, e1, s2, e2 = pairs
    d = np.diag(gram)
    dot = gram[e1, e2] - gram[e1, s2] - gram[s1, e2] + gram[s1, s2]
    return dot, d[e1] + d[s1] - 2 * gram[s1, e1], d[e2] + d[s2] - 2 * gram[s2, e2]


def chord_summary(name: str, gram: np.ndarray, pairs: np.ndarray,
                  halves: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, int]:
    """(summary of the module docstring, pairs used) of one chord statistic.

    ``gram``: the cells' Gram (pooled cross-draw with draws, else plain);
    ``halves``: the cross-draw Grams of two disjoint halves of the draws (K >=
    4), for the sign-split estimate of ``|<u, v>|`` (orthogonality only).
    NaN when no pair has two chords of positive squared length.
    """
    dot, n1, n2 = chord_products(gram, pairs)
    d = np.diag(gram)
    tol = 1e-10 * max(float(np.mean(d)) if len(d) else 0.0, 1e-300)
    ok = (n1 > tol) & (n2 > tol)
    weight = float(np.sum(np.sqrt(n1[ok] * n2[ok])))
    if not ok.any() or not weight > 0:
        return float("nan"), 0
    if name.endswith("parallelism"):
        num = float(np.sum(dot[ok]))
    elif halves is not None:
        da, db = (chord_products(g, pairs[:, ok])[0] for g in halves)
        num = float(np.sum(da * np.sign(db) + db * np.sign(da))) / 2
    else:
        num = float(np.sum(np.abs(dot[ok])))
    return num / weight, int(ok.sum())
