"""Geometry of a representation: PCA spectrum, effective dimension, embeddings.

Everything starts from the *centred Gram matrix* ``G = Xc Xc^T`` of the
activations ``X`` (conditions x units, ``Xc`` = X minus its mean over
conditions). Its non-zero eigenvalues ``w`` are those of ``Xc^T Xc``, so the
covariance eigenvalues are ``lambda = w / (n - 1)``; working with G costs
O(n^2 d) once and keeps later steps independent of the number of units d.
With K independent noise draws per condition, X is the draw mean here (the
spectrum, effective dimension and embeddings describe the noise-averaged
activations; the noise left in the mean, variance / K, still adds a floor to
the spectrum); the noise-robust statistics elsewhere use the cross-draw Gram
of :func:`draw_grams`, which leaves each draw's product with itself out. With
K >= 4 draws, ``measure`` takes the spectrum and effective dimension from the
two halves' cross-draw Grams instead (:func:`split_eigenvalues`,
:func:`split_effective_dim`), which noise does not inflate.

Definitions (units: activation^2 for variances):

- explained-variance ratio of component i: ``lambda_i / sum(lambda)``.
- ``effective_dim`` is the participation ratio of the covariance spectrum,
  ``PR = (sum lambda)^2 / sum(lambda^2) = trace(G)^2 / ||G||_F^2``. It is k for
  data spread evenly over k orthogonal directions, 1 for a line, and lies
  between 1 and the rank.
- 2-D and 3-D embeddings: PCA scores (top components, signs fixed so the
  largest-magnitude score of each component is positive, so views are stable
  across checkpoints), Isomap (scikit-learn) and UMAP (umap-learn, optional).
  Isomap and UMAP run on the top :data:`EMBED_INPUT_COMPONENTS` PCA scores,
  which preserve the large-scale geometry at a fraction of the cost.

Topology (H1 persistence, Betti-1) is :mod:`manifold_lens.analysis.topology`.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from .settings import EMBED_METHODS, check_embed_methods  # noqa: F401 -- declared with the settings

EMBED_INPUT_COMPONENTS = 50  # PCA scores fed to Isomap / UMAP
ISOMAP_NEIGHBORS = 10
UMAP_NEIGHBORS = 15


def centered_gram(activations: np.ndarray) -> np.ndarray:
    """Gram matrix ``Xc Xc^T`` (n x n, float64) of activations centred over conditions."""
    x = np.asarray(activations, dtype=np.float64)
    xc = x - x.mean(axis=0, keepdims=True)
    return xc @ xc.T


def draw_grams(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(mean Gram, cross-draw Gram) of activations with independent noise draws (K, n, d).

    Each draw ``H_k`` is centred over conditions. The *mean Gram* is
    ``Hbar Hbar^T`` of the draw mean ``Hbar = mean_k H_k`` (the centred Gram of
    the mean activations, as :func:`centered_gram`); independent noise adds
    ``noise variance / K`` to its diagonal. The *cross-draw Gram*
    ``G_cross = sum_{k != l} H_k H_l^T / (K (K - 1))`` leaves out the products
    of a draw with itself, so independent zero-mean noise cancels in
    expectation: it estimates the Gram of the noiseless (noise-averaged) code
    without bias. It is symmetric but not positive semi-definite (squared
    lengths of short differences can come out <= 0). None when K < 2.
    Cost: K + 3 products (n x d) (d x n); one draw at a time is held in float64.
    """
    mean_gram, cross, _ = draw_gram_set(draws)
    return mean_gram, cross


def draw_gram_set(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, np.ndarray] | None]:
    """(mean Gram, cross-draw Gram, the halves' cross-draw Grams) of draws (K, n, d); see :func:`draw_grams`.

    The halves are the first ``K // 2`` draws and the rest; each half's
    cross-draw Gram is unbiased on its own and the two are independent (their
    noises come from disjoint draws), so products of their entries estimate
    products of the noiseless Gram's entries without bias (:func:`split_effective_dim`,
    :func:`split_eigenvalues`, the chord statistics). None when K < 4.
    """
    x = np.asarray(draws)
    k_draws = x.shape[0]
    half = k_draws // 2
    sums = [np.zeros((x.shape[1], x.shape[2]), dtype=np.float64) for _ in range(2)]
    own = [np.zeros((x.shape[1], x.shape[1]), dtype=np.float64) for _ in range(2)] if k_draws >= 2 else None
    for k in range(k_draws):
        xk = np.asarray(x[k], dtype=np.float64)
        xk = xk - xk.mean(axis=0, keepdims=True)
        side = int(k >= half) if k_draws >= 2 else 0
        sums[side] += xk
        if own is not None:
            own[side] += xk @ xk.T
    if own is None:
        total = sums[0]
        return total @ total.T / k_draws**2, None, None
    aa, bb, ab = sums[0] @ sums[0].T, sums[1] @ sums[1].T, sums[0] @ sums[1].T
    both = aa + bb + ab + ab.T  # = sum over all (k, l), own products included
    mean_gram = both / k_draws**2
    cross = (both - own[0] - own[1]) / (k_draws * (k_draws - 1))
    cross = (cross + cross.T) / 2
    if k_draws < 4:
        return mean_gram, cross, None
    sizes = (half, k_draws - half)
    halves = tuple((g - o) / (m * (m - 1)) for g, o, m in zip((aa, bb), own, sizes))
    return mean_gram, cross, tuple((h + h.T) / 2 for h in halves)


