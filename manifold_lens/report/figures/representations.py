"""Figures of the representations: PCA spectrum, effective dimension, metrics over training,
3-D embeddings, chord histograms, similarity vs feature distance."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .style import (CHORD_PANELS, MANIFOLD_COLORS, MANIFOLD_LABELS, X_CMAP, X_COLOR, Y_CMAP, Y_COLOR, analysis_slice,
                    checkpoint_colors, figure_title, new_figure, representative_checkpoints, require, results_config,
                    step_axis)


_ANALYZE_HINT = "run manifold-lens analyze"


def pca_spectrum(analysis: xr.Dataset, layer=None, timestep=None, title: str | None = None) -> Figure:
    """Explained-variance spectrum at every checkpoint (colour = step), top-4 share annotated; right: the
    top-4 explained variance vs step."""
    require(analysis, ["explained_variance_ratio", "explained_variance_top4"], "PCA spectrum", _ANALYZE_HINT)
    a, where = analysis_slice(analysis, layer, timestep)
    steps = a["checkpoint"].values
    comp = a["component"].values
    colors, cmap = checkpoint_colors(steps)
    fig = new_figure(10.0, 4.3)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    for i, s in enumerate(steps):
        ratio = a["explained_variance_ratio"].isel(checkpoint=i).values
        left.plot(comp, ratio, "o-", ms=3, lw=1.2, color=colors[i])
    left.axvspan(comp[0] - 0.5, min(4, comp[-1]) + 0.5, color="#f0e442", alpha=0.25, lw=0)
    final = float(a["explained_variance_top4"].isel(checkpoint=-1))
    left.text(0.98, 0.95, f"top 4 components (shaded):\n{100 * final:.1f}% of the variance\nat the final "
              f"step {int(steps[-1])}", transform=left.transAxes, ha="right", va="top", fontsize=9,
              bbox=dict(fc="w", ec="#999", alpha=0.9))
    left.set_yscale("log")
    ratios = a["explained_variance_ratio"].values
    floor = max(float(np.nanmin(np.where(ratios > 0, ratios, np.nan))), 1e-5 * float(np.nanmax(ratios)))
    left.set_ylim(bottom=floor / 2)  # numerically-zero components (a code of exact rank) fall off the bottom
    left.set_xlabel("principal component")
    left.set_ylabel("explained-variance ratio (fraction of total)")
    left.set_xticks(comp)
    left.grid(alpha=0.3, which="both")
    sm = colormaps["viridis"].resampled(max(len(steps), 2))
    norm = Normalize(-0.5, len(steps) - 0.5)
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 10)).round().astype(int))
    cb = fig.colorbar(_mappable(sm, norm), ax=left, label="checkpoint (training step)", ticks=ticks)
    cb.ax.set_yticklabels([str(int(steps[i])) for i in ticks], fontsize=7)
    right.plot(steps, a["explained_variance_top4"], "o-", color="k")
    right.set_ylim(0, 1.02)
    right.set_ylabel("explained variance of the top 4 (fraction)")
    right.grid(alpha=0.3)
    step_axis(right, steps)
    fig.suptitle(title or figure_title("PCA spectrum over training", analysis, where), fontsize=10)
    return fig


def _mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    sm = ScalarMappable(norm=norm, cmap=cmap)
    sm.set_array([])
    return sm


def _lines_over_steps(analysis, variables, colors, labels, ylabel, what, ylim=None, title=None) -> Figure:
    """One line per (variable, layer, timestep) vs checkpoint step."""
    require(analysis, list(variables), what, _ANALYZE_HINT)
    steps = analysis["checkpoint"].values
    combos = [(str(la), int(t)) for la in analysis.layer.values for t in analysis.timestep.values]
    styles = ["-", "--", ":", "-."]
    fig = new_figure(7.5, 4.5)
    ax = fig.add_subplot()
    by_combo = len(variables) == 1 and len(combos) > 1  # one variable: a colour per layer and timestep
    for k, (layer, t) in enumerate(combos):
        a = analysis.sel(layer=layer, timestep=t)
        for v, c, lab in zip(variables, colors, labels):
            suffix = f" ({layer}, t = {t})" if len(combos) > 1 else ""
            ax.plot(steps, a[v], marker="o", ms=3, ls="-" if by_combo else styles[k % len(styles)],
                    color=colormaps["tab10"](k % 10) if by_combo else c, label=lab + suffix)
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    step_axis(ax, steps)
    ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    where = "" if len(combos) > 1 else f"{combos[0][0]}, t = {combos[0][1]}"
    ax.set_title(title or figure_title(what, analysis, where), fontsize=10)
    return fig


def effective_dim_curve(analysis: xr.Dataset, title: str | None = None) -> Figure:
    """Effective dimension (participation ratio) vs step, one line per layer and timestep."""
    return _lines_over_steps(analysis, ["effective_dim"], ["k"], ["effective dimension"],
                             "effective dimension (participation ratio, dimensions)", "effective dimension over "
                             "training", title=title)


def metrics_curve(analysis: xr.Dataset, title: str | None = None) -> Figure:
    """Factorization score, continuity index and linear decodability of x and y vs step."""
    names = ["factorization_score", "continuity_index", "x_decoding_r2", "y_decoding_r2"]
    present = [n for n in names if n in analysis]
    if not present:
        require(analysis, names[:2], "factorization and continuity", _ANALYZE_HINT)
    colors = {"factorization_score": "k", "continuity_index": "#9467bd", "x_decoding_r2": X_COLOR,
              "y_decoding_r2": Y_COLOR}
    labels = {"factorization_score": "factorization score", "continuity_index": "continuity index",
              "x_decoding_r2": "x decodability (R^2)", "y_decoding_r2": "y decodability (R^2)"}
    return _lines_over_steps(analysis, present, [colors[n] for n in present], [labels[n] for n in present],
                             "score (1 = factorized / smooth / decodable)", "factorization and continuity over "
                             "training", ylim=(-0.05, 1.05), title=title)


def embedding_views(analysis: xr.Dataset, method: str = "pca", layer=None, timestep=None, checkpoints=None,
                    title: str | None = None) -> Figure:
    """3-D embeddings of the representation (``embedding_<method>``) at early, middle and final checkpoints;
    top row coloured by x (blues), bottom row by y (reds). Held-out conditions are triangles."""
    var = f"embedding_{method}"
    require(analysis, [var], f"3-D {method.upper()} views", f"{_ANALYZE_HINT} with --embed {method}")
    a, where = analysis_slice(analysis, layer, timestep)
    chosen = representative_checkpoints(a["checkpoint"].values, checkpoints)
    x, y = a["x"].values, a["y"].values
    held = ~a["in_train"].values.astype(bool) if "in_train" in a.coords else np.zeros(len(x), bool)
    axis_name = {"pca": "PC", "umap": "UMAP ", "isomap": "Isomap "}.get(method, f"{method} ")
    fig = new_figure(3.3 * len(chosen) + 1.2, 6.6)
    size = float(np.clip(2000 / max(len(x), 1), 3, 30))
    for row, (values, cmap, lab) in enumerate(((x, X_CMAP, "x (px, column)"), (y, Y_CMAP, "y (px, row)"))):
        axes = []
        for col, step in enumerate(chosen):
            ax = fig.add_subplot(2, len(chosen), row * len(chosen) + col + 1, projection="3d")
            e = a[var].sel(checkpoint=step).values
            norm = Normalize(values.min(), values.max())
            ax.scatter(e[~held, 0], e[~held, 1], e[~held, 2], c=values[~held], cmap=cmap, norm=norm, s=size,
                       depthshade=False, linewidths=0)
            if held.any():
                ax.scatter(e[held, 0], e[held, 1], e[held, 2], c=values[held], cmap=cmap, norm=norm, s=size * 1.8,
                           marker="^", edgecolors="k", linewidths=0.4, depthshade=False)
            ax.set_title(f"step {step}, coloured by {'x' if row == 0 else 'y'}", fontsize=9)
            for k, setter in enumerate((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel)):
                setter(f"{axis_name}{k + 1}", fontsize=7, labelpad=-8)
            ax.tick_params(labelsize=0, length=0)
            axes.append(ax)
        fig.colorbar(_mappable(cmap, norm), ax=axes, label=lab, shrink=0.7, pad=0.02)
    extra = f"{where}; triangles: held-out conditions" if held.any() else where
    fig.suptitle(title or figure_title(f"3-D {method.upper()} embedding of the representation", analysis, extra),
                 fontsize=10)
    return fig


def chord_histograms(analysis: xr.Dataset, checkpoint: int | None = None, layer=None, timestep=None,
                     title: str | None = None) -> Figure:
    """Orthogonality and parallelism histograms of chord cosines: learned vs ideal 3-D torus vs Clifford torus."""
    names = [f"{p}_cos_hist" for p, _, _ in CHORD_PANELS]
    require(analysis, names, "orthogonality and parallelism histograms", _ANALYZE_HINT)
    a, where = analysis_slice(analysis, layer, timestep)
    steps = [int(s) for s in a["checkpoint"].values]
    step = steps[-1] if checkpoint is None else representative_checkpoints(steps, [checkpoint])[0]
    a = a.sel(checkpoint=step)
    lower = a["cos_bin_lower"].values if "cos_bin_lower" in a.coords else None
    upper = a["cos_bin_upper"].values if "cos_bin_upper" in a.coords else None
    centres = a["cos_bin"].values
    if lower is None or upper is None:
        half = np.diff(centres).mean() / 2
        lower, upper = centres - half, centres + half
    edges = np.append(lower, upper[-1])
    fig = new_figure(15.0, 3.9)
    axes = fig.subplots(1, len(CHORD_PANELS), sharey=True)
    for ax, (stat, label, color) in zip(axes, CHORD_PANELS):
        hist = a[f"{stat}_cos_hist"]
        summary_name = stat if stat.endswith("parallelism") else f"{stat}_orthogonality"
        parts = []
        for m in [str(v) for v in hist["manifold"].values]:
            h = hist.sel(manifold=m).values
            if not np.isfinite(h).any():
                continue
            lw = 2.0 if m == "learned" else 1.4
            ax.stairs(h, edges, color=MANIFOLD_COLORS.get(m, "#777"), lw=lw, fill=(m == "learned"),
                      alpha=0.25 if m == "learned" else 1.0)
            if m == "learned":
                ax.stairs(h, edges, color=MANIFOLD_COLORS[m], lw=lw)
            if summary_name in a:
                parts.append(f"{float(a[summary_name].sel(manifold=m)):.2f}")
        ax.set_title(f"{label}\n(summary: {' / '.join(parts)})" if parts else label, color=color, fontsize=9)
        ax.set_xlabel("cos between chords" if "parallelism" in stat else "cos between chords (signed)")
        ax.set_xlim(-1, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of chord pairs")
    handles = [Patch(fc=MANIFOLD_COLORS["learned"], alpha=0.35, ec=MANIFOLD_COLORS["learned"], label="learned")]
    handles += [Line2D([], [], color=MANIFOLD_COLORS[m], lw=1.4, label=MANIFOLD_LABELS[m])
                for m in ("torus3d", "clifford")]
    axes[-1].legend(handles=handles, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title or figure_title(f"chord statistics at step {step}", analysis,
                                 f"{where}; summaries: learned / 3-D torus / Clifford (mean |cos|, parallelism: "
                                 "mean cos)"), fontsize=10)
    return fig


def _spacing(analysis, axis: str):
    data = results_config(analysis).get("data", {})
    return data.get(f"spacing_{axis}") or data.get("spacing")


def similarity_curves(analysis: xr.Dataset, layer=None, timestep=None, checkpoints=None,
                      title: str | None = None) -> Figure:
    """Similarity of the x-codes (blue) and y-codes (red) vs feature-value distance at early, middle and
    final checkpoints (lighter = earlier)."""
    require(analysis, ["x_similarity_by_distance", "y_similarity_by_distance"], "similarity vs distance",
             _ANALYZE_HINT)
    a, where = analysis_slice(analysis, layer, timestep)
    chosen = representative_checkpoints(a["checkpoint"].values, checkpoints)
    dist = a["distance"].values.astype(np.float64)
    sx, sy = _spacing(analysis, "x"), _spacing(analysis, "y")
    same = sx is not None and sx == sy
    scale = float(sx) if same else 1.0
    fig = new_figure(7.5, 4.5)
    ax = fig.add_subplot()
    alphas = np.linspace(0.35, 1.0, len(chosen))
    last_finite = 0
    for k, step in enumerate(chosen):
        for axis, color in (("x", X_COLOR), ("y", Y_COLOR)):
            v = a[f"{axis}_similarity_by_distance"].sel(checkpoint=step).values
            ok = np.isfinite(v)
            if ok.any():
                last_finite = max(last_finite, int(np.flatnonzero(ok)[-1]))
            ax.plot(dist[ok] * scale, v[ok], "o-" if k == len(chosen) - 1 else "--", ms=3, color=color,
                    alpha=alphas[k], lw=1.8 if k == len(chosen) - 1 else 1.0, label=f"{axis}, step {step}")
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xlim(0, (dist[last_finite] + 0.5) * scale)
    ax.set_xlabel("feature-value distance |v1 - v2| (px)" if same else "feature-value distance (lattice steps)")
    ax.set_ylabel("mean cosine similarity of the codes")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=1)
    ax.set_title(title or figure_title("similarity vs feature-value distance", analysis,
                                 f"{where}; x-code: y averaged out, and vice versa"), fontsize=10)
    return fig
