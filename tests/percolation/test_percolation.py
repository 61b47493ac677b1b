"""Percolation: Newman-Ziff against networkx, textbook thresholds, coverage graphs."""

import itertools

import networkx as nx
import numpy as np
import pytest

from manifold_lens.config import RunConfig
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.errors import ConfigError, ManifoldLensError
from manifold_lens.percolation.overlap import lattice_overlap_1d
from manifold_lens.percolation import (coverage_graph, dataset_percolation, largest_cluster, lattice_neighbourhood,
                                       lattice_percolation)
from manifold_lens.percolation.kernels import binomial_weights, canonical, newman_ziff
from manifold_lens.percolation.lattice import check_lattice_inputs

NN = (np.array([0, 0, 1, -1]), np.array([1, -1, 0, 0]))
NN_DIAG = (np.array([0, 0, 1, -1, 1, 1, -1, -1]), np.array([1, -1, 0, 0, 1, -1, 1, -1]))


def lattice_graph(ly, lx, oy, ox, periodic):
    g = nx.Graph()
    g.add_nodes_from(range(ly * lx))
    for s in range(ly * lx):
        y, x = divmod(s, lx)
        for dy, dx in zip(oy, ox):
            ny, nx_ = y + dy, x + dx
            if periodic:
                ny, nx_ = ny % ly, nx_ % lx
            elif not (0 <= ny < ly and 0 <= nx_ < lx):
                continue
            if ny * lx + nx_ != s:
                g.add_edge(s, ny * lx + nx_)
    return g


def nx_largest(g, kept):
    sub = g.subgraph(kept)
    return max((len(c) for c in nx.connected_components(sub)), default=0)


@pytest.mark.parametrize("periodic", [False, True])
def test_newman_ziff_agrees_with_networkx_on_lattice(periodic):
    ly, lx = 12, 15
    oy, ox, _ = lattice_neighbourhood(0.9, 1.0, 0.01, (ly, lx), periodic=periodic)
    assert len(oy) > 8  # an extended neighbourhood
    g = lattice_graph(ly, lx, oy, ox, periodic)
    order = np.random.default_rng(3).permutation(ly * lx)
    largest, _ = newman_ziff(order, (oy, ox), (ly, lx), periodic)
    want = [nx_largest(g, order[: k + 1]) for k in range(ly * lx)]
    np.testing.assert_array_equal(largest, want)


def test_newman_ziff_agrees_with_networkx_on_dataset_graph():
    ds = SyntheticDataset(RunConfig().with_overrides({"data.image_size": 16, "data.sigma": 0.6,
                                                      "data.holdout.kind": "interior", "data.holdout.width": 5}))
    g = coverage_graph(ds, 0.005, index=np.flatnonzero(np.isin(ds.region, ["train", "unsampled"])))
    nodes = np.array(sorted(g.nodes))
    pos = {v: k for k, v in enumerate(nodes)}
    i = np.array([pos[a] for a, b in g.edges])
    j = np.array([pos[b] for a, b in g.edges])
    from manifold_lens.percolation.graph import csr_adjacency

    indptr, indices = csr_adjacency(len(nodes), i, j)
    order = np.random.default_rng(5).permutation(len(nodes))
    largest, _ = newman_ziff(order, graph=(indptr, indices, np.zeros(len(nodes), np.int8)))
    want = [nx_largest(g, nodes[order[: k + 1]]) for k in range(0, len(nodes), 7)]
    np.testing.assert_array_equal(largest[::7], want)


def test_canonical_average_is_exact_on_a_tiny_lattice():
    """Averaging Newman-Ziff over all 4! orders then binomially equals the exact Bernoulli expectation."""
    ly = lx = 2
    g = lattice_graph(ly, lx, *NN, periodic=False)
    micro = np.mean([newman_ziff(np.array(p), NN, (ly, lx))[0] for p in itertools.permutations(range(4))], axis=0)
    for p in (0.2, 0.5, 0.9):
        ratio, frac = canonical(micro, [p])
        want_r = want_f = 0.0
        for mask in itertools.product([0, 1], repeat=4):
            kept = [s for s in range(4) if mask[s]]
            w = p ** len(kept) * (1 - p) ** (4 - len(kept))
            s = nx_largest(g, kept)
            want_f += w * s / 4
            want_r += w * (s / len(kept) if kept else 0.0)
        assert ratio[0] == pytest.approx(want_r, rel=1e-12)
        assert frac[0] == pytest.approx(want_f, rel=1e-12)


def test_binomial_weights_are_stable_for_large_lattices():
    n, w = binomial_weights(1024 * 1024, 0.5927)
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)
    assert n @ w == pytest.approx(1024 * 1024 * 0.5927, rel=1e-9)


