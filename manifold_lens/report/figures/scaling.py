"""Data efficiency (claim 7): accuracy against keep fraction per image size N, and the training-set size at
which accuracy crosses a level (60%) against N on log-log axes, with the fitted power law.

The crossings and the power-law fits are the study's scaling fits, computed
and stored by :mod:`manifold_lens.studies.scaling` (``claims/scaling`` of the
study's results); these figures draw them and compute nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from ...studies import scaling as _scaling
from ...studies.groups import grid_groups as _groups
from ...studies.groups import run_values, study_coord
from ...studies.scaling import (BOOTSTRAP, INTERVAL, LEVEL, crossing, isotonic, keep_coordinate,  # noqa: F401
                                power_law, training_size)
from .study import accuracy_axis, baseline_errorbar, baseline_values, legend_with_baseline, seed_errorbar
from .style import FigureDataError, new_figure, require, root_figure, single_axes, title as set_title

_HINT = _scaling._HINT


def size_for_accuracy(study: xr.Dataset, level: float = LEVEL, var: str = "accuracy_ood", keep: str | None = None,
                      bootstrap: int = BOOTSTRAP, seed: int = 0) -> xr.Dataset:
    """Deprecated here (a computation, not a figure): :func:`manifold_lens.studies.scaling_fits`."""
    warnings.warn("manifold_lens.plot.size_for_accuracy is deprecated; use manifold_lens.studies.scaling_fits "
                  "(or the stored fits, manifold_lens.studies.read_claim(DIR, 'scaling'))", DeprecationWarning,
                  stacklevel=2)
    return _scaling.size_for_accuracy(study, level, var, keep, bootstrap=bootstrap, seed=seed)


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


def _crossing(cross: xr.Dataset, label: str, k: int, n: int) -> float:
    """The stored crossing keep fraction of one training set (by its label, else its position) at image size n."""
    groups = [str(g) for g in cross["group"].values]
    if n not in cross["image_size"].values:
        return np.nan
    row = cross.sel(group=label or "all runs") if (label or "all runs") in groups else \
        cross.isel(group=k) if k < len(groups) else None
    return np.nan if row is None else float(row["crossing_keep_fraction"].sel(image_size=n))


def scaling_accuracy(study: xr.Dataset, var: str = "accuracy_ood", level: float = LEVEL, keep: str | None = None,
                     title: str | None = None, *, fits: xr.Dataset | None = None, crossings: bool = True,
                     fig=None) -> Figure:
    """Claim 7: ``var`` against keep fraction, one panel per image size N, one line per training set (2D only,
    2D + stripes); the level (60%) dotted and each line's crossing marked; the memorising baseline (nearest
    training condition) dotted with x markers where the study carries it.

    ``fits``: the study's scaling fits (:func:`manifold_lens.studies.scaling_fits`, stored as
    ``claims/scaling``) whose crossings are drawn; without them the crossings are found here (no bootstrap);
    ``crossings=False`` draws none. ``fig``: a Figure or SubFigure to draw into. Returns the Figure."""
    require(study, [var], "scaling accuracy", "collect the study: manifold_lens.open_study")
    keep = keep_coordinate(study, keep)
    size_name = study_coord(study, "data.image_size", "scaling accuracy", _HINT)
    cross = None
    if crossings:
        cross = fits if fits is not None else _scaling.size_for_accuracy(study, level, var, keep, bootstrap=0)
    n_img, lam, y = study[size_name].values, study[keep].values.astype(np.float64), run_values(study, var)
    ns = [int(n) for n in np.unique(n_img)]
    groups = _groups(study, keep, size_name)
    fig = new_figure(min(3.6 * len(ns) + 1.0, 16.0), 4.4, fig)
    axes = np.atleast_1d(fig.subplots(1, len(ns), sharey=True))
    logx = np.nanmax(lam) / np.nanmin(lam[lam > 0]) >= 10 if (lam > 0).any() else False
    memo, base = baseline_values(study, var), 0
    for ax, n in zip(axes, ns):
        for k, (label, mask) in enumerate(groups):
            color = f"C{k % 10}"
            seed_errorbar(ax, lam, y, mask & (n_img == n), label, color=color)
            base += baseline_errorbar(ax, lam, memo, mask & (n_img == n), color)
            c = _crossing(cross, label, k, n) if cross is not None else np.nan
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
    legend_with_baseline(axes[0], base > 0, fontsize=8, frameon=False, loc="upper left")
    n_ok = int(np.isfinite(y).sum())
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: {var} vs keep fraction per image size\n"
                 f"mean over seeds, error bars: standard error over seeds; dotted: {100 * level:g}%"
                 + (", dashed: crossing" if cross is not None else "")
                 + f"; {n_ok} of {study.sizes['run']} runs with a value", fontsize=10)
    return root_figure(fig)


def scaling_size(fits: xr.Dataset, level: float = LEVEL, var: str = "accuracy_ood", keep: str | None = None,
                 bootstrap: int = BOOTSTRAP, title: str | None = None, *, ax=None) -> Figure:
    """Claim 7: the training-set size at which accuracy reaches the fits' level against image size N on log-log
    axes, one series per training set with its fitted power law and exponent (bootstrap interval over seeds);
    grey guides of slope 2 and 1 (the study's expectation for 2D only and with stripes).

    ``fits``: the study's scaling fits (:func:`manifold_lens.studies.scaling_fits`, stored as
    ``claims/scaling``); their level, accuracy and draws are the fits' own. Passing the collected study itself
    (fitted here with ``level``, ``var``, ``keep``, ``bootstrap``) is deprecated. ``ax``: the axes to draw
    into. Returns the Figure."""
    if "run" in fits.dims:
        warnings.warn("scaling_size(study) is deprecated: give the scaling fits, manifold_lens.studies."
                      "scaling_fits(study) (stored by the study runner as claims/scaling)", DeprecationWarning,
                      stacklevel=2)
        fits = _scaling.size_for_accuracy(fits, level, var, keep, bootstrap=bootstrap)
    require(fits, ["train_size", "exponent", "prefactor"], "scaling size",
            "compute the fits: manifold_lens.studies.scaling_fits(study)")
    res = fits
    level, var = float(res.attrs.get("level", level)), str(res.attrs.get("accuracy", var))
    bootstrap = int(res.attrs.get("bootstrap", bootstrap))
    ns = res["image_size"].values.astype(np.float64)
    if not np.isfinite(res["train_size"].values).any():
        raise FigureDataError(f"scaling size: no training set reaches {100 * level:g}% {var} inside the measured "
                              "keep fractions at any N (widen the keep fractions or train longer)")
    fig, ax, own = single_axes(ax, 8.0, 6.0)
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
    set_title(fig, ax, own, title or f"{res.attrs.get('title', 'study')}: training-set size for {100 * level:g}% "
              f"{var.replace('_', ' ')} vs N\nlines: size = a N^b, least squares on logs; error bars and [ ]: "
              f"95% interval,\n{res.attrs.get('interval', INTERVAL)} ({bootstrap} draws)")
    return fig
