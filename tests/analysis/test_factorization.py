"""Unit tests of manifold_lens.factorization: grid, additive fit, angles, chords, decoding."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from manifold_lens.analysis import factorization as fact
from manifold_lens.analysis.geometry import centered_gram


def _grid_coords(nx, ny, drop=()):
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    keep = np.ones((nx, ny), bool)
    for i, j in drop:
        keep[i, j] = False
    return gx[keep].astype(float), gy[keep].astype(float)


def test_condition_grid_values_cells_and_missing_pairs():
    x, y = _grid_coords(4, 3, drop=[(1, 2)])
    g = fact.ConditionGrid.from_coords(x, y)
    assert (g.nx, g.ny, g.n_cells) == (4, 3, 11)
    idx = g.index_grid()
    assert idx[1, 2] == -1 and (idx >= 0).sum() == 11
    np.testing.assert_array_equal(g.xs[g.cell_ix[g.cell_of_condition]], x)
    assert g.period_x == 4.0 and g.period_y == 3.0  # range + one step
    tx, ty = g.angles()
    assert tx.max() == pytest.approx(2 * np.pi * 3 / 4)


def test_cell_gram_averages_duplicate_conditions():
    x, y = _grid_coords(3, 3)
    x2, y2 = np.concatenate([x, x]), np.concatenate([y, y])
    h = np.random.default_rng(0).standard_normal((18, 5))
    g = fact.ConditionGrid.from_coords(x2, y2)
    hc = h - h.mean(axis=0)
    mc = np.stack([hc[g.cell_of_condition == c].mean(axis=0) for c in range(g.n_cells)])
    np.testing.assert_allclose(g.cell_gram(centered_gram(h)), mc @ mc.T, atol=1e-12)


def test_distance_steps_wrap_when_periodic():
    x, y = _grid_coords(8, 3)
    g = fact.ConditionGrid.from_coords(x, y, periodic=True, period=(8, 3))
    d = g.distance_steps("x")
    assert d[0, 7] == 1.0 and d[0, 4] == 4.0
    assert fact.ConditionGrid.from_coords(x, y).distance_steps("x")[0, 7] == 7.0


@pytest.mark.parametrize("drop", [(), ((0, 0), (2, 3), (4, 1))])
def test_additive_decomposition_exact_on_additive_codes(drop):
    rng = np.random.default_rng(1)
    x, y = _grid_coords(5, 4, drop=drop)
    g = fact.ConditionGrid.from_coords(x, y)
    a0, b0, mu0 = rng.standard_normal((5, 6)), rng.standard_normal((4, 6)), rng.standard_normal(6)
    h = mu0 + a0[g.cell_ix] + b0[g.cell_iy]
    mu, a, b, r = fact.additive_decomposition(h, g)
    np.testing.assert_allclose(r, 0, atol=1e-10)
    np.testing.assert_allclose(a.mean(axis=0), 0, atol=1e-12)  # gauge
    np.testing.assert_allclose(mu + a[g.cell_ix] + b[g.cell_iy], h, atol=1e-10)
    np.testing.assert_allclose(a - a[0], a0 - a0[0], atol=1e-10)  # a is a0 up to a constant
    _, _, p = fact.additive_operators(g)
    assert fact.factorization_score(centered_gram(h), p) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("drop", [(), ((1, 1), (3, 0))])
def test_factorization_score_from_gram_matches_explicit(drop):
    rng = np.random.default_rng(2)
    x, y = _grid_coords(5, 4, drop=drop)
    g = fact.ConditionGrid.from_coords(x, y)
    h = rng.standard_normal((g.n_cells, 7))
    mu, a, b, r = fact.additive_decomposition(h, g)
    explicit = 1 - np.sum(r**2) / np.sum((h - h.mean(axis=0)) ** 2)
    _, _, p = fact.additive_operators(g)
    assert fact.factorization_score(centered_gram(h), p) == pytest.approx(explicit, rel=1e-10)
    # On a complete grid a(x) is the mean over y minus the grand mean.
    if not drop:
        grid_h = h.reshape(5, 4, 7)
        np.testing.assert_allclose(a, grid_h.mean(axis=1) - grid_h.mean(axis=(0, 1)), atol=1e-10)


def test_principal_angles_match_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((4, 10)), rng.standard_normal((3, 10))
    angles, ka, kb = fact.principal_angles(a @ a.T, b @ b.T, a @ b.T, energy=1.0)
    assert (ka, kb) == (4, 3)
    np.testing.assert_allclose(angles, np.sort(scipy.linalg.subspace_angles(a.T, b.T)), atol=1e-8)
    # Orthogonal planes: all angles 90 degrees; energy truncation keeps the 2-D span.
    e = np.eye(6)
    a2, b2 = np.stack([e[0], e[1], e[0] + e[1]]), np.stack([e[2], e[3]])
    angles, ka, kb = fact.principal_angles(a2 @ a2.T, b2 @ b2.T, a2 @ b2.T, energy=0.95)
    assert (ka, kb) == (2, 2)
    np.testing.assert_allclose(angles, np.pi / 2, atol=1e-8)


def test_chord_table_counts():
    x, y = _grid_coords(4, 3, drop=[(0, 0)])
    idx = fact.ConditionGrid.from_coords(x, y).index_grid()
    cx = fact.chord_table(idx, "x")
    assert len(cx["lo"]) == 6 * 3 - 3  # 6 value pairs at each of 3 y; (0,0) missing kills 3
    assert (cx["lo"] < cx["hi"]).all()
    assert len(fact.chord_table(idx, "y")["lo"]) == 3 * 4 - 2  # 3 y pairs at 4 x; (0,0) kills 2


def test_sample_chord_pairs_respects_definitions():
    x, y = _grid_coords(6, 5)
    g = fact.ConditionGrid.from_coords(x, y)
    pairs = fact.sample_chord_pairs(g.index_grid(), 500, seed=0)
    cix, ciy = g.cell_ix, g.cell_iy
    s1, e1, s2, e2 = pairs["x_on_x"]
    assert len(s1) == 500
    vals = np.stack([cix[s1], cix[e1], cix[s2], cix[e2]])
    assert all(len(set(v)) == 4 for v in vals.T)  # four distinct x values
    assert (ciy[s1] == ciy[e1]).all() and (ciy[s2] == ciy[e2]).all()  # x-chords: y fixed
    s1, e1, s2, e2 = pairs["x_parallelism"]
    assert (cix[s1] == cix[s2]).all() and (cix[e1] == cix[e2]).all()  # same value pair
    assert (ciy[s1] != ciy[s2]).all()  # at different y
    s1, e1, s2, e2 = pairs["x_on_y"]
    assert (ciy[s1] == ciy[e1]).all() and (cix[s2] == cix[e2]).all()
    # Seeded: the same draw twice.
    again = fact.sample_chord_pairs(g.index_grid(), 500, seed=0)
    assert all(np.array_equal(pairs[k], again[k]) for k in pairs)
    # Three x values cannot give two disjoint x pairs.
    x3, y3 = _grid_coords(3, 5)
    assert fact.sample_chord_pairs(fact.ConditionGrid.from_coords(x3, y3).index_grid(), 50)["x_on_x"].shape[1] == 0


def test_chord_cosines_match_explicit_vectors():
    rng = np.random.default_rng(4)
    p = rng.standard_normal((12, 5))
    pairs = rng.integers(0, 12, size=(4, 40))
    pairs = pairs[:, (pairs[0] != pairs[1]) & (pairs[2] != pairs[3])]
    c1, c2 = p[pairs[1]] - p[pairs[0]], p[pairs[3]] - p[pairs[2]]
    expected = (c1 * c2).sum(1) / np.linalg.norm(c1, axis=1) / np.linalg.norm(c2, axis=1)
    np.testing.assert_allclose(fact.chord_cosines(p @ p.T, pairs), expected, atol=1e-12)
    summary, hist = fact.summarize_cosines(expected, "x_on_y", np.linspace(-1, 1, 41))
    assert summary == pytest.approx(np.mean(np.abs(expected)))
    assert hist.sum() == pytest.approx(1.0)


def test_reference_tori():
    t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    tx, ty = np.meshgrid(t, t, indexing="ij")
    c = fact.clifford_torus(tx.ravel(), ty.ravel())
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0)
    t3 = fact.torus3d(tx.ravel(), ty.ravel())
    # Distance from the z axis is R + r cos(ty); height r sin(ty).
    np.testing.assert_allclose(np.hypot(t3[:, 0], t3[:, 1]), 2 + np.cos(ty.ravel()))
    np.testing.assert_allclose(t3[:, 2], np.sin(ty.ravel()))


def test_linear_decodability_of_linear_and_random_targets():
    rng = np.random.default_rng(5)
    h = rng.standard_normal((200, 30))
    w = rng.standard_normal(30)
    linear = h @ w + 0.01 * rng.standard_normal(200)
    noise = rng.standard_normal(200)
    r2 = fact.linear_decodability(centered_gram(h), np.column_stack([linear, noise]), seed=0)
    assert r2[0] > 0.99  # noise is 1% of signal sd: R^2 ~ 1 - 1e-4/30
    assert r2[1] < 0.1  # no information: out-of-fold R^2 is <= 0 up to sampling noise
    again = fact.linear_decodability(centered_gram(h), np.column_stack([linear, noise]), seed=0)
    np.testing.assert_array_equal(r2, again)
