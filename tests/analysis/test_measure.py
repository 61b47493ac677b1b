"""Validation of manifold_lens.measure on manifolds with known answers, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from manifold_lens.analysis import factorization as fact
from manifold_lens.errors import ManifoldLensError
from manifold_lens.analysis.measure import measure

N = 16  # 16 x 16 grid: 256 conditions keeps each call well under a second


def _coords(n=N, drop_square=None):
    gx, gy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = np.ones((n, n), bool)
    if drop_square is not None:
        lo, hi = drop_square
        keep[lo:hi, lo:hi] = False
    return gx[keep], gy[keep]


def _da(values, ix, iy, **attrs):
    return xr.DataArray(values, dims=("condition", "unit"),
                        coords={"x": ("condition", ix.astype(float)), "y": ("condition", iy.astype(float))},
                        attrs=attrs)


def _angles(ix, iy, n=N):
    return 2 * np.pi * ix / n, 2 * np.pi * iy / n


def _embed_high(points, d=64, seed=0):
    """Isometric copy of low-dim points in d dims (random orthonormal frame)."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, points.shape[1])))
    return points @ q.T


@pytest.fixture(scope="module")
def clifford():
    ix, iy = _coords()
    return measure(_da(_embed_high(fact.clifford_torus(*_angles(ix, iy))), ix, iy), periodic=True, homology=False)


@pytest.fixture(scope="module")
def torus3d():
    ix, iy = _coords()
    return measure(_da(_embed_high(fact.torus3d(*_angles(ix, iy))), ix, iy), periodic=True, homology=False)


def test_clifford_torus_is_factorized_and_orthogonal(clifford):
    ds = clifford
    # Exactly additive: cos/sin of x in one plane plus cos/sin of y in another; only round-off remains.
    assert float(ds.factorization_score) > 0.99
    assert float(ds.factorization_score) == pytest.approx(1.0, abs=1e-9)
    # x-chords live in the x plane, y-chords in the y plane: cos is exactly 0.
    assert float(ds.x_on_y_orthogonality) < 0.01
    np.testing.assert_allclose(ds.subspace_angles.dropna("angle"), 90.0, atol=1e-6)
    # The chord statistics are those of the 4-D torus itself (same seeded pairs, isometric copy).
    ix, iy = _coords()
    ref = measure(_da(fact.clifford_torus(*_angles(ix, iy)), ix, iy), periodic=True, homology=False)
    for v in ("x_on_y_orthogonality", "x_on_x_orthogonality", "x_parallelism", "y_parallelism"):
        assert float(ds[v]) == pytest.approx(float(ref[v]), abs=1e-9)
    # Noiseless x-on-x of 16-value circles: length-weighted mean |cos| between chords of disjoint value pairs
    # (0.620; the unweighted mean, the 0.64, is 0.635).
    assert float(ds.x_on_x_orthogonality) == pytest.approx(0.620, abs=0.01)
    # Four equal eigenvalues (two unit circles, each of variance 1/4 per axis): PR = 4, top-4 = 1.
    assert float(ds.effective_dim) == pytest.approx(4.0, rel=1e-9)
    assert float(ds.explained_variance_top4) == pytest.approx(1.0, rel=1e-9)
    # Periodic targets cos/sin are exactly linear in the code.
    assert float(ds.x_decoding_r2) > 0.999 and float(ds.y_decoding_r2) > 0.999
    # Circles of 16 values: C = 1 - 4 sin^2(pi/16) (15/32) = 0.9287 (see test_continuity).
    assert float(ds.continuity_index) == pytest.approx(1 - 4 * np.sin(np.pi / N) ** 2 * (N - 1) / (2 * N), rel=1e-9)


def test_torus3d_is_coupled(torus3d):
    ds = torus3d
    # Residual of the additive fit is r cos(ty) (cos tx, sin tx, 0): |r|^2 / |h - mu|^2 = (r^2/2) / (R^2 + r^2)
    # = 0.5 / 5, so the score is exactly 0.9 on a full-period grid: clearly below 1.
    assert float(ds.factorization_score) == pytest.approx(0.9, abs=1e-9)
    assert float(ds.factorization_score) < 0.95
    # Coupling: y-chords tilt within the x plane, so x-chords and y-chords are far from orthogonal.
    coupled = float(ds.x_on_y_orthogonality)
    assert coupled > 0.2
    ix, iy = _coords()
    ref = measure(_da(fact.torus3d(*_angles(ix, iy)), ix, iy), periodic=True, homology=False)
    assert coupled == pytest.approx(float(ref.x_on_y_orthogonality), abs=1e-9)  # isometric copy, same pairs


