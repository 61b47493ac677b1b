"""Figures of the representations: PCA spectrum, effective dimension, metrics over training,
3-D embeddings, chord histograms, similarity vs feature distance (the persistence diagram: :mod:`.topology`).

Each takes an analysis group or a plain :func:`manifold_lens.measure` result
(one checkpoint, layer and timestep), and ``fig=`` (a Figure or SubFigure to
draw into; ``pca_spectrum``, ``metrics_curve`` and ``effective_dim_curve``
also ``ax=``, one Axes for their main panel alone); each returns the Figure.
Values whose ``signal_to_noise`` is below 1 (noise-dominated) are greyed, and
the legend says so.

Results with a ``reference`` dim (every analysis since references exist) are
drawn as the learned code beside its references: the empirical ones (pixels,
init, shuffled) and the ideal code of the data (the tori for periodic data,
the flat sheet otherwise); older results draw the learned code alone.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .style import (CHORD_PANELS, REFERENCE_COLORS, REFERENCE_LABELS, REFERENCE_MARKERS, X_CMAP, X_COLOR, Y_CMAP,
                    Y_COLOR, analysis_slice, as_analysis, checkpoint_colors, figure_title, learned_and_references,
                    new_figure, representative_checkpoints, require, results_config, root_figure, step_axis)


_ANALYZE_HINT = "run manifold-lens analyze"
LOW_SNR_COLOR = "#b0b0b0"
LOW_SNR_LABEL = "grey: signal-to-noise < 1 (noise-dominated)"


def _low_snr(ds) -> np.ndarray:
    """Where the stored ``signal_to_noise`` is below 1 (False where it is missing or NaN: noiseless codes)."""
    if "signal_to_noise" not in ds:
        return np.zeros(np.shape(ds["checkpoint"]) if "checkpoint" in ds.dims else (), bool)
    with np.errstate(invalid="ignore"):
        return np.asarray(ds["signal_to_noise"].values < 1)


def pca_spectrum(analysis: xr.Dataset, layer=None, timestep=None, title: str | None = None, *,
                 fig=None, ax=None) -> Figure:
    """Explained-variance spectrum at every checkpoint (colour = step), top-4 share annotated, the references'
    final spectra dashed; right: the top-4 explained variance vs step beside the references'.

    ``analysis``: an analysis group, or a plain :func:`manifold_lens.measure` result; ``fig``: a Figure or
    SubFigure to draw into (default a new one); ``ax``: one Axes to draw the spectrum panel alone into
    (no colour bar, no top-4 panel). Returns the Figure."""
    require(analysis, ["explained_variance_ratio", "explained_variance_top4"], "PCA spectrum", _ANALYZE_HINT)
    sliced, where = analysis_slice(analysis, layer, timestep)
    a, refs, names = learned_and_references(sliced)
    steps = a["checkpoint"].values
    comp = a["component"].values
    colors, cmap = checkpoint_colors(steps)
    if ax is not None:
        left, right, fig = ax, None, ax.figure
    else:
        fig = new_figure(10.0, 4.3, fig)
        left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    for i, s in enumerate(steps):
        ratio = a["explained_variance_ratio"].isel(checkpoint=i).values
        left.plot(comp, ratio, "o-", ms=3, lw=1.2, color=colors[i])
    for r in names:  # the references at the final step (shuffled has the learned spectrum: not drawn)
        if r != "shuffled":
            left.plot(comp, refs["explained_variance_ratio"].sel(reference=r).isel(checkpoint=-1), ls="--", lw=1.2,
                      marker=REFERENCE_MARKERS[r], ms=3, color=REFERENCE_COLORS[r], label=REFERENCE_LABELS[r])
    if names:
        left.legend(fontsize=7, frameon=False, loc="lower left")
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
    if right is None:
        left.set_title(title or figure_title("PCA spectrum", analysis, where), fontsize=9)
        return root_figure(fig)
    sm = colormaps["viridis"].resampled(max(len(steps), 2))
    norm = Normalize(-0.5, len(steps) - 0.5)
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 10)).round().astype(int))
    cb = fig.colorbar(_mappable(sm, norm), ax=left, label="checkpoint (training step)", ticks=ticks)
    cb.ax.set_yticklabels([str(int(steps[i])) for i in ticks], fontsize=7)
    right.plot(steps, a["explained_variance_top4"], "o-", color="k", label="learned")
    _reference_lines(right, refs, names, "explained_variance_top4", steps)
    right.set_ylim(0, 1.02)
    right.set_ylabel("explained variance of the top 4 (fraction)")
    right.grid(alpha=0.3)
    step_axis(right, steps)
    fig.suptitle(title or figure_title("PCA spectrum over training", analysis, where), fontsize=10)
    return root_figure(fig)



def _reference_lines(ax, refs, names, var: str, steps) -> None:
    """Each reference's value of ``var`` over the steps, dashed (constant ones are flat lines)."""
    for r in names:
        v = refs[var].sel(reference=r).values
        if np.isfinite(v).any():
            ax.plot(steps, v, ls="--", lw=1.0, color=REFERENCE_COLORS[r], label=REFERENCE_LABELS[r])


