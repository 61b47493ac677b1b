"""Data efficiency (claim 7): accuracy against keep fraction per image size N, and the training-set size at
which accuracy crosses a level (60%) against N on log-log axes, with a fitted power-law exponent.

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
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from .study import _groups, accuracy_axis, run_values, seed_errorbar, study_coord
from .style import FigureDataError, new_figure, require

LEVEL = 0.6
BOOTSTRAP = 1000
INTERVAL = "2.5-97.5 percentiles of a bootstrap over seeds"
_HINT = "a scaling study sweeps data.keep_fraction and data.image_size"


def keep_coordinate(study: xr.Dataset, keep: str | None = None) -> str:
    """The swept keep-fraction coordinate: ``keep`` if given, else the one of ``data.keep_fraction``, else of a
    ``data.keep_fractions.<family>`` (the 2D family's of a mixture)."""
    if keep is not None:
        if keep not in study.coords or "run" not in study[keep].dims:
            raise FigureDataError(f"keep={keep!r}: not a coordinate of the study")
        return keep
    keys = {str(c): str(v.attrs.get("key", "")) for c, v in study.coords.items() if "run" in v.dims}
    for c, k in keys.items():
        if k == "data.keep_fraction":
            return c
    fractions = [c for c, k in keys.items() if k.startswith("data.keep_fractions.")]
    if fractions:
        return next((c for c in fractions if keys[c].endswith((".bump", ".sos", ".periodic"))), fractions[0])
    raise FigureDataError(f"scaling: the study does not sweep data.keep_fraction ({_HINT})")


def training_size(study: xr.Dataset, keep: str) -> tuple[np.ndarray, str]:
    """Per run: the number of training images (``kept_sites``, else keep fraction x ``candidate_sites``)."""
    if "kept_sites" in study and np.isfinite(study["kept_sites"].values).any():
        return study["kept_sites"].values.astype(np.float64), "kept_sites (training images of each run's own set)"
    if "candidate_sites" in study:
        return (study[keep].values * study["candidate_sites"].values).astype(np.float64), \
            "keep fraction x candidate_sites"
    raise FigureDataError("scaling: the study has no kept_sites or candidate_sites (collect it with "
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
        raise FigureDataError(f"level = {level}: give an accuracy between 0 and 1 (e.g. 0.6)")
    keep = keep_coordinate(study, keep)
    size_name = study_coord(study, "data.image_size", "size for accuracy", _HINT)
    sizes, source = training_size(study, keep)
    acc = run_values(study, var)
    lam, n_img, seeds = (study[c].values.astype(np.float64) for c in (keep, size_name, "seed"))
    keep_values = np.unique(lam[np.isfinite(lam)])
    ns = np.unique(n_img[np.isfinite(n_img)])
    groups = _groups(study, keep, size_name)
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
    ds.attrs.update({"level": float(level), "accuracy": var, "keep": keep, "image_size_coord": size_name,
                     "train_size_source": source, "interval": INTERVAL, "bootstrap": int(bootstrap),
                     "fit": "least squares on log train_size vs log N; exponent_se: the fit's standard error",
                     "crossing": "isotonic (pool-adjacent-violators) seed mean, linear interpolation in keep fraction"})
    return ds


def exponent_text(r: xr.Dataset) -> str:
    """One group's exponent in words: with its bootstrap interval, else the fit's standard error, else alone."""
    b, blo, bhi, se = (float(r[k]) for k in ("exponent", "exponent_low", "exponent_high", "exponent_se"))
    if not np.isfinite(b):
        return "no fit (fewer than 2 sizes cross)"
    if np.isfinite(blo):
        return f"exponent {b:.2f} [{blo:.2f}, {bhi:.2f}]"
    if np.isfinite(se):
        return f"exponent {b:.2f} +- {se:.2f} (fit s.e.)"
    return f"exponent {b:.2f} (2 sizes: no interval)"


def scaling_accuracy(study: xr.Dataset, var: str = "accuracy_ood", level: float = LEVEL, keep: str | None = None,
                     title: str | None = None) -> Figure:
    """Claim 7: ``var`` against keep fraction, one panel per image size N, one line per training set (2D only,
    2D + stripes); the level (60%) dotted and each line's crossing marked."""
    require(study, [var], "scaling accuracy", "collect the study: manifold_lens.open_study")
    keep = keep_coordinate(study, keep)
    size_name = study_coord(study, "data.image_size", "scaling accuracy", _HINT)
    cross = size_for_accuracy(study, level, var, keep, bootstrap=0)
    n_img, lam, y = study[size_name].values, study[keep].values.astype(np.float64), run_values(study, var)
    ns = [int(n) for n in np.unique(n_img)]
    groups = _groups(study, keep, size_name)
    fig = new_figure(min(3.6 * len(ns) + 1.0, 16.0), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(ns), sharey=True))
    logx = np.nanmax(lam) / np.nanmin(lam[lam > 0]) >= 10 if (lam > 0).any() else False
    for ax, n in zip(axes, ns):
        for k, (label, mask) in enumerate(groups):
            color = f"C{k % 10}"
            seed_errorbar(ax, lam, y, mask & (n_img == n), label, color=color)
            c = float(cross["crossing_keep_fraction"].isel(group=k).sel(image_size=n))
            if np.isfinite(c):
                ax.axvline(c, color=color, ls="--", lw=0.9, alpha=0.8)
        ax.axhline(level, color="#777", ls=":", lw=1.0)
        if logx:
            ax.set_xscale("log")
            ax.minorticks_off()
        ticks = np.unique(lam[np.isfinite(lam)])
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=8, rotation=45 if len(ticks) > 6 else 0)
        ax.set_title(f"N = {n} ({n} x {n} px)", fontsize=10)
        ax.set_xlabel(f"keep fraction lambda ({study[keep].attrs.get('key', keep)})")
        accuracy_axis(ax, f"terminal {var.replace('_', ' ')} (fraction correct)" if ax is axes[0] else "")
    axes[0].legend(fontsize=8, frameon=False, loc="upper left")
    n_ok = int(np.isfinite(y).sum())
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: {var} vs keep fraction per image size\n"
                 f"mean over seeds, error bars: standard error over seeds; dotted: {100 * level:g}%, dashed: "
                 f"crossing; {n_ok} of {study.sizes['run']} runs with a value", fontsize=10)
    return fig


