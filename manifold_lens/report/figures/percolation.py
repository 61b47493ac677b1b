"""Figures of percolation: largest-cluster curves, neighbour overlaps, predicted vs measured onset, and the
percolation test's onsets, lambda_c comparison and collapse."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .style import attrs_text, axis_label, figure_title, new_figure, require, root_figure, single_axes
from .style import title as set_title


def _sigma_colors(n: int):
    cmap = colormaps["plasma"]
    return [cmap(0.85 * i / max(n - 1, 1)) for i in range(n)]


def percolation_curves(percolation: xr.Dataset, title: str | None = None, *, fig=None) -> Figure:
    """Largest-cluster ratio (over kept sites, left) and fraction (over all sites, right) vs keep fraction,
    one curve per sigma (mean over trials, band = +-1 std), lambda_c dashed."""
    require(percolation, ["largest_cluster_ratio"], "percolation curves", "run manifold-lens percolate")
    p = percolation if "sigma" in percolation.dims else percolation.expand_dims(sigma=[np.nan])
    lam = p["keep_fraction"].values
    colors = _sigma_colors(p.sizes["sigma"])
    names = [n for n in ("largest_cluster_ratio", "largest_cluster_fraction") if n in p]
    fig = new_figure(5.2 * len(names) + 1.5, 4.4, fig)
    axes = np.atleast_1d(fig.subplots(1, len(names), sharex=True))
    for ax, name in zip(axes, names):
        for k, s in enumerate(p["sigma"].values):
            da = p[name].isel(sigma=k)
            mean = da.mean("trial").values if "trial" in da.dims else da.values
            sd = da.std("trial").values if "trial" in da.dims else np.zeros_like(mean)
            isolated = bool(p["isolated"].isel(sigma=k)) if "isolated" in p else False
            lab = "sigma = ?" if np.isnan(s) else f"sigma = {s:g} px"
            if isolated:
                lab += " (isolated: no neighbours)"
            ax.plot(lam, mean, color=colors[k], lw=1.8, label=lab)
            ax.fill_between(lam, mean - sd, mean + sd, color=colors[k], alpha=0.2, lw=0)
            if "lambda_c" in p:
                lc = float(p["lambda_c"].isel(sigma=k))
                if np.isfinite(lc):
                    se = float(p["lambda_c_stderr"].isel(sigma=k)) if "lambda_c_stderr" in p else 0.0
                    ax.axvline(lc, color=colors[k], ls="--", lw=1)
                    ax.axvspan(lc - se, lc + se, color=colors[k], alpha=0.12, lw=0)
                    if name == names[-1]:  # the axis holding the legend
                        ax.plot([], [], color=colors[k], ls="--", lw=1, label=f"lambda_c = {lc:.3f} +- {se:.3f}")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("keep fraction lambda (fraction of lattice sites kept)")
        ax.set_ylabel(axis_label(p[name], name))
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    at, lattice = p.attrs, p.attrs.get("lattice")
    shape = (f"{lattice[0]} x {lattice[1]} lattice" if isinstance(lattice, (list, tuple)) else f"lattice {lattice}")
    where = attrs_text(at, ["{shape}" if lattice is not None else "{n_sites} sites", "spacing {spacing_x:g} px",
                            "overlap threshold {threshold:g}", "{trials} trials"]
                       + (["periodic"] if int(at.get("periodic", 0)) else []), shape=shape)
    fig.suptitle(title or figure_title("site percolation of the training lattice", percolation, where), fontsize=10)
    return root_figure(fig)



def neighbour_overlap(overlap: xr.Dataset, threshold: float | None = None, spacing: float | None = None,
                      title: str | None = None, *, ax=None) -> Figure:
    """Normalised overlap of neighbouring bumps vs lattice spacing d, per sigma: from pixels (solid) and the
    continuum closed form exp(-d^2 / 4 sigma^2) (dashed); the connection threshold dotted.

    ``overlap``: :func:`manifold_lens.percolation.neighbour_overlap_curve` output (dims sigma, spacing).
    """
    require(overlap, ["overlap_pixels"], "neighbour overlap vs spacing",
             "compute it with manifold_lens.neighbour_overlap_curve")
    d = overlap["spacing"].values
    colors = _sigma_colors(overlap.sizes["sigma"])
    fig, ax, own = single_axes(ax, 7.5, 4.5)
    for k, s in enumerate(overlap["sigma"].values):
        ax.plot(d, overlap["overlap_pixels"].isel(sigma=k), color=colors[k], lw=1.8, label=f"sigma = {s:g} px")
        if "overlap_continuum" in overlap:
            ax.plot(d, overlap["overlap_continuum"].isel(sigma=k), color=colors[k], lw=1, ls="--")
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="#555", lw=1.8), Line2D([], [], color="#555", lw=1, ls="--")]
    labels += ["from rendered pixels", "continuum exp(-d^2/4 sigma^2)"]
    if threshold is not None:
        ax.axhline(threshold, color="k", ls=":", lw=1)
        handles.append(Line2D([], [], color="k", ls=":", lw=1))
        labels.append(f"connection threshold {threshold:g}")
    if spacing is not None:
        ax.axvline(spacing, color="#4c9a2a", lw=1)
        handles.append(Line2D([], [], color="#4c9a2a", lw=1))
        labels.append(f"dataset spacing {spacing:g} px")
    ax.set_yscale("log")
    lo = max(1e-6, min(threshold or 1e-3, 1e-3) / 10)
    ax.set_ylim(lo, 1.5)
    ax.set_xlim(d.min(), d.max())
    ax.set_xlabel("lattice spacing d: distance between neighbouring centres (px)")
    ax.set_ylabel("normalised overlap <I1, I2> / (|I1| |I2|)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(handles, labels, fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    n = overlap.attrs.get("image_size", overlap.attrs.get("overlap_image_size"))
    ax.set_title(title or "overlap of neighbouring bumps vs spacing"
                 + (f"\n(pixel curves: bumps rendered on a {n} x {n} frame)" if n else ""),
                 fontsize=10)
    return fig


def onset_comparison(comparison: xr.Dataset, title: str | None = None, *, fig=None) -> Figure:
    """Left: terminal accuracy of each run (markers) beside the predicted largest-cluster curve (line) vs keep
    fraction, per sigma; lambda_c predicted (dotted) and measured (solid). Right: predicted vs measured.

    A percolation test result (:func:`manifold_lens.percolation_test`, also stored as a comparison group) is
    drawn by :func:`lambda_c_comparison`."""
    if "predicted_cluster" in comparison and "terminal_accuracy" not in comparison:
        return lambda_c_comparison(comparison, title, ax=None if fig is None else fig.add_subplot())
    require(comparison, ["lambda_c_predicted", "lambda_c_measured", "terminal_accuracy", "largest_cluster_ratio"],
             "predicted vs measured onset", "run manifold-lens percolate test STUDY_DIR")
    colors = _sigma_colors(comparison.sizes["sigma"])
    fig = new_figure(12.0, 4.6, fig)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    lam = comparison["keep_fraction"].values
    run_sigma = comparison["run_sigma"].values
    run_lam = comparison["run_keep_fraction"].values
    metric = comparison.attrs.get("metric", "accuracy")
    for k, s in enumerate(comparison["sigma"].values):
        c = colors[k]
        left.plot(lam, comparison["largest_cluster_ratio"].isel(sigma=k), color=c, lw=1.5,
                  label=f"sigma = {s:g} px: predicted largest cluster / kept sites")
        sel = np.isclose(run_sigma, s)
        left.plot(run_lam[sel], comparison["terminal_accuracy"].values[sel], "o", color=c, mec="k", ms=7,
                  label=f"sigma = {s:g} px: terminal {metric} of a run")
        pc = float(comparison["lambda_c_predicted"].isel(sigma=k))
        mc = float(comparison["lambda_c_measured"].isel(sigma=k))
        if np.isfinite(pc):
            left.axvline(pc, color=c, ls=":", lw=1.2)
        if np.isfinite(mc):
            left.axvline(mc, color=c, ls="-", lw=1.2)
    left.plot([], [], color="#555", ls=":", label="lambda_c predicted")
    left.plot([], [], color="#555", ls="-", label="lambda_c measured (sigmoid midpoint)")
    left.set_xlim(0, 1)
    left.set_ylim(-0.02, 1.05)
    left.set_xlabel("keep fraction lambda (fraction of lattice sites kept)")
    left.set_ylabel(f"largest-cluster ratio / terminal {metric} (fraction)")
    left.grid(alpha=0.3)
    left.legend(fontsize=7, frameon=False, loc="lower right")
    pc = comparison["lambda_c_predicted"].values
    mc = comparison["lambda_c_measured"].values
    ok = np.isfinite(pc) & np.isfinite(mc)
    for k in np.flatnonzero(ok):
        right.errorbar(pc[k], mc[k], xerr=_finite(comparison, "lambda_c_predicted_stderr", k),
                       yerr=_finite(comparison, "lambda_c_measured_stderr", k), fmt="o", color=colors[k], mec="k",
                       ms=7, capsize=3, label=f"sigma = {float(comparison['sigma'][k]):g} px")
    right.plot([0, 1], [0, 1], color="#999", ls="--", lw=1, label="measured = predicted")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_aspect("equal")
    right.set_xlabel("predicted lambda_c (percolation of the coverage graph)")
    right.set_ylabel("measured lambda_c (accuracy onset)")
    right.grid(alpha=0.3)
    right.legend(fontsize=8, frameon=False, loc="upper left")
    if not ok.all() and "fit_status" in comparison:
        why = "; ".join(f"sigma {float(comparison['sigma'][k]):g}: {comparison['fit_status'].values[k]}"
                        for k in np.flatnonzero(~ok))
        right.text(0.5, 0.04, "no onset fitted for " + why, transform=right.transAxes, ha="center", va="bottom",
                   fontsize=7, wrap=True, bbox=dict(fc="w", ec="#999", alpha=0.9))
    fig.suptitle(title or f"does accuracy jump where the training set percolates? ({comparison.sizes['run']} runs, "
                 f"overlap threshold {comparison.attrs.get('threshold', '?')})", fontsize=10)
    return root_figure(fig)


def _finite(ds, name, k):
    if name not in ds:
        return None
    v = float(ds[name].values[k])
    return v if np.isfinite(v) else None


# -- the percolation test (manifold_lens.percolation_test) ------------------------------------------

_TEST_HINT = "run manifold_lens.percolation_test or manifold-lens percolate test STUDY_DIR"


def _band(ax, iv, color):
    if np.all(np.isfinite(iv)):
        ax.axvspan(iv[0], iv[1], color=color, alpha=0.15, lw=0)


def percolation_onsets(test: xr.Dataset, title: str | None = None, *, fig=None) -> Figure:
    """Outcome vs keep fraction, one panel per sigma: each run (points; mean +- sd over seeds as error bars), the
    fitted sigmoid (solid), the predicted largest-cluster curve (dashed) and its sigmoid (dotted); measured
    (solid) and predicted (dotted) lambda_c with their 95% intervals as bands."""
    require(test, ["outcome", "outcome_fit", "predicted_fit", "lambda_c_measured", "lambda_c_predicted"],
            "percolation onsets", _TEST_HINT)
    n = test.sizes["sigma"]
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig = new_figure(3.6 * cols + 0.4, 3.3 * rows + 0.6, fig)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    colors = _sigma_colors(n)
    grid = test["lambda_grid"].values
    outcome = test.attrs.get("outcome", "outcome")
    lam, y, rs = test["run_keep_fraction"].values, test["outcome"].values, test["run_sigma"].values
    for k, s in enumerate(test["sigma"].values):
        ax, c, r = axes[k], colors[k], test.isel(sigma=k)
        sel = np.isclose(rs, s)
        ax.plot(lam[sel], y[sel], "o", color=c, alpha=0.45, ms=4, mec="none", label=f"{outcome} of a run")
        levels = np.unique(lam[sel])
        mean = [y[sel][lam[sel] == v].mean() for v in levels]
        sd = [y[sel][lam[sel] == v].std() for v in levels]
        ax.errorbar(levels, mean, yerr=sd, fmt="s", color=c, mec="k", ms=5, capsize=2, lw=1,
                    label="mean +- sd over seeds")
        ax.plot(grid, r["outcome_fit"], color=c, lw=2, label=f"sigmoid fit to {outcome}")
        if "predicted_curve" in r and np.isfinite(r["predicted_curve"].values).any():
            ax.plot(grid, r["predicted_curve"], color="#555", ls="--", lw=1.2,
                    label="predicted largest cluster / kept sites")
        ax.plot(grid, r["predicted_fit"], color="#555", ls=":", lw=1.5, label="sigmoid fit to the prediction")
        for name, ls in (("lambda_c_measured", "-"), ("lambda_c_predicted", ":")):
            v = float(r[name])
            if np.isfinite(v):
                ax.axvline(v, color=c if ls == "-" else "#555", ls=ls, lw=1)
                _band(ax, r[f"{name}_interval"].values, c if ls == "-" else "#777")
        status = str(r["status"].values) if "status" in r else "ok"
        ax.set_title(f"sigma = {s:g} px" + ("" if status == "ok" else "\n" + _short(status)), fontsize=9)
        ax.set_xlim(0, max(1.0, float(np.nanmax(lam[sel])) if sel.any() else 1.0))
        ax.set_ylim(-0.03, 1.05)
        ax.set_xlabel("keep fraction lambda")
        ax.grid(alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    axes[0].set_ylabel(f"{outcome} / largest-cluster ratio (fraction)")
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [Line2D([], [], color="#333", lw=1), Line2D([], [], color="#555", ls=":", lw=1)]
    labels += ["lambda_c measured (band: 95% interval)", "lambda_c predicted (band: 95% interval)"]
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(title or f"onsets per bump width (verdict: {test.attrs.get('verdict', '?')})\n{outcome} and the "
                 "predicted largest cluster vs keep fraction", fontsize=10)
    return root_figure(fig)



def _short(text: str, n: int = 80, width: int = 42) -> str:
    """A status for a panel title: at most ``n`` characters, wrapped to lines of ``width``."""
    import textwrap

    text = text if len(text) <= n else text[: n - 3] + "..."
    return "\n".join(textwrap.wrap(text, width))


def lambda_c_comparison(test: xr.Dataset, title: str | None = None, *, ax=None) -> Figure:
    """Measured vs predicted lambda_c per sigma with both 95% intervals, the identity line and the errors-in-both
    regression line; slope, intercept and verdict in the title."""
    require(test, ["lambda_c_predicted", "lambda_c_measured", "lambda_c_predicted_interval",
                   "lambda_c_measured_interval"], "predicted vs measured lambda_c", _TEST_HINT)
    fig, ax, own = single_axes(ax, 6.4, 5.6)
    colors = _sigma_colors(test.sizes["sigma"])
    pc, mc = test["lambda_c_predicted"].values, test["lambda_c_measured"].values
    pint, mint = test["lambda_c_predicted_interval"].values, test["lambda_c_measured_interval"].values
    ok = np.isfinite(pc) & np.isfinite(mc)
    for k in np.flatnonzero(ok):
        xerr = np.abs(np.array([[pc[k] - pint[k, 0]], [pint[k, 1] - pc[k]]]))
        yerr = np.abs(np.array([[mc[k] - mint[k, 0]], [mint[k, 1] - mc[k]]]))
        ax.errorbar(pc[k], mc[k], xerr=np.nan_to_num(xerr), yerr=np.nan_to_num(yerr), fmt="o", color=colors[k],
                    mec="k", ms=7, capsize=3, label=f"sigma = {float(test['sigma'][k]):g} px")
    ax.plot([0, 1], [0, 1], color="#999", ls="--", lw=1, label="measured = predicted")
    slope, icpt = float(test["slope"]) if "slope" in test else np.nan, float(test.get("intercept", np.nan))
    text = "regression: not determined"
    if np.isfinite(slope) and test.attrs.get("verdict") != "insufficient":
        x = np.linspace(0, 1, 2)
        si, ii = test["slope_interval"].values, test["intercept_interval"].values
        ax.plot(x, icpt + slope * x, color="k", lw=1.2, label="errors-in-both regression")
        text = (f"slope {slope:.2f} [{si[0]:.2f}, {si[1]:.2f}], intercept {icpt:.3f} [{ii[0]:.3f}, {ii[1]:.3f}]")
    if not ok.all() and "status" in test:
        why = "\n".join(f"sigma {float(test['sigma'][k]):g}: {_short(str(test['status'].values[k]), 70)}"
                        for k in np.flatnonzero(~ok))
        ax.text(0.98, 0.02, "no onset compared:\n" + why, transform=ax.transAxes, ha="right", va="bottom",
                fontsize=7, bbox=dict(fc="w", ec="#999", alpha=0.9))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted lambda_c (sigmoid midpoint of the largest-cluster ratio)")
    ax.set_ylabel(f"measured lambda_c (sigmoid midpoint of {test.attrs.get('outcome', 'the outcome')})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    set_title(fig, ax, own, title or f"predicted vs measured onset (95% profile-likelihood intervals), verdict: "
                 f"{test.attrs.get('verdict', '?')}\n{text}", fontsize=10)
    return fig


def percolation_collapse(test: xr.Dataset, title: str | None = None, *, ax=None) -> Figure:
    """The outcome of every run vs its predicted largest-cluster ratio, all widths (colour by sigma), with the
    monotone curve of all runs; the cross-validated comparison with separate curves in lambda in the title."""
    require(test, ["outcome", "predicted_cluster"], "collapse onto cluster size", _TEST_HINT)
    fig, ax, own = single_axes(ax, 6.8, 5.0)
    colors = _sigma_colors(test.sizes["sigma"])
    rs, x, y = test["run_sigma"].values, test["predicted_cluster"].values, test["outcome"].values
    for k, s in enumerate(test["sigma"].values):
        sel = np.isclose(rs, s)
        ax.plot(x[sel], y[sel], "o", color=colors[k], mec="k", mew=0.4, ms=5, alpha=0.8, label=f"sigma = {s:g} px")
    if "collapse_curve" in test:
        ax.plot(test["cluster_grid"], test["collapse_curve"], color="k", lw=1.5,
                label="one monotone curve, all widths")
    outcome = test.attrs.get("outcome", "outcome")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel("predicted largest cluster / kept sites of the run's training set")
    ax.set_ylabel(f"{outcome} (fraction)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    col = str(test["collapse"].values) if "collapse" in test else "undetermined"
    sub = "collapse: undetermined" if col == "undetermined" else (
        f"collapse: {col}\n(cross-validated log-likelihood per run: one curve "
        f"{float(test['collapse_loglik_single']):.3f}, separate curves in lambda "
        f"{float(test['collapse_loglik_separate']):.3f})")
    set_title(fig, ax, own, title or f"does {outcome} follow one curve of predicted cluster size?\n{sub}", fontsize=10)
    return fig
