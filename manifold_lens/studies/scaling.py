"""Data efficiency (claim 7): the training-set size at which accuracy crosses a level (60%) per image size N,
and the power law of that size against N (the study's scaling fits; computed here, drawn by the report).

:func:`size_for_accuracy` computes the crossings (no drawing): for each
training set (case and other grid point) and image size N, the seed-mean
accuracy against keep fraction is made non-decreasing (pool-adjacent-violators
isotonic fit) and linearly interpolated to find the keep fraction where it
first reaches the level; the training-set size there is the seed-mean number
of kept training images (``kept_sites``, else keep fraction x
``candidate_sites``) interpolated the same way. ``log size = log a + b log N``
is fitted by least squares over the N that cross; the exponent's interval is
the 2.5-97.5 percentile range over a bootstrap of the seeds (resampled with
replacement at each N, the whole computation repeated), and the fit's own
standard error is stored beside it. The study expects b near 2 for 2D bumps
only and near 1 with 1D stripes.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .groups import StudyDataError, grid_groups, require, run_values, study_coord

LEVEL = 0.6
BOOTSTRAP = 1000
INTERVAL = "2.5-97.5 percentiles of a bootstrap over seeds"
_HINT = "a scaling study sweeps data.keep_fraction and data.image_size"


def keep_coordinate(study: xr.Dataset, keep: str | None = None) -> str:
    """The swept keep-fraction coordinate: ``keep`` if given, else the one of ``data.keep_fraction``, else of a
    ``data.keep_fractions.<family>`` (the 2D family's of a mixture)."""
    if keep is not None:
        if keep not in study.coords or "run" not in study[keep].dims:
            raise StudyDataError(f"keep={keep!r}: not a coordinate of the study")
        return keep
    keys = {str(c): str(v.attrs.get("key", "")) for c, v in study.coords.items() if "run" in v.dims}
    for c, k in keys.items():
        if k == "data.keep_fraction":
            return c
    fractions = [c for c, k in keys.items() if k.startswith("data.keep_fractions.")]
    if fractions:
        return next((c for c in fractions if keys[c].endswith((".bump", ".sos", ".periodic"))), fractions[0])
    raise StudyDataError(f"scaling: the study does not sweep data.keep_fraction ({_HINT})")


def training_size(study: xr.Dataset, keep: str) -> tuple[np.ndarray, str]:
    """Per run: the number of training images (``kept_sites``, else keep fraction x ``candidate_sites``)."""
    if "kept_sites" in study and np.isfinite(study["kept_sites"].values).any():
        return study["kept_sites"].values.astype(np.float64), "kept_sites (training images of each run's own set)"
    if "candidate_sites" in study:
        return (study[keep].values * study["candidate_sites"].values).astype(np.float64), \
            "keep fraction x candidate_sites"
    raise StudyDataError("scaling: the study has no kept_sites or candidate_sites (collect it with "
                          "manifold_lens.open_study(path), percolation=True, the default)")


def isotonic(y: np.ndarray) -> np.ndarray:
    """The non-decreasing least-squares fit of ``y`` (pool adjacent violators, equal weights)."""
    blocks: list[list[float]] = []  # [mean, count]
    for v in np.asarray(y, dtype=np.float64):
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (m2, n2), (m1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(m1 * n1 + m2 * n2) / (n1 + n2), n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, n in blocks]) if blocks else np.array([])


def crossing(x: np.ndarray, y: np.ndarray, level: float) -> float:
    """The x where the isotonic fit of ``y`` (over ascending ``x``) first reaches ``level``, interpolated
    linearly between the bracketing points; NaN when it never does or already does at the first x (the
    crossing then lies outside the measured range)."""
    ok = np.isfinite(y)
    x, y = np.asarray(x, np.float64)[ok], isotonic(np.asarray(y, np.float64)[ok])
    above = np.flatnonzero(y >= level)
    if not len(above) or above[0] == 0:
        return np.nan
    i = above[0]
    return float(x[i - 1] + (level - y[i - 1]) * (x[i] - x[i - 1]) / (y[i] - y[i - 1]))


def power_law(n: np.ndarray, size: np.ndarray) -> tuple[float, float, float]:
    """(exponent b, prefactor a, standard error of b) of ``size = a N^b`` fitted by least squares on logs
    over the finite points (NaN with fewer than 2; the error NaN with fewer than 3)."""
    ok = np.isfinite(size) & (size > 0)
    if ok.sum() < 2:
        return np.nan, np.nan, np.nan
    lx, ly = np.log(n[ok]), np.log(size[ok])
    b, a = np.polyfit(lx, ly, 1)
    if ok.sum() < 3:
        return float(b), float(np.exp(a)), np.nan
    resid = ly - (a + b * lx)
    se = np.sqrt(resid @ resid / (ok.sum() - 2) / ((lx - lx.mean()) @ (lx - lx.mean())))
    return float(b), float(np.exp(a)), float(se)