def _mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    sm = ScalarMappable(norm=norm, cmap=cmap)
    sm.set_array([])
    return sm


def _lines_over_steps(analysis, variables, colors, labels, ylabel, what, ylim=None, title=None, *,
                      fig=None, ax=None) -> Figure:
    """One line per (variable, layer, timestep) vs checkpoint step; with references, a right panel compares the
    final step's learned value of each variable with the references' (same grid, layer and timestep). ``ax``:
    the lines alone, into that Axes. Values where ``signal_to_noise`` < 1 are drawn over in grey."""
    require(analysis, list(variables), what, _ANALYZE_HINT)
    analysis = as_analysis(analysis)
    learned_ds, refs, names = learned_and_references(analysis)
    steps = analysis["checkpoint"].values
    combos = [(str(la), int(t)) for la in analysis.layer.values for t in analysis.timestep.values]
    styles = ["-", "--", ":", "-."]
    if ax is not None:
        fig, panel = ax.figure, None
    else:
        fig = new_figure(11.5 if names else 7.5, 4.5, fig)
        ax, panel = (fig.subplots(1, 2, width_ratios=[3, 2]) if names else (fig.add_subplot(), None))
    grey = False
    by_combo = len(variables) == 1 and len(combos) > 1  # one variable: a colour per layer and timestep
    for k, (layer, t) in enumerate(combos):
        a = learned_ds.sel(layer=layer, timestep=t)
        for v, c, lab in zip(variables, colors, labels):
            suffix = f" ({layer}, t = {t})" if len(combos) > 1 else ""
            ax.plot(steps, a[v], marker="o", ms=3, ls="-" if by_combo else styles[k % len(styles)],
                    color=colormaps["tab10"](k % 10) if by_combo else c, label=lab + suffix)
            low = _low_snr(a)
            if low.any():
                ax.plot(steps[low], np.asarray(a[v])[low], ls="", marker="o", ms=6, mfc=LOW_SNR_COLOR, mec="#777",
                        label=None if grey else LOW_SNR_LABEL)
                grey = True
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    step_axis(ax, steps)
    ax.legend(fontsize=8, frameon=False, loc="best" if names else "center left",
              bbox_to_anchor=None if names else (1.01, 0.5))
    if panel is not None:
        _reference_panel(panel, refs.isel(checkpoint=-1), names, variables, labels, combos, ylim)
    plain = int(analysis.attrs.get("plain_measure", 0))
    where = "" if len(combos) > 1 or plain else f"{combos[0][0]}, t = {combos[0][1]}"
    ax.set_title(title or figure_title(what, analysis, where), fontsize=10)
    return root_figure(fig)



def _reference_panel(ax, final, names, variables, labels, combos, xlim=None) -> None:
    """A dot plot: one row per (variable, layer, timestep), the learned value (black) beside each reference."""
    rows = [(v, lab, la, t) for v, lab in zip(variables, labels) for la, t in combos]
    shown = np.array([float(final[v].sel(layer=la, timestep=t, reference=r)) for v, _, la, t in rows
                      for r in ["learned", *names]])
    for i, (v, lab, la, t) in enumerate(rows):
        vals = final[v].sel(layer=la, timestep=t)
        for r in ["learned", *names]:
            value = float(vals.sel(reference=r))
            low = bool(_low_snr(final.sel(layer=la, timestep=t, reference=r)))
            ax.plot(value, -i, marker=REFERENCE_MARKERS[r], ms=9 if r == "learned" else 6, ls="",
                    color=LOW_SNR_COLOR if low else REFERENCE_COLORS[r],
                    mfc=REFERENCE_COLORS[r] if r != "init" and not low else "none",
                    label=REFERENCE_LABELS[r] if i == 0 else None)
            if low and not any(h == LOW_SNR_LABEL for h in ax.get_legend_handles_labels()[1]):
                ax.plot([], [], ls="", marker="o", mfc="none", color=LOW_SNR_COLOR, label=LOW_SNR_LABEL)
    ax.set_yticks(-np.arange(len(rows)))
    ax.set_yticklabels([lab + (f"\n({la}, t = {t})" if len(combos) > 1 else "") for _, lab, la, t in rows],
                       fontsize=8)
    if xlim and np.isfinite(shown).any():  # the usual range, widened to show every value (a negative R^2)
        ax.set_xlim(min(xlim[0], np.nanmin(shown) - 0.05), max(xlim[1], np.nanmax(shown) + 0.05))
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(f"final step {int(final['checkpoint'])}: learned vs references", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)


