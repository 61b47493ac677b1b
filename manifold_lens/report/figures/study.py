"""Figures of a study (the Dataset of :func:`manifold_lens.open_study`, dim ``run``): accuracy vs a swept key.

Each point is the mean over the seeds of one grid point; error bars are the
standard error of that mean over seeds (sample standard deviation / sqrt(n);
none with a single seed). Runs without results (NaN: failed, missing,
unfinished without an evaluation) are left out of the means, and each line's
legend says how many seeds it has.

Where the study carries the memorising baseline (``baseline_nearest_*`` of
:func:`~manifold_lens.studies.open_study`: each condition drawn as its nearest
training condition's image, scored like the model), every accuracy figure
draws it beside the accuracy it bounds: dotted with x markers in the line's
colour (:func:`baseline_errorbar`), or a dashed black tick across each bar
(:func:`grouped_bars`), labelled "nearest training condition (memorising)".
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ...studies.groups import grid_groups as _groups
from ...evaluation.baselines import BASELINE_LABEL
from ...studies.groups import run_values, seed_mean, study_coord, study_value, swept_names
from .style import new_figure, require, root_figure, single_axes, step_axis
from .style import title as set_title

__all__ = ["ERRORBARS", "accuracy_vs_key", "study_accuracy_curves", "swept_names", "study_value", "seed_mean",
           "study_coord", "run_values", "left_out", "seed_stats", "seeds_text", "seed_errorbar", "accuracy_axis",
           "grouped_bars", "BASELINE_GID", "BASELINE_TEXT", "baseline_values", "baseline_errorbar", "baseline_handle",
           "legend_with_baseline"]

PANELS = (("accuracy", "overall"), ("accuracy_id", "in-distribution (trained conditions)"),
          ("accuracy_ood", "out-of-distribution (held out)"))
ERRORBARS = "standard error over seeds"
BASELINE_GID = "baseline_nearest"  # the gid of every artist drawing the memorising baseline
BASELINE_TEXT = BASELINE_LABEL["nearest"]


def accuracy_vs_key(study: xr.Dataset, key: str, title: str | None = None, *, fig=None) -> Figure:
    """Terminal accuracy overall / in-distribution / out-of-distribution vs swept ``key`` (three panels): the
    mean over seeds with the standard error as error bars, one line per combination of the other swept keys
    (and case)."""
    require(study, [p for p, _ in PANELS], "accuracy vs swept key", "collect the study: manifold_lens.open_study")
    if key not in study.coords or "run" not in study[key].dims:
        raise ValueError(f"{key!r} is not a swept coordinate of the study; choose from {', '.join(swept_names(study))}")
    raw = study[key].values
    values = list(dict.fromkeys(raw.tolist()))
    numeric = np.issubdtype(np.asarray(raw).dtype, np.number)
    if numeric:
        values = sorted(values)
    pos = {v: float(v) for v in values} if numeric else {v: k for k, v in enumerate(values)}
    groups = _groups(study, key)
    fig = new_figure(12, 4.2, fig)
    axes = fig.subplots(1, 3, sharey=True)
    colors = [f"C{k % 10}" for k in range(len(groups))]
    drawn = False
    for ax, (var, name) in zip(axes, PANELS):
        for (label, mask), color in zip(groups, colors):
            stats = [seed_mean(study[var].values[mask & (raw == v)]) for v in values]
            xs = np.array([pos[v] for v in values])
            mean, se, n = (np.array(s) for s in zip(*stats))
            ok = n > 0
            seeds = f"{int(n[ok].min())}-{int(n[ok].max())}" if ok.any() and n[ok].min() != n[ok].max() else \
                (f"{int(n[ok].max())}" if ok.any() else "0")
            ax.errorbar(xs[ok], mean[ok], yerr=np.nan_to_num(se[ok]), fmt="o-", color=color, capsize=3, lw=1.5,
                        ms=5, label=(f"{label}; " if label else "") + f"{seeds} seed(s)")
            base = np.array([seed_mean(baseline_values(study, var)[mask & (raw == v)])[0] for v in values])
            if np.isfinite(base).any():
                ax.plot(xs[np.isfinite(base)], base[np.isfinite(base)], ls=":", marker="x", color=color, lw=1.2,
                        ms=5, gid=BASELINE_GID)
                drawn = True
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(study[key].attrs.get("key", key))
        ax.set_xticks([pos[v] for v in values], [study_value(v) for v in values])
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("terminal accuracy (fraction correct)")
    legend_with_baseline(axes[0], drawn, fontsize=8, frameon=False, loc="best")
    n_done = int(np.isfinite(study["accuracy"].values).sum())
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: terminal accuracy vs {key}\n"
                 f"mean over seeds, error bars: {ERRORBARS}; {n_done} of {study.sizes['run']} runs evaluated",
                 fontsize=10)
    return root_figure(fig)



def study_accuracy_curves(study: xr.Dataset, title: str | None = None, *, ax=None) -> Figure:
    """Accuracy over training of every run (``accuracy_curve``, run x checkpoint), coloured by its grid point
    (the swept values and case), one line per seed."""
    require(study, ["accuracy_curve"], "study accuracy curves",
            "the runs' evaluations must share a checkpoint schedule (evaluate with checkpoints = \"all\")")
    names = swept_names(study) + (["case"] if any(str(c) for c in study["case"].values) else [])
    points = list(zip(*[study[n].values.tolist() for n in names])) if names else [()] * study.sizes["run"]
    order = list(dict.fromkeys(points))
    fig, ax, own = single_axes(ax, 7.5, 4.5)
    steps = study["checkpoint"].values
    shown = set()
    for k in range(study.sizes["run"]):
        curve = study["accuracy_curve"].values[k]
        if not np.isfinite(curve).any():
            continue
        g = order.index(points[k])
        label = ", ".join(f"{n}={study_value(v)}" for n, v in zip(names, points[k])) or "runs"
        ax.plot(steps, curve, "o-", color=f"C{g % 10}", lw=1.2, ms=3, alpha=0.85,
                label=None if g in shown else label)
        shown.add(g)
    step_axis(ax, steps)
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    set_title(fig, ax, own, title or f"{study.attrs.get('title', 'study')}: accuracy over training, one line per run",
                 fontsize=10)
    return fig


# -- helpers of the claims' figures ----------------------------------------------------------------

def left_out(study: xr.Dataset, values: np.ndarray, mask: np.ndarray | None = None) -> str:
    """A caption sentence naming the runs (of ``mask``) without a value, by status; "" when none."""
    mask = np.ones(study.sizes["run"], bool) if mask is None else mask
    bad = mask & ~np.isfinite(values)
    if not bad.any():
        return ""
    states = study["status"].values[bad].tolist()
    counts = ", ".join(f"{states.count(s)} {s}" + (" but without it" if s == "done" else "")
                       for s in dict.fromkeys(states))
    ids = [str(r) for r in study["run_id"].values[bad]]
    shown = ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
    return f"{int(bad.sum())} of {int(mask.sum())} runs left out (no value: {counts}): {shown}."


def seed_stats(x: np.ndarray, y: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """(x values, mean, standard error, seeds) of ``y`` over the runs of ``mask`` at each distinct finite ``x``
    (sorted); points with no finite value are dropped."""
    xs = np.unique(x[mask & np.isfinite(x)]) if np.issubdtype(np.asarray(x).dtype, np.number) else np.array(
        list(dict.fromkeys(x[mask].tolist())))
    stats = [seed_mean(y[mask & (x == v)]) for v in xs]
    mean, se, n = (np.array(v, dtype=np.float64) for v in zip(*stats)) if stats else (np.array([]),) * 3
    ok = n > 0
    return xs[ok], mean[ok], se[ok], n[ok].astype(int)


def seeds_text(n: np.ndarray) -> str:
    """"3 seeds" or "2-3 seeds" for the seed counts of a line's points."""
    if not len(n):
        return "0 seeds"
    lo, hi = int(n.min()), int(n.max())
    return f"{lo} seed{'s' * (hi > 1)}" if lo == hi else f"{lo}-{hi} seeds"