def split_effective_dim(gram_a: np.ndarray, gram_b: np.ndarray) -> float:
    """Participation ratio ``trace(G)^2 / ||G||_F^2`` of the noiseless Gram G from two independent unbiased
    estimates of it: ``trace(G_a) trace(G_b) / <G_a, G_b>_F`` (each factor unbiased); NaN if not positive."""
    num = float(np.trace(gram_a)) * float(np.trace(gram_b))
    den = float(np.sum(gram_a * gram_b))
    return num / den if den > 0 and num > 0 else float("nan")


def split_eigenvalues(gram_a: np.ndarray, gram_b: np.ndarray, k: int) -> np.ndarray:
    """The k leading eigenvalues of the noiseless Gram, cross-validated between two independent estimates.

    Eigenvectors v from one half, Rayleigh quotients ``v^T G_other v`` from the
    other, both ways, averaged, clipped at 0 and sorted descending: no noise
    inflation (the eigenvalues of a noisy Gram are biased up at the top); biased
    low only where one half's eigenvectors miss the true ones (components near
    the noise floor).
    """
    k = int(min(k, gram_a.shape[0]))
    parts = []
    for g, other in ((gram_a, gram_b), (gram_b, gram_a)):
        _, u = top_eigenpairs(g, k)
        parts.append(np.einsum("ik,ij,jk->k", u, other, u))
    return np.sort(np.clip((parts[0] + parts[1]) / 2, 0.0, None))[::-1]


def top_eigenpairs(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest eigenvalues (descending, clipped at 0) and eigenvectors of a Gram matrix.

    Lanczos (ARPACK, seeded start vector) when k is small against n, else a dense solver.
    """
    n = gram.shape[0]
    k = int(min(k, n))
    w = None
    if n > 64 and k < n // 4 and np.any(gram):  # (ARPACK fails on an all-zero matrix: a constant code)
        v0 = np.random.default_rng(0).standard_normal(n)
        try:
            w, u = scipy.sparse.linalg.eigsh(gram, k=k, which="LA", v0=v0)
        except scipy.sparse.linalg.ArpackError:
            w = None
        else:
            order = np.argsort(w)
            w, u = w[order], u[:, order]
    if w is None:
        w, u = scipy.linalg.eigh(gram, subset_by_index=[n - k, n - 1])
    return np.clip(w[::-1], 0.0, None), u[:, ::-1]


def pca_scores(eigenvalues: np.ndarray, eigenvectors: np.ndarray) -> np.ndarray:
    """PCA scores ``Xc V = U sqrt(w)`` from Gram eigenpairs, with deterministic signs."""
    scores = eigenvectors * np.sqrt(eigenvalues)[None, :]
    if scores.size:
        idx = np.argmax(np.abs(scores), axis=0)
        signs = np.sign(scores[idx, np.arange(scores.shape[1])])
        signs[signs == 0] = 1.0
        scores = scores * signs[None, :]
    return scores


def explained_variance_ratio(eigenvalues: np.ndarray, total_variance: float, n_components: int,
                             n_available: int) -> np.ndarray:
    """Ratios of the top ``n_components`` eigenvalues to the total; NaN beyond ``n_available``."""
    out = np.full(n_components, np.nan)
    m = min(n_components, n_available, len(eigenvalues))
    if total_variance > 0:
        out[:m] = eigenvalues[:m] / total_variance
    return out


def effective_dim(eigenvalues: np.ndarray) -> float:
    """Participation ratio ``(sum l)^2 / sum l^2`` of a covariance spectrum; NaN if all zero."""
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    s2 = float(np.sum(lam**2))
    return float(np.sum(lam) ** 2 / s2) if s2 > 0 else float("nan")


def effective_dim_from_gram(gram: np.ndarray) -> float:
    """Participation ratio from a centred Gram matrix: ``trace(G)^2 / ||G||_F^2`` (same value)."""
    fro2 = float(np.sum(gram * gram))
    return float(np.trace(gram) ** 2 / fro2) if fro2 > 0 else float("nan")


def distances_from_gram(gram: np.ndarray) -> np.ndarray:
    """Euclidean distance matrix from a Gram matrix (clipped at 0 against round-off)."""
    d = np.diag(gram)
    sq = d[:, None] + d[None, :] - 2.0 * gram
    np.fill_diagonal(sq, 0.0)
    return np.sqrt(np.clip(sq, 0.0, None))


def embed(scores: np.ndarray, method: str, n_dims: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Embed points (rows of PCA ``scores``) in ``n_dims`` dims; returns (embedding, notes).

    ``pca`` takes the first score columns; ``isomap`` and ``umap`` fit on the top
    :data:`EMBED_INPUT_COMPONENTS` columns. Raises ImportError for UMAP if
    umap-learn is missing (the caller records it and moves on).
    """
    notes: list[str] = []
    n = scores.shape[0]
    if method == "pca":
        out = np.zeros((n, n_dims))
        m = min(n_dims, scores.shape[1])
        out[:, :m] = scores[:, :m]
        return out, notes
    z = scores[:, :EMBED_INPUT_COMPONENTS]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method == "isomap":
            from sklearn.manifold import Isomap

            k = min(ISOMAP_NEIGHBORS, n - 1)
            out = Isomap(n_neighbors=k, n_components=n_dims).fit_transform(z)
        elif method == "umap":
            import umap  # optional extra: pip install manifold-lens[umap]

            k = min(UMAP_NEIGHBORS, n - 1)
            out = umap.UMAP(n_neighbors=k, n_components=n_dims, random_state=seed,
                            init="spectral" if n > n_dims + 1 else "random").fit_transform(z)
        else:
            raise ValueError(f"unknown embedding method {method!r}; choose from {', '.join(EMBED_METHODS)}")
    for w in caught:
        notes.append(f"{method}: {str(w.message).splitlines()[0]}")
    return np.asarray(out, dtype=np.float64), notes
