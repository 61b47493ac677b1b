"""Coverage graphs of datasets and the percolation of a dataset's own subsampling.

Two training images are connected when their overlap
(:mod:`~manifold_lens.percolation.overlap`) is at least a threshold (default
0.005). :func:`coverage_graph` builds that graph over a dataset's training
conditions as a ``networkx.Graph``; :func:`dataset_percolation` runs
Newman-Ziff passes (:mod:`~manifold_lens.percolation.kernels`) over the exact
coverage graph of the sites its subsampling chooses from.
"""

from __future__ import annotations

from typing import NamedTuple

import networkx as nx
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..config import DataConfig, RunConfig
from ..datasets import SyntheticDataset
from ..errors import ConfigError
from .kernels import ESTIMATOR, largest_jump, newman_ziff, summarize_trials
from .lattice import check_keep_fractions
from .overlap import condition_edges
from .settings import PercolationSettings, overlap_kind, renamed_keywords, retired_method

_P = PercolationSettings


def _as_dataset(dataset) -> SyntheticDataset:
    if isinstance(dataset, SyntheticDataset):
        return dataset
    if isinstance(dataset, (RunConfig, DataConfig)):
        return SyntheticDataset(dataset)
    raise TypeError("dataset must be a SyntheticDataset, RunConfig or DataConfig")


def coverage_graph(dataset, threshold: float = _P.default("threshold"), overlap: str = _P.default("overlap"),
                   index=None, **retired) -> nx.Graph:
    """The coverage graph of a dataset's training conditions.

    Nodes are candidate-condition indices (``dataset.x[node]``) with attributes
    x, y (px), family and region; an edge joins two conditions whose overlap is
    at least ``threshold`` and carries it as ``overlap``. ``index`` picks other
    conditions than the training set. Graph attrs record threshold and overlap.
    ``method=`` is the retired name of ``overlap``.
    """
    overlap = overlap_kind(overlap, retired, "coverage_graph")
    renamed_keywords("coverage_graph", retired, {})
    ds = _as_dataset(dataset)
    idx = ds.train_index if index is None else np.asarray(index, dtype=np.int64)
    i, j, w = condition_edges(ds, idx, threshold, overlap)
    g = nx.Graph(threshold=float(threshold), overlap=overlap, sigma_x=ds.sigma_x, sigma_y=ds.sigma_y)
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


def csr_adjacency(n, i, j):
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


def dataset_percolation(dataset, keep_fractions=_P.default("keep_fractions"), trials: int = _P.default("trials"),
                        threshold: float = _P.default("threshold"), overlap: str = _P.default("overlap"),
                        seed: int = _P.default("seed"), progress: bool = True, **retired) -> xr.Dataset:
    """Largest-cluster curves of a dataset's own subsampling, on its exact coverage graph.

    The sites are the conditions subsampling chooses from (hold-outs excluded,
    frame edges and pixel truncation included). A dataset keeps exactly
    ``max(1, round(lambda x n))`` of its n sites, so the curve at lambda is the
    Newman-Ziff value at that number (microcanonical), averaged over trials.
    Returns dims (``keep_fraction``, ``trial``) with ``largest_cluster_ratio``,
    ``largest_cluster_fraction`` and the ``lambda_c`` estimate. ``method=`` is
    the retired name of ``overlap``.
    """
    overlap = overlap_kind(overlap, retired, "dataset_percolation")
    renamed_keywords("dataset_percolation", retired, {})
    _P(threshold=threshold, overlap=overlap, trials=trials, seed=seed).check()
    trials = int(trials)
    ds = _as_dataset(dataset)
    if len({c.keep_fraction for c in ds.components}) > 1:
        raise ConfigError("data.keep_fractions: percolation prediction needs one keep_fraction for all families")
    idx = trainable_index(ds)
    i, j, _ = condition_edges(ds, idx, threshold, overlap)
    n = len(idx)
    indptr, indices = csr_adjacency(n, i, j)
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
    mean, se, sd = summarize_trials(lam_trial)
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
        attrs={"n_sites": n, "threshold": float(threshold), "overlap": overlap, "trials": int(trials),
               "seed": int(seed), "method": retired_method(overlap),
               "description": "percolation of the dataset's own candidate conditions (exact coverage graph)"},
    )
