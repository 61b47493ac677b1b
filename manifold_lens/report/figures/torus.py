"""Figures of the torus claims 1-2 (docs/science.md, section 4) from the Dataset of :func:`open_study`.

- :func:`torus_training`: effective dimension, explained variance of the top 4 principal components and
  accuracy over training (the analysis curves ``<metric>_curve`` and ``accuracy_curve``), mean over seeds.
- :func:`torus_references`: the final checkpoint's orthogonality and parallelism, and the counted loops
  ``betti_1``, of the learned code against its references (pixels, init, shuffled, the ideal 3-D torus and
  Clifford torus), mean over seeds.

The per-run orthogonality histograms, PCA spectra and persistence diagrams are
the runs' own report figures (the study report draws them for its first run).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ...studies.groups import grid_groups as _groups
from ...studies.groups import seed_mean
from .study import seeds_text
from .style import (REFERENCE_COLORS, REFERENCE_LABELS, REFERENCE_MARKERS, FigureDataError, new_figure, require,
                    root_figure, step_axis)

CHORDS = (("x_on_y_orthogonality", "x-on-y orthogonality"), ("x_on_x_orthogonality", "x-on-x orthogonality"),
          ("y_on_y_orthogonality", "y-on-y orthogonality"), ("x_parallelism", "x parallelism"),
          ("y_parallelism", "y parallelism"))
ORDER = ("learned", "pixels", "init", "shuffled", "torus3d", "clifford", "plane", "conjunctive")
_ANALYZE = "analyze every run's checkpoints: [analyze] checkpoints = \"all\" in the study file"


def _slice(da: xr.DataArray, layer, timestep) -> tuple[xr.DataArray, str]:
    """``da`` at one layer and timestep (default: the first of each) and a label such as "bottleneck, t = 50"."""
    where = []
    for dim, value in (("layer", layer), ("timestep", timestep)):
        if dim not in da.dims:
            continue
        present = da[dim].values.tolist()
        pick = present[0] if value is None else value
        if pick not in present:
            raise FigureDataError(f"{dim} {pick!r}: not in the study's analysis; present: "
                                  f"{', '.join(map(str, present))}")
        da = da.sel({dim: pick})
        where.append(f"t = {pick}" if dim == "timestep" else str(pick))
    return da, ", ".join(where)


def _ideal(study: xr.Dataset) -> bool | None:
    """Which ideal codes suit the study: the tori (True) for the torus claim, the flat sheet (False) for another
    claim, all (None) for a user study."""
    claim = str(study.attrs.get("claim", "") or "")
    return None if not claim else claim == "torus"


def _references(da: xr.DataArray, torus: bool | None = True) -> list[str]:
    """The reference names with any finite value, in a fixed order; of the ideal codes the tori for a torus
    study (periodic data), the flat sheet for others, every one when ``torus`` is None."""
    if "reference" not in da.dims:
        return ["learned"]
    names = [str(r) for r in da["reference"].values]
    shown = [r for r in ORDER if r in names and np.isfinite(da.sel(reference=r).values).any()]
    drop = () if torus is None else ("plane",) if torus else ("torus3d", "clifford")
    return [r for r in shown if r not in drop]


def _curve_panel(ax, study, da: xr.DataArray, steps, groups, references: bool) -> None:
    """Seed mean +- standard error over steps per group (learned), references' seed means dashed."""
    learned = da.sel(reference="learned") if "reference" in da.dims else da
    for k, (label, mask) in enumerate(groups):
        v = learned.values[mask]
        stats = [seed_mean(v[:, j]) for j in range(v.shape[1])]
        mean, se, n = (np.array(s, dtype=np.float64) for s in zip(*stats))
        ok = n > 0
        ax.errorbar(steps[ok], mean[ok], yerr=np.nan_to_num(se[ok]), fmt="o-", ms=3, capsize=2, lw=1.4,
                    color="k" if len(groups) == 1 else f"C{k % 10}",
                    label=("learned" if len(groups) == 1 else label) + f"; {seeds_text(n[ok])}")
    if references and "reference" in da.dims:
        for r in _references(da, _ideal(study)):
            if r == "learned":
                continue
            with np.errstate(all="ignore"):
                v = np.nanmean(da.sel(reference=r).values, axis=0) if np.isfinite(da.sel(reference=r).values).any() \
                    else None
            if v is not None:
                ax.plot(steps, v, ls="--", lw=1.0, color=REFERENCE_COLORS[r], label=REFERENCE_LABELS[r])
    step_axis(ax, steps)
    ax.grid(alpha=0.3)


