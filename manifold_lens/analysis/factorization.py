"""Factorization of a representation h(x, y) over the condition grid.

The conditions form a grid of distinct x values by distinct y values; a *cell*
is one present (x, y) pair, represented by the mean activation of its
conditions (several conditions per cell, e.g. repeated draws, are averaged).
Not every pair needs to be present (hold-outs).

- **Additive decomposition**: ``h(x, y) = mu + a(x) + b(y) + r(x, y)``, with mu,
  a, b the least-squares fit over the present cells (gauge: a averages to 0
  over the distinct x values, b over the distinct y values). On a complete
  grid a(x) is the mean over y of h minus the grand mean, and likewise b.
- ``factorization_score = 1 - sum |r|^2 / sum |h - mean h|^2`` over cells: 1 for
  a perfectly additive code, lower when x and y interact.
- **Principal angles** between the x-subspace (span of the a(x), truncated to
  the top singular directions holding ``subspace_energy`` of their energy)
  and the y-subspace (same for b(y)). 90 degrees = orthogonal subspaces.
- **Chord statistics** (docs/science.md, section 3): :mod:`~manifold_lens.analysis.chords`
  (their names are re-exported here).
- **Ideal references** (functions :func:`torus3d` and :func:`clifford_torus`,
  for building reference codes that are measured like any other) on the same cells, with angles
  ``theta = 2 pi (v - v_min) / period`` per feature (the true period for
  periodic runs; otherwise the value range plus one lattice step, so the grid
  spans one full turn): the 3-D torus
  ``((R + r cos ty) cos tx, (R + r cos ty) sin tx, r sin ty)`` with R = 2, r = 1
  (x and y coupled) and the Clifford torus
  ``(cos tx, sin tx, cos ty, sin ty) / sqrt 2`` (x and y in orthogonal planes).
- **Linear decodability**: cross-validated R^2 of ridge regression from the
  activations to x (or to cos/sin of its angle for periodic runs), K-fold with
  a seeded shuffle; the ridge penalty is chosen per fold on a seeded inner
  80/20 split from a grid relative to the kernel trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse
from sklearn.model_selection import KFold

from .chords import (CHORD_STATISTICS, chord_cosines, chord_table, sample_chord_pairs,  # noqa: F401 -- moved
                     summarize_cosines)

TORUS_MAJOR_RADIUS = 2.0
TORUS_MINOR_RADIUS = 1.0
RIDGE_RELATIVE_ALPHAS = np.logspace(-6, 0, 4)  # x trace of the training kernel


@dataclass(frozen=True)
class ConditionGrid:
    """The grid of distinct x and y values spanned by a set of conditions.

    ``ix``/``iy`` index each condition's value in ``xs``/``ys``; cells are the
    present (x, y) pairs, ordered by (x, y); ``cell_of_condition`` maps
    conditions to cells. ``period_x``/``period_y``
    are the circle periods used for angles (true periods when ``periodic``).
    """

    xs: np.ndarray
    ys: np.ndarray
    ix: np.ndarray
    iy: np.ndarray
    cell_ix: np.ndarray
    cell_iy: np.ndarray
    cell_of_condition: np.ndarray
    step_x: float
    step_y: float
    period_x: float
    period_y: float
    periodic: bool

    @classmethod
    def from_coords(cls, x, y, periodic: bool = False, period=None) -> "ConditionGrid":
        """Build the grid; ``period`` (scalar or (px, py)) defaults to range + one step."""
        x = np.round(np.asarray(x, dtype=np.float64), 9)
        y = np.round(np.asarray(y, dtype=np.float64), 9)
        xs, ix = np.unique(x, return_inverse=True)
        ys, iy = np.unique(y, return_inverse=True)
        step_x = float(np.median(np.diff(xs))) if len(xs) > 1 else 1.0
        step_y = float(np.median(np.diff(ys))) if len(ys) > 1 else 1.0
        px, py = (period, period) if np.isscalar(period) or period is None else tuple(period)
        px = float(px) if px is not None else float(xs[-1] - xs[0] + step_x)
        py = float(py) if py is not None else float(ys[-1] - ys[0] + step_y)
        flat = ix * len(ys) + iy
        cells, cell_of_condition = np.unique(flat, return_inverse=True)
        return cls(xs=xs, ys=ys, ix=ix, iy=iy, cell_ix=cells // len(ys), cell_iy=cells % len(ys),
                   cell_of_condition=cell_of_condition, step_x=step_x, step_y=step_y,
                   period_x=px, period_y=py, periodic=bool(periodic))

    @property
    def nx(self) -> int:
        return len(self.xs)

    @property
    def ny(self) -> int:
        return len(self.ys)

    @property
    def n_cells(self) -> int:
        return len(self.cell_ix)

    def index_grid(self) -> np.ndarray:
        """(nx, ny) array of cell indices, -1 where the (x, y) pair is absent."""
        g = np.full((self.nx, self.ny), -1, dtype=np.int64)
        g[self.cell_ix, self.cell_iy] = np.arange(self.n_cells)
        return g

    def cell_gram(self, gram: np.ndarray) -> np.ndarray:
        """Gram matrix of the cell means, from the conditions' Gram matrix."""
        n = len(self.cell_of_condition)
        if self.n_cells == n:  # one condition per cell: a permutation
            order = np.empty(n, dtype=np.int64)
            order[self.cell_of_condition] = np.arange(n)
            return gram[np.ix_(order, order)]
        counts = np.bincount(self.cell_of_condition, minlength=self.n_cells)
        m = scipy.sparse.csr_matrix(
            (1.0 / counts[self.cell_of_condition], (self.cell_of_condition, np.arange(n))),
            shape=(self.n_cells, n))
        return np.asarray(m @ (m @ gram).T)

    def angles(self, of_cells: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Angles ``2 pi (v - v_min) / period`` (radians) of x and y, per cell or per condition."""
        ix, iy = (self.cell_ix, self.cell_iy) if of_cells else (self.ix, self.iy)
        tx = 2 * np.pi * (self.xs[ix] - self.xs[0]) / self.period_x
        ty = 2 * np.pi * (self.ys[iy] - self.ys[0]) / self.period_y
        return tx, ty

    def distance_steps(self, axis: str) -> np.ndarray:
        """Distances between the distinct values of ``axis`` ('x'/'y') in lattice steps.

        Wrapped around the period when the grid is periodic.
        """
        v, step, period = ((self.xs, self.step_x, self.period_x) if axis == "x"
                           else (self.ys, self.step_y, self.period_y))
        d = np.abs(v[:, None] - v[None, :])
        if self.periodic:
            d = np.minimum(d, period - d)
        return d / step


# --- additive decomposition --------------------------------------------------


def additive_operators(grid: ConditionGrid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear maps from cells to a(x), b(y) and the fitted values.

    Returns ``(La, Lb, P)``: ``a = La @ H``, ``b = Lb @ H`` for cell activations H
    (cells x units), and ``P`` the (cells x cells) projector onto additive codes,
    so the residual is ``(I - P) @ H``.
    """
    nx, ny, nc = grid.nx, grid.ny, grid.n_cells
    design = np.zeros((nc, 1 + nx + ny))
    design[:, 0] = 1.0
    design[np.arange(nc), 1 + grid.cell_ix] = 1.0
    design[np.arange(nc), 1 + nx + grid.cell_iy] = 1.0
    pinv = np.linalg.pinv(design.T @ design, rcond=1e-10, hermitian=True) @ design.T  # = pinv(design)
    la = pinv[1:1 + nx] - pinv[1:1 + nx].mean(axis=0, keepdims=True)
    lb = pinv[1 + nx:] - pinv[1 + nx:].mean(axis=0, keepdims=True)
    return la, lb, design @ pinv


def additive_decomposition(cells: np.ndarray, grid: ConditionGrid):
    """Explicit ``(mu, a, b, r)`` for cell activations (cells x units); see the module doc."""
    h = np.asarray(cells, dtype=np.float64)
    la, lb, p = additive_operators(grid)
    a, b = la @ h, lb @ h
    r = h - p @ h
    mu = (h - r - a[grid.cell_ix] - b[grid.cell_iy]).mean(axis=0)
    return mu, a, b, r


def factorization_score(cell_gram: np.ndarray, projector: np.ndarray) -> float:
    """``1 - |r|^2 / |h - mean h|^2`` from the cells' Gram matrix; NaN if h is constant."""
    total = float(np.trace(cell_gram) - cell_gram.sum() / len(cell_gram))
    residual = float(np.trace(cell_gram) - np.sum(projector * cell_gram))
    if not total > 1e-12 * max(float(np.trace(cell_gram)), 1e-300):
        return float("nan")
    return 1.0 - residual / total


def principal_angles(gram_aa: np.ndarray, gram_bb: np.ndarray, gram_ab: np.ndarray,
                     energy: float = 0.95) -> tuple[np.ndarray, int, int]:
    """Principal angles (radians, ascending) between span(a) and span(b), from Gram blocks.

    Each span is truncated to its top singular directions holding ``energy`` of
    its squared norm. Returns (angles, dim_a, dim_b); empty angles when either
    set carries no energy.
    """

    def basis(g):
        w, u = np.linalg.eigh(g)
        w, u = w[::-1], u[:, ::-1]
        w = np.clip(w, 0.0, None)
        if not w.sum() > 0:
            return np.zeros((len(g), 0))
        k = int(np.searchsorted(np.cumsum(w) / w.sum(), energy - 1e-12) + 1)
        k = min(k, int(np.sum(w > w[0] * 1e-12)))
        return u[:, :k] / np.sqrt(w[:k])[None, :]

    ca, cb = basis(gram_aa), basis(gram_bb)
    if ca.shape[1] == 0 or cb.shape[1] == 0:
        return np.zeros(0), ca.shape[1], cb.shape[1]
    cos = np.linalg.svd(ca.T @ gram_ab @ cb, compute_uv=False)
    return np.sort(np.arccos(np.clip(cos, -1.0, 1.0))), ca.shape[1], cb.shape[1]


# --- ideal references ----------------------------------------------------------------


def torus3d(theta_x: np.ndarray, theta_y: np.ndarray, major: float = TORUS_MAJOR_RADIUS,
            minor: float = TORUS_MINOR_RADIUS) -> np.ndarray:
    """Points of the ring torus in R^3: x runs around the big circle, y around the tube."""
    ring = major + minor * np.cos(theta_y)
    return np.stack([ring * np.cos(theta_x), ring * np.sin(theta_x), minor * np.sin(theta_y)], axis=1)


def clifford_torus(theta_x: np.ndarray, theta_y: np.ndarray) -> np.ndarray:
    """Points ``(cos tx, sin tx, cos ty, sin ty) / sqrt 2`` of the flat torus in R^4."""
    return np.stack([np.cos(theta_x), np.sin(theta_x), np.cos(theta_y), np.sin(theta_y)],
                    axis=1) / np.sqrt(2.0)


# --- linear decodability ---------------------------------------------------------------


def _ridge_predict(gram, train, test, y_train, alphas):
    """Predictions (n_alpha, n_test, n_targets) of linear ridge with intercept, in dual form."""
    ktt = gram[np.ix_(train, train)]
    kvt = gram[np.ix_(test, train)]
    col = ktt.mean(axis=0)
    kc = ktt - col[:, None] - col[None, :] + col.mean()
    kvc = kvt - kvt.mean(axis=1, keepdims=True) - col[None, :] + col.mean()
    ym = y_train.mean(axis=0)
    scale = max(float(np.trace(kc)), 1e-300)
    out = []
    diag = np.diag_indices(len(train))
    for alpha in alphas:
        m = kc.copy()
        m[diag] += alpha * scale
        c = scipy.linalg.cho_solve(scipy.linalg.cho_factor(m, lower=True, overwrite_a=True), y_train - ym)
        out.append(ym + kvc @ c)
    return np.stack(out)


def linear_decodability(gram: np.ndarray, targets: np.ndarray, n_splits: int = 5,
                        seed: int = 0) -> np.ndarray:
    """Cross-validated R^2 of ridge regression for each target column (out-of-fold predictions).

    ``gram`` is the conditions' (centred) Gram matrix: ridge on activations
    depends on them only through it. Per fold the penalty (relative to the
    kernel trace, from :data:`RIDGE_RELATIVE_ALPHAS`) is chosen per target on a
    seeded inner 80/20 split of the training conditions.
    """
    y = np.asarray(targets, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    rng = np.random.default_rng(seed)
    pred = np.empty_like(y)
    for train, test in KFold(n_splits, shuffle=True, random_state=seed).split(y):
        perm = rng.permutation(train)
        n_val = max(1, len(train) // 5)
        inner_val, inner_train = perm[:n_val], perm[n_val:]
        p = _ridge_predict(gram, inner_train, inner_val, y[inner_train], RIDGE_RELATIVE_ALPHAS)
        best = np.argmin(((p - y[inner_val][None]) ** 2).sum(axis=1), axis=0)  # per target
        for b in np.unique(best):
            cols = np.flatnonzero(best == b)
            pred[np.ix_(test, cols)] = _ridge_predict(
                gram, train, test, y[np.ix_(train, cols)], RIDGE_RELATIVE_ALPHAS[[b]])[0]
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    ss_res = ((y - pred) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)