def seed_errorbar(ax, x, y, mask, label: str = "", **kw) -> int:
    """Mean over seeds with the standard error as error bars at each distinct x; returns the points drawn."""
    xs, mean, se, n = seed_stats(x, y, mask)
    style = dict(fmt="o-", capsize=3, lw=1.5, ms=5)
    style.update(kw)
    if len(xs):
        ax.errorbar(xs.astype(np.float64), mean, yerr=np.nan_to_num(se), label=(f"{label}; " if label else "")
                    + seeds_text(n), **style)
    return len(xs)


def baseline_values(study: xr.Dataset, var: str) -> np.ndarray:
    """Per-run memorising baseline of ``var`` (``accuracy``, ``accuracy_id``, ``accuracy_ood`` or
    ``region:NAME``): NaN where the study or a run has none."""
    n = study.sizes["run"]
    if var.startswith("region:"):
        region, b = var.split(":", 1)[1], study.get("baseline_nearest_accuracy_region")
        if b is None or region not in [str(r) for r in study["region_name"].values]:
            return np.full(n, np.nan)
        return b.sel(region_name=region).values.astype(np.float64)
    name = f"baseline_nearest_{var}"
    return study[name].values.astype(np.float64) if name in study else np.full(n, np.nan)


def baseline_errorbar(ax, x, y, mask, color="k") -> int:
    """The memorising baseline ``y`` (per run) of the runs of ``mask``: its mean over seeds at each distinct x,
    dotted with x markers (no error bars: it does not depend on the training seed's model); returns the points."""
    xs, mean, _, _ = seed_stats(x, y, mask)
    if len(xs):
        ax.plot(xs.astype(np.float64), mean, ls=":", marker="x", color=color, lw=1.2, ms=5, gid=BASELINE_GID)
    return len(xs)