def _nanmean(a, axis=None):
    """``np.nanmean`` without the warning on all-NaN slices (they stay NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _point(acc, size, keep_values, level):
    """(crossing keep fraction, training size there) from per-seed matrices (seed x keep)."""
    mean = _nanmean(acc, axis=0) if len(acc) else np.full(len(keep_values), np.nan)
    sizes = _nanmean(size, axis=0) if len(size) else mean
    lam = crossing(keep_values, mean, level)
    ok = np.isfinite(sizes)
    if not np.isfinite(lam) or ok.sum() < 2:
        return lam, np.nan
    return lam, float(np.interp(lam, keep_values[ok], sizes[ok]))


def size_for_accuracy(study: xr.Dataset, level: float = LEVEL, var: str = "accuracy_ood", keep: str | None = None,
                      bootstrap: int = BOOTSTRAP, seed: int = 0) -> xr.Dataset:
    """The training-set size at which ``var`` first reaches ``level``, per training set (dim ``group``: each
    case and grid point other than keep fraction and N) and image size (dim ``image_size``), with the
    power-law exponent of size against N per group (see the module docstring).

    Variables: ``crossing_keep_fraction``, ``train_size`` (images), ``train_size_low`` / ``_high`` (bootstrap
    interval), ``n_seeds`` (group, image_size); ``exponent``, ``exponent_low`` / ``_high`` (bootstrap),
    ``exponent_se`` (the fit's standard error), ``prefactor`` (group). NaN where accuracy never reaches the
    level (or already exceeds it at the smallest keep fraction).
    """
    require(study, [var], "size for accuracy", "collect the study: manifold_lens.open_study")
    if not 0 < level < 1:
        raise StudyDataError(f"level = {level}: give an accuracy between 0 and 1 (e.g. 0.6)")
    keep = keep_coordinate(study, keep)
    size_name = study_coord(study, "data.image_size", "size for accuracy", _HINT)
    sizes, source = training_size(study, keep)
    acc = run_values(study, var)
    lam, n_img, seeds = (study[c].values.astype(np.float64) for c in (keep, size_name, "seed"))
    keep_values = np.unique(lam[np.isfinite(lam)])
    ns = np.unique(n_img[np.isfinite(n_img)])
    groups = grid_groups(study, keep, size_name)
    rng = np.random.default_rng(seed)
    shape = (len(groups), len(ns))
    out = {k: np.full(shape, np.nan) for k in ("crossing_keep_fraction", "train_size", "train_size_low",
                                                 "train_size_high", "n_seeds")}
    exps = {k: np.full(len(groups), np.nan) for k in ("exponent", "exponent_low", "exponent_high", "exponent_se",
                                                       "prefactor")}
    for g, (_, mask) in enumerate(groups):
        boot = np.full((bootstrap, len(ns)), np.nan)
        for j, n in enumerate(ns):
            here = mask & (n_img == n)
            ids = [s for s in np.unique(seeds[here]) if np.isfinite(acc[here & (seeds == s)]).any()]
            cells = [[here & (seeds == s) & (lam == k) for k in keep_values] for s in ids]
            a = np.array([[_nanmean(acc[c]) if c.any() else np.nan for c in row] for row in cells])
            z = np.array([[_nanmean(sizes[c]) if c.any() else np.nan for c in row] for row in cells])
            a, z = a.reshape(len(ids), len(keep_values)), z.reshape(len(ids), len(keep_values))
            out["n_seeds"][g, j] = len(ids)
            if not ids:
                continue
            out["crossing_keep_fraction"][g, j], out["train_size"][g, j] = _point(a, z, keep_values, level)
            if len(ids) > 1:
                for b in range(bootstrap):
                    pick = rng.integers(0, len(ids), len(ids))
                    boot[b, j] = _point(a[pick], z[pick], keep_values, level)[1]
                if np.isfinite(boot[:, j]).any():
                    out["train_size_low"][g, j], out["train_size_high"][g, j] = np.nanpercentile(boot[:, j],
                                                                                                 [2.5, 97.5])
        b, a0, se = power_law(ns, out["train_size"][g])
        exps["exponent"][g], exps["prefactor"][g], exps["exponent_se"][g] = b, a0, se
        if (out["n_seeds"][g] > 1).any():
            need = np.isfinite(out["train_size"][g])  # a draw counts when it crosses at every N the data do
            slopes = np.array([power_law(ns, boot[k])[0] if np.isfinite(boot[k][need]).all() else np.nan
                               for k in range(bootstrap)])
            if np.isfinite(slopes).any():
                exps["exponent_low"][g], exps["exponent_high"][g] = np.nanpercentile(slopes, [2.5, 97.5])
    dims = ("group", "image_size")
    ds = xr.Dataset({k: (dims, v) for k, v in out.items()} | {k: ("group", v) for k, v in exps.items()},
                    coords={"group": np.asarray([g[0] or "all runs" for g in groups], dtype=object),
                            "image_size": ns.astype(int)})
    ds["train_size"].attrs = {"long_name": f"training images at {100 * level:g}% {var}", "units": "images"}
    ds["crossing_keep_fraction"].attrs = {"long_name": f"keep fraction at {100 * level:g}% {var}", "units": "1"}
    ds["exponent"].attrs = {"long_name": "power-law exponent of train_size vs N", "units": "1"}
    ds.attrs.update({"title": str(study.attrs.get("title", "study")), "level": float(level), "accuracy": var,
                     "keep": keep, "image_size_coord": size_name,
                     "train_size_source": source, "interval": INTERVAL, "bootstrap": int(bootstrap),
                     "fit": "least squares on log train_size vs log N; exponent_se: the fit's standard error",
                     "crossing": "isotonic (pool-adjacent-violators) seed mean, linear interpolation in keep fraction"})
    return ds