def effective_dim_curve(analysis: xr.Dataset, title: str | None = None, *, fig=None, ax=None) -> Figure:
    """Effective dimension (participation ratio) vs step, one line per layer and timestep (a plain measure()
    result: one point); ``fig``: a Figure or SubFigure to draw into; ``ax``: one Axes for the curve alone."""
    return _lines_over_steps(analysis, ["effective_dim"], ["k"], ["effective dimension"],
                             "effective dimension (participation ratio, dimensions)", "effective dimension over "
                             "training", title=title, fig=fig, ax=ax)


def metrics_curve(analysis: xr.Dataset, title: str | None = None, *, fig=None, ax=None) -> Figure:
    """Factorization score, continuity index and linear decodability of x and y vs step (a plain measure()
    result: one point each; grey where the signal-to-noise ratio is below 1); ``fig``: a Figure or SubFigure
    to draw into; ``ax``: one Axes for the curves alone (no reference panel)."""
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
                             "training", ylim=(-0.05, 1.05), title=title, fig=fig, ax=ax)


def embedding_views(analysis: xr.Dataset, method: str = "pca", layer=None, timestep=None, checkpoints=None,
                    title: str | None = None, *, fig=None) -> Figure:
    """3-D embeddings of the representation (``embedding_<method>``) at early, middle and final checkpoints;
    top row coloured by x (blues), bottom row by y (reds). Held-out conditions are triangles."""
    var = f"embedding_{method}"
    require(analysis, [var], f"3-D {method.upper()} views", f"{_ANALYZE_HINT} with --embed {method}")
    a, where = analysis_slice(analysis, layer, timestep)
    chosen = representative_checkpoints(a["checkpoint"].values, checkpoints)
    x, y = a["x"].values, a["y"].values
    held = ~a["in_train"].values.astype(bool) if "in_train" in a.coords else np.zeros(len(x), bool)
    axis_name = {"pca": "PC", "umap": "UMAP ", "isomap": "Isomap "}.get(method, f"{method} ")
    fig = new_figure(3.3 * len(chosen) + 1.2, 6.6, fig)
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
    return root_figure(fig)



