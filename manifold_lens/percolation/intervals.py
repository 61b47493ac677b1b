"""Onset intervals that hold with few seeds: a profile likelihood of the sigmoid midpoint lambda_c.

The onset curve is the package's one sigmoid
(:func:`~manifold_lens.percolation.sigmoid.sigmoid`: floor, ceiling, midpoint
lambda_c, width). :func:`profile_onset` fits it to the runs of one bump width
and profiles lambda_c:

- ``binomial`` (the measured side): run i scored ``n_i`` samples and got
  ``k_i = y_i n_i`` right; the log-likelihood is binomial in the curve's value
  at the run's keep fraction. Seeds differ by more than binomial noise
  (training sets and initialisations differ), so the likelihood is a
  *quasi*-likelihood: its dispersion ``phi`` is the Pearson chi-square of the
  runs around the best fit over its residual degrees of freedom (runs - 4).
  Because phi is estimated, only the relative sizes of the n_i matter.
- ``gaussian`` (the predicted side: largest-cluster ratios of realisations):
  least squares, the variance estimated from the residuals.

For each lambda_c on a grid, the other three parameters are maximised over
(width on a geometric grid down to 1/500 of the sweep, so a step between two
keep fractions is a candidate; ceiling on a grid up to ``ceiling_max``; floor
by Newton steps, the likelihood being concave in it). The interval holds the
lambda_c whose deviance from the best, divided by phi, stays below the
``level`` quantile of F(1, df) (t squared: the estimated dispersion widens it
when there are few runs), extended by one grid step (the grid's resolution),
and always contains the *bracket*: the neighbours of the keep fraction
nearest the best midpoint, widened to those
between which the keep fractions' mean outcomes cross the fit's half-way
level (where the data do not see the rise, the midpoint can be anywhere
between them; a sigmoid through a few points also places it by its shape,
not by the data). Draws of lambda_c
(for the regression across widths) are sampled from the profile as a
confidence density, flat over the bracket.

Refusals are :func:`~manifold_lens.percolation.sigmoid.onset`'s: fewer than 3
keep fractions, a rise below ``MIN_RISE``, a falling curve, a midpoint outside
the measured keep fractions; one run per keep fraction gives the fit but no
interval (no spread to estimate).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import expit
from scipy.stats import f as f_dist

from .sigmoid import MIN_KEEP, MIN_RISE, SINGLE, SigmoidFit

N_MID = 121        # lambda_c grid points across the sweep (and a quarter span beyond each end)
N_WIDTH = 10       # widths, geometric from span / 500 to span
N_CEIL = 9        # ceilings, from 0 to ceiling_max
NEWTON = 6         # Newton steps on the floor
EPS = 1e-6
METHOD = ("profile likelihood of lambda_c (binomial quasi-likelihood of each run's correct count for the outcome, "
          "least squares for the predicted cluster ratio; dispersion from the runs, F(1, runs - 4) cut-off), "
          "widened to contain the two keep fractions that bracket the onset")


class Onset(NamedTuple):
    """One width's onset: the fit, the interval (low, high), the bracketing keep fractions, draws of lambda_c,
    the dispersion and residual degrees of freedom."""

    fit: SigmoidFit
    low: float
    high: float
    bracket: tuple[float, float]
    draws: np.ndarray
    dispersion: float
    dof: int


def _nan_onset(fit: SigmoidFit, n_draws: int) -> Onset:
    return Onset(fit, np.nan, np.nan, (np.nan, np.nan), np.full(n_draws, np.nan), np.nan, 0)


def _best_floor_binomial(s, c, k, n, f0):
    """Floor maximising the binomial log-likelihood for shapes ``s`` (G, K) and ceilings ``c`` (G,): Newton steps
    on the concave 1D problem, clipped to [0, 1]; returns (floor, log-likelihood) (G,)."""
    f = f0.copy()
    one = 1 - s
    for _ in range(NEWTON):
        p = np.clip(f[:, None] * one + c[:, None] * s, EPS, 1 - EPS)
        g = ((k / p - (n - k) / (1 - p)) * one).sum(1)
        h = -((k / p**2 + (n - k) / (1 - p) ** 2) * one**2).sum(1)
        f = np.clip(f - g / np.minimum(h, -1e-12), 0.0, 1.0)
    p = np.clip(f[:, None] * one + c[:, None] * s, EPS, 1 - EPS)
    return f, (k * np.log(p) + (n - k) * np.log(1 - p)).sum(1)


def _best_floor_gaussian(s, c, ybar, m):
    """Floor minimising the weighted squared error sum m (ybar - f (1 - s) - c s)^2 (closed form, clipped)."""
    one = 1 - s
    num = (m * one * (ybar - c[:, None] * s)).sum(1)
    den = np.maximum((m * one**2).sum(1), 1e-12)
    f = np.clip(num / den, 0.0, 1.0)
    r = ybar - f[:, None] * one - c[:, None] * s
    return f, -0.5 * (m * r**2).sum(1)


def _profile(levels, agg, kind, ceiling_max, mids):
    """Profile log-likelihood over ``mids`` and the best (width, floor, ceiling) at each."""
    span = levels[-1] - levels[0]
    widths = np.geomspace(span / 500, span, N_WIDTH)
    ceils = np.linspace(0.0, ceiling_max, N_CEIL)
    mm, ww, cc = (g.ravel() for g in np.meshgrid(mids, widths, ceils, indexing="ij"))
    s = expit((levels[None, :] - mm[:, None]) / ww[:, None])
    if kind == "binomial":
        k, n = agg
        lo = np.clip(k[0] / n[0], 0, 1)
        f, ll = _best_floor_binomial(s, cc, k[None, :], n[None, :], np.full(len(mm), lo))
    else:
        ybar, m = agg
        f, ll = _best_floor_gaussian(s, cc, ybar[None, :], m[None, :])
    ll = ll.reshape(len(mids), -1)
    best = ll.argmax(1)
    pick = np.arange(len(mids)) * ll.shape[1] + best
    return ll.max(1), ww[pick], f[pick], cc[pick]


def _dispersion(kind, lam, y, n, params) -> float:
    """Pearson chi-square of the runs around the fit per residual degree of freedom (binomial), or the residual
    variance (gaussian), in the units the profile log-likelihood uses."""
    floor, ceiling, mid, width = params
    p = floor + (ceiling - floor) * expit((lam - mid) / width)
    dof = len(y) - 4
    if kind == "binomial":
        p = np.clip(p, EPS, 1 - EPS)
        return float(np.sum(n * (y - p) ** 2 / (p * (1 - p))) / dof)
    return float(np.sum((y - p) ** 2) / dof)


def _bracket(levels, means, mid, half) -> tuple[float, float]:
    """The keep fractions the onset lies between: the neighbours of the keep fraction nearest the best midpoint
    (where the rise falls between two keep fractions, or at one, the sigmoid places the midpoint by its shape, not
    by the data: it may lie anywhere within a step of the nearest keep fraction), widened to every
    pair of adjacent keep fractions whose mean outcomes cross the half-way level of the fit (noise may cross it
    more than once)."""
    j = int(np.argmin(np.abs(levels - mid)))
    lo, hi = levels[max(j - 1, 0)], levels[min(j + 1, len(levels) - 1)]
    d = means - half
    cross = np.flatnonzero((d[:-1] <= 0) & (d[1:] >= 0) | (d[:-1] >= 0) & (d[1:] <= 0))
    if len(cross):
        lo, hi = min(lo, levels[cross[0]]), max(hi, levels[cross[-1] + 1])
    return float(lo), float(hi)


def profile_onset(lam, y, n=None, *, kind: str = "binomial", ceiling_max: float = 1.0, level: float = 0.95,
                  n_draws: int = 1000, rng: np.random.Generator | None = None,
                  min_rise: float = MIN_RISE) -> Onset:
    """The onset of ``y`` vs keep fraction ``lam`` (one point per run) with its profile-likelihood interval.

    Args:
        lam, y: keep fraction and outcome (a fraction) of each run.
        n: samples each run's outcome was scored on (binomial n); None: equal
            weights (the estimated dispersion makes the scale irrelevant).
        kind: ``binomial`` (outcomes, quasi-likelihood) or ``gaussian``
            (predicted cluster ratios, least squares).
        ceiling_max: the ceiling's upper bound (a width's in-distribution
            accuracy for the outcome, 1 for the cluster ratio).
        level: confidence level of the interval.
        n_draws, rng: draws of lambda_c from the profile (for the regression).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    lam = np.asarray(lam, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = np.full(len(y), 100.0) if n is None else np.asarray(n, dtype=np.float64)
    ok = np.isfinite(lam) & np.isfinite(y) & np.isfinite(n) & (n > 0)
    lam, y, n = lam[ok], y[ok], n[ok]
    nan4 = (np.nan,) * 4
    levels, inv = np.unique(lam, return_inverse=True)
    if len(levels) < MIN_KEEP:
        return _nan_onset(SigmoidFit(*nan4, f"needs >= {MIN_KEEP} keep fractions, got {len(levels)}"), n_draws)
    means = np.bincount(inv, y) / np.bincount(inv)
    if means.max() - means.min() < min_rise:
        return _nan_onset(SigmoidFit(*nan4, f"changes by < {min_rise:g} over the keep fractions: no onset"), n_draws)
    span = levels[-1] - levels[0]
    mids = np.linspace(levels[0] - span / 4, levels[-1] + span / 4, N_MID)
    if kind == "binomial":
        agg = (np.bincount(inv, y * n), np.bincount(inv, n))
    else:
        agg = (means, np.bincount(inv).astype(np.float64))
    ll, widths, floors, ceils = _profile(levels, agg, kind, float(np.clip(ceiling_max, min_rise, 1.0)), mids)
    b = int(np.argmax(ll))
    mid, width, floor, ceiling = float(mids[b]), float(widths[b]), float(floors[b]), float(ceils[b])
    if ceiling - floor < min_rise:
        how = "falls" if ceiling < floor else "rises"
        return _nan_onset(SigmoidFit(np.nan, width, floor, ceiling,
                                     f"fitted curve {how} by {abs(ceiling - floor):.2g} (< {min_rise:g}): no onset"),
                          n_draws)
    if not levels[0] <= mid <= levels[-1]:
        return _nan_onset(SigmoidFit(np.nan, width, floor, ceiling,
                                     f"midpoint {mid:.3g} outside the measured keep fractions [{levels[0]:g}, "
                                     f"{levels[-1]:g}]: extend the sweep"), n_draws)
    fit = SigmoidFit(mid, width, floor, ceiling, "ok")
    level_means = agg[0] / agg[1] if kind == "binomial" else means
    bracket = _bracket(levels, level_means, mid, (floor + ceiling) / 2)
    dof = len(y) - 4
    if len(y) == len(levels):
        return Onset(fit._replace(status=f"{SINGLE}: no interval (run >= 2 seeds per keep fraction)"), np.nan,
                     np.nan, bracket, np.full(n_draws, np.nan), np.nan, dof)
    phi = max(_dispersion(kind, lam, y, n, (floor, ceiling, mid, width)), 1e-12)
    dev = 2 * (ll[b] - ll) / phi
    cut = float(f_dist.ppf(level, 1, max(dof, 1)))
    inside = (dev <= cut) | ((mids >= bracket[0]) & (mids <= bracket[1]))
    step = mids[1] - mids[0]  # the profile's grid: an end lies within a step beyond the last point inside
    low = float(min(max(mids[inside].min() - step, mids[0]), bracket[0]))
    high = float(max(min(mids[inside].max() + step, mids[-1]), bracket[1]))
    weight = np.exp(-0.5 * np.where((mids >= bracket[0]) & (mids <= bracket[1]), 0.0, dev))
    weight /= weight.sum()
    draws = rng.choice(mids, n_draws, p=weight) + rng.uniform(-step / 2, step / 2, n_draws)
    return Onset(fit, low, high, bracket, draws, phi, dof)