@pytest.mark.parametrize("offsets,exact", [(NN, 0.59274605), (NN_DIAG, 0.40725395)])
def test_textbook_thresholds_on_256_lattice(offsets, exact):
    ds = lattice_percolation([1.0], 1.0, 0.005, 256, trials=60, keep_fractions=[0.3, 0.5, 0.6, 0.7, 1.0],
                             offsets=offsets, seed=11, progress=False)
    lam = float(ds.lambda_c[0])
    assert abs(lam - exact) < 0.01
    assert 0 < float(ds.lambda_c_stderr[0]) < 0.003  # 60 trials resolve the threshold well below the tolerance
    assert abs(float(ds.lambda_span[0]) - exact) < 0.01
    mean = ds.largest_cluster_fraction.mean("trial").sel(sigma=1.0)
    assert float(mean.sel(keep_fraction=1.0)) == pytest.approx(1.0)
    assert float(mean.sel(keep_fraction=0.3)) < 0.01  # well below threshold: no giant cluster


def test_overlap_neighbourhoods_reduce_to_textbook_lattices():
    # sigma = 0.3, d = 1: exp(-1/0.36) = 0.062 passes 0.005, the diagonal exp(-2/0.36) = 0.0039 does not
    oy, ox, _ = lattice_neighbourhood(0.3, 1.0, 0.005, 64, overlap="continuum")
    assert sorted(zip(oy, ox)) == sorted(zip(*NN))
    oy, ox, _ = lattice_neighbourhood(0.4, 1.0, 0.005, 64, overlap="continuum")  # exp(-2/0.64) = 0.044: diagonals join
    assert sorted(zip(oy, ox)) == sorted(zip(*NN_DIAG))
    oy, ox, w = lattice_neighbourhood((1.5, 0.6), 1.0, 0.005, 64, overlap="pixel")  # anisotropic (y, x)
    assert oy.max() > ox.max() and np.all(w >= 0.005)


def test_lambda_c_falls_as_sigma_grows_and_isolated_sites():
    ds = lattice_percolation([0.1, 0.3, 0.6, 1.0], 1.0, 0.005, 96, trials=6, progress=False)
    assert ds.largest_cluster_ratio.dims == ("sigma", "keep_fraction", "trial")
    lam = ds.lambda_c.values
    assert np.isnan(lam[0]) and bool(ds.isolated[0]) and ds.neighbour_count.values[0] == 0
    assert "isolated" in ds.attrs["note"] and ds.attrs["isolated_sigmas"] == [0.1]
    assert lam[1] > lam[2] > lam[3]
    # isolated sites: the largest cluster is one site, so S/N = 1/N at every lambda > 0
    np.testing.assert_allclose(ds.largest_cluster_fraction.sel(sigma=0.1).sel(keep_fraction=0.5), 1 / 96**2,
                               rtol=1e-9)
    for key in ("spacing_x", "threshold", "lattice", "lattice_side", "trials", "periodic", "seed", "overlap",
                "method"):
        assert key in ds.attrs
    assert ds.attrs["overlap"] == "pixel" and ds.attrs["method"] == "pixels"  # the retired word, for old readers


def test_periodic_lattice_threshold():
    ds = lattice_percolation([0.3], 1.0, 0.005, 128, trials=20, keep_fractions=[0.5], periodic=True, seed=2,
                             overlap="continuum", progress=False)
    assert abs(float(ds.lambda_c[0]) - 0.5927) < 0.015
    assert np.isnan(float(ds.lambda_span[0]))  # no edges on a torus


@pytest.mark.parametrize("kwargs,match", [
    ({"threshold": 0.0}, "threshold"), ({"threshold": 1.0}, "threshold"), ({"sigma": [1.0, -1.0]}, "sigma"),
    ({"sigma": [0.0]}, "sigma"), ({"lattice_side": 1}, "lattice_side = 1"), ({"spacing": 0.0}, "spacing"),
    ({"trials": 0}, "trials = 0: must be >= 1"), ({"lattice_side": 10**6}, "lattice_side"),
])
def test_bad_lattice_inputs(kwargs, match):
    args = {"sigma": [1.0], "spacing": 1.0, "threshold": 0.005, "lattice_side": 64, "trials": 1} | kwargs
    with pytest.raises(ConfigError, match=match):
        lattice_percolation(args.pop("sigma"), progress=False, **args)


def test_neighbourhood_too_large_for_memory():
    with pytest.raises(ConfigError, match="neighbourhood"):
        check_lattice_inputs([1e4], 1.0, 0.005, 4000, memory=1.5 * 2**30)
    check_lattice_inputs([1.0], 1.0, 0.005, 4000, memory=1.5 * 2**30)  # the same lattice, small neighbourhood