def chord_histograms(analysis: xr.Dataset, checkpoint: int | None = None, layer=None, timestep=None,
                     title: str | None = None, *, fig=None) -> Figure:
    """Orthogonality and parallelism histograms of chord cosines: the learned code (filled) against its
    references (pixels, init, shuffled and the ideal code of the data), each panel listing the summaries."""
    names = [f"{p}_cos_hist" for p, _, _ in CHORD_PANELS]
    require(analysis, names, "orthogonality and parallelism histograms", _ANALYZE_HINT)
    a, where = analysis_slice(analysis, layer, timestep)
    steps = [int(s) for s in a["checkpoint"].values]
    step = steps[-1] if checkpoint is None else representative_checkpoints(steps, [checkpoint])[0]
    a = a.sel(checkpoint=step)
    dim = "reference" if "reference" in a.dims else "manifold" if "manifold" in a.dims else None
    if dim == "reference":
        shown = ["learned", *learned_and_references(a)[2]]
    elif dim == "manifold":  # results written before references existed
        shown = [str(m) for m in a["manifold"].values]
    else:
        shown = ["learned"]
    lower = a["cos_bin_lower"].values if "cos_bin_lower" in a.coords else None
    upper = a["cos_bin_upper"].values if "cos_bin_upper" in a.coords else None
    centres = a["cos_bin"].values
    if lower is None or upper is None:
        half = np.diff(centres).mean() / 2
        lower, upper = centres - half, centres + half
    edges = np.append(lower, upper[-1])
    fig = new_figure(15.0, 4.2, fig)
    axes = fig.subplots(1, len(CHORD_PANELS), sharey=True)
    any_noisy = False
    for ax, (stat, label, color) in zip(axes, CHORD_PANELS):
        hist = a[f"{stat}_cos_hist"]
        summary_name = stat if stat.endswith("parallelism") else f"{stat}_orthogonality"
        lines = []
        noisy = False
        for m in shown:
            h = hist.sel({dim: m}).values if dim else hist.values
            if not np.isfinite(h).any():
                continue
            c = REFERENCE_COLORS.get(m, "#777")
            if m == "learned":
                ax.stairs(h, edges, color=c, lw=2.0, fill=True, alpha=0.25)
            ax.stairs(h, edges, color=c, lw=2.0 if m == "learned" else 1.2)
            if summary_name in a:
                value = a[summary_name].sel({dim: m}) if dim else a[summary_name]
                low = bool(_low_snr(a.sel({dim: m}) if dim else a))
                lines.append(f"{m}: {float(value):.2f}" + (" (SNR<1)" if low else ""))
                noisy |= low
        if lines:
            ax.text(0.03, 0.97, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize=7,
                    family="monospace", bbox=dict(fc="#e6e6e6" if noisy else "w", ec="#bbb", alpha=0.85))
        any_noisy |= noisy
        ax.set_title(label, color=color, fontsize=9)
        ax.set_xlabel("cos between chords" if "parallelism" in stat else "cos between chords (signed)")
        ax.set_xlim(-1, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of chord pairs")
    handles = [Patch(fc=REFERENCE_COLORS["learned"], alpha=0.35, ec=REFERENCE_COLORS["learned"], label="learned")]
    handles += [Line2D([], [], color=REFERENCE_COLORS.get(m, "#777"), lw=1.2, label=REFERENCE_LABELS.get(m, m))
                for m in shown if m != "learned"]
    if any_noisy:
        handles.append(Patch(fc="#e6e6e6", ec="#bbb", label=LOW_SNR_LABEL))
    axes[-1].legend(handles=handles, fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.suptitle(title or figure_title(f"chord statistics at step {step}", analysis,
                                       f"{where}; summaries: mean |cos| (orthogonality), mean cos (parallelism)"),
                 fontsize=10)
    return root_figure(fig)



def _spacing(analysis, axis: str):
    data = results_config(analysis).get("data", {})
    return data.get(f"spacing_{axis}") or data.get("spacing")


def similarity_curves(analysis: xr.Dataset, layer=None, timestep=None, checkpoints=None,
                      title: str | None = None, *, fig=None) -> Figure:
    """Similarity of the x-codes (blue) and y-codes (red) vs feature-value distance at early, middle and
    final checkpoints (lighter = earlier); with references, a right panel compares the final step's curves
    (mean of x and y) with the references'."""
    require(analysis, ["x_similarity_by_distance", "y_similarity_by_distance"], "similarity vs distance",
            _ANALYZE_HINT)
    sliced, where = analysis_slice(analysis, layer, timestep)
    a, refs, names = learned_and_references(sliced)
    chosen = representative_checkpoints(a["checkpoint"].values, checkpoints)
    dist = a["distance"].values.astype(np.float64)
    sx, sy = _spacing(analysis, "x"), _spacing(analysis, "y")
    same = sx is not None and sx == sy
    scale = float(sx) if same else 1.0
    fig = new_figure(12.0 if names else 7.5, 4.5, fig)
    ax, panel = (fig.subplots(1, 2, width_ratios=[3, 2], sharey=True) if names else (fig.add_subplot(), None))
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
    xlabel = "feature-value distance |v1 - v2| (px)" if same else "feature-value distance (lattice steps)"
    for axes in (ax, panel) if panel is not None else (ax,):
        axes.axhline(0, color="#999", lw=0.8)
        axes.set_xlim(0, (dist[last_finite] + 0.5) * scale)
        axes.set_xlabel(xlabel)
        axes.grid(alpha=0.3)
    ax.set_ylabel("similarity 1 - d^2 / mean d^2 (1 = same code)")
    ax.legend(fontsize=8, frameon=False, loc="best" if names else "center left",
              bbox_to_anchor=None if names else (1.01, 0.5), ncol=1)
    if panel is not None:
        final = refs.isel(checkpoint=-1)
        for r in ["learned", *names]:
            v = (final["x_similarity_by_distance"] + final["y_similarity_by_distance"]).sel(reference=r).values / 2
            ok = np.isfinite(v)
            panel.plot(dist[ok] * scale, v[ok], marker=REFERENCE_MARKERS[r], ms=4, ls="-" if r == "learned" else "--",
                       lw=2.0 if r == "learned" else 1.2, color=REFERENCE_COLORS[r], label=REFERENCE_LABELS[r])
        panel.set_title(f"final step {int(final['checkpoint'])}: mean of x and y vs references", fontsize=9)
        panel.legend(fontsize=7, frameon=False, loc="best")
    ax.set_title(title or figure_title("similarity vs feature-value distance", analysis,
                                       f"{where}; x-code: y averaged out, and vice versa"), fontsize=10)
    return root_figure(fig)