def scaling_size(study: xr.Dataset, level: float = LEVEL, var: str = "accuracy_ood", keep: str | None = None,
                 bootstrap: int = BOOTSTRAP, title: str | None = None) -> Figure:
    """Claim 7: the training-set size at which ``var`` reaches ``level`` against image size N on log-log axes,
    one series per training set with its fitted power law and exponent (bootstrap interval over seeds);
    grey guides of slope 2 and 1 (the study's expectation for 2D only and with stripes)."""
    res = size_for_accuracy(study, level, var, keep, bootstrap=bootstrap)
    ns = res["image_size"].values.astype(np.float64)
    if not np.isfinite(res["train_size"].values).any():
        raise FigureDataError(f"scaling size: no training set reaches {100 * level:g}% {var} inside the measured "
                              "keep fractions at any N (widen the keep fractions or train longer)")
    fig = new_figure(8.0, 6.0)
    ax = fig.subplots()
    for k, g in enumerate(res["group"].values):
        r = res.isel(group=k)
        size = r["train_size"].values
        ok = np.isfinite(size)
        if not ok.any():
            continue
        lo = np.where(np.isfinite(r["train_size_low"].values), size - r["train_size_low"].values, 0)
        hi = np.where(np.isfinite(r["train_size_high"].values), r["train_size_high"].values - size, 0)
        b, a = float(r["exponent"]), float(r["prefactor"])
        fit = exponent_text(r)
        color = f"C{k % 10}"
        ax.errorbar(ns[ok], size[ok], yerr=[np.maximum(lo[ok], 0), np.maximum(hi[ok], 0)], fmt="o", ms=6,
                    capsize=3, color=color, label=f"{g}: {fit}")
        if np.isfinite(b):
            grid = np.geomspace(ns.min() * 0.9, ns.max() * 1.1, 50)
            ax.plot(grid, a * grid ** b, color=color, lw=1.3)
    finite = res["train_size"].values[np.isfinite(res["train_size"].values)]
    anchor_n, anchor = float(np.sqrt(ns.min() * ns.max())), float(np.exp(np.log(finite).mean()))
    grid = np.geomspace(ns.min() * 0.9, ns.max() * 1.1, 50)
    for slope, ls in ((2, ":"), (1, "-.")):
        ax.plot(grid, anchor * (grid / anchor_n) ** slope, color="#999", ls=ls, lw=1.0,
                label=f"slope {slope} guide (study: {'2D only' if slope == 2 else 'with stripes'})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ns, [str(int(n)) for n in ns])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("image size N (px per side)")
    ax.set_ylabel(f"training images at {100 * level:g}% {var.replace('_', ' ')}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: training-set size for {100 * level:g}% "
                 f"{var.replace('_', ' ')} vs N\nlines: size = a N^b, least squares on logs; error bars and [ ]: "
                 f"95% interval,\n{INTERVAL} ({bootstrap} draws)", fontsize=10)
    return fig