def test_hyper_factorized_codes_are_factorized_but_not_continuous():
    ix, iy = _coords()
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((128, 2 * N)))
    exact = q[:, :N].T[ix] + q[:, N:].T[iy]  # mutually orthogonal unit codes per x and per y value
    ds = measure(_da(exact, ix, iy))
    assert float(ds.factorization_score) > 0.99
    assert abs(float(ds.continuity_index)) < 0.2
    assert float(ds.continuity_index) == pytest.approx(0.0, abs=1e-9)  # all values equidistant
    assert float(ds.x_on_x_orthogonality) < 1e-9  # different x values orthogonal
    # Random Gaussian codes in 2048 dims are only nearly orthogonal: cosines ~ N(0, 1/2048) give
    # |continuity_index| of order 0.03; 0.2 leaves a wide margin.
    g = np.random.default_rng(2).standard_normal((2 * N, 2048)) / np.sqrt(2048)
    ds = measure(_da(g[:N][ix] + g[N:][iy], ix, iy))
    assert float(ds.factorization_score) > 0.99
    assert abs(float(ds.continuity_index)) < 0.2


def test_smooth_curves_are_factorized_and_continuous():
    ix, iy = _coords()
    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, N)
    basis = np.stack([np.cos(np.pi * k * t) for k in range(1, 4)], axis=1)  # 3 smooth modes
    a, b = basis @ rng.standard_normal((3, 64)), basis @ rng.standard_normal((3, 64))
    ds = measure(_da(a[ix] + b[iy], ix, iy))
    assert float(ds.factorization_score) > 0.99
    # Modes up to 1.5 cycles over 16 values: neighbours differ by a small fraction of the spread.
    assert float(ds.continuity_index) > 0.7
    prof = ds.x_similarity_by_distance.values
    assert prof[0] > 0.8 and prof[0] > prof[7]  # similarity falls with value distance


@pytest.mark.parametrize("k", [1, 3, 7])
def test_pca_and_effective_dim_on_known_rank(k):
    ix, iy = _coords()
    rng = np.random.default_rng(4)
    z = rng.standard_normal((len(ix), k))
    z -= z.mean(axis=0)
    left, _ = np.linalg.qr(z)
    right, _ = np.linalg.qr(rng.standard_normal((50, k)))
    ds = measure(_da(10.0 * left @ right.T + 1.0, ix, iy))  # isotropic over k directions, offset mean
    assert float(ds.effective_dim) == pytest.approx(k, rel=1e-9)
    ratio = ds.explained_variance_ratio.values
    np.testing.assert_allclose(ratio[:k], 1.0 / k, rtol=1e-8)
    np.testing.assert_allclose(ratio[k:], 0.0, atol=1e-10)
    assert float(ds.explained_variance_top4) == pytest.approx(min(k, 4) / k, rel=1e-8)


def test_spectrum_is_nan_padded_when_fewer_components_exist():
    ix, iy = _coords(4)
    x = np.random.default_rng(5).standard_normal((16, 3))
    ds = measure(_da(x, ix, iy), n_components=15)
    assert ds.sizes["component"] == 15
    assert np.isfinite(ds.explained_variance_ratio[:3]).all() and np.isnan(ds.explained_variance_ratio[3:]).all()
    assert float(ds.explained_variance_ratio[:3].sum()) == pytest.approx(1.0)


def test_incomplete_grid_and_duplicate_draws():
    ix, iy = _coords(drop_square=(5, 10))  # interior 5 x 5 hold-out
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((N, 20)), rng.standard_normal((N, 20))
    h = a[ix] + b[iy]
    ds = measure(_da(h, ix, iy))
    assert ds.attrs["n_cells"] == N * N - 25
    assert float(ds.factorization_score) == pytest.approx(1.0, abs=1e-9)  # LS fit over present pairs
    # Two noisy draws per condition: cells average them; noise sd 0.05 vs unit-variance codes.
    h2 = np.concatenate([h, h]) + 0.05 * rng.standard_normal((2 * len(h), 20))
    ds2 = measure(_da(h2, np.concatenate([ix, ix]), np.concatenate([iy, iy])))
    assert ds2.attrs["n_cells"] == N * N - 25 and ds2.attrs["n_conditions"] == 2 * len(h)
    assert float(ds2.factorization_score) > 0.99


def test_dataset_contract_concat_and_zarr_roundtrip(tmp_path, clifford):
    for name, var in clifford.data_vars.items():
        assert var.attrs.get("long_name") and var.attrs.get("description"), name
    for name in ("effective_dim", "factorization_score", "continuity_index", "explained_variance_top4"):
        assert clifford[name].ndim == 0
    assert set(clifford.embedding_pca.dims) == {"condition", "embed_dim"}
    assert "manifold" not in clifford.dims  # the given code only; references are measured separately
    assert clifford.x_on_x_orthogonality.ndim == 0 and clifford.x_on_x_cos_hist.dims == ("cos_bin",)
    assert clifford.sizes["cos_bin"] == 40
    np.testing.assert_allclose(clifford.x_on_y_cos_hist.sum("cos_bin"), 1.0)
    stacked = xr.concat([clifford, clifford], dim="checkpoint")
    assert stacked.factorization_score.dims == ("checkpoint",)
    path = tmp_path / "m.zarr"
    clifford.to_zarr(path)
    xr.testing.assert_identical(xr.open_zarr(path).load(), clifford)