def torus_training(study: xr.Dataset, layer=None, timestep=None, title: str | None = None, *, fig=None) -> Figure:
    """Claim 1 over training: effective dimension (participation ratio), explained variance of the top 4
    principal components (the learned code, its references dashed) and accuracy, vs training step; mean over
    seeds with the standard error as error bars, one line per grid point and case."""
    require(study, ["effective_dim_curve", "explained_variance_top4_curve"], "torus over training", _ANALYZE)
    eff, where = _slice(study["effective_dim_curve"], layer, timestep)
    top4, _ = _slice(study["explained_variance_top4_curve"], layer, timestep)
    steps = study["analysis_checkpoint"].values.astype(np.float64)
    groups = _groups(study)
    has_acc = "accuracy_curve" in study
    fig = new_figure(15.0 if has_acc else 10.5, 4.5, fig)
    axes = np.atleast_1d(fig.subplots(1, 3 if has_acc else 2))
    _curve_panel(axes[0], study, eff, steps, groups, True)
    axes[0].set_ylabel("effective dimension (participation ratio, dimensions)")
    axes[0].set_title("effective dimension", fontsize=10)
    axes[0].legend(fontsize=7, frameon=False, loc="best")
    _curve_panel(axes[1], study, top4, steps, groups, True)
    axes[1].set_ylim(0, 1.02)
    axes[1].set_ylabel("explained variance of the top 4 PCs (fraction)")
    axes[1].set_title("top-4 explained variance", fontsize=10)
    if has_acc:
        acc = study["accuracy_curve"]
        _curve_panel(axes[2], study, acc, study["checkpoint"].values.astype(np.float64), groups, False)
        axes[2].set_ylim(-0.03, 1.03)
        axes[2].set_ylabel("generation accuracy (fraction correct)")
        axes[2].set_title("accuracy (evaluated checkpoints)", fontsize=10)
    n = int(np.isfinite(eff.sel(reference="learned").values if "reference" in eff.dims else eff.values)
            .any(axis=-1).sum())
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: representation and accuracy over training ({where})"
                 f"\nmean over seeds, error bars: standard error over seeds; dashed: references (seed mean); {n} of "
                 f"{study.sizes['run']} runs analysed", fontsize=10)
    return root_figure(fig)



def _inconclusive(conclusive: xr.DataArray | None, reference: str) -> int:
    """How many runs' loop counts of ``reference`` are inconclusive (``betti_1_conclusive`` = 0)."""
    if conclusive is None:
        return 0
    vals = conclusive.sel(reference=reference).values if "reference" in conclusive.dims else conclusive.values
    return int(np.sum(np.asarray(vals, dtype=np.float64) == 0))


