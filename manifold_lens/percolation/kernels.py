"""Site percolation kernels: Newman-Ziff union-find passes, canonical averages, the threshold estimate.

Curves use the Newman-Ziff method: sites are added one at a time in a random
order and merged with their occupied neighbours by union-find, so one pass
gives the largest cluster S(n) after every number n of kept sites (the
*microcanonical* curve). The *canonical* curve at keep fraction lambda averages
S(n) over n ~ Binomial(N, lambda), computed in log space. Both normalisations
are reported: ``largest_cluster_ratio`` = S / n (the share of kept sites in the
largest cluster) and ``largest_cluster_fraction`` = S / N (over all sites).

The threshold estimator ``lambda_c``: in each trial, the keep fraction n / N at
which adding one site enlarges the largest cluster the most (the merger that
creates the spanning cluster); ``lambda_c`` is the mean over trials and
``lambda_c_stderr`` its standard error (std / sqrt(trials)). It needs no notion
of boundary, so it applies alike to open, periodic and irregular (dataset)
graphs.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import stats

ESTIMATOR = (
    "lambda_c: per trial, the keep fraction n/N at which adding one site enlarges the largest cluster the most "
    "(Newman-Ziff order); mean over trials, uncertainty = standard error of the mean"
)


# -- union-find kernels ------------------------------------------------------

@njit(cache=True)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _merge(parent, size, edge, r0, t):
    """Join the cluster of site t (if occupied) to the cluster rooted at r0; return the new root."""
    if parent[t] < 0:
        return r0
    r1 = _find(parent, t)
    if r1 == r0:
        return r0
    if size[r1] > size[r0]:
        r0, r1 = r1, r0
    parent[r1] = r0
    size[r0] += size[r1]
    edge[r0] |= edge[r1]
    return r0


@njit(cache=True)
def _spans(flags):
    """A cluster touching both left and right (bits 1, 2) or both top and bottom (bits 4, 8)."""
    return (flags & 3) == 3 or (flags & 12) == 12


@njit(cache=True)
def _forest(n):
    """Union-find arrays for n sites, all empty (parent -1), and the largest-cluster record."""
    return np.full(n, -1, np.int32), np.zeros(n, np.int32), np.empty(n, np.int32)


@njit(cache=True)
def _nz_lattice(order, oy, ox, ly, lx, periodic):
    """Largest cluster after each added site on an ly x lx lattice with offsets (oy, ox).

    Returns (largest (N,) int32, step at which a cluster first spans, -1 if never).
    """
    n = ly * lx
    parent, size, largest = _forest(n)
    edge = np.zeros(n, np.int8)
    big = 0
    span = -1
    for k in range(n):
        s = order[k]
        parent[s], size[s] = s, 1
        sy = s // lx
        sx = s - sy * lx
        if not periodic:
            edge[s] = (sx == 0) * 1 + (sx == lx - 1) * 2 + (sy == 0) * 4 + (sy == ly - 1) * 8
        r0 = s
        for j in range(oy.shape[0]):
            ny = sy + oy[j]
            nx_ = sx + ox[j]
            if periodic:
                ny %= ly
                nx_ %= lx
            elif ny < 0 or ny >= ly or nx_ < 0 or nx_ >= lx:
                continue
            r0 = _merge(parent, size, edge, r0, ny * lx + nx_)
        big = max(big, size[r0])
        largest[k] = big
        if span < 0 and _spans(edge[r0]):
            span = k
    return largest, span


@njit(cache=True)
def _nz_graph(order, indptr, indices, edge_in):
    """Largest cluster after each added node of a graph in CSR form (symmetric adjacency)."""
    n = indptr.shape[0] - 1
    parent, size, largest = _forest(n)
    edge = edge_in.copy()
    big = 0
    span = -1
    for k in range(n):
        s = order[k]
        parent[s], size[s] = s, 1
        r0 = s
        for p in range(indptr[s], indptr[s + 1]):
            r0 = _merge(parent, size, edge, r0, indices[p])
        big = max(big, size[r0])
        largest[k] = big
        if span < 0 and _spans(edge[r0]):
            span = k
    return largest, span


def newman_ziff(order, offsets=None, lattice=None, periodic=False, graph=None):
    """One Newman-Ziff pass: largest cluster size after each of the sites in ``order``.

    Either a lattice (``lattice=(ly, lx)``, ``offsets=(oy, ox)`` int arrays, a
    symmetric neighbourhood) or ``graph=(indptr, indices, edge_flags)`` in CSR
    form. Returns (largest, span_step) where largest[k] is the largest cluster
    once k + 1 sites are kept and span_step the first k at which a cluster joins
    opposite edges (-1 if never).
    """
    order = np.ascontiguousarray(order, dtype=np.int64)
    if graph is not None:
        indptr, indices, edge = graph
        return _nz_graph(order, indptr, indices, edge)
    oy, ox = (np.ascontiguousarray(o, dtype=np.int64) for o in offsets)
    return _nz_lattice(order, oy, ox, int(lattice[0]), int(lattice[1]), bool(periodic))


# -- canonical averaging and the threshold estimate -------------------------

def binomial_weights(n_total: int, p: float, width: float = 10.0):
    """(n values, weights) of Binomial(n_total, p) over its +-width sd window, from log pmf."""
    if p <= 0:
        return np.array([0]), np.array([1.0])
    if p >= 1:
        return np.array([n_total]), np.array([1.0])
    mean, sd = n_total * p, np.sqrt(n_total * p * (1 - p))
    lo = max(0, int(np.floor(mean - width * sd - 1)))
    hi = min(n_total, int(np.ceil(mean + width * sd + 1)))
    n = np.arange(lo, hi + 1)
    logw = stats.binom.logpmf(n, n_total, p)
    w = np.exp(logw - logw.max())
    return n, w / w.sum()


def canonical(largest, keep_fractions, weights=None):
    """Canonical averages at each keep fraction of S/n and S/N from one microcanonical curve.

    ``largest`` has length N (S after 1..N sites); S(0) = 0 and S/n at n = 0 is
    0. ``weights``: precomputed :func:`binomial_weights` per keep fraction
    (they depend only on N and lambda, so trials share them).
    """
    n_total = len(largest)
    if weights is None:
        weights = [binomial_weights(n_total, float(p)) for p in keep_fractions]
    ratio, frac = np.empty(len(weights)), np.empty(len(weights))
    for i, (n, w) in enumerate(weights):
        s = np.where(n > 0, largest[np.maximum(n, 1) - 1], 0).astype(np.float64)
        ratio[i] = np.sum(w * s / np.maximum(n, 1))  # elementwise, not BLAS: no thread start-up per call
        frac[i] = np.sum(w * s) / n_total
    return ratio, frac


def largest_jump(largest) -> float:
    """Keep fraction (k / N) at which one added site enlarges the largest cluster the most."""
    largest = np.asarray(largest)
    if len(largest) < 2:
        return float("nan")
    jump = np.diff(largest)
    return float((np.argmax(jump) + 2) / len(largest))


def summarize_trials(values):
    """(mean, standard error, std) of the finite per-trial values; NaN where undefined."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan, np.nan
    sd = float(v.std(ddof=1)) if len(v) > 1 else np.nan
    return float(v.mean()), sd / np.sqrt(len(v)) if len(v) > 1 else np.nan, sd
