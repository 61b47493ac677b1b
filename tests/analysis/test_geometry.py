"""Unit tests of manifold_lens.geometry: Gram-based PCA, effective dimension, embeddings, H1."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import spearmanr

from manifold_lens.analysis import geometry as geom


def _isotropic(n, k, d, seed=0):
    """n points spread exactly evenly over k orthogonal directions in d dims (rank k)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    z -= z.mean(axis=0)
    q_left, _ = np.linalg.qr(z)  # orthonormal, centred columns
    q_right, _ = np.linalg.qr(rng.standard_normal((d, k)))
    return 3.0 * q_left @ q_right.T


def test_centered_gram_matches_definition():
    x = np.random.default_rng(0).standard_normal((20, 7))
    xc = x - x.mean(axis=0)
    np.testing.assert_allclose(geom.centered_gram(x), xc @ xc.T, atol=1e-12)


def test_draw_grams_match_definitions():
    draws = np.random.default_rng(3).standard_normal((3, 12, 5)) + np.arange(5)  # offset mean: centring matters
    mean_gram, cross = geom.draw_grams(draws.astype(np.float32))
    np.testing.assert_allclose(mean_gram, geom.centered_gram(draws.mean(axis=0)), atol=1e-5)
    hc = draws - draws.mean(axis=1, keepdims=True)
    expected = sum(hc[k] @ hc[m].T for k in range(3) for m in range(3) if k != m) / 6
    np.testing.assert_allclose(cross, expected, atol=1e-5)
    one_mean, none = geom.draw_grams(draws[:1])
    assert none is None
    np.testing.assert_allclose(one_mean, geom.centered_gram(draws[0]), atol=1e-12)


def test_cross_draw_gram_cancels_independent_noise():
    # Signal: 200 conditions in 30 dims, unit variance per unit; noise variance 1 per unit (SNR 1), K = 6 draws.
    # E[mean Gram] = G + (1 - 1/n) 30 / K = G + 4.975 on the diagonal; E[G_cross] = G. Over 30 seeds the mean
    # diagonal error was 4.86 +- 0.26 (mean Gram) and -0.11 +- 0.27 (G_cross): the bounds sit > 4 sd away.
    rng = np.random.default_rng(4)
    signal = rng.standard_normal((200, 30))
    g = geom.centered_gram(signal)
    mean_gram, cross = geom.draw_grams(signal[None] + rng.standard_normal((6, 200, 30)))
    assert np.mean(np.diag(mean_gram) - np.diag(g)) > 3.8
    assert abs(np.mean(np.diag(cross) - np.diag(g))) < 1.2
    assert np.min(np.linalg.eigvalsh(cross)) < 0 <= np.min(np.linalg.eigvalsh(mean_gram)) + 1e-9  # not PSD


@pytest.mark.parametrize("n", [30, 200])  # dense path and Lanczos path
def test_top_eigenpairs_match_dense_solver(n):
    x = np.random.default_rng(1).standard_normal((n, 40)) * np.linspace(3, 0.1, 40)
    g = geom.centered_gram(x)
    w, u = geom.top_eigenpairs(g, 10)
    ref = np.sort(np.linalg.eigvalsh(g))[::-1][:10]
    np.testing.assert_allclose(w, ref, rtol=1e-8)
    np.testing.assert_allclose(g @ u, u * w, atol=1e-6 * ref[0])


def test_top_eigenpairs_of_a_constant_code():
    w, u = geom.top_eigenpairs(np.zeros((100, 100)), 5)  # Lanczos would fail on it: the dense path answers
    np.testing.assert_array_equal(w, 0.0)
    assert u.shape == (100, 5)


def test_effective_dim_known_spectra():
    assert geom.effective_dim([1, 1, 1, 0]) == pytest.approx(3.0)
    assert geom.effective_dim([5.0, 0, 0]) == pytest.approx(1.0)
    assert geom.effective_dim([2.0, 1.0]) == pytest.approx(9 / 5)
    assert np.isnan(geom.effective_dim([0.0, 0.0]))


def test_effective_dim_from_gram_equals_spectrum_and_rank():
    x = np.random.default_rng(2).standard_normal((50, 8)) * [5, 4, 3, 2, 1, 1, 0.5, 0.1]
    g = geom.centered_gram(x)
    lam = np.linalg.eigvalsh(np.cov(x.T))
    assert geom.effective_dim_from_gram(g) == pytest.approx(geom.effective_dim(lam), rel=1e-10)
    # Isotropic rank-k data: participation ratio is exactly k.
    assert geom.effective_dim_from_gram(geom.centered_gram(_isotropic(300, 6, 50))) == pytest.approx(6, rel=1e-9)


def test_explained_variance_ratio_pads_with_nan():
    r = geom.explained_variance_ratio(np.array([3.0, 1.0]), 4.0, 5, n_available=2)
    np.testing.assert_allclose(r[:2], [0.75, 0.25])
    assert np.isnan(r[2:]).all()


def test_pca_scores_reproduce_distances_and_fix_signs():
    x = _isotropic(80, 3, 20, seed=3) + 0.0
    g = geom.centered_gram(x)
    w, u = geom.top_eigenpairs(g, 3)
    s = geom.pca_scores(w, u)
    np.testing.assert_allclose(cdist(s, s), cdist(x, x), atol=1e-9)  # rank 3: 3 scores are isometric
    s2 = geom.pca_scores(w, -u)
    np.testing.assert_allclose(s, s2)  # sign convention is deterministic


def test_distances_from_gram():
    x = np.random.default_rng(4).standard_normal((15, 6))
    np.testing.assert_allclose(geom.distances_from_gram(geom.centered_gram(x)), cdist(x, x), atol=1e-10)


def _helix(n=120):
    t = np.linspace(0, 3 * np.pi, n)
    return t, np.stack([np.cos(t), np.sin(t), 0.3 * t], axis=1)


def test_embed_pca_and_isomap_shapes_and_order():
    t, pts = _helix()
    g = geom.centered_gram(pts)
    scores = geom.pca_scores(*geom.top_eigenpairs(g, 3))
    emb, _ = geom.embed(scores, "pca", 3)
    assert emb.shape == (120, 3)
    iso, _ = geom.embed(scores, "isomap", 2)
    assert iso.shape == (120, 2)
    # Isomap unrolls the helix: its first coordinate orders points by arc length.
    assert abs(spearmanr(iso[:, 0], t).statistic) > 0.99
    with pytest.raises(ValueError, match="unknown embedding"):
        geom.embed(scores, "tsne", 2)


@pytest.mark.slow
def test_embed_umap_runs_seeded():
    pytest.importorskip("umap")
    _, pts = _helix(80)
    scores = geom.pca_scores(*geom.top_eigenpairs(geom.centered_gram(pts), 3))
    a, _ = geom.embed(scores, "umap", 2, seed=0)
    b, _ = geom.embed(scores, "umap", 2, seed=0)
    assert a.shape == (80, 2)
    np.testing.assert_allclose(a, b)