def test_transposed_input_and_attrs_drive_periodicity():
    ix, iy = _coords(8)
    pts = fact.clifford_torus(*_angles(ix, iy, 8))
    da = _da(pts, ix, iy, periodic=1, period=[8.0, 8.0])
    ds = measure(da.T, homology=False)
    assert ds.attrs["periodic"] == 1 and ds.attrs["period_x"] == 8.0
    assert float(ds.x_decoding_r2) > 0.999  # cos/sin targets: exactly linear


def test_homology_of_periodic_torus():
    ix, iy = _coords()
    ds = measure(_da(fact.clifford_torus(*_angles(ix, iy)), ix, iy), periodic=True)
    assert int(ds.betti_1) == 2  # the tested count (tests/analysis/test_topology.py covers the rule)
    assert ds.sizes["bar"] == 256 and ds.sizes["homology_dim"] == 2


def test_isomap_embedding_through_measure():
    ix, iy = _coords(8)
    ds = measure(_da(fact.clifford_torus(*_angles(ix, iy, 8)), ix, iy), embed="pca,isomap")
    assert ds.embedding_isomap.shape == (64, 3) and ds.embedding_isomap_2d.shape == (64, 2)
    np.testing.assert_allclose(ds.embedding_isomap_2d, ds.embedding_isomap[:, :2])


def _one_line_error(da, match, **kw):
    with pytest.raises(ManifoldLensError, match=match) as e:
        measure(da, **kw)
    assert "\n" not in str(e.value)


def test_bad_input_errors():
    ix, iy = _coords(4)
    good = _da(np.random.default_rng(7).standard_normal((16, 5)), ix, iy)
    _one_line_error(good.values, "DataArray")
    _one_line_error(good.drop_vars("x"), "missing coordinate 'x'")
    _one_line_error(good.drop_vars("y"), "missing coordinate 'y'")
    _one_line_error(good.rename(unit="neuron"), "dims must be")
    _one_line_error(good.expand_dims(sample=2), "dims must be")
    _one_line_error(good.expand_dims(draw=2).isel(draw=slice(0, 0)), "no noise draws")
    few = good.assign_coords(y=("condition", (iy % 2).astype(float)))
    _one_line_error(few, "'y' has 2 distinct value")
    nan = good.copy()
    nan[3, 2] = np.nan
    _one_line_error(nan, "1 NaN")
    _one_line_error(good, "embed = 'tsne': choose among pca, isomap, umap", embed=("tsne",))
    _one_line_error(good, "n_components", n_components=2)
    _one_line_error(good, "period", periodic=True, period=2.0)


def test_missing_umap_is_skipped_with_a_note_missing_ripser_is_refused(monkeypatch):
    # A None entry in sys.modules makes `import ripser` / `import umap` raise ImportError.
    monkeypatch.setitem(__import__("sys").modules, "ripser", None)
    monkeypatch.setitem(__import__("sys").modules, "umap", None)
    ix, iy = _coords(6)
    code = _da(fact.clifford_torus(*_angles(ix, iy, 6)), ix, iy)
    ds = measure(code, periodic=True, embed="pca,umap", homology=False)  # umap is an optional extra
    assert "embedding_umap" not in ds and "embedding_pca" in ds and "betti_1" not in ds
    assert "umap-learn is not installed" in ds.attrs["notes"]
    # ripser is a dependency: homology (on by default for periodic codes) is refused, never silently skipped
    with pytest.raises(ManifoldLensError, match="homology needs ripser"):
        measure(code, periodic=True, embed="pca")


def test_off_lattice_conditions_leave_factorization_undefined():
    rng = np.random.default_rng(8)
    x, y = rng.uniform(0, 10, 100), rng.uniform(0, 10, 100)  # every x and y value distinct
    ds = measure(_da(rng.standard_normal((100, 12)), x, y))
    assert np.isnan(float(ds.factorization_score))  # 100 pairs, 199 parameters: no residual to score
    assert "factorization_score undefined" in ds.attrs["notes"]
    assert np.isfinite(float(ds.effective_dim)) and np.isfinite(float(ds.neighbourhood_trustworthiness))


def test_progress_bar_is_shown_on_request(capsys):
    ix, iy = _coords(4)
    measure(_da(np.random.default_rng(9).standard_normal((16, 4)), ix, iy), progress=True)
    assert "measure" in capsys.readouterr().err
