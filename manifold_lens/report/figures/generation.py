"""Figures of generation accuracy: accuracy and learning phases over training, accuracy per condition.

Where the evaluation holds the memorising baseline (``baseline_nearest_*``:
each condition drawn as its nearest training condition's image, scored like
the model; :mod:`manifold_lens.evaluation.baselines`) it is drawn beside the
accuracy it bounds, dotted in the same colour, and quoted in the titles.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from .study import BASELINE_GID, BASELINE_TEXT, legend_with_baseline
from .style import (PHASE_COLORS, PHASE_LABELS, attrs_text, figure_title, image_size_of, new_figure, region_color,
                    representative_checkpoints, require, root_figure, single_axes, step_axis)


def _settings_text(ev: xr.Dataset) -> str:
    return attrs_text(ev.attrs, ["{sampler}-{sampler_steps}", "{samples_per_condition} samples x {n} conditions",
                                 "tolerance {tolerance_px} px"], n=ev.sizes.get("condition", "?"))


def accuracy_curve(evaluation: xr.Dataset, title: str | None = None, *, fig=None) -> Figure:
    """Accuracy (overall, in-distribution, out-of-distribution, per hold-out region) vs step, above the
    learning-phase fractions A / B / C stacked."""
    fig_name = "accuracy vs step"
    require(evaluation, ["accuracy", "phase_fraction"], fig_name, "evaluate the run: manifold-lens evaluate")
    steps = evaluation["checkpoint"].values
    fig = new_figure(7.5, 6.5, fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    top.plot(steps, evaluation["accuracy"], "o-", color="k", lw=2, label="overall")
    styles = {"accuracy_id": ("s-", "#4c9a2a", "in-distribution (trained conditions)"),
              "accuracy_ood": ("^-", "#9467bd", "out-of-distribution (held out)")}
    for name, (fmt, color, label) in styles.items():
        if name in evaluation and np.isfinite(evaluation[name].values).any():
            top.plot(steps, evaluation[name], fmt, color=color, lw=1.3, ms=4, label=label)
    if "accuracy_region" in evaluation:
        for r in evaluation["region_name"].values:
            r = str(r)
            if r in ("train", "unsampled"):
                continue
            top.plot(steps, evaluation["accuracy_region"].sel(region_name=r), "--", color=region_color(r), lw=1,
                     label=f"region {r}")
    memo = _baseline_lines(top, evaluation, steps, styles["accuracy_ood"][1])
    top.set_ylim(-0.03, 1.03)
    top.set_ylabel("accuracy (fraction of samples correct)")
    top.grid(alpha=0.3)
    legend_with_baseline(top, memo, fontsize=8, frameon=False, loc="upper left")
    frac = evaluation["phase_fraction"].transpose("checkpoint", "phase_name")
    phases = [str(p) for p in frac["phase_name"].values]
    bottom.stackplot(steps, frac.values.T, colors=[PHASE_COLORS.get(p, "#777") for p in phases],
                     labels=[PHASE_LABELS.get(p, p) for p in phases], alpha=0.9)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("fraction of samples")
    bottom.legend(fontsize=8, frameon=True, loc="center left", bbox_to_anchor=(1.01, 0.5))
    step_axis(bottom, steps)
    last = evaluation.isel(checkpoint=-1)
    fig.suptitle(title or figure_title("generation accuracy over training", evaluation,
                                 f"{_settings_text(evaluation)}; final step {int(steps[-1])}: "
                                 f"{100 * float(last['accuracy']):.1f}% correct" + _baseline_text(evaluation)),
                 fontsize=10)
    return root_figure(fig)


def _baseline_lines(ax, evaluation: xr.Dataset, steps, ood_color: str) -> bool:
    """The memorising baseline as flat dotted lines over ``steps``: out-of-distribution and each held-out region,
    in their curves' colours (it does not depend on the checkpoint). Whether any was drawn."""
    lines = []
    if np.isfinite(float(evaluation.get("baseline_nearest_accuracy_ood", np.nan))):
        lines.append((float(evaluation["baseline_nearest_accuracy_ood"]), ood_color))
    if "baseline_nearest_accuracy_region" in evaluation:
        b = evaluation["baseline_nearest_accuracy_region"]
        lines += [(float(b.sel(region_name=r)), region_color(str(r))) for r in b["region_name"].values
                  if str(r) not in ("train", "unsampled")]
    lines = [(value, color) for value, color in lines if np.isfinite(value)]
    for value, color in lines:
        ax.plot([steps[0], steps[-1]], [value, value], ls=":", marker="x", markevery=[-1], color=color, lw=1.3,
                gid=BASELINE_GID)
    return bool(lines)


def _baseline_text(evaluation: xr.Dataset) -> str:
    """"; memorising baseline (...) OOD 50.0%" for a title, "" without it."""
    v = float(evaluation.get("baseline_nearest_accuracy_ood", np.nan))
    return f"; {BASELINE_TEXT} OOD {100 * v:.1f}%" if np.isfinite(v) else ""



