"""Unit tests of manifold_lens.continuity: similarity profile, continuity index, trustworthiness."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness

from manifold_lens.analysis import continuity as cont
from manifold_lens.analysis.factorization import ConditionGrid
from manifold_lens.analysis.geometry import centered_gram, distances_from_gram


def _grid(nx, ny, periodic=False):
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    return ConditionGrid.from_coords(gx.ravel().astype(float), gy.ravel().astype(float),
                                     periodic=periodic, period=(nx, ny) if periodic else None)


def _circle(n):
    t = 2 * np.pi * np.arange(n) / n
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def test_similarity_by_distance_on_a_circle():
    # d^2(k) = 2 - 2 cos(2 pi k / n); its mean over distinct pairs is 2n / (n - 1), so
    # S(k) = 1 - (1 - cos(2 pi k / n)) (n - 1) / n = (1 + (n - 1) cos(2 pi k / n)) / n.
    n = 12
    c = _circle(n)
    g = _grid(n, 3, periodic=True)
    s = cont.similarity_by_distance(c @ c.T, g.distance_steps("x"), max_distance=8)
    k = np.arange(1, 7)
    np.testing.assert_allclose(s[:6], (1 + (n - 1) * np.cos(2 * np.pi * k / n)) / n, atol=1e-12)
    assert np.isnan(s[6:]).all()  # wrapped distances stop at n/2 = 6


def test_similarity_by_distance_of_orthogonal_codes_is_zero():
    s = cont.similarity_by_distance(np.eye(5), np.abs(np.subtract.outer(np.arange(5), np.arange(5))), 4)
    np.testing.assert_allclose(s, 0.0, atol=1e-12)
    assert np.isnan(cont.similarity_by_distance(np.zeros((5, 5)), np.ones((5, 5)), 4)).all()  # constant code


def _steps(n):
    return np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)


def test_similarity_by_distance_of_a_line_is_monotone():
    # a(x) = x (centred or not: distances only): S(k) = 1 - k^2 / mean k^2, mean over distinct pairs
    # sum_k (n - k) k^2 / sum_k (n - k) = n (n + 1) / 6. The old centred cosine swung from +1 to -1 here.
    n = 16
    a = np.arange(n, dtype=float)[:, None]
    s = cont.similarity_by_distance(a @ a.T, _steps(n), n - 1)
    k = np.arange(1, n)
    np.testing.assert_allclose(s, 1 - k**2 / (n * (n + 1) / 6), rtol=1e-12)
    assert np.all(np.diff(s) < 0)


@pytest.mark.parametrize("periodic", [False, True])
def test_similarity_by_distance_of_gaussian_bumps_is_monotone(periodic):
    # One-dimensional Gaussian bumps (sigma 1.5 px) at x = 0..15: the pixel code of a bump family.
    # Non-periodic: the canvas has 8 px of margin each side, so no bump is cut off (a truncated bump at
    # the edge is genuinely closer to the other edge's bump, which would bend the far end upward).
    n, sigma = 16, 1.5
    if periodic:
        cols = np.arange(n, dtype=float)
        dx = np.abs(cols[None, :] - np.arange(n)[:, None])
        dx = np.minimum(dx, n - dx)
        steps = np.minimum(_steps(n), n - _steps(n))
    else:
        cols = np.arange(-8, n + 8, dtype=float)
        dx = cols[None, :] - np.arange(n)[:, None]
        steps = _steps(n)
    code = np.exp(-dx**2 / (2 * sigma**2))
    s = cont.similarity_by_distance(code @ code.T, steps, n - 1)
    valid = s[np.isfinite(s)]
    assert len(valid) == (n // 2 if periodic else n - 1)
    assert valid[0] > 0.8 and np.all(np.diff(valid) <= 1e-12)


def test_similarity_by_distance_is_noise_robust_with_the_cross_draw_gram():
    # A line in 40 dims (a(x) = x u, x = 0..15) plus noise of variance 1 per unit: the mean of 4 draws adds
    # 2 x 40 / 4 = 20 to every squared distance (mean k^2 over pairs is 45.3 here), flattening the curve
    # toward 0; the cross-draw Gram removes it. Tolerance 0.1: sd of S(1) over seeds was ~0.02.
    from manifold_lens.analysis.geometry import draw_grams

    n, d = 16, 40
    u = np.random.default_rng(0).standard_normal(d)
    u /= np.linalg.norm(u)
    line = np.arange(n, dtype=float)[:, None] * u
    clean = cont.similarity_by_distance(line @ line.T, _steps(n), 8)
    mean_gram, cross = draw_grams(line[None] + np.random.default_rng(1).standard_normal((4, n, d)))
    noisy = cont.similarity_by_distance(mean_gram, _steps(n), 8)
    robust = cont.similarity_by_distance(cross, _steps(n), 8)
    assert np.max(np.abs(robust - clean)) < 0.1
    assert clean[0] - noisy[0] > 0.2


def test_continuity_index_circle_analytic_value():
    # x on a circle (period 32), y on an orthogonal circle: adjacent squared distance 4 sin^2(pi/n),
    # mean over distinct pairs 2n/(n-1), so C = 1 - 4 sin^2(pi/n) (n-1) / (2n) = 0.98138 for n = 32.
    n = 32
    g = _grid(n, 5, periodic=True)
    h = np.hstack([_circle(n)[g.cell_ix], 3 * _circle(5)[g.cell_iy]])
    expected = 1 - 4 * np.sin(np.pi / n) ** 2 * (n - 1) / (2 * n)
    assert cont.axis_continuity_index(centered_gram(h), g, "x") == pytest.approx(expected, rel=1e-10)


def test_continuity_index_zero_for_orthogonal_values_and_nan_for_constant():
    g = _grid(6, 4)
    q = np.linalg.qr(np.random.default_rng(0).standard_normal((30, 10)))[0].T
    h = q[:6][g.cell_ix] + q[6:][g.cell_iy]  # hyper-factorized: equidistant values
    gram = centered_gram(h)
    assert cont.axis_continuity_index(gram, g, "x") == pytest.approx(0.0, abs=1e-12)
    assert cont.axis_continuity_index(gram, g, "y") == pytest.approx(0.0, abs=1e-12)
    h_const_x = q[6:][g.cell_iy]  # h does not depend on x at all
    assert np.isnan(cont.axis_continuity_index(centered_gram(h_const_x), g, "x"))


def test_continuity_index_line_and_zigzag():
    g = _grid(10, 3)
    line = np.column_stack([g.cell_ix, 5 * g.cell_iy]).astype(float)
    # Non-periodic line of n values: adjacent squared distance 1, mean over distinct pairs n(n+1)/6.
    assert cont.axis_continuity_index(centered_gram(line), g, "x") == pytest.approx(1 - 6 / (10 * 11))
    zigzag = np.column_stack([g.cell_ix % 2, 5 * g.cell_iy]).astype(float)
    assert cont.axis_continuity_index(centered_gram(zigzag), g, "x") < 0  # neighbours farther than average


@pytest.mark.parametrize("k", [1, 5, 12])
def test_trustworthiness_matches_sklearn(k):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((60, 4))
    b = a[:, :2] + 0.3 * rng.standard_normal((60, 2))
    ours = cont.trustworthiness(distances_from_gram(a @ a.T), distances_from_gram(b @ b.T), k)
    assert ours == pytest.approx(sk_trustworthiness(a, b, n_neighbors=k), abs=1e-12)  # no ties: same value
    with pytest.raises(ValueError, match="n_neighbors"):
        cont.trustworthiness(np.zeros((6, 6)), np.zeros((6, 6)), 3)


def test_trustworthiness_breaks_ties_at_random():
    # A code with no information (every condition equidistant from every other) on a 10 x 10 lattice:
    # any k representation-space neighbours are as good as any other. Index order picks the conditions
    # listed first (neighbours of condition 0 come out as 1..8: one lattice row, poor neighbours of most
    # conditions, and always the same); random ties give the chance level, about the same for every seed.
    g = _grid(10, 10)
    d_cond = cont.condition_distances(g)
    flat = 1.0 - np.eye(100)
    values = [cont.trustworthiness(d_cond, flat, 8, seed=s) for s in range(5)]
    assert len(set(np.round(values, 12))) > 1  # the seed matters ...
    assert np.ptp(values) < 0.05  # ... a little: all near chance
    assert cont.trustworthiness(d_cond, flat, 8, seed=3) == values[3]  # and is reproducible
    # chance level: a random neighbour has expected rank ~ n/2, so T ~ 1 - 2 (n/2 - k) / (2n - 3k - 1) = 0.51
    assert np.mean(values) == pytest.approx(1 - 2 * (50 - 8) / (200 - 24 - 1), abs=0.05)
    index_order = sk_trustworthiness(np.column_stack([g.xs[g.ix], g.ys[g.iy]]), np.eye(100), n_neighbors=8)
    assert abs(index_order - np.mean(values)) > 0.05  # sklearn's index order is not chance here


def test_condition_distances_wrap():
    g = _grid(8, 8, periodic=True)
    d = cont.condition_distances(g)
    i = np.flatnonzero((g.xs[g.ix] == 0) & (g.ys[g.iy] == 0))[0]
    j = np.flatnonzero((g.xs[g.ix] == 7) & (g.ys[g.iy] == 7))[0]
    assert d[i, j] == pytest.approx(np.sqrt(2))
    assert cont.condition_distances(_grid(8, 8))[i, j] == pytest.approx(7 * np.sqrt(2))
