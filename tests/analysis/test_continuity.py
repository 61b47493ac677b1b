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
    n = 12
    c = _circle(n)
    g = _grid(n, 3, periodic=True)
    s = cont.similarity_by_distance(c @ c.T, g.distance_steps("x"), max_distance=8)
    k = np.arange(1, 7)
    np.testing.assert_allclose(s[:6], np.cos(2 * np.pi * k / n), atol=1e-12)  # cos of the angle apart
    assert np.isnan(s[6:]).all()  # wrapped distances stop at n/2 = 6


def test_similarity_by_distance_of_orthogonal_codes_is_zero():
    s = cont.similarity_by_distance(np.eye(5), np.abs(np.subtract.outer(np.arange(5), np.arange(5))), 4)
    np.testing.assert_allclose(s, 0.0)


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
    assert ours == pytest.approx(sk_trustworthiness(a, b, n_neighbors=k), abs=1e-12)
    with pytest.raises(ValueError, match="n_neighbors"):
        cont.trustworthiness(np.zeros((6, 6)), np.zeros((6, 6)), 3)


def test_condition_distances_wrap():
    g = _grid(8, 8, periodic=True)
    d = cont.condition_distances(g)
    i = np.flatnonzero((g.xs[g.ix] == 0) & (g.ys[g.iy] == 0))[0]
    j = np.flatnonzero((g.xs[g.ix] == 7) & (g.ys[g.iy] == 7))[0]
    assert d[i, j] == pytest.approx(np.sqrt(2))
    assert cont.condition_distances(_grid(8, 8))[i, j] == pytest.approx(7 * np.sqrt(2))
