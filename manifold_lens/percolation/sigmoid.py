"""The one onset estimator of the package: a sigmoid with a floor and a ceiling, and its bootstrap.

``floor + (ceiling - floor) / (1 + exp(-(lambda - lambda_c) / width))`` is
fitted by bounded least squares (floor and ceiling in [0, 1], width > 0) to
any quantity against the keep fraction lambda: the predicted largest-cluster
ratio and the measured accuracy alike (:func:`fit_sigmoid`). Its midpoint
``lambda_c`` is the onset on both sides.

The fit starts from the best point of a grid over (lambda_c, width), where
floor and ceiling are solved in closed form (linear least squares), and is
refined by ``scipy.optimize.least_squares`` with the analytic Jacobian.

:func:`onset` refuses to invent an onset: fewer than 3 distinct keep
fractions, a rise (ceiling - floor, or the spread of the per-lambda means)
below ``min_rise``, or a midpoint outside the measured keep fractions give
NaN and a status in words. :func:`bootstrap_onsets` resamples realisations
(stratified by keep fraction, or whole curves) and gives percentile intervals;
:func:`midpoint_stderr` is the least-squares standard error of one fit's
midpoint (what the retired ``onset.fit_onset`` reported).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from .settings import PercolationTestSettings

MIN_RISE = 0.1        # smallest ceiling - floor (fraction) that counts as an onset
MIN_KEEP = 3          # fewest distinct keep fractions an onset is read from
MAX_FAILED = 0.2      # largest share of bootstrap resamples without an onset for the onset to count
SINGLE = "one realisation per keep fraction"
LEVEL = PercolationTestSettings.default("level")  # confidence level of the percentile intervals
FORMULA = "floor + (ceiling - floor) / (1 + exp(-(lambda - lambda_c) / width))"


class SigmoidFit(NamedTuple):
    """A sigmoid fit; ``lambda_c`` is NaN and ``status`` says why when no onset can be read."""

    lambda_c: float
    width: float
    floor: float
    ceiling: float
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def sigmoid(lam, floor, ceiling, lambda_c, width):
    """The onset curve at keep fractions ``lam`` (any units of lambda; width > 0 in the same units)."""
    z = (np.asarray(lam, dtype=np.float64) - lambda_c) / width
    return floor + (ceiling - floor) * expit(z)


def _closed_form(s, y):
    """Floor and ceiling of the best fit for fixed sigmoid shapes ``s`` (G, n) to ``y`` (n,), clipped to [0, 1]."""
    sm, ym = s.mean(1), y.mean()
    var = ((s - sm[:, None]) ** 2).mean(1)
    cov = ((s - sm[:, None]) * (y - ym)[None, :]).mean(1)
    b = np.divide(cov, var, out=np.zeros_like(cov), where=var > 1e-12)
    a = ym - b * sm
    floor, ceiling = np.clip(a, 0, 1), np.clip(a + b, 0, 1)
    sse = ((floor[:, None] + (ceiling - floor)[:, None] * s - y[None, :]) ** 2).sum(1)
    return floor, ceiling, sse


def fit_sigmoid(lam, y) -> tuple[float, float, float, float]:
    """Least-squares (floor, ceiling, lambda_c, width) of :func:`sigmoid` to points (lam, y); no refusals.

    lambda_c may lie up to one span beyond the measured range; width lies in
    [span / 1000, 2 span] (span = max(lam) - min(lam)).
    """
    lam = np.asarray(lam, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lo, hi = float(lam.min()), float(lam.max())
    span = max(hi - lo, 1e-6)
    wmin, wmax = span / 1000, 2 * span
    mids = np.linspace(lo - 0.1 * span, hi + 0.1 * span, 49)
    widths = np.geomspace(wmin * 3, span, 18)
    mm, ww = (g.ravel() for g in np.meshgrid(mids, widths))
    floor, ceiling, sse = _closed_form(expit((lam[None, :] - mm[:, None]) / ww[:, None]), y)
    k = int(np.argmin(sse))
    p0 = np.array([floor[k], ceiling[k], mm[k], ww[k]])
    lower = np.array([0.0, 0.0, lo - span, wmin])
    upper = np.array([1.0, 1.0, hi + span, wmax])
    p0 = np.clip(p0, lower + 1e-12, upper - 1e-12)

    def resid(p):
        return sigmoid(lam, *p) - y

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = least_squares(resid, p0, jac=lambda p: jacobian(lam, *p), bounds=(lower, upper), xtol=1e-14,
                            ftol=1e-14, gtol=1e-14, max_nfev=100)
    p = res.x if np.isfinite(res.cost) and res.cost <= 0.5 * sse[k] + 1e-15 else p0
    return float(p[0]), float(p[1]), float(p[2]), float(p[3])


def jacobian(lam, floor, ceiling, lambda_c, width) -> np.ndarray:
    """d sigmoid / d (floor, ceiling, lambda_c, width) at keep fractions ``lam``, shape (len(lam), 4)."""
    lam = np.asarray(lam, dtype=np.float64)
    s = expit((lam - lambda_c) / width)
    ds = s * (1 - s)
    rise = ceiling - floor
    return np.column_stack([1 - s, s, -rise * ds / width, -rise * ds * (lam - lambda_c) / width**2])


def midpoint_stderr(lam, y, fit: SigmoidFit) -> float:
    """Least-squares standard error of ``fit.lambda_c``: sqrt of the midpoint's entry of s^2 (J^T J)^-1 with
    s^2 = SSE / (points - 4); NaN without an onset or with no more points than parameters."""
    lam = np.asarray(lam, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(lam) & np.isfinite(y)
    lam, y = lam[ok], y[ok]
    if not fit.ok or len(lam) <= 4:
        return np.nan
    p = (fit.floor, fit.ceiling, fit.lambda_c, fit.width)
    j = jacobian(lam, *p)
    s2 = float(np.sum((sigmoid(lam, *p) - y) ** 2)) / (len(lam) - 4)
    cov = s2 * np.linalg.pinv(j.T @ j)
    return float(np.sqrt(cov[2, 2])) if cov[2, 2] >= 0 else np.nan


def onset(lam, y, min_rise: float = MIN_RISE) -> SigmoidFit:
    """:func:`fit_sigmoid` with the refusals: NaN lambda_c and a status in words where no onset can be read."""
    lam = np.asarray(lam, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(lam) & np.isfinite(y)
    lam, y = lam[ok], y[ok]
    levels = np.unique(lam)
    nan = (np.nan, np.nan, np.nan, np.nan)
    if len(levels) < MIN_KEEP:
        return SigmoidFit(*nan, f"needs >= {MIN_KEEP} keep fractions, got {len(levels)}")
    means = np.array([y[lam == v].mean() for v in levels])
    if means.max() - means.min() < min_rise:
        return SigmoidFit(*nan, f"changes by < {min_rise:g} over the keep fractions: no onset")
    floor, ceiling, mid, width = fit_sigmoid(lam, y)
    if ceiling - floor < min_rise:
        how = "falls" if ceiling < floor else "rises"
        return SigmoidFit(np.nan, width, floor, ceiling,
                          f"fitted curve {how} by {abs(ceiling - floor):.2g} (< {min_rise:g}): no onset")
    if not levels[0] <= mid <= levels[-1]:
        return SigmoidFit(np.nan, width, floor, ceiling,
                          f"midpoint {mid:.3g} outside the measured keep fractions [{levels[0]:g}, {levels[-1]:g}]: "
                          "extend the sweep")
    return SigmoidFit(mid, width, floor, ceiling, "ok")


def interval(values, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval (low, high) of the finite ``values``; NaNs when there are fewer than 2."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return np.nan, np.nan
    q = 100 * (1 - level) / 2
    return float(np.percentile(v, q)), float(np.percentile(v, 100 - q))


class Bootstrap(NamedTuple):
    """A point fit, its bootstrap replicates of lambda_c, the interval (low, high) and the share of failed resamples."""

    fit: SigmoidFit
    replicates: np.ndarray
    low: float
    high: float
    failed: float


def _summarise(fit: SigmoidFit, reps: np.ndarray, level: float) -> Bootstrap:
    failed = float(np.mean(~np.isfinite(reps))) if len(reps) else 1.0
    if fit.ok and failed > MAX_FAILED:
        fit = fit._replace(lambda_c=np.nan, status=f"no onset in {100 * failed:.0f}% of bootstrap resamples "
                                                    "(unresolved: more seeds or keep fractions near the onset)")
    low, high = interval(reps, level) if fit.ok else (np.nan, np.nan)
    return Bootstrap(fit, reps, low, high, failed)


def bootstrap_onsets(lam, y, n_boot: int, rng: np.random.Generator, min_rise: float = MIN_RISE,
                     level: float = LEVEL) -> Bootstrap:
    """Bootstrap of :func:`onset` over realisations, stratified by keep fraction.

    Each point (lam[i], y[i]) is one realisation (a run, a seed); a resample
    draws, within each keep fraction, as many points with replacement as it
    has. A resample without an onset counts as failed (NaN replicate);
    ``level`` is the confidence level of the percentile interval.
    """
    lam = np.asarray(lam, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    fit = onset(lam, y, min_rise)
    reps = np.full(n_boot, np.nan)
    strata = [np.flatnonzero(lam == v) for v in np.unique(lam)]
    if fit.ok and all(len(s) == 1 for s in strata):  # every resample is the sample: no interval to read
        return Bootstrap(fit._replace(status=f"{SINGLE}: no interval (run >= 2 seeds per keep fraction)"), reps,
                         np.nan, np.nan, 1.0)
    if fit.ok:
        fits: dict[bytes, float] = {}  # a resample's fit depends only on which points it holds
        for b in range(n_boot):
            idx = np.sort(np.concatenate([rng.choice(s, len(s)) for s in strata]))
            key = idx.tobytes()
            if key not in fits:
                fits[key] = onset(lam[idx], y[idx], min_rise).lambda_c
            reps[b] = fits[key]
    return _summarise(fit, reps, level)


def bootstrap_curves(lam, curves, n_boot: int, rng: np.random.Generator, min_rise: float = MIN_RISE,
                     level: float = LEVEL) -> Bootstrap:
    """Bootstrap of :func:`onset` over whole curves: ``curves`` (len(lam), trials), one column per lattice
    realisation (a Newman-Ziff pass gives every keep fraction at once). The point fit is to the mean curve;
    a resample draws trials with replacement and fits their mean."""
    lam = np.asarray(lam, dtype=np.float64)
    curves = np.asarray(curves, dtype=np.float64)
    fit = onset(lam, curves.mean(1), min_rise)
    reps = np.full(n_boot, np.nan)
    if fit.ok:
        t = curves.shape[1]
        for b in range(n_boot):
            reps[b] = onset(lam, curves[:, rng.integers(0, t, t)].mean(1), min_rise).lambda_c
    return _summarise(fit, reps, level)