def _lattice(x, y):
    """Unique sorted x and y values, cell edges (midpoints, ends extended) and each condition's cell index."""
    xs, ys = np.unique(x), np.unique(y)

    def edges(v):
        if len(v) == 1:
            return np.array([v[0] - 0.5, v[0] + 0.5])
        mid = (v[1:] + v[:-1]) / 2
        return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])

    return xs, ys, edges(xs), edges(ys), np.searchsorted(xs, x), np.searchsorted(ys, y)


def _outline(mask: np.ndarray, ex: np.ndarray, ey: np.ndarray) -> list:
    """Line segments along the boundary of the True cells of ``mask`` (rows = y, cols = x)."""
    m = np.pad(mask, 1)
    segs = []
    vert = m[1:-1, 1:] != m[1:-1, :-1]  # boundary at x edge k between cells k-1 and k
    for i, k in zip(*np.nonzero(vert)):
        segs.append([(ex[k], ey[i]), (ex[k], ey[i + 1])])
    horiz = m[1:, 1:-1] != m[:-1, 1:-1]
    for k, j in zip(*np.nonzero(horiz)):
        segs.append([(ex[j], ey[k]), (ex[j + 1], ey[k])])
    return segs


def accuracy_map(evaluation: xr.Dataset, checkpoint: int | None = None, title: str | None = None, *, ax=None) -> Figure:
    """Accuracy per condition over (x, y) at one checkpoint (default the last), hold-out regions outlined."""
    require(evaluation, ["accuracy_condition", "x", "y"], "accuracy map",
             "evaluate the run: manifold-lens evaluate")
    steps = [int(s) for s in evaluation["checkpoint"].values]
    step = steps[-1] if checkpoint is None else representative_checkpoints(steps, [checkpoint])[0]
    ev = evaluation.sel(checkpoint=step)
    x, y = ev["x"].values.astype(np.float64), ev["y"].values.astype(np.float64)
    acc = ev["accuracy_condition"].values.astype(np.float64)
    region = ev["region"].values.astype(str) if "region" in ev.coords else np.full(len(x), "train")
    xs, ys, ex, ey, ix, iy = _lattice(x, y)
    grid = np.full((len(ys), len(xs)), np.nan)
    grid[iy, ix] = acc
    fig, ax, own = single_axes(ax, 7.5, 6.2)
    ax.set_facecolor("#e8e8e8")
    mesh = ax.pcolormesh(ex, ey, grid, cmap="viridis", vmin=0, vmax=1, shading="flat")
    fig.colorbar(mesh, ax=ax, label="accuracy at the condition (fraction of its samples correct)", shrink=0.85)
    handles = []
    for r in sorted(set(region.tolist()) - {"train"}):
        sel = region == r
        if r == "unsampled":  # subsampled-away lattice sites: scattered, dotted rather than outlined
            ax.scatter(x[sel], y[sel], s=4, color="w", edgecolors="k", linewidths=0.3, zorder=3)
            handles.append(Line2D([], [], ls="", marker="o", ms=3, mfc="w", mec="k", mew=0.3,
                                  label=f"unsampled: not trained on ({sel.sum()})"))
            continue
        mask = np.zeros_like(grid, dtype=bool)
        mask[iy[sel], ix[sel]] = True
        ax.add_collection(LineCollection(_outline(mask, ex, ey), colors=region_color(r), linewidths=2.2, zorder=4))
        handles.append(Line2D([], [], color=region_color(r), lw=2.2, label=f"held out: {r} ({sel.sum()})"))
    n = image_size_of(evaluation)
    if n is not None and (x.min() < 0 or x.max() > n - 1 or y.min() < 0 or y.max() > n - 1):
        ax.add_patch(Rectangle((-0.5, -0.5), n, n, fill=False, ec="w", lw=1.2, ls="--", zorder=5))
        handles.append(Line2D([], [], color="w", ls="--", label=f"{n} x {n} frame"))
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.12), ncol=2,
                  frameon=False)
    ax.set_xlim(ex[0], ex[-1])
    ax.set_ylim(ey[-1], ey[0])  # image convention: row 0 at the top
    ax.set_aspect("equal")
    ax.set_xlabel("x (px, column)")
    ax.set_ylabel("y (px, row)")
    parts = [f"overall {100 * float(ev['accuracy']):.1f}%"] if "accuracy" in ev else []
    for name, lab in (("accuracy_id", "ID"), ("accuracy_ood", "OOD")):
        if name in ev and np.isfinite(float(ev[name])):
            parts.append(f"{lab} {100 * float(ev[name]):.1f}%")
    if np.isfinite(float(evaluation.get("baseline_nearest_accuracy_ood", np.nan))):
        parts.append(f"memorising baseline OOD {100 * float(evaluation['baseline_nearest_accuracy_ood']):.1f}%")
    missing = "; grey: not evaluated" if np.isnan(grid).any() else ""
    ax.set_title(title or figure_title(f"accuracy per condition at step {step}", evaluation,
                                 ", ".join(parts) + missing), fontsize=10)
    return fig
