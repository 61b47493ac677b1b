"""Figures of the study's claims 3-6 (docs/science.md, section 4), each from the Dataset of :func:`open_study`.

- :func:`lesion_accuracy` (claim 5): out-of-distribution accuracy against the held-out band's width.
- :func:`interior_exterior_accuracy` (claim 6): the held-out W x W square's accuracy against W, interior vs
  exterior (corner / edge), one line per position and family (bumps, SOS).
- :func:`composition_accuracy` (claim 3): accuracy in the vertical band (x held out), the horizontal band
  (y held out) and their intersection, per training set, as grouped bars.
- :func:`rim_accuracy` (claim 4): out-of-distribution accuracy with and without the rim, as grouped bars.

Every point or bar is the mean over seeds of one grid point with the
standard error over seeds as its error bar (none with one seed); runs without
a value (failed, missing, unfinished, or without the region) are left out and
the figure's title counts them. Where the study carries it, each accuracy is
drawn beside the memorising baseline's (the nearest training condition's
image scored like the model; :mod:`manifold_lens.report.figures.study`).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from ...studies.groups import grid_groups as _groups
from ...studies.groups import run_values, study_coord, study_value
from .study import (accuracy_axis, baseline_errorbar, baseline_values, grouped_bars, left_out, legend_with_baseline,
                    seed_errorbar)
from .style import FigureDataError, new_figure, region_color, require, root_figure, single_axes
from .style import title as set_title

_COLLECT = "collect the study: manifold_lens.open_study"
BANDS = (("band_x", "vertical band (x held out)"), ("band_y", "horizontal band (y held out)"),
         ("intersection", "intersection (x and y held out)"))


def _present(study: xr.Dataset, region: str) -> bool:
    return bool(np.isfinite(run_values(study, f"region:{region}")).any())


def _title(study: xr.Dataset, what: str, values: np.ndarray, extra: str = "") -> str:
    n = int(np.isfinite(values).sum())
    return (f"{study.attrs.get('title', 'study')}: {what}\nmean over seeds, error bars: standard error over seeds; "
            f"{n} of {study.sizes['run']} runs with a value" + (f"; {extra}" if extra else ""))


def _any(values) -> np.ndarray:
    """Per run: 0 where any of ``values`` (per-run arrays) is finite, else NaN."""
    return np.where(np.isfinite(np.vstack(values)).any(axis=0), 0.0, np.nan)


def _legend(ax, n: int, baseline: bool = False) -> None:
    if n:
        legend_with_baseline(ax, baseline, fontsize=8, frameon=False, loc="best")


def lesion_accuracy(study: xr.Dataset, title: str | None = None, *, fig=None) -> Figure:
    """Claim 5: accuracy against the held-out band's width ``data.holdout.width`` (px). Panels: out-of-distribution
    accuracy (every held-out condition), the held-out band's own region (band_x / band_y, where present) and
    in-distribution accuracy (the trained conditions, a control); one line per other grid point and case."""
    require(study, ["accuracy_ood", "accuracy_id"], "lesion accuracy", _COLLECT)
    width = study_coord(study, "data.holdout.width", "lesion accuracy", "a lesion study sweeps data.holdout.width")
    panels = [("accuracy_ood", "out-of-distribution (all held-out conditions)")]
    panels += [(f"region:{r}", f"held-out band: region {r}") for r in ("band_x", "band_y") if _present(study, r)]
    panels.append(("accuracy_id", "in-distribution (trained conditions)"))
    x = study[width].values.astype(np.float64)
    groups = _groups(study, width)
    fig = new_figure(4.2 * len(panels) + 0.6, 4.4, fig)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    legend_n, base = 0, 0
    for ax, (var, name) in zip(axes, panels):
        y = run_values(study, var)
        n = sum(seed_errorbar(ax, x, y, mask, label, color=f"C{k % 10}") for k, (label, mask) in enumerate(groups))
        base += sum(baseline_errorbar(ax, x, baseline_values(study, var), mask, f"C{k % 10}")
                    for k, (_, mask) in enumerate(groups))
        legend_n = legend_n or n
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(f"held-out band width w ({study[width].attrs.get('key', width)}, px)")
        ax.set_xticks(np.unique(x[np.isfinite(x)]))
        accuracy_axis(ax, "terminal accuracy (fraction correct)" if ax is axes[0] else "")
    _legend(axes[0], legend_n, base > 0)
    fig.suptitle(title or _title(study, "accuracy vs the held-out band's width", run_values(study, "accuracy_ood")),
                 fontsize=10)
    return root_figure(fig)



def held_out_square(study: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Per run: the accuracy of its held-out square (region ``interior`` or ``exterior``) and its position
    ("interior", "exterior (corner)", "exterior (edge)"; from the region present, else ``data.holdout.kind``)."""
    interior, exterior = run_values(study, "region:interior"), run_values(study, "region:exterior")
    n = study.sizes["run"]
    kinds = next((study[c].values for c, v in study.coords.items() if v.attrs.get("key") == "data.holdout.kind"),
                 np.full(n, ""))
    where = next((study[c].values for c, v in study.coords.items() if v.attrs.get("key") == "data.holdout.position"),
                 None)
    acc = np.where(np.isfinite(interior), interior, exterior)
    position = np.empty(n, dtype=object)
    for k in range(n):
        kind = "interior" if np.isfinite(interior[k]) else "exterior" if np.isfinite(exterior[k]) else str(kinds[k])
        position[k] = f"exterior ({where[k]})" if kind == "exterior" and where is not None else (kind or "unknown")
    return acc, position


