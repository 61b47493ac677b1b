"""Figures of a study (the Dataset of :func:`manifold_lens.open_study`, dim ``run``): accuracy vs a swept key.

Each point is the mean over the seeds of one grid point; error bars are the
standard error of that mean over seeds (sample standard deviation / sqrt(n);
none with a single seed). Runs without results (NaN: failed, missing,
unfinished without an evaluation) are left out of the means, and each line's
legend says how many seeds it has.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from .style import new_figure, require, step_axis

PANELS = (("accuracy", "overall"), ("accuracy_id", "in-distribution (trained conditions)"),
          ("accuracy_ood", "out-of-distribution (held out)"))
ERRORBARS = "standard error over seeds"


def swept_names(study: xr.Dataset) -> list[str]:
    """The study's swept coordinates, in grid order."""
    names = study.attrs.get("coordinate_names") or {}
    return [n for n in names.values() if n in study.coords]


def study_value(v) -> str:
    """A swept value as text (numbers with ``:g``)."""
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def _groups(study: xr.Dataset, key: str) -> list[tuple[str, np.ndarray]]:
    """(label, run mask) per combination of the other swept keys and the case, in order of appearance."""
    others = [n for n in swept_names(study) if n != key]
    if "case" in study.coords and any(str(c) for c in study["case"].values):
        others.append("case")
    combos = list(zip(*[study[o].values.tolist() for o in others])) if others else [()] * study.sizes["run"]
    out = []
    for combo in dict.fromkeys(combos):
        mask = np.array([c == combo for c in combos])
        label = ", ".join(f"{o}={study_value(v)}" if o != "case" else f"case {v or '(none)'}"
                          for o, v in zip(others, combo))
        out.append((label, mask))
    return out


def seed_mean(values: np.ndarray) -> tuple[float, float, int]:
    """Mean, standard error over seeds (NaN with one) and the number of finite values."""
    v = values[np.isfinite(values)]
    if not len(v):
        return np.nan, np.nan, 0
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan, len(v)


def accuracy_vs_key(study: xr.Dataset, key: str, title: str | None = None) -> Figure:
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
    fig = new_figure(12, 4.2)
    axes = fig.subplots(1, 3, sharey=True)
    colors = [f"C{k % 10}" for k in range(len(groups))]
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
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(study[key].attrs.get("key", key))
        ax.set_xticks([pos[v] for v in values], [study_value(v) for v in values])
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("terminal accuracy (fraction correct)")
    axes[0].legend(fontsize=8, frameon=False, loc="best")
    n_done = int(np.isfinite(study["accuracy"].values).sum())
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: terminal accuracy vs {key}\n"
                 f"mean over seeds, error bars: {ERRORBARS}; {n_done} of {study.sizes['run']} runs evaluated",
                 fontsize=10)
    return fig


def study_accuracy_curves(study: xr.Dataset, title: str | None = None) -> Figure:
    """Accuracy over training of every run (``accuracy_curve``, run x checkpoint), coloured by its grid point
    (the swept values and case), one line per seed."""
    require(study, ["accuracy_curve"], "study accuracy curves",
            "the runs' evaluations must share a checkpoint schedule (evaluate with checkpoints = \"all\")")
    names = swept_names(study) + (["case"] if any(str(c) for c in study["case"].values) else [])
    points = list(zip(*[study[n].values.tolist() for n in names])) if names else [()] * study.sizes["run"]
    order = list(dict.fromkeys(points))
    fig = new_figure(7.5, 4.5)
    ax = fig.subplots()
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
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: accuracy over training, one line per run",
                 fontsize=10)
    return fig
