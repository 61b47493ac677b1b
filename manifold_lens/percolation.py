"""Coverage graphs and site percolation of the training lattice (SCIENCE.md section 5).

Two training images are connected when their overlap (:mod:`manifold_lens.overlap`)
is at least a threshold (default 0.005). Keeping each lattice site with
probability lambda (``keep_fraction``) is then site percolation with an
extended neighbourhood: every lattice offset whose overlap passes the threshold.

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
graphs. Finite lattices shift it by O(L^-3/4) (L sites per side): on 256 x 256
it gives 0.595 (nearest neighbours, exact 0.59274605) and 0.408 (with
diagonals, exact 0.40725395), within 0.003. The per-trial spread
(``lambda_c_std``) is the width of the finite-size transition. As a cross
check ``lambda_span`` is the mean keep fraction at which a cluster first joins
opposite edges of an open lattice (left-right or top-bottom); it approaches
the exact value from below (0.589 at 256 x 256) and is undefined (NaN) on
periodic lattices.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import networkx as nx
import numpy as np
import xarray as xr
from numba import njit
from scipy import stats
from tqdm.auto import tqdm

from .config import DataConfig, RunConfig
from .datasets import SyntheticDataset, build_dataset
from .errors import ConfigError
from .overlap import (check_method, check_threshold, condition_edges, connection_radius,
                      continuum_overlap, lattice_overlap_1d)
from .versions import package_versions

DEFAULT_KEEP_FRACTIONS = np.round(np.arange(1, 101) / 100.0, 2)
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
def _nz_lattice(order, oy, ox, ly, lx, periodic):
    """Largest cluster after each added site on an ly x lx lattice with offsets (oy, ox).

    Returns (largest (N,) int32, step at which a cluster first spans, -1 if never).
    """
    n = ly * lx
    parent = np.full(n, -1, np.int32)
    size = np.zeros(n, np.int32)
    edge = np.zeros(n, np.int8)
    largest = np.empty(n, np.int32)
    big = 0
    span = -1
    for k in range(n):
        s = order[k]
        parent[s] = s
        size[s] = 1
        sy = s // lx
        sx = s - sy * lx
        if not periodic:
            m = 0
            if sx == 0:
                m |= 1
            if sx == lx - 1:
                m |= 2
            if sy == 0:
                m |= 4
            if sy == ly - 1:
                m |= 8
            edge[s] = m
        r0 = s
        for j in range(oy.shape[0]):
            ny = sy + oy[j]
            nx_ = sx + ox[j]
            if periodic:
                ny %= ly
                nx_ %= lx
            elif ny < 0 or ny >= ly or nx_ < 0 or nx_ >= lx:
                continue
            t = ny * lx + nx_
            if parent[t] < 0:
                continue
            r1 = _find(parent, t)
            if r1 == r0:
                continue
            if size[r1] > size[r0]:
                r0, r1 = r1, r0
            parent[r1] = r0
            size[r0] += size[r1]
            edge[r0] |= edge[r1]
        if size[r0] > big:
            big = size[r0]
        largest[k] = big
        if span < 0 and ((edge[r0] & 3) == 3 or (edge[r0] & 12) == 12):
            span = k
    return largest, span


@njit(cache=True)
def _nz_graph(order, indptr, indices, edge_in):
    """Largest cluster after each added node of a graph in CSR form (symmetric adjacency)."""
    n = indptr.shape[0] - 1
    parent = np.full(n, -1, np.int32)
    size = np.zeros(n, np.int32)
    edge = edge_in.copy()
    largest = np.empty(n, np.int32)
    big = 0
    span = -1
    for k in range(n):
        s = order[k]
        parent[s] = s
        size[s] = 1
        r0 = s
        for p in range(indptr[s], indptr[s + 1]):
            t = indices[p]
            if parent[t] < 0:
                continue
            r1 = _find(parent, t)
            if r1 == r0:
                continue
            if size[r1] > size[r0]:
                r0, r1 = r1, r0
            parent[r1] = r0
            size[r0] += size[r1]
            edge[r0] |= edge[r1]
        if size[r0] > big:
            big = size[r0]
        largest[k] = big
        if span < 0 and ((edge[r0] & 3) == 3 or (edge[r0] & 12) == 12):
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


def _summary(values):
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.nan, np.nan, np.nan
    sd = float(v.std(ddof=1)) if len(v) > 1 else np.nan
    return float(v.mean()), sd / np.sqrt(len(v)) if len(v) > 1 else np.nan, sd


# -- the lattice neighbourhood -----------------------------------------------

def _pair(v, name):
    if np.ndim(v) == 0:
        return float(v), float(v)
    if len(v) != 2:
        raise ConfigError(f"{name} = {v}: give one value or (y, x)")
    return float(v[0]), float(v[1])


def check_keep_fractions(keep_fractions, allow_zero: bool = False) -> np.ndarray:
    """The keep fractions as an array (default 0.01..1), or ConfigError if any lies outside (0, 1]."""
    if keep_fractions is None:
        return DEFAULT_KEEP_FRACTIONS.copy()
    lam = np.atleast_1d(np.asarray(keep_fractions, dtype=np.float64))
    low = (lam < 0) if allow_zero else (lam <= 0)
    if lam.size == 0 or (low | (lam > 1) | ~np.isfinite(lam)).any():
        bad = lam[low | (lam > 1) | ~np.isfinite(lam)]
        raise ConfigError(f"keep_fractions = {bad[0] if bad.size else '[]'}: give values in "
                          f"{'[0' if allow_zero else '(0'}, 1], the fraction of lattice sites kept")
    return lam


def available_memory() -> int:
    """Bytes of memory available to this process (MemAvailable, else free pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def check_lattice_inputs(sigma, spacing, threshold, lattice, method="continuum", periodic=False,
                         trials=1, memory=None) -> None:
    """Validate lattice percolation inputs before any work; one-line ConfigError each.

    Estimates memory: ~60 bytes per site for the union-find pass, plus the
    candidate box of lattice offsets (from the continuum connection radius
    with a 50% margin for pixel sampling) at 16 bytes per offset.
    """
    check_threshold(threshold)
    check_method(method)
    sig = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
    if sig.size == 0:
        raise ConfigError("sigma: give at least one bump width (pixels)")
    if not (sig > 0).all():
        raise ConfigError(f"sigma = {sig[~(sig > 0)][0]}: must be > 0 (pixels)")
    dy, dx = _pair(spacing, "spacing")
    if not (dx > 0 and dy > 0):
        raise ConfigError(f"spacing = {spacing}: must be > 0 (pixels)")
    ly, lx = (int(v) for v in _pair(lattice, "lattice"))
    if ly < 2 or lx < 2:
        raise ConfigError(f"lattice = {min(ly, lx)}: needs at least 2 sites per side")
    if int(trials) < 1:
        raise ConfigError(f"trials = {trials}: must be >= 1")
    if periodic and method == "pixels" and any(abs(k * d - round(k * d)) > 1e-9 for k, d in ((ly, dy), (lx, dx))):
        raise ConfigError(f"periodic pixel overlaps need a whole-pixel torus, but lattice x spacing = {lx * dx:g} px: "
                          "make lattice x spacing a whole number of pixels or use method='continuum'")
    memory = available_memory() if memory is None else memory
    sites = ly * lx * 60
    if sites > memory:
        raise ConfigError(
            f"lattice = {ly} x {lx}: needs ~{sites / 2**30:.1f} GiB, more than the {memory / 2**30:.1f} GiB available; "
            "use a smaller --lattice"
        )
    r = connection_radius(float(sig.max()), threshold) * (1.5 if method == "pixels" else 1.0)
    kx = min(lx - 1, int(np.ceil(r / dx)) + 1)
    ky = min(ly - 1, int(np.ceil(r / dy)) + 1)
    box = (2 * kx + 1) * (2 * ky + 1) * 16
    if sites + box > memory:
        raise ConfigError(
            f"sigma = {sig.max()} at threshold {threshold}: a neighbourhood of up to ~{box // 16:.3g} lattice offsets "
            f"needs ~{(sites + box) / 2**30:.1f} GiB, more than the {memory / 2**30:.1f} GiB available; "
            "lower --sigma, raise --threshold or coarsen --spacing"
        )


def lattice_neighbourhood(sigma, spacing=1.0, threshold: float = 0.005, lattice=(256, 256), method: str = "continuum",
                          periodic: bool = False):
    """Lattice offsets (oy, ox) whose overlap passes the threshold, and those overlaps.

    ``sigma`` and ``spacing`` are one value or (y, x) pairs in pixels. Offsets
    run over the whole lattice (distinct wrapped offsets when periodic, with a
    period of ``lattice x spacing`` px); the neighbourhood is symmetric and
    excludes (0, 0). Works from 1D overlap factors, rendering no images.
    """
    sy, sx = _pair(sigma, "sigma")
    dy, dx = _pair(spacing, "spacing")
    ly, lx = (int(v) for v in _pair(lattice, "lattice"))
    check_lattice_inputs((sy, sx), (dy, dx), threshold, (ly, lx), method, periodic)

    def axis(length, d, s):
        if periodic:
            k = np.arange(-((length - 1) // 2), length // 2 + 1)
            return k, lattice_overlap_1d(k, d, s, method, period=length * d)
        # overlap factors fall with distance; stop once they pass below threshold for a while
        k = np.arange(0, length)
        if method == "continuum":
            f = continuum_overlap(k * d, 0.0, s)
        else:
            r = connection_radius(s, threshold) * 1.5 + 2 * d + 3
            kk = k[k * d <= r + 10 * s]
            f = np.zeros(length)
            f[: len(kk)] = lattice_overlap_1d(kk, d, s, method)
        return np.concatenate([-k[:0:-1], k]), np.concatenate([f[:0:-1], f])

    kx, fx = axis(lx, dx, sx)
    ky, fy = axis(ly, dy, sy)
    kx, fx = kx[fx >= threshold], fx[fx >= threshold]
    ky, fy = ky[fy >= threshold], fy[fy >= threshold]
    w = fy[:, None] * fx[None, :]
    iy, ix = np.nonzero(w >= threshold)
    oy, ox, ov = ky[iy], kx[ix], w[iy, ix]
    keep = (oy != 0) | (ox != 0)
    return oy[keep].astype(np.int64), ox[keep].astype(np.int64), ov[keep]


def lattice_percolation(sigma, spacing=1.0, threshold: float = 0.005, lattice=256, trials: int = 20,
                        keep_fractions=None, periodic: bool = False, method: str = "continuum", seed: int = 0,
                        sigma_y=None, offsets=None, progress: bool = True) -> xr.Dataset:
    """Largest-cluster curves of site percolation on a lattice, one row per bump width.

    Args:
        sigma: one or several bump widths (px) along x; ``sigma_y`` (same
            length) makes them anisotropic.
        spacing: lattice spacing (px), one value or (y, x).
        threshold: overlap at which two sites connect, in (0, 1).
        lattice: sites per side, one value or (ly, lx).
        trials: independent random orders (Newman-Ziff passes) per sigma.
        keep_fractions: lambda values of the canonical curves (default 0.01..1).
        periodic: wrap the lattice into a torus of side lattice x spacing px.
        method: ``continuum`` (closed form) or ``pixels`` (sampled bumps).
        offsets: explicit (oy, ox) neighbourhood instead of the overlap one
            (e.g. nearest neighbours for the textbook check); sigma then only
            labels the rows.

    Returns an xr.Dataset with dims (``sigma``, ``keep_fraction``, ``trial``).
    A sigma whose threshold leaves no neighbours is not an error: its sites are
    isolated, its curve is S = 1, ``lambda_c`` is NaN and ``isolated`` is True.
    """
    sig = np.atleast_1d(np.asarray(sigma, dtype=np.float64))
    sig_y = sig if sigma_y is None else np.atleast_1d(np.asarray(sigma_y, dtype=np.float64))
    if sig_y.shape != sig.shape:
        raise ConfigError("sigma_y: give one value per sigma")
    dy, dx = _pair(spacing, "spacing")
    ly, lx = (int(v) for v in _pair(lattice, "lattice"))
    lam = check_keep_fractions(keep_fractions, allow_zero=True)
    check_lattice_inputs(np.concatenate([sig, sig_y]), (dy, dx), threshold, (ly, lx), method, periodic, trials)
    n_sites = ly * lx
    rng = np.random.default_rng(seed)
    ratio = np.zeros((len(sig), len(lam), trials))
    frac = np.zeros_like(ratio)
    lam_trial = np.full((len(sig), trials), np.nan)
    span_trial = np.full((len(sig), trials), np.nan)
    counts = np.zeros(len(sig), np.int64)
    weights = [binomial_weights(n_sites, float(p)) for p in lam]
    bar = tqdm(total=len(sig) * trials, desc="percolation", unit="trial", disable=not progress)
    for a, (s, s_y) in enumerate(zip(sig, sig_y)):
        if offsets is None:
            oy, ox, _ = lattice_neighbourhood((s_y, s), (dy, dx), threshold, (ly, lx), method, periodic)
        else:
            oy, ox = (np.asarray(o, dtype=np.int64) for o in offsets)
        counts[a] = len(oy)
        for t in range(trials):
            order = rng.permutation(n_sites)
            largest, span = newman_ziff(order, (oy, ox), (ly, lx), periodic)
            ratio[a, :, t], frac[a, :, t] = canonical(largest, lam, weights)
            if len(oy):
                lam_trial[a, t] = largest_jump(largest)
                span_trial[a, t] = (span + 1) / n_sites if span >= 0 else np.nan
            bar.update()
    bar.close()
    summ = np.array([_summary(v) for v in lam_trial])
    span_summ = np.array([_summary(v) for v in span_trial])
    isolated = counts == 0
    ds = xr.Dataset(
        {
            "largest_cluster_ratio": (("sigma", "keep_fraction", "trial"), ratio, {
                "long_name": "largest cluster over kept sites", "units": "1",
                "description": "canonical mean of S/n at keep fraction lambda (S = largest cluster, n = kept sites)"}),
            "largest_cluster_fraction": (("sigma", "keep_fraction", "trial"), frac, {
                "long_name": "largest cluster over all sites", "units": "1",
                "description": "canonical mean of S/N (N = all lattice sites)"}),
            "lambda_c": ("sigma", summ[:, 0], {"long_name": "percolation threshold estimate", "units": "1",
                                               "description": ESTIMATOR}),
            "lambda_c_stderr": ("sigma", summ[:, 1], {"long_name": "standard error of lambda_c", "units": "1"}),
            "lambda_c_std": ("sigma", summ[:, 2], {
                "long_name": "spread of the per-trial threshold", "units": "1",
                "description": "standard deviation over trials: the finite-size width of the transition"}),
            "lambda_c_trial": (("sigma", "trial"), lam_trial, {
                "long_name": "per-trial threshold (largest jump of the largest cluster)", "units": "1"}),
            "lambda_span": ("sigma", span_summ[:, 0], {
                "long_name": "mean keep fraction at which a cluster first joins opposite edges", "units": "1",
                "description": "cross-check estimator of the threshold; NaN on periodic lattices"}),
            "lambda_span_stderr": ("sigma", span_summ[:, 1], {"long_name": "standard error of lambda_span",
                                                              "units": "1"}),
            "neighbour_count": ("sigma", counts, {"long_name": "lattice offsets in the neighbourhood",
                                                  "units": "1"}),
            "isolated": ("sigma", isolated, {"long_name": "no lattice offset passes the threshold",
                                             "description": "sites never connect: no percolation at any lambda"}),
            "connection_radius": ("sigma", [connection_radius(s, threshold) for s in sig], {
                "long_name": "continuum connection radius along x", "units": "px",
                "description": "2 sigma sqrt(ln(1/threshold))"}),
        },
        coords={
            "sigma": ("sigma", sig, {"long_name": "bump width along x", "units": "px"}),
            "sigma_y": ("sigma", sig_y, {"long_name": "bump width along y", "units": "px"}),
            "keep_fraction": ("keep_fraction", lam, {"long_name": "fraction of lattice sites kept (lambda)",
                                                     "units": "1"}),
            "trial": ("trial", np.arange(trials)),
        },
        attrs={
            "description": "site percolation of the training lattice with the overlap neighbourhood (Newman-Ziff)",
            "spacing_x": dx, "spacing_y": dy, "threshold": float(threshold), "lattice": [ly, lx],
            "n_sites": n_sites, "trials": int(trials), "periodic": int(periodic), "seed": int(seed),
            "method": method if offsets is None else "explicit offsets", "estimator": ESTIMATOR,
            "isolated_sigmas": [float(s) for s in sig[isolated]],
            "note": ("no neighbours at threshold for sigma = " + ", ".join(f"{s:g}" for s in sig[isolated])
                     + ": sites are isolated, the largest cluster is one site at every lambda") if isolated.any()
            else "",
            "versions": package_versions(),
        },
    )
    return ds


# -- coverage graphs of datasets --------------------------------------------

def _as_dataset(dataset) -> SyntheticDataset:
    if isinstance(dataset, SyntheticDataset):
        return dataset
    if isinstance(dataset, (RunConfig, DataConfig)):
        return build_dataset(dataset)
    raise TypeError("dataset must be a SyntheticDataset, RunConfig or DataConfig")


def coverage_graph(dataset, threshold: float = 0.005, method: str = "pixels", index=None) -> nx.Graph:
    """The coverage graph of a dataset's training conditions.

    Nodes are candidate-condition indices (``dataset.x[node]``) with attributes
    x, y (px), family and region; an edge joins two conditions whose overlap is
    at least ``threshold`` and carries it as ``overlap``. ``index`` picks other
    conditions than the training set. Graph attrs record threshold and method.
    """
    ds = _as_dataset(dataset)
    idx = ds.train_index if index is None else np.asarray(index, dtype=np.int64)
    i, j, w = condition_edges(ds, idx, threshold, method)
    g = nx.Graph(threshold=float(threshold), method=method, sigma_x=ds.sigma_x, sigma_y=ds.sigma_y)
    g.add_nodes_from(
        (int(k), {"x": float(ds.x[k]), "y": float(ds.y[k]), "family": str(ds.family[k]), "region": str(ds.region[k])})
        for k in idx
    )
    g.add_weighted_edges_from(zip(idx[i].tolist(), idx[j].tolist(), w.tolist()), weight="overlap")
    return g


class Cluster(NamedTuple):
    """The largest connected cluster of a graph: its nodes and their number."""

    nodes: set
    size: int


def largest_cluster(graph: nx.Graph) -> Cluster:
    """Largest connected component of ``graph`` (empty graph: no nodes, size 0)."""
    if graph.number_of_nodes() == 0:
        return Cluster(set(), 0)
    nodes = max(nx.connected_components(graph), key=len)
    return Cluster(set(nodes), len(nodes))


def _csr(n, i, j):
    """Symmetric CSR adjacency from undirected edge lists."""
    a = np.concatenate([i, j])
    b = np.concatenate([j, i])
    order = np.argsort(a, kind="stable")
    indptr = np.zeros(n + 1, np.int64)
    np.add.at(indptr, a + 1, 1)
    return np.cumsum(indptr), b[order].astype(np.int64)


def _edge_flags(xs, ys, periodic):
    """Bit flags of the lattice's left/right/top/bottom edges (0 on a torus)."""
    if periodic:
        return np.zeros(len(xs), np.int8)
    tol = 1e-9
    return ((np.abs(xs - xs.min()) < tol) * 1 + (np.abs(xs - xs.max()) < tol) * 2
            + (np.abs(ys - ys.min()) < tol) * 4 + (np.abs(ys - ys.max()) < tol) * 8).astype(np.int8)


def trainable_index(dataset: SyntheticDataset) -> np.ndarray:
    """Candidate conditions that subsampling chooses from (region ``train`` or ``unsampled``)."""
    return np.flatnonzero(np.isin(dataset.region, ["train", "unsampled"]))


def dataset_percolation(dataset, keep_fractions=None, trials: int = 20, threshold: float = 0.005,
                        method: str = "pixels", seed: int = 0, progress: bool = True) -> xr.Dataset:
    """Largest-cluster curves of a dataset's own subsampling, on its exact coverage graph.

    The sites are the conditions subsampling chooses from (hold-outs excluded,
    frame edges and pixel truncation included). A dataset keeps exactly
    ``max(1, round(lambda x n))`` of its n sites, so the curve at lambda is the
    Newman-Ziff value at that number (microcanonical), averaged over trials.
    Returns dims (``keep_fraction``, ``trial``) with ``largest_cluster_ratio``,
    ``largest_cluster_fraction`` and the ``lambda_c`` estimate.
    """
    ds = _as_dataset(dataset)
    if len({c.keep_fraction for c in ds.components}) > 1:
        raise ConfigError("data.keep_fractions: percolation prediction needs one keep_fraction for all families")
    idx = trainable_index(ds)
    i, j, _ = condition_edges(ds, idx, threshold, method)
    n = len(idx)
    indptr, indices = _csr(n, i, j)
    flags = _edge_flags(ds.x[idx], ds.y[idx], ds.periodic)
    lam = check_keep_fractions(keep_fractions)
    kept = np.maximum(1, np.round(lam * n).astype(np.int64))
    rng = np.random.default_rng(seed)
    ratio = np.zeros((len(lam), trials))
    lam_trial = np.full(trials, np.nan)
    for t in tqdm(range(trials), desc="percolation", unit="trial", disable=not progress):
        largest, _ = newman_ziff(rng.permutation(n), graph=(indptr, indices, flags))
        ratio[:, t] = largest[kept - 1] / kept
        if len(i):
            lam_trial[t] = largest_jump(largest)
    mean, se, sd = _summary(lam_trial)
    return xr.Dataset(
        {
            "largest_cluster_ratio": (("keep_fraction", "trial"), ratio, {
                "long_name": "largest cluster over kept sites", "units": "1"}),
            "largest_cluster_fraction": (("keep_fraction", "trial"), ratio * (kept / n)[:, None], {
                "long_name": "largest cluster over all sites", "units": "1"}),
            "lambda_c": ((), mean, {"long_name": "percolation threshold estimate", "units": "1",
                                    "description": ESTIMATOR}),
            "lambda_c_stderr": ((), se, {"long_name": "standard error of lambda_c", "units": "1"}),
            "edge_count": ((), len(i), {"long_name": "edges of the coverage graph of all sites", "units": "1"}),
        },
        coords={"keep_fraction": ("keep_fraction", lam, {"units": "1"}), "trial": np.arange(trials)},
        attrs={"n_sites": n, "threshold": float(threshold), "method": method, "trials": int(trials), "seed": int(seed),
               "description": "percolation of the dataset's own candidate conditions (exact coverage graph)"},
    )