def baseline_handle(kind: str = "line") -> Line2D:
    """The legend entry of the memorising baseline (``kind`` "line": dotted with x markers; "bar": dashed tick)."""
    style = dict(ls=":", marker="x", ms=5) if kind == "line" else dict(ls="--")
    return Line2D([], [], color="k", lw=1.5, label=BASELINE_TEXT, gid=BASELINE_GID, **style)


def legend_with_baseline(ax, drawn: bool, kind: str = "line", **kw) -> None:
    """``ax``'s legend, with the memorising baseline's entry where ``drawn``."""
    handles, labels = ax.get_legend_handles_labels()
    if drawn:
        handles, labels = [*handles, baseline_handle(kind)], [*labels, BASELINE_TEXT]
    if handles:
        ax.legend(handles, labels, **kw)


def accuracy_axis(ax, label: str = "accuracy (fraction correct)") -> None:
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)


def grouped_bars(ax, study: xr.Dataset, groups, series, width: float = 0.8, references=None) -> int:
    """Bars of seed means with standard-error bars: one cluster per group (label, mask), one bar per series
    (label, per-run values, colour); a series with no value in a group shows "n/a". ``references``: per series,
    the per-run memorising baseline (or None), drawn as a dashed black tick across the bar at its seed mean.
    Returns the bars drawn."""
    k = len(series)
    w = width / max(k, 1)
    drawn = 0
    references = list(references) if references is not None else [None] * k
    for j, (label, values, color) in enumerate(series):
        labelled = False
        for g, (_, mask) in enumerate(groups):
            mean, se, n = seed_mean(values[mask])
            xpos = g - width / 2 + (j + 0.5) * w
            ref = seed_mean(references[j][mask])[0] if references[j] is not None else np.nan
            if np.isfinite(ref):
                ax.plot([xpos - 0.46 * w, xpos + 0.46 * w], [ref, ref], color="k", ls="--", lw=1.5, zorder=5,
                        gid=BASELINE_GID)
            if n == 0:
                ax.text(xpos, 0.02, "n/a", ha="center", va="bottom", fontsize=7, rotation=90, color="#777")
                continue
            ax.bar(xpos, mean, w * 0.92, yerr=0 if not np.isfinite(se) else se, capsize=3, color=color,
                   edgecolor="k", lw=0.5, label=None if labelled else label, error_kw={"lw": 1.0})
            labelled = True
            ax.text(xpos, min(mean + (se if np.isfinite(se) else 0) + 0.02, 1.0), f"{100 * mean:.0f}%",
                    ha="center", va="bottom", fontsize=7)
            drawn += 1
    labels = [g[0] or "all runs" for g in groups]
    if all(lab.startswith("case ") and ", " not in lab for lab in labels):  # only cases: their names say it
        labels = [lab.removeprefix("case ") for lab in labels]
    ax.set_xticks(range(len(groups)), labels, fontsize=8)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    return drawn
