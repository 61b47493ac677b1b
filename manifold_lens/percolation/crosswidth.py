"""Comparing onsets across bump widths: errors-in-both regression and the collapse check.

:func:`errors_in_both` fits ``measured = intercept + slope x predicted`` to
one point per width with standard errors on both coordinates (from the
bootstrap): it minimises ``sum (y - a - b x)^2 / (sy^2 + b^2 sx^2)``, the
orthogonal-distance (York / Deming with per-point errors) objective, over the
slope by a fine search in the angle ``atan(b)`` refined by bounded scalar
minimisation; for each slope the best intercept is the weighted mean.

:func:`collapse` asks whether the outcome follows one curve of each run's
predicted cluster size better than separate curves in lambda per width:
both are monotone (non-decreasing) least-squares curves (isotonic regression,
predicting held-out runs by linear interpolation), so neither assumes a shape
the other lacks, scored by the cross-validated binomial log-likelihood per run
(10-fold over runs, fractional outcomes as Bernoulli frequencies, predictions
clipped to [0.001, 0.999]).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import isotonic_regression, minimize_scalar

SE_FLOOR = 1e-4  # smallest standard error used as a weight (a noiseless bootstrap has SE 0)
EPS = 1e-3       # predictions clipped to [EPS, 1 - EPS] in the log-likelihood


def errors_in_both(x, y, sx, sy) -> tuple[float, float]:
    """(slope, intercept) of y on x with errors sx, sy on both (see the module docstring); NaNs with < 2 points."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    sx = np.maximum(np.nan_to_num(np.asarray(sx, dtype=np.float64), nan=SE_FLOOR), SE_FLOOR)
    sy = np.maximum(np.nan_to_num(np.asarray(sy, dtype=np.float64), nan=SE_FLOOR), SE_FLOOR)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, sx, sy = x[ok], y[ok], sx[ok], sy[ok]
    if len(x) < 2 or np.ptp(x) == 0:
        return np.nan, np.nan

    def parts(theta):
        b = np.tan(np.atleast_1d(theta))[:, None]
        w = 1.0 / (sy[None, :] ** 2 + b**2 * sx[None, :] ** 2)
        a = np.sum(w * (y - b * x), 1, keepdims=True) / np.sum(w, 1, keepdims=True)
        return np.sum(w * (y - a - b * x) ** 2, 1), a[:, 0], b[:, 0]

    lim = np.pi / 2 - 1e-6
    thetas = np.linspace(-lim, lim, 2001)
    k = int(np.argmin(parts(thetas)[0]))
    lo, hi = thetas[max(k - 1, 0)], thetas[min(k + 1, len(thetas) - 1)]
    best = minimize_scalar(lambda t: float(parts(t)[0][0]), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-12})
    theta = best.x if best.fun <= parts(thetas[k])[0][0] else thetas[k]
    _, a, b = parts(theta)
    return float(b[0]), float(a[0])


class Regression(NamedTuple):
    slope: float
    intercept: float
    slope_boot: np.ndarray
    intercept_boot: np.ndarray


def _spread(boot: np.ndarray) -> np.ndarray:
    """Bootstrap standard error per width (row): NaN where fewer than 2 replicates have an onset."""
    n = np.isfinite(boot).sum(1)
    out = np.full(len(boot), np.nan)
    ok = n > 1
    out[ok] = np.nanstd(boot[ok], axis=1, ddof=1)
    return out


def regression(pred, meas, pred_boot, meas_boot) -> Regression:
    """:func:`errors_in_both` of measured on predicted onsets (one per width), with bootstrap replicates.

    ``pred_boot``, ``meas_boot`` (width, replicate): replicate r pairs the r-th
    bootstrap onset of every width (each width resampled independently) and
    is refitted with the same weights, the bootstrap standard errors of the
    full replicate sets; a replicate uses the widths with an onset in it
    (needs >= 2).
    """
    sx, sy = _spread(pred_boot), _spread(meas_boot)
    slope, intercept = errors_in_both(pred, meas, sx, sy)
    n_boot = pred_boot.shape[1]
    sb, ib = np.full(n_boot, np.nan), np.full(n_boot, np.nan)
    if np.isfinite(slope):
        for r in range(n_boot):
            sb[r], ib[r] = errors_in_both(pred_boot[:, r], meas_boot[:, r], sx, sy)
    return Regression(slope, intercept, sb, ib)


def _loglik(y, p) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return y * np.log(p) + (1 - y) * np.log(1 - p)


class Collapse(NamedTuple):
    loglik_single: float
    loglik_separate: float
    collapse: str
    curve: tuple  # (cluster sizes, outcome): the monotone curve of all runs in predicted cluster size


def monotone(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing least-squares fit of y on x (isotonic regression, ties pooled): (distinct x, fitted y)."""
    ux, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    means = np.bincount(inv, weights=y) / counts
    return ux, isotonic_regression(means, weights=counts.astype(np.float64), increasing=True).x


def _predict(train_x, train_y, x):
    if len(train_x) == 0:
        return np.full(len(x), 0.5)
    ux, fy = monotone(train_x, train_y)
    return np.interp(x, ux, fy)


def collapse(cluster, lam, group, y, folds: int = 10, seed: int = 0) -> Collapse:
    """Cross-validated mean log-likelihood per run of one monotone curve in predicted cluster size (all widths)
    vs separate monotone curves in lambda (one per width); ``collapse`` is "yes" when the single curve scores at
    least as well, "no" otherwise, "undetermined" with fewer than 2 widths or 8 runs."""
    cluster, lam, y = (np.asarray(v, dtype=np.float64) for v in (cluster, lam, y))
    group = np.asarray(group)
    ok = np.isfinite(cluster) & np.isfinite(lam) & np.isfinite(y)
    cluster, lam, group, y = cluster[ok], lam[ok], group[ok], y[ok]
    n = len(y)
    curve = monotone(cluster, y) if n else (np.array([]), np.array([]))
    if len(np.unique(group)) < 2 or n < 8:
        return Collapse(np.nan, np.nan, "undetermined", curve)
    k = min(folds, n)
    fold = np.random.default_rng(seed).permutation(n) % k
    single, separate = np.empty(n), np.empty(n)
    for f in range(k):
        test, train = fold == f, fold != f
        single[test] = _predict(cluster[train], y[train], cluster[test])
        for g in np.unique(group[test]):
            tr, te = train & (group == g), test & (group == g)
            separate[te] = _predict(lam[tr], y[tr], lam[te])
    a, b = float(_loglik(y, single).mean()), float(_loglik(y, separate).mean())
    return Collapse(a, b, "yes" if a >= b else "no", curve)