POSITION_COLORS = {"interior": region_color("interior"), "exterior": region_color("exterior"),
                   "exterior (corner)": region_color("exterior"), "exterior (edge)": "#2ca02c"}
FAMILY_STYLES = [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-.")]


def interior_exterior_accuracy(study: xr.Dataset, title: str | None = None, *, fig=None) -> Figure:
    """Claim 6: the held-out W x W square's accuracy against W (``data.holdout.width``, px), interior vs exterior
    (corner / edge): colour by position, marker and dash by family (``data.family``, else the case); right: the
    in-distribution accuracy of the same runs (a control)."""
    require(study, ["accuracy_region", "accuracy_id"], "interior vs exterior accuracy", _COLLECT)
    if not (_present(study, "interior") or _present(study, "exterior")):
        raise FigureDataError("interior vs exterior accuracy: no run has an 'interior' or 'exterior' region "
                              "(hold out data.holdout.kind = 'interior' / 'exterior')")
    width = study_coord(study, "data.holdout.width", "interior vs exterior accuracy",
                        "the study sweeps the square's side W as data.holdout.width")
    fam = next((str(c) for c, v in study.coords.items() if v.attrs.get("key") == "data.family"), None)
    acc, position = held_out_square(study)
    inner = baseline_values(study, "region:interior")
    memo = np.where(np.isfinite(inner), inner, baseline_values(study, "region:exterior"))
    family = study[fam].values if fam else study["case"].values
    skip = {width, *(c for c, v in study.coords.items()
                     if v.attrs.get("key") in ("data.family", "data.holdout.kind", "data.holdout.position"))}
    cases = study["case"].values.astype(str)
    if not fam or all(len({(position[k], str(family[k])) for k in np.flatnonzero(cases == c)}) == 1
                      for c in set(cases)):
        skip.add("case")  # the case is the family or the position: no need to repeat it
    others = _groups(study, *skip)
    x = study[width].values.astype(np.float64)
    fig = new_figure(12.0, 4.6, fig)
    left, right = fig.subplots(1, 2, sharey=True, width_ratios=[3, 2])
    families = list(dict.fromkeys(str(f) for f in family))
    n = base = 0
    for pos in dict.fromkeys(position.tolist()):
        for f in families:
            marker, dash = FAMILY_STYLES[families.index(f) % len(FAMILY_STYLES)]
            for other, omask in others:
                mask = omask & (position == pos) & (family.astype(str) == f)
                if not mask.any():
                    continue
                label = ", ".join(p for p in (pos, f or "", other) if p)
                color = POSITION_COLORS.get(pos, "#333333")
                n += seed_errorbar(left, x, acc, mask, label, color=color, marker=marker, ls=dash, fmt="")
                base += baseline_errorbar(left, x, memo, mask, color)
                seed_errorbar(right, x, run_values(study, "accuracy_id"), mask, label, color=color, marker=marker,
                              ls=dash, fmt="")
    left.set_title("held-out W x W square (its region's accuracy)", fontsize=10)
    right.set_title("in-distribution (trained conditions), control", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel(f"square side W ({study[width].attrs.get('key', width)}, px)")
        ax.set_xticks(np.unique(x[np.isfinite(x)]))
        accuracy_axis(ax, "terminal accuracy (fraction correct)" if ax is left else "")
    _legend(left, n, base > 0)
    fig.suptitle(title or _title(study, "held-out square's accuracy vs W, interior vs exterior", acc), fontsize=10)
    return root_figure(fig)



def composition_accuracy(study: xr.Dataset, title: str | None = None, *, ax=None) -> Figure:
    """Claim 3: accuracy in the vertical band (``band_x``), the horizontal band (``band_y``) and their
    ``intersection``, with the trained conditions (``train``) as a control, per training set (each case and
    grid point) as grouped bars."""
    require(study, ["accuracy_region"], "composition accuracy", _COLLECT)
    bands = [(r, name) for r, name in BANDS if _present(study, r)]
    if not bands:
        raise FigureDataError("composition accuracy: no run has a band_x, band_y or intersection region (hold out "
                              "data.holdout.kind = 'cross')")
    series = [(name, run_values(study, f"region:{r}"), region_color(r)) for r, name in bands]
    refs = [baseline_values(study, f"region:{r}") for r, _ in bands]
    if _present(study, "train"):
        series.append(("trained conditions (control)", run_values(study, "region:train"), region_color("train")))
        refs.append(baseline_values(study, "region:train"))
    groups = _groups(study)
    fig, ax, own = single_axes(ax, max(7.0, 1.0 + 1.6 * len(groups) * max(len(series), 2) / 2), 4.8)
    grouped_bars(ax, study, groups, series, references=refs)
    accuracy_axis(ax, "terminal accuracy (fraction correct)")
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("training set (case / grid point)")
    memo = bool(np.isfinite(np.vstack(refs)).any())
    legend_with_baseline(ax, memo, "bar", fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14),
                         ncol=len(series) if not memo else min(len(series) + 1, 3))
    set_title(fig, ax, own, title or _title(study, "accuracy in the bands and their intersection per training set",
                                 _any([s[1] for s in series])), fontsize=10)
    return fig


IN_FRAME = (("frame_2d", "in-frame 2D conditions never shown (frame_2d)"),
            ("interior", "held-out interior square (interior)"))


def rim_accuracy(study: xr.Dataset, title: str | None = None, *, ax=None) -> Figure:
    """Claim 4: out-of-distribution accuracy with and without the rim (each case and grid point, e.g.
    ``include_rim`` or the rim's definition), with the in-frame regions where present (``frame_2d``, a held-out
    ``interior`` square, the cross's bands), as grouped bars."""
    require(study, ["accuracy_ood"], "rim accuracy", _COLLECT)
    series = [("out-of-distribution (all held-out conditions)", run_values(study, "accuracy_ood"), "#555555")]
    refs = [baseline_values(study, "accuracy_ood")]
    for r, name in [*IN_FRAME, *BANDS]:
        if _present(study, r):
            series.append((name, run_values(study, f"region:{r}"), region_color(r)))
            refs.append(baseline_values(study, f"region:{r}"))
    groups = _groups(study)
    if len(groups) < 2:
        raise FigureDataError("rim accuracy: the study has one training set; compare with and without the rim "
                              "(cases or a swept data.include_rim)")
    fig, ax, own = single_axes(ax, max(8.0, 1.0 + 0.8 * len(groups) * len(series)),
                               4.8 + 0.2 * max(len(series) - 2, 0))
    grouped_bars(ax, study, groups, series, references=refs)
    accuracy_axis(ax, "terminal accuracy (fraction correct)")
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("training set (case / grid point)")
    memo = bool(np.isfinite(np.vstack(refs)).any())
    legend_with_baseline(ax, memo, "bar", fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14),
                         ncol=2 if len(series) + memo > 2 else len(series) + memo)
    set_title(fig, ax, own, title or _title(study, "stripes with and without the rim: out-of-distribution accuracy",
                                 series[0][1]), fontsize=10)
    return fig


def runs_left_out(study: xr.Dataset, variables) -> str:
    """The caption sentence for a figure drawing ``variables`` (names or ``region:NAME``): runs with none."""
    return left_out(study, _any([run_values(study, v) for v in variables]))


__all__ = ["lesion_accuracy", "interior_exterior_accuracy", "composition_accuracy", "rim_accuracy",
           "held_out_square", "runs_left_out", "study_value"]
