"""Figure of the topology of a representation: the persistence diagram with its loop test."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...analysis.homology_variables import band_text

from .style import (X_COLOR, FigureDataError, analysis_slice, figure_title, new_figure, representative_checkpoints,
                    require, root_figure)

_ANALYZE_HINT = "run manifold-lens analyze"


def persistence_diagram(analysis: xr.Dataset, layer=None, timestep=None, checkpoint: int | None = None,
                        reference: str = "learned", title: str | None = None, *, fig=None) -> Figure:
    """H0 and H1 persistence diagrams of one checkpoint (default: the last) with the loop test drawn.

    Left: (birth, death) of every stored bar (plain distances), H0 (blue) and H1 (orange); the bars that pass
    the plain test (``h1_counted``) are red stars inside the shaded region it accepts: persistence above the
    longest H1 bar of the shuffled copies (dashed) and death / birth above the plain ratio (dotted).
    ``betti_1`` is the smaller of that count and the locally scaled one (docs/science.md, section 3); the
    title gives it with its sensitivity band (``betti_1_band``: "inconclusive" when the rule's neighbouring
    settings disagree). Right: the H1 persistences by rank against the shuffled copies' longest bars.
    """
    need = ["persistence_diagram", "h1_counted", "h1_null_persistence", "betti_1"]
    require(analysis, need, "persistence diagram", _ANALYZE_HINT + " on periodic data, or measure(..., homology=True)")
    a, where = analysis_slice(analysis, layer, timestep)
    steps = [int(s) for s in a["checkpoint"].values]
    step = steps[-1] if checkpoint is None else representative_checkpoints(steps, [checkpoint])[0]
    a = a.sel(checkpoint=step)
    if "reference" in a.dims:
        a = a.sel(reference=reference)
        where += f", {reference}" if reference != "learned" else ""
    dgm = a["persistence_diagram"]
    h0 = dgm.sel(homology_dim=0).values
    h1 = dgm.sel(homology_dim=1).values
    h0, h1 = h0[np.isfinite(h0[:, 0])], h1[np.isfinite(h1[:, 0])]
    if not len(h0):
        raise FigureDataError(f"persistence diagram: no bars at step {step} ({where}); too few points "
                              "(see the results' measure_notes)")
    counted = a["h1_counted"].values[:len(h1)].astype(bool)
    betti = int(a["betti_1"])
    band = band_text(a["betti_1_band"]) if "betti_1_band" in a else ""
    plain = int(a["betti_1_plain"]) if "betti_1_plain" in a and np.isfinite(a["betti_1_plain"]) else int(counted.sum())
    n_bars = a["n_bars"].values.astype(int) if "n_bars" in a else np.array([len(h0), len(h1)])
    nulls = a["h1_null_persistence"].values
    tau = float(np.nanmax(nulls))
    attrs = a["betti_1"].attrs
    ratio = float(attrs.get("plain_min_death_birth_ratio", attrs.get("min_death_birth_ratio", 2.0)))
    finite = np.concatenate([h0[np.isfinite(h0[:, 1]), 1], h1[:, 1], [tau]])
    top = 1.08 * float(np.max(finite)) if np.max(finite) > 0 else 1.0
    inf_y = top * 1.04
    fig = new_figure(11.0, 4.8, fig)
    left, right = fig.subplots(1, 2, width_ratios=[1.15, 1])
    grid = np.linspace(0, inf_y, 200)
    left.fill_between(grid, np.maximum(grid + tau, ratio * grid), inf_y * 1.1, color="#d62728", alpha=0.06, lw=0)
    left.plot([0, inf_y], [0, inf_y], color="#999", lw=0.8)
    left.plot(grid, grid + tau, "--", color="#555", lw=1.0,
              label=f"death = birth + {tau:.3g} (longest H1 bar of {len(nulls)} shuffled copies)")
    left.plot(grid, ratio * grid, ":", color="#555", lw=1.2, label=f"death = {ratio:g} x birth")
    deaths0 = np.where(np.isfinite(h0[:, 1]), h0[:, 1], inf_y)
    left.scatter(h0[:, 0], deaths0, s=12, color=X_COLOR, alpha=0.6, label=f"H0 ({n_bars[0]} bars)", zorder=3)
    left.scatter(h1[~counted, 0], h1[~counted, 1], s=12, color="#ff7f0e", alpha=0.7, zorder=3,
                 label=f"H1 ({n_bars[1]} bars)")
    left.scatter(h1[counted, 0], h1[counted, 1], s=150, marker="*", color="#d62728", edgecolor="k", lw=0.6,
                 zorder=4, label=f"pass the plain test ({plain}); betti_1 = {betti}")
    left.axhline(inf_y, color="#bbb", lw=0.6)
    left.text(0.01 * inf_y, inf_y, " inf", va="bottom", fontsize=8, color="#777")
    left.set_xlim(-0.02 * inf_y, inf_y)
    left.set_ylim(0, inf_y * 1.06)
    units = dgm.attrs.get("units", "activation")
    left.set_xlabel(f"birth (Rips scale, {units})")
    left.set_ylabel(f"death (Rips scale, {units})")
    left.legend(fontsize=7.5, loc="lower right", frameon=True, framealpha=0.9)
    left.grid(alpha=0.3)
    pers = h1[:, 1] - h1[:, 0]
    shown = min(len(pers), max(20, int(counted.sum()) + 10))
    rank = np.arange(1, shown + 1)
    right.bar(rank, pers[:shown], color=np.where(counted[:shown], "#d62728", "#ff7f0e"), width=0.8)
    for k, v in enumerate(nulls):
        right.axhline(v, color="#555", lw=0.7, alpha=0.5, label="shuffled copies' longest bars" if k == 0 else None)
    right.axhline(tau, color="#555", lw=1.2, ls="--", label=f"test threshold {tau:.3g}")
    right.set_ylim(0, 1.3 * max(float(pers.max()) if len(pers) else 0.0, tau) or 1.0)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not len(pers):
        right.text(0.5, 0.5, "no H1 bar born below the truncation scale:\nnone could pass death / birth > "
                   f"{ratio:g}", transform=right.transAxes, ha="center", va="center", fontsize=9)
        right.set_xticks([])
    right.set_xlabel("H1 bar rank (by persistence)")
    right.set_ylabel(f"H1 persistence, death - birth ({units})")
    right.set_xlim(0.3, shown + 0.7)
    right.legend(fontsize=8, frameon=False, loc="upper right")
    right.grid(alpha=0.3, axis="y")
    right.set_title(f"the {shown} longest of {n_bars[1]} H1 bars; red: pass (also death / birth > {ratio:g})"
                    if shown else "H1 bars vs the shuffled copies' longest", fontsize=9)
    fig.suptitle(title or figure_title(f"persistence diagram at step {step}", analysis,
                                       f"{where}; betti_1 = {betti}{band}: H1 bars longer than every "
                                       f"shuffled copy's and closing late, in plain and locally scaled distances"),
                 fontsize=10)
    return root_figure(fig)