def test_coverage_graph_and_largest_cluster():
    ds = SyntheticDataset(RunConfig().with_overrides({"data.image_size": 16, "data.sigma": 0.4,
                                                      "data.keep_fraction": 0.6, "data.seed": 4}))
    g = coverage_graph(ds, 0.005)
    assert set(g.nodes) == set(ds.train_index.tolist())
    k = next(iter(g.nodes))
    assert g.nodes[k] == {"x": ds.x[k], "y": ds.y[k], "family": "bump", "region": "train"}
    # sigma = 0.4 on pixels: the axis factor at one pixel is f = 2 e^-3.125 / (1 + 2 e^-6.25) = 0.088, so
    # side neighbours overlap f, diagonals f^2 = 0.0077, two pixels 0.0019 (< 0.005); truncation at the
    # frame edge changes a bump's norm by < e^-6
    f = lattice_overlap_1d([1], 1.0, 0.4, "pixel")[0]
    assert f == pytest.approx(2 * np.exp(-3.125) / (1 + 2 * np.exp(-6.25)), rel=1e-4)
    for a, b, w in g.edges(data="overlap"):
        d2 = (ds.x[a] - ds.x[b]) ** 2 + (ds.y[a] - ds.y[b]) ** 2
        assert d2 in (1.0, 2.0) and w == pytest.approx(f**d2, rel=0.03)
    train = set(ds.train_index.tolist())
    for a in train:  # every kept side or diagonal neighbour is joined
        for dx, dy in [(1, 0), (0, 1), (1, 1), (1, -1)]:
            b = a + dx + 16 * dy
            if 0 <= ds.x[a] + dx < 16 and 0 <= ds.y[a] + dy < 16 and b in train:
                assert g.has_edge(a, b)
    nodes, size = largest_cluster(g)
    assert size == len(nodes) == max(len(c) for c in nx.connected_components(g))
    assert largest_cluster(nx.Graph()).size == 0


def test_dataset_percolation_follows_the_subsampling_rule():
    cfg = RunConfig().with_overrides({"data.image_size": 16, "data.sigma": 0.3})
    res = dataset_percolation(cfg, keep_fractions=[0.2, 0.5, 1.0], trials=8, progress=False)
    assert res.attrs["n_sites"] == 256
    np.testing.assert_allclose(res.largest_cluster_ratio.sel(keep_fraction=1.0), 1.0)
    assert float(res.largest_cluster_ratio.sel(keep_fraction=0.2).mean()) < 0.2
    # the curve at lambda is the Newman-Ziff value at round(lambda n) sites: a real subsample of the dataset
    # is one such configuration, reached by an order that adds its kept sites first
    ds = SyntheticDataset(cfg.with_overrides({"data.keep_fraction": 0.5}))
    assert len(ds) == 128
    from manifold_lens.percolation.graph import csr_adjacency, trainable_index
    from manifold_lens.percolation.overlap import condition_edges

    idx = trainable_index(ds)
    i, j, _ = condition_edges(ds, idx, 0.005, "pixel")
    kept = np.flatnonzero(ds.train[idx])
    rng = np.random.default_rng(0)
    order = np.concatenate([rng.permutation(kept), rng.permutation(np.flatnonzero(~ds.train[idx]))])
    largest, _ = newman_ziff(order, graph=(*csr_adjacency(len(idx), i, j), np.zeros(len(idx), np.int8)))
    assert largest[len(kept) - 1] == largest_cluster(coverage_graph(ds, 0.005)).size
    assert 0.5 < float(res.lambda_c) < 0.8  # small open lattice near the nearest-neighbour threshold


def test_results_round_trip_through_the_store(tmp_path):
    import xarray as xr

    from manifold_lens.stores import read_results, write_results

    ds = lattice_percolation([0.1, 0.5], 1.0, 0.005, 16, trials=2, keep_fractions=[0.5, 1.0], progress=False)
    write_results(tmp_path / "r.zarr", "percolation", "default", ds)
    back = read_results(tmp_path / "r.zarr", "percolation", "default")
    assert (back.attrs.pop("complete"), back.attrs.pop("status")) == (1, "complete")  # the commit mark, read back
    xr.testing.assert_identical(back, ds)


def test_lattice_of_config_and_percolate(tmp_path):
    from manifold_lens import load_config
    from manifold_lens.percolation import lattice_of_config, percolate

    spec = lattice_of_config(load_config("quick", overrides=["data.spacing=2"]))
    assert (spec.sigma_x, spec.spacing, spec.lattice_side, spec.periodic, spec.note) == \
        (1.0, (2.0, 2.0), (8, 8), False, "")
    torus = lattice_of_config(load_config("paper-torus"), lattice_side=16)
    assert torus.periodic and torus.lattice_side == (16, 16) and "side 16 px" in torus.note
    with pytest.raises(ConfigError, match="data.family = 'sos'"):
        lattice_of_config(load_config("quick", overrides=["data.family=sos"]))
    cfg = load_config("quick", overrides=["data.sigma=0.5"])
    out = tmp_path / "r.zarr"
    ds = percolate(config=cfg, trials=3, seed=1, source="quick", out=out, progress=False)
    ref = lattice_percolation([0.5], 1.0, 0.005, 16, trials=3, seed=1, progress=False)
    np.testing.assert_array_equal(ds.largest_cluster_ratio.values, ref.largest_cluster_ratio.values)
    assert ds.attrs["config"]["data"]["sigma"] == 0.5 and ds.attrs["source"] == "quick"
    with pytest.raises(ManifoldLensError, match="already exist; pass"):
        percolate(config=cfg, trials=3, out=out, progress=False)
    over = percolate([0.3, 0.7], config=cfg, trials=2, progress=False)  # given widths override the config's
    np.testing.assert_array_equal(over.sigma.values, [0.3, 0.7])
    with pytest.raises(ConfigError, match="sigma: give bump widths"):
        percolate(progress=False)
