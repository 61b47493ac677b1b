"""Persistent homology and the tested loop count (``manifold_lens.analysis.topology``), alone and through ``measure``.

Known shapes, each embedded isometrically in 48 or 64 dimensions (a random
orthonormal frame; the one-hot code is its own basis) with isotropic Gaussian
noise of total norm 2% of the shape's RMS radius: Clifford torus 2 loops, 3-D
ring torus (R = 2, r = 1) on an even angle grid 2 (its outer meridians 3 tube
steps apart: the plain count alone gives one loop per meridian) and on an
area-uniform random sample 2, cylinder 1, circle 1, flat sheet 0, sphere
(even, and on a latitude-longitude grid) 0, one-hot code of x and y 0. The
full calibration is ``benchmarks/calibration_loops.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from manifold_lens.analysis import topology as topo
from manifold_lens.analysis.measure import N_BARS, measure


NOISE = 0.02  # total noise norm / RMS radius of the shape


def _grid(nx, ny):
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    return ix.ravel(), iy.ravel()


def _shape(name, nx, ny):
    """Points of a known shape on an nx x ny grid of (x, y) values, in its own low-dimensional coordinates."""
    ix, iy = _grid(nx, ny)
    ax, ay = 2 * np.pi * ix / nx, 2 * np.pi * iy / ny
    if name == "clifford":
        return np.column_stack([np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)]) / np.sqrt(2)
    if name == "torus3d":  # ring torus R = 2, r = 1 on an even angle grid; x runs around the big circle
        ring = 2.0 + np.cos(ay)
        return np.column_stack([ring * np.cos(ax), ring * np.sin(ax), np.sin(ay)])
    if name == "torus3d_random":  # nx * ny area-uniform random points of the same torus (density ~ R + r cos v)
        rng = np.random.default_rng(11)
        u, v = rng.uniform(0, 2 * np.pi, (2, 8 * nx * ny))
        keep = rng.uniform(0, 3.0, len(v)) < 2.0 + np.cos(v)
        u, v = u[keep][:nx * ny], v[keep][:nx * ny]
        return np.column_stack([(2 + np.cos(v)) * np.cos(u), (2 + np.cos(v)) * np.sin(u), np.sin(v)])
    if name in ("sphere", "sphere_latlong"):
        if name == "sphere":  # Fibonacci spiral: even
            k = np.arange(nx * ny) + 0.5
            ph, th = np.arccos(1 - 2 * k / (nx * ny)), np.pi * (1 + 5 ** 0.5) * k
        else:  # latitude-longitude grid: rows crowd at the poles
            th, ph = 2 * np.pi * ix / nx, np.pi * (iy + 0.5) / ny
        return np.column_stack([np.sin(ph) * np.cos(th), np.sin(ph) * np.sin(th), np.cos(ph)])
    if name == "cylinder":  # x around a unit circle, y along the axis (one step = one circle step)
        return np.column_stack([np.cos(ax), np.sin(ax), iy * 2 * np.pi / nx])
    if name == "circle":  # every grid cell a distinct point of one unit circle
        t = 2 * np.pi * np.arange(nx * ny) / (nx * ny)
        return np.column_stack([np.cos(t), np.sin(t)])
    if name == "sheet":
        return np.column_stack([ix, iy]).astype(float)
    if name == "onehot":  # hyper-factorized: one unit per x value and one per y value
        return np.concatenate([np.eye(nx)[ix], np.eye(ny)[iy]], axis=1)
    raise ValueError(name)


def _embedded(name, nx, ny, dims=64, seed=0):
    pts = _shape(name, nx, ny)
    rng = np.random.default_rng(seed)
    if name != "onehot":
        frame, _ = np.linalg.qr(rng.standard_normal((dims, pts.shape[1])))
        pts = pts @ frame.T
    radius = np.sqrt(np.mean(np.sum((pts - pts.mean(0)) ** 2, axis=1)))
    return pts + NOISE * radius / np.sqrt(pts.shape[1]) * rng.standard_normal(pts.shape)


def _gram(pts):
    c = pts - pts.mean(0)
    return c @ c.T


def _da(values, nx, ny):
    ix, iy = _grid(nx, ny)
    return xr.DataArray(values, dims=("condition", "unit"),
                        coords={"x": ("condition", ix.astype(float)), "y": ("condition", iy.astype(float))})


# Grids small enough for the default run: 0.5-3 s each on one core (40 diagrams: plain and locally scaled,
# each with 19 shuffled copies).
SHAPES = {  # name: (nx, ny, dims, expected loops)
    "clifford": (12, 12, 64, 2),
    "torus3d": (16, 12, 48, 2),  # even angle grid: the outer ring step is 4 tube steps
    "cylinder": (16, 6, 64, 1),
    "circle": (8, 8, 48, 1),
    "sheet": (10, 10, 64, 0),
    "sphere": (10, 10, 48, 0),
    "sphere_latlong": (12, 12, 48, 0),
    "onehot": (10, 10, 20, 0),  # 10 + 10 units
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_known_shapes_count_their_loops(name):
    nx, ny, dims, expected = SHAPES[name]
    h = topo.persistent_homology(_gram(_embedded(name, nx, ny, dims)))
    assert h.betti_1 == expected and h.band["rule"] == expected
    assert h.n_points == nx * ny and h.h0.shape == (nx * ny, 2)
    pers = h.h1[:, 1] - h.h1[:, 0]
    assert np.all(np.diff(pers) <= 0)  # sorted, longest first
    assert len(h.null_max) == len(h.scaled_null_max) == topo.NULL_DRAWS == 19
    if expected:  # the loops are the longest plain bars, clear of the null, and pass the scaled test too
        assert np.all(pers[:expected] > h.null_threshold) and h.scaled_count >= expected
        assert np.all(h.h1[:expected, 1] > topo.PLAIN_MIN_RATIO * h.h1[:expected, 0])


def test_uneven_torus_needs_both_halves_of_the_rule():
    # The 3-D torus on an even angle grid: each outer meridian closes as its own plain loop (death/birth
    # about (R + r) / r = 3); the locally scaled count removes them. A latitude-longitude sphere: the scaled
    # count finds the small polar circles; the plain count does not.
    torus = topo.persistent_homology(_gram(_embedded("torus3d", 16, 16, 48)))
    assert torus.plain_count == 17 and torus.scaled_count == 2 and torus.betti_1 == 2 and torus.conclusive
    sphere = topo.persistent_homology(_gram(_embedded("sphere_latlong", 16, 16, 48)))
    assert sphere.plain_count == 0 and sphere.scaled_count == 2 and sphere.betti_1 == 0 and sphere.conclusive


def test_band_and_inconclusive():
    settings = topo.band_settings()
    assert list(settings) == ["rule", "ratio_low", "ratio_high", "alpha_0.10"]
    assert settings["rule"] == (8, 2.5, 1) and settings["ratio_low"][1] == 2.0 and settings["alpha_0.10"][2] == 2
    assert set(topo.band_settings(band_neighbors=True)) >= {"k_low", "k_high"}
    # The 3-D torus on a 12 x 12 angle grid is too coarse: the counts at the neighbouring settings disagree
    h = topo.persistent_homology(_gram(_embedded("torus3d", 12, 12, 48)))
    assert not h.conclusive and len(set(h.band.values())) > 1
    from manifold_lens.analysis.homology_variables import band_text

    assert band_text([1.0, 2.0, 1.0, np.nan]) == " (inconclusive: 1 to 2 across the rule's settings)"
    assert band_text(np.array([2.0, 2.0])) == " (conclusive: 2 settings agree)" and band_text([np.nan]) == ""


def test_circle_loop_has_the_rips_persistence_of_a_circle():
    # 64 points on a unit circle: the loop is born at the sampling step 2 sin(pi/64) and dies when the first
    # triangle holds the centre: the most even split 64 = 21 + 21 + 22 steps, longest side 2 sin(22 pi/64)
    # (sqrt 3 for a multiple of 3); the 2% noise moves each point by ~0.02.
    h = topo.persistent_homology(_gram(_embedded("circle", 8, 8, 48)))
    birth, death = h.h1[0]
    assert birth == pytest.approx(2 * np.sin(np.pi / 64), abs=0.03)
    assert death == pytest.approx(2 * np.sin(22 * np.pi / 64), abs=0.04)
    assert h.h1[0, 1] / h.h1[0, 0] > 10


def test_grid_holes_close_within_sqrt2_and_one_hot_code_merges_at_sqrt2():
    # A flat sheet's H1 bars are its grid squares: born at the side (1), dead at the diagonal (sqrt 2).
    h = topo.persistent_homology(_gram(_embedded("sheet", 16, 16)), null_draws=4)
    ratio = h.h1[:, 1] / h.h1[:, 0]
    assert np.median(ratio) == pytest.approx(np.sqrt(2), abs=0.05)
    assert np.median(h.h1[:, 0]) == pytest.approx(1.0, abs=0.05)
    assert h.null_threshold > h.h1[0, 1] - h.h1[0, 0]  # shuffled sheets have longer bars than the grid
    # One-hot x and y codes: every point's nearest neighbours share x or y, at distance sqrt 2 (H0 deaths);
    # the other pairs sit at 2, so every hole opens at >= sqrt 2 = half the enclosing radius 2 and closes by 2.
    h = topo.persistent_homology(_gram(_embedded("onehot", 12, 12, 24)), null_draws=4)
    np.testing.assert_allclose(h.h0[1:, 1], np.sqrt(2), atol=0.05)
    assert h.h0[0, 1] == np.inf and h.betti_1 == 0
    # the band's lowest plain ratio (1.5) allows truncating only at 3/4 of E = 2, where these holes are still
    # open: the filtration is complete, and every hole lives from sqrt 2 to 2 (ratio sqrt 2)
    assert h.truncation_scale == np.inf and len(h.h1) > 0
    assert np.all(h.h1[:, 0] > np.sqrt(2) - 0.05) and np.all(h.h1[:, 1] < 2 + 0.05)


def test_truncated_filtration_keeps_every_bar_born_below_the_scale():
    from ripser import ripser

    # Clifford torus: its loops die at sqrt(3/2) ~ 0.61 of the enclosing radius 2, so the 3/4 truncation holds
    pts = topo.principal_scores(_gram(_embedded("clifford", 12, 12)))
    dist = topo.distances(pts)
    h1, scale = topo.h1_diagram(dist)
    full = topo._sorted_by_persistence(ripser(dist, distance_matrix=True, maxdim=1)["dgms"][1])
    enclosing = np.min(np.max(dist, axis=1))
    assert scale == pytest.approx(0.75 * enclosing) and enclosing == pytest.approx(2.0, abs=0.05)
    np.testing.assert_allclose(h1, full[full[:, 0] <= scale])
    assert np.all(full[full[:, 0] > scale, 1] <= enclosing + 1e-9)  # the omitted bars close by E


def test_null_shuffles_each_component():
    # One column: permuting it yields the same point set, so the null has the data's own (empty) H1.
    line = np.linspace(0, 1, 50)[:, None]
    np.testing.assert_array_equal(topo.shuffled_null(line, draws=2), 0.0)
    pts = topo.principal_scores(_gram(_embedded("clifford", 12, 12)))
    a, b = topo.shuffled_null(pts, 3, seed=5), topo.shuffled_null(pts, 3, seed=5)
    np.testing.assert_array_equal(a, b)  # seeded
    assert np.all(a > 0) and len(np.unique(a)) == 3


def test_principal_scores_reproduce_the_distances():
    pts = _embedded("torus3d", 12, 6)
    np.testing.assert_allclose(topo.distances(topo.principal_scores(_gram(pts))), topo.distances(pts - pts.mean(0)),
                               atol=1e-9)


def test_farthest_point_sample_covers_evenly():
    pts = np.random.default_rng(3).standard_normal((400, 3))
    idx = topo.farthest_point_sample(pts, 60)
    assert len(np.unique(idx)) == 60
    d = topo.distances(pts)
    covering = d[:, idx].min(axis=1).max()  # farthest any point is from the sample
    packing = d[np.ix_(idx, idx)][~np.eye(60, dtype=bool)].min()
    assert packing >= covering - 1e-12  # greedy: each new point was the farthest, so none is closer than that
    np.testing.assert_array_equal(topo.farthest_point_sample(pts, 500), np.arange(400))


def test_measure_stores_fixed_size_diagrams_and_stacks():
    nx, ny, dims = 16, 16, 64
    ds = measure(_da(_embedded("clifford", nx, ny, dims), nx, ny), periodic=True, embed=())
    assert ds["persistence_diagram"].dims == ("homology_dim", "bar", "endpoint")
    assert ds.sizes["bar"] == N_BARS and list(ds["endpoint"].values) == ["birth", "death"]
    assert float(ds.betti_1) == 2 and int(ds.h1_counted.sum()) == 2 and bool(ds.h1_counted[:2].all())
    h0 = ds.persistence_diagram.sel(homology_dim=0)
    assert float(h0.sel(endpoint="death")[0]) == np.inf and float(ds.n_bars.sel(homology_dim=0)) == nx * ny
    assert int(np.isfinite(h0.sel(endpoint="birth")).sum()) == N_BARS  # 256 cells: exactly the stored bars
    n1 = int(ds.n_bars.sel(homology_dim=1))
    assert int(np.isfinite(ds.h1_persistence).sum()) == min(n1, N_BARS)
    np.testing.assert_allclose(ds.h1_persistence, ds.persistence_diagram.sel(homology_dim=1, endpoint="death")
                               - ds.persistence_diagram.sel(homology_dim=1, endpoint="birth"))
    assert ds.sizes["null_draw"] == topo.NULL_DRAWS
    assert float(ds.h1_persistence[1]) > float(ds.h1_null_persistence.max()) > float(ds.h1_persistence[2])
    assert int(ds.homology_n_points) == nx * ny and ds.attrs["homology_points"] == topo.MAX_POINTS
    assert "shuffled copies" in ds.betti_1.attrs["description"] and ds.betti_1.attrs["min_death_birth_ratio"] == 2.5
    assert ds.betti_1.attrs["plain_min_death_birth_ratio"] == 2 and ds.betti_1.attrs["neighbors"] == 8
    assert list(ds.rule_setting.values) == ["rule", "ratio_low", "ratio_high", "alpha_0.10"]
    assert ds.betti_1_band.dims == ("rule_setting",) and float(ds.betti_1_band.sel(rule_setting="rule")) == 2
    assert float(ds.betti_1_conclusive) == 1 and float(ds.betti_1_plain) == float(ds.betti_1_scaled) == 2
    assert ds.attrs["homology_neighbors"] == 8 and ds.betti_1.attrs["note"] == ""
    # a non-periodic flat sheet on request: no loops; both results stack along a new dim
    sheet = measure(_da(_embedded("sheet", nx, ny, dims), nx, ny), homology=True, embed=(), homology_null_draws=4)
    assert float(sheet.betti_1) == 0 and not sheet.h1_counted.any()
    stacked = xr.concat([ds[["persistence_diagram", "betti_1"]], sheet[["persistence_diagram", "betti_1"]]], "shape")
    assert stacked.persistence_diagram.shape == (2, 2, N_BARS, 2)


def test_measure_subsamples_beyond_homology_points():
    nx, ny = 16, 16
    ds = measure(_da(_embedded("clifford", nx, ny, 48), nx, ny), periodic=True, embed=(), homology_points=150)
    assert int(ds.homology_n_points) == 150 and float(ds.betti_1) == 2
    assert "farthest-point subsample of 150 of 256 grid cells" in ds.attrs["notes"]


def test_too_few_points_give_nan_and_a_note():
    x = np.array([0.0, 1, 2, 0, 2, 1])
    y = np.array([0.0, 1, 2, 2, 0, 0])  # 3 distinct values each, 6 cells < 7
    da = xr.DataArray(np.random.default_rng(0).standard_normal((6, 5)), dims=("condition", "unit"),
                      coords={"x": ("condition", x), "y": ("condition", y)})
    ds = measure(da, homology=True, embed=())
    assert np.isnan(float(ds.betti_1)) and bool(ds.persistence_diagram.isnull().all())
    assert bool(ds.betti_1_band.isnull().all()) and np.isnan(float(ds.betti_1_conclusive))
    assert ds.sizes["bar"] == N_BARS and ds.sizes["null_draw"] == topo.NULL_DRAWS
    notes = [n for n in ds.attrs["notes"].split("; ") if n.startswith("homology")]
    assert len(notes) == 1 and "6 grid cells are too few" in notes[0] and "\n" not in notes[0]
    assert ds.betti_1.attrs["note"] == notes[0]
    with pytest.raises(ValueError, match="needs >= 10"):
        topo.persistent_homology(np.eye(6))


def test_a_grid_too_small_for_the_local_scale_gives_nan_with_the_reason():
    # 3 x 3 = 9 cells: enough for a 7-gon but not for k = 8 neighbours plus one
    ds = measure(_da(_embedded("clifford", 3, 3, 8), 3, 3), homology=True, embed=())
    assert np.isnan(float(ds.betti_1)) and "needs >= 10" in ds.betti_1.attrs["note"]
    assert topo.loop_count_problem(10) == "" and "needs >= 14" in topo.loop_count_problem(10, band_neighbors=True)


@pytest.mark.parametrize("kw, match", [({"homology_points": 3}, "homology_points"),
                                       ({"homology_null_draws": 0}, "homology_null_draws"),
                                       ({"betti_min_ratio": float("nan")}, "betti_min_ratio"),
                                       ({"homology_neighbors": 0}, "homology_neighbors")])
def test_bad_homology_settings_fail_in_one_line(kw, match):
    from manifold_lens.errors import ManifoldLensError

    with pytest.raises(ManifoldLensError, match=match) as e:
        measure(_da(_embedded("sheet", 4, 4, 48), 4, 4), homology=True, **kw)
    assert "\n" not in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2])  # the full sweep over sizes and seeds: benchmarks/calibration_loops.py
@pytest.mark.parametrize("name, nx, ny, expected", [("torus3d", 16, 16, 2), ("torus3d", 32, 32, 2),
                                                    ("torus3d_random", 25, 16, 2), ("circle", 32, 16, 1),
                                                    ("sphere_latlong", 16, 16, 0)])
def test_known_shapes_on_up_to_1024_points_through_measure(name, nx, ny, expected, seed):
    # 10 s to minutes each on one core (40 diagrams of up to 1024 points)
    ds = measure(_da(_embedded(name, nx, ny, 64, seed), nx, ny), homology=True, embed=(), seed=seed)
    assert float(ds.betti_1) == expected and int(ds.homology_n_points) == nx * ny


def test_persistence_diagram_figure_writes_a_png(tmp_path):
    from matplotlib.collections import PathCollection

    from manifold_lens import plot

    nx, ny, dims, _ = SHAPES["clifford"]
    parts = [measure(_da(_embedded("clifford", nx, ny, dims, seed), nx, ny), periodic=True, embed=(), seed=seed,
                     homology_null_draws=4)
             .expand_dims(layer=["bottleneck"], timestep=[50]).expand_dims(checkpoint=[step])
             for seed, step in ((0, 100), (1, 200))]
    analysis = xr.concat(parts, "checkpoint", combine_attrs="override")
    fig = plot.persistence_diagram(analysis)
    stars = [c for c in fig.axes[0].collections if isinstance(c, PathCollection) and len(c.get_offsets()) == 2
             and c.get_sizes()[0] > 100]
    assert len(stars) == 1  # the two counted loops of the last checkpoint
    last = analysis.persistence_diagram.sel(checkpoint=200, layer="bottleneck", timestep=50, homology_dim=1)
    np.testing.assert_allclose(stars[0].get_offsets(), last.values[:2])
    assert "betti_1 = 2" in fig.get_suptitle()
    out = tmp_path / "persistence.png"
    fig.savefig(out, dpi=60)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