def torus_references(study: xr.Dataset, layer=None, timestep=None, title: str | None = None, *, fig=None) -> Figure:
    """Claim 2 at the final checkpoint: orthogonality and parallelism (left) and the counted loops ``betti_1``
    (right, where measured) of the learned code beside each reference, mean over seeds +- standard error; a
    bar is hatched and marked "inconclusive" where any run's sensitivity band disagrees (``betti_1_conclusive``)."""
    present = [(v, lab) for v, lab in CHORDS if v in study]
    if not present:
        require(study, [CHORDS[0][0]], "learned vs references", "analyze the study's runs")
    if "reference" not in study[present[0][0]].dims:
        raise FigureDataError("learned vs references: the analysis has no reference dim (analyze with references)")
    first, where = _slice(study[present[0][0]], layer, timestep)
    refs = _references(first, _ideal(study))
    betti = "betti_1" in study and np.isfinite(study["betti_1"].values).any()
    fig = new_figure(12.5 if betti else 8.5, min(6.0, 2.5 + 0.12 * len(present) * len(refs)), fig)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2]) if betti else (fig.add_subplot(), None)
    offsets = np.linspace(0.3, -0.3, len(refs))  # learned on top
    nmax, lowest = 0, 0.0
    for i, (var, _) in enumerate(present):
        da, _ = _slice(study[var], layer, timestep)
        for r, off in zip(refs, offsets):
            mean, se, n = seed_mean(da.sel(reference=r).values.astype(np.float64))
            nmax = max(nmax, n)
            lowest = min(lowest, mean - (se if np.isfinite(se) else 0.0)) if n else lowest
            if n:
                left.errorbar(mean, -i + off, xerr=0 if not np.isfinite(se) else se, fmt=REFERENCE_MARKERS[r],
                              ms=8 if r == "learned" else 6, color=REFERENCE_COLORS[r], capsize=2,
                              mfc="none" if r == "init" else REFERENCE_COLORS[r],
                              label=REFERENCE_LABELS[r] if i == 0 else None)
    left.set_yticks(-np.arange(len(present)), [lab for _, lab in present], fontsize=9)
    left.set_ylim(-len(present) + 0.5, 0.5)
    left.set_xlim(min(-0.02, lowest - 0.05), 1.02)
    left.set_xlabel("mean |cos| between chords (orthogonality; 0 = orthogonal) / mean cos (parallelism)")
    left.grid(alpha=0.3, axis="x")
    left.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    left.set_title("chord statistics, final checkpoint", fontsize=10)
    if right is not None:
        da, _ = _slice(study["betti_1"], layer, timestep)
        sure = _slice(study["betti_1_conclusive"], layer, timestep)[0] if "betti_1_conclusive" in study else None
        shown = [r for r in refs if r in [str(x) for x in da["reference"].values]] if "reference" in da.dims \
            else ["learned"]
        for k, r in enumerate(shown):
            vals = da.sel(reference=r).values if "reference" in da.dims else da.values
            mean, se, n = seed_mean(vals.astype(np.float64))
            unsure = _inconclusive(sure, r)
            if n:
                right.bar(k, mean, 0.7, yerr=0 if not np.isfinite(se) else se, capsize=3, color=REFERENCE_COLORS[r],
                          edgecolor="k", lw=0.5, hatch="//" if unsure else None, alpha=0.5 if unsure else 1.0)
                right.text(k, mean + (se if np.isfinite(se) else 0) + 0.05,
                           f"{mean:.2g}" + (f"\ninconclusive\n({unsure} run{'s' * (unsure > 1)})" if unsure else ""),
                           ha="center", fontsize=8 if not unsure else 6.5)
            else:
                right.text(k, 0.05, "n/a", ha="center", fontsize=8, rotation=90, color="#777")
        right.axhline(2, color="#555", ls=":", lw=1.0, label="a torus: 2 loops")
        right.set_xticks(range(len(shown)), [REFERENCE_LABELS[r].replace(" (", "\n(") for r in shown], fontsize=7,
                         rotation=30, ha="right")
        right.set_ylabel("counted H1 loops, betti_1")
        right.set_ylim(0, max(3.0, float(np.nanmax(da.values)) + 0.6))
        right.legend(fontsize=8, frameon=False, loc="upper right")
        right.grid(alpha=0.3, axis="y")
        right.set_title("loops (persistent homology), final checkpoint; hatched: inconclusive (the rule's "
                        "neighbouring settings disagree)", fontsize=8)
    pooled = len(_groups(study))
    over = f"{nmax} runs of {pooled} grid points pooled" if pooled > 1 else f"{nmax} seed(s)"
    fig.suptitle(title or f"{study.attrs.get('title', 'study')}: learned code vs references at the final checkpoint"
                 f" ({where})\nmean over {over}, error bars: standard error of that mean", fontsize=10)
    return root_figure(fig)
