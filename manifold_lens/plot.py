"""Figures: each a function taking xarray objects (or a dataset) and returning a matplotlib Figure.

Every function reads results as written by ``evaluate``, ``analyze``,
``percolate`` and ``percolate compare`` (or run-store pieces such as
``open_run(p).loss``) and never recomputes a metric. Figures are plain
:class:`matplotlib.figure.Figure` objects made without pyplot, so importing
this module changes no global state (no backend switch) and figures need no
closing; in a notebook they display as usual. Restyle them freely::

    fig = manifold_lens.plot.accuracy_curve(read_results("results.zarr", "evaluation"))
    fig.axes[0].set_ylim(0.5, 1); fig.savefig("accuracy.pdf")

Colours are consistent throughout: x is :data:`X_COLOR` (blue), y is
:data:`Y_COLOR` (red), and maps coloured by x or y use :data:`X_CMAP` /
:data:`Y_CMAP`; hold-out regions use :data:`REGION_COLORS`, learning phases
:data:`PHASE_COLORS`, reference manifolds :data:`MANIFOLD_COLORS`.

A figure whose input lacks what it needs raises :class:`FigureDataError`
with one line saying what is missing and how to produce it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .errors import ManifoldLensError

X_COLOR = "#1f77b4"   # x: blue
Y_COLOR = "#d62728"   # y: red
X_CMAP = LinearSegmentedColormap.from_list("x_blues", colormaps["Blues"](np.linspace(0.25, 1.0, 256)))
Y_CMAP = LinearSegmentedColormap.from_list("y_reds", colormaps["Reds"](np.linspace(0.25, 1.0, 256)))
REGION_COLORS = {
    "train": "#4c9a2a",
    "band_x": "#1f77b4",
    "band_y": "#d62728",
    "intersection": "#9467bd",
    "interior": "#ff7f0e",
    "exterior": "#8c564b",
    "donut_hole": "#e377c2",
    "beyond": "#7f7f7f",
    "listed": "#17becf",
    "unsampled": "#c7c7c7",
    "frame_2d": "#bcbd22",
    "rim": "#ff9896",
}
PHASE_COLORS = {"A": "#a6a6a6", "B": "#f4a259", "C": "#2ca02c"}
PHASE_LABELS = {"A": "A: not one bump", "B": "B: one bump, wrong place", "C": "C: correct"}
MANIFOLD_COLORS = {"learned": "#222222", "torus3d": "#e69f00", "clifford": "#009e73"}
MANIFOLD_LABELS = {"learned": "learned", "torus3d": "ideal 3-D torus", "clifford": "ideal Clifford torus"}
CHORD_PANELS = (
    ("x_on_y", "x-on-y orthogonality", "black"),
    ("x_on_x", "x-on-x orthogonality", X_COLOR),
    ("y_on_y", "y-on-y orthogonality", Y_COLOR),
    ("x_parallelism", "x parallelism", X_COLOR),
    ("y_parallelism", "y parallelism", Y_COLOR),
)
STEP_LABEL = "training step (optimiser steps)"


class FigureDataError(ManifoldLensError):
    """The results given to a figure lack what it needs (one line: what, and how to get it)."""


# -- shared helpers ------------------------------------------------------------

def region_color(region: str) -> str:
    return REGION_COLORS.get(region, "#333333")


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def source_label(ds) -> str:
    """Short name of the run behind results: the last two parts of ``source_run`` (e.g. ``out/run.zarr``)."""
    src = ds.attrs.get("source_run") or ds.attrs.get("source") or ""
    return "/".join(Path(str(src)).parts[-2:]) if src else ""


def _title(what: str, ds, extra: str = "") -> str:
    src = source_label(ds)
    return what + (f": {src}" if src else "") + (f"\n{extra}" if extra else "")


def _require(ds, names, figure: str, hint: str) -> None:
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise FigureDataError(f"{figure}: results have no {', '.join(missing)} ({hint})")


def _config(ds) -> dict:
    cfg = ds.attrs.get("config") or ds.attrs.get("source_config") or {}
    return cfg if isinstance(cfg, dict) else {}


def _image_size(ds):
    return _config(ds).get("data", {}).get("image_size")


def _step_axis(ax, steps) -> None:
    """Label a training-step axis; symlog when checkpoints span decades (early checkpoints are log-spaced)."""
    steps = np.asarray(steps, dtype=np.float64)
    pos = steps[steps > 0]
    label = STEP_LABEL
    if len(pos) and pos.max() / pos.min() >= 30:
        linthresh = max(1.0, float(pos.min()))
        ax.set_xscale("symlog", linthresh=linthresh, linscale=0.5)
        ax.set_xlim(min(0.0, steps.min()) - 0.2 * linthresh, pos.max() * 1.3)  # no empty negative half
        label += ", symlog scale"
    ax.set_xlabel(label)


def _label(da: xr.DataArray, fallback: str) -> str:
    name = da.attrs.get("long_name", fallback)
    units = da.attrs.get("units")
    return f"{name} ({units})" if units and units != "1" else name


def analysis_slice(analysis: xr.Dataset, layer=None, timestep=None) -> tuple[xr.Dataset, str]:
    """(analysis at one layer and timestep, a label such as "bottleneck, t = 50"); default: the first of each."""
    for dim in ("layer", "timestep", "checkpoint"):
        if dim not in analysis.dims:
            raise FigureDataError(f"analysis results: no {dim!r} dim (give an analysis group from manifold-lens "
                                  "analyze)")
    layers, times = [str(v) for v in analysis.layer.values], [int(v) for v in analysis.timestep.values]
    layer = layers[0] if layer is None else str(layer)
    timestep = times[0] if timestep is None else int(timestep)
    if layer not in layers:
        raise FigureDataError(f"layer {layer!r}: not in these results; present: {', '.join(layers)}")
    if timestep not in times:
        raise FigureDataError(f"timestep {timestep}: not in these results; present: {', '.join(map(str, times))}")
    return analysis.sel(layer=layer, timestep=timestep), f"{layer}, t = {timestep}"


def pick_checkpoints(steps, checkpoints=None) -> list[int]:
    """First, middle and final checkpoint steps (or the given ones, which must be present).

    The middle one is the checkpoint nearest half-way in training steps (early
    checkpoints are log-spaced, so the middle by count would be early in training).
    """
    steps = [int(s) for s in np.asarray(steps)]
    if checkpoints is None:
        middle = int(np.argmin(np.abs(np.array(steps) - (steps[0] + steps[-1]) / 2)))
        return [steps[i] for i in sorted({0, middle, len(steps) - 1})]
    wanted = [int(c) for c in np.atleast_1d(checkpoints)]
    missing = [c for c in wanted if c not in steps]
    if missing:
        raise FigureDataError(f"checkpoint {missing[0]}: not in these results; present: "
                              f"{', '.join(map(str, steps))}")
    return wanted


def _checkpoint_colors(steps):
    """A viridis colour per checkpoint (by order) and a ScalarMappable-like norm over the steps."""
    cmap = colormaps["viridis"]
    n = max(len(steps) - 1, 1)
    return [cmap(0.9 * i / n) for i in range(len(steps))], cmap


# -- data ------------------------------------------------------------------------

def coverage_map(ax, x, y, region, title: str = "coverage", image_size: int | None = None):
    """Scatter the candidate conditions coloured by region (trained = green dots)."""
    x, y, region = np.asarray(x), np.asarray(y), np.asarray(region).astype(str)
    for r in sorted(set(region.tolist()), key=lambda r: (r != "train", r)):
        sel = region == r
        ax.scatter(x[sel], y[sel], s=max(4, 3000 / max(len(x), 1)), marker="s" if r != "train" else "o",
                   color=region_color(r), label=f"{r} ({sel.sum()})", linewidths=0)
    if image_size is not None:
        ax.add_patch(Rectangle((-0.5, -0.5), image_size, image_size, fill=False, ec="k", lw=0.8, ls="--"))
    ax.set_xlabel("x (px, column)")
    ax.set_ylabel("y (px, row)")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              title="region (conditions)", title_fontsize=7)


def dataset_preview(dataset, n_examples: int = 16, title: str = "dataset", seed: int = 0) -> Figure:
    """Gallery of training examples beside the coverage map of a SyntheticDataset (trained vs held out)."""
    rng = np.random.default_rng(seed)
    train = dataset.train_index
    pick = np.sort(rng.choice(train, size=min(n_examples, len(train)), replace=False))
    imgs = dataset.render_conditions(pick)
    cols = int(np.ceil(np.sqrt(len(pick))))
    rows = int(np.ceil(len(pick) / cols))
    fig = _figure(2.0 + 1.3 * cols + 6.0, max(4.2, 1.35 * rows + 0.8))
    outer = fig.add_gridspec(1, 2, width_ratios=[1.3 * cols, 6.0])
    gallery = outer[0].subgridspec(rows, cols)
    for i, idx in enumerate(pick):
        ax = fig.add_subplot(gallery[i // cols, i % cols])
        ax.imshow(imgs[i], cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"({dataset.x[idx]:g}, {dataset.y[idx]:g})", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(outer[1])
    coverage_map(ax, dataset.x, dataset.y, dataset.region,
                 title=f"coverage: {len(dataset)} trained of {dataset.n_conditions} conditions",
                 image_size=dataset.image_size)
    fig.suptitle(f"{title}  (examples titled by centre (x, y), px; pixel range [-1, 1]; dashed: the "
                 f"{dataset.image_size} x {dataset.image_size} frame)", fontsize=9)
    return fig


# -- training ----------------------------------------------------------------------

def training_loss(loss, title: str | None = None, checkpoints=None) -> Figure:
    """Training loss per optimiser step (light) with its running mean (dark); checkpoints as ticks on top.

    ``loss``: ``open_run(path).loss`` (variable ``loss`` over dim ``step``) or the DataArray.
    """
    da = loss["loss"] if isinstance(loss, xr.Dataset) else loss
    if "step" not in da.dims or da.sizes["step"] == 0:
        raise FigureDataError("training loss: the run has no recorded loss steps yet (train it first)")
    steps, values = da["step"].values, np.asarray(da.values, dtype=np.float64)
    window = max(1, len(values) // 50)
    smooth = np.convolve(values, np.ones(window) / window, mode="valid")
    fig = _figure(7.0, 4.0)
    ax = fig.add_subplot()
    ax.plot(steps, values, color="#a0a0a0" if window > 1 else "k", lw=0.6 if window > 1 else 1.5, label="per step")
    if window > 1:
        ax.plot(steps[window - 1:], smooth, color="k", lw=1.5, label=f"running mean ({window} steps)")
    if checkpoints is not None and len(checkpoints):
        for s in np.asarray(checkpoints):
            ax.axvline(s, color="#9467bd", lw=0.6, ls=":", alpha=0.8)
        ax.plot([], [], color="#9467bd", lw=0.6, ls=":", label="checkpoints")
    if np.all(values > 0) and values.max() / values.min() > 10:
        ax.set_yscale("log")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (MSE of predicted noise)")
    last = float(np.mean(values[-window:]))
    ax.set_title(title or f"training loss (final {last:.4g}" + (f", mean of the last {window} steps)" if window > 1
                                                                else ")"))
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    return fig


# -- generation ------------------------------------------------------------------

def _settings_text(ev: xr.Dataset) -> str:
    a = ev.attrs
    parts = []
    if "sampler" in a:
        parts.append(f"{a['sampler']}-{a.get('sampler_steps', '?')}")
    if "samples_per_condition" in a:
        parts.append(f"{a['samples_per_condition']} samples x {ev.sizes.get('condition', '?')} conditions")
    if "tolerance_px" in a:
        parts.append(f"tolerance {a['tolerance_px']} px")
    return ", ".join(parts)


def accuracy_curve(evaluation: xr.Dataset, title: str | None = None) -> Figure:
    """Accuracy (overall, in-distribution, out-of-distribution, per hold-out region) vs step, above the
    learning-phase fractions A / B / C stacked."""
    fig_name = "accuracy vs step"
    _require(evaluation, ["accuracy", "phase_fraction"], fig_name, "evaluate the run: manifold-lens evaluate")
    steps = evaluation["checkpoint"].values
    fig = _figure(7.5, 6.5)
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
    top.set_ylim(-0.03, 1.03)
    top.set_ylabel("accuracy (fraction of samples correct)")
    top.grid(alpha=0.3)
    top.legend(fontsize=8, frameon=False, loc="upper left")
    frac = evaluation["phase_fraction"].transpose("checkpoint", "phase_name")
    phases = [str(p) for p in frac["phase_name"].values]
    bottom.stackplot(steps, frac.values.T, colors=[PHASE_COLORS.get(p, "#777") for p in phases],
                     labels=[PHASE_LABELS.get(p, p) for p in phases], alpha=0.9)
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("fraction of samples")
    bottom.legend(fontsize=8, frameon=True, loc="center left", bbox_to_anchor=(1.01, 0.5))
    _step_axis(bottom, steps)
    last = evaluation.isel(checkpoint=-1)
    fig.suptitle(title or _title("generation accuracy over training", evaluation,
                                 f"{_settings_text(evaluation)}; final step {int(steps[-1])}: "
                                 f"{100 * float(last['accuracy']):.1f}% correct"), fontsize=10)
    return fig


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


def accuracy_map(evaluation: xr.Dataset, checkpoint: int | None = None, title: str | None = None) -> Figure:
    """Accuracy per condition over (x, y) at one checkpoint (default the last), hold-out regions outlined."""
    _require(evaluation, ["accuracy_condition", "x", "y"], "accuracy map",
             "evaluate the run: manifold-lens evaluate")
    steps = [int(s) for s in evaluation["checkpoint"].values]
    step = steps[-1] if checkpoint is None else pick_checkpoints(steps, [checkpoint])[0]
    ev = evaluation.sel(checkpoint=step)
    x, y = ev["x"].values.astype(np.float64), ev["y"].values.astype(np.float64)
    acc = ev["accuracy_condition"].values.astype(np.float64)
    region = ev["region"].values.astype(str) if "region" in ev.coords else np.full(len(x), "train")
    xs, ys, ex, ey, ix, iy = _lattice(x, y)
    grid = np.full((len(ys), len(xs)), np.nan)
    grid[iy, ix] = acc
    fig = _figure(7.5, 6.2)
    ax = fig.add_subplot()
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
    n = _image_size(evaluation)
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
    missing = "; grey: not evaluated" if np.isnan(grid).any() else ""
    ax.set_title(title or _title(f"accuracy per condition at step {step}", evaluation,
                                 ", ".join(parts) + missing), fontsize=10)
    return fig


# -- representations ---------------------------------------------------------------

_ANALYZE_HINT = "run manifold-lens analyze"


def pca_spectrum(analysis: xr.Dataset, layer=None, timestep=None, title: str | None = None) -> Figure:
    """Explained-variance spectrum at every checkpoint (colour = step), top-4 share annotated; right: the
    top-4 explained variance vs step."""
    _require(analysis, ["explained_variance_ratio", "explained_variance_top4"], "PCA spectrum", _ANALYZE_HINT)
    a, where = analysis_slice(analysis, layer, timestep)
    steps = a["checkpoint"].values
    comp = a["component"].values
    colors, cmap = _checkpoint_colors(steps)
    fig = _figure(10.0, 4.3)
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
    _step_axis(right, steps)
    fig.suptitle(title or _title("PCA spectrum over training", analysis, where), fontsize=10)
    return fig


def _mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    sm = ScalarMappable(norm=norm, cmap=cmap)
    sm.set_array([])
    return sm


def _lines_over_steps(analysis, variables, colors, labels, ylabel, what, ylim=None, title=None) -> Figure:
    """One line per (variable, layer, timestep) vs checkpoint step."""
    _require(analysis, list(variables), what, _ANALYZE_HINT)
    steps = analysis["checkpoint"].values
    combos = [(str(la), int(t)) for la in analysis.layer.values for t in analysis.timestep.values]
    styles = ["-", "--", ":", "-."]
    fig = _figure(7.5, 4.5)
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
    _step_axis(ax, steps)
    ax.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    where = "" if len(combos) > 1 else f"{combos[0][0]}, t = {combos[0][1]}"
    ax.set_title(title or _title(what, analysis, where), fontsize=10)
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
        _require(analysis, names[:2], "factorization and continuity", _ANALYZE_HINT)
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
    _require(analysis, [var], f"3-D {method.upper()} views", f"{_ANALYZE_HINT} with --embed {method}")
    a, where = analysis_slice(analysis, layer, timestep)
    chosen = pick_checkpoints(a["checkpoint"].values, checkpoints)
    x, y = a["x"].values, a["y"].values
    held = ~a["in_train"].values.astype(bool) if "in_train" in a.coords else np.zeros(len(x), bool)
    axis_name = {"pca": "PC", "umap": "UMAP ", "isomap": "Isomap "}.get(method, f"{method} ")
    fig = _figure(3.3 * len(chosen) + 1.2, 6.6)
    size = float(np.clip(2000 / max(len(x), 1), 3, 30))
    for row, (values, cmap, lab) in enumerate(((x, X_CMAP, "x (px, column)"), (y, Y_CMAP, "y (px, row)"))):
        axes = []
        for col, step in enumerate(chosen):
            ax = fig.add_subplot(2, len(chosen), row * len(chosen) + col + 1, projection="3d")
            e = a[var].sel(checkpoint=step).values
            norm = Normalize(values.min(), values.max())
            sc = ax.scatter(e[~held, 0], e[~held, 1], e[~held, 2], c=values[~held], cmap=cmap, norm=norm, s=size,
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
    fig.suptitle(title or _title(f"3-D {method.upper()} embedding of the representation", analysis, extra),
                 fontsize=10)
    return fig


def chord_histograms(analysis: xr.Dataset, checkpoint: int | None = None, layer=None, timestep=None,
                     title: str | None = None) -> Figure:
    """Orthogonality and parallelism histograms of chord cosines: learned vs ideal 3-D torus vs Clifford torus."""
    names = [f"{p}_cos_hist" for p, _, _ in CHORD_PANELS]
    _require(analysis, names, "orthogonality and parallelism histograms", _ANALYZE_HINT)
    a, where = analysis_slice(analysis, layer, timestep)
    steps = [int(s) for s in a["checkpoint"].values]
    step = steps[-1] if checkpoint is None else pick_checkpoints(steps, [checkpoint])[0]
    a = a.sel(checkpoint=step)
    lower = a["cos_bin_lower"].values if "cos_bin_lower" in a.coords else None
    upper = a["cos_bin_upper"].values if "cos_bin_upper" in a.coords else None
    centres = a["cos_bin"].values
    if lower is None or upper is None:
        half = np.diff(centres).mean() / 2
        lower, upper = centres - half, centres + half
    edges = np.append(lower, upper[-1])
    fig = _figure(15.0, 3.9)
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
    fig.suptitle(title or _title(f"chord statistics at step {step}", analysis,
                                 f"{where}; summaries: learned / 3-D torus / Clifford (mean |cos|, parallelism: "
                                 "mean cos)"), fontsize=10)
    return fig


def _spacing(analysis, axis: str):
    data = _config(analysis).get("data", {})
    return data.get(f"spacing_{axis}") or data.get("spacing")


def similarity_curves(analysis: xr.Dataset, layer=None, timestep=None, checkpoints=None,
                      title: str | None = None) -> Figure:
    """Similarity of the x-codes (blue) and y-codes (red) vs feature-value distance at early, middle and
    final checkpoints (lighter = earlier)."""
    _require(analysis, ["x_similarity_by_distance", "y_similarity_by_distance"], "similarity vs distance",
             _ANALYZE_HINT)
    a, where = analysis_slice(analysis, layer, timestep)
    chosen = pick_checkpoints(a["checkpoint"].values, checkpoints)
    dist = a["distance"].values.astype(np.float64)
    sx, sy = _spacing(analysis, "x"), _spacing(analysis, "y")
    same = sx is not None and sx == sy
    scale = float(sx) if same else 1.0
    fig = _figure(7.5, 4.5)
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
    ax.set_title(title or _title("similarity vs feature-value distance", analysis,
                                 f"{where}; x-code: y averaged out, and vice versa"), fontsize=10)
    return fig


# -- percolation ------------------------------------------------------------------

def _sigma_colors(n: int):
    cmap = colormaps["plasma"]
    return [cmap(0.85 * i / max(n - 1, 1)) for i in range(n)]


def percolation_curves(percolation: xr.Dataset, title: str | None = None) -> Figure:
    """Largest-cluster ratio (over kept sites, left) and fraction (over all sites, right) vs keep fraction,
    one curve per sigma (mean over trials, band = +-1 std), lambda_c dashed."""
    _require(percolation, ["largest_cluster_ratio"], "percolation curves", "run manifold-lens percolate")
    p = percolation if "sigma" in percolation.dims else percolation.expand_dims(sigma=[np.nan])
    lam = p["keep_fraction"].values
    colors = _sigma_colors(p.sizes["sigma"])
    names = [n for n in ("largest_cluster_ratio", "largest_cluster_fraction") if n in p]
    fig = _figure(5.2 * len(names) + 1.5, 4.4)
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
        ax.set_ylabel(_label(p[name], name))
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    at = p.attrs
    lattice = at.get("lattice")
    where = []
    if lattice is not None:
        where.append(f"{lattice[0]} x {lattice[1]} lattice" if isinstance(lattice, (list, tuple)) else
                     f"lattice {lattice}")
    elif "n_sites" in at:
        where.append(f"{at['n_sites']} sites")
    if "spacing_x" in at:
        where.append(f"spacing {at['spacing_x']:g} px")
    if "threshold" in at:
        where.append(f"overlap threshold {at['threshold']:g}")
    if "trials" in at:
        where.append(f"{at['trials']} trials")
    if int(at.get("periodic", 0)):
        where.append("periodic")
    fig.suptitle(title or _title("site percolation of the training lattice", percolation, ", ".join(where)),
                 fontsize=10)
    return fig


def neighbour_overlap(overlap: xr.Dataset, threshold: float | None = None, spacing: float | None = None,
                      title: str | None = None) -> Figure:
    """Normalised overlap of neighbouring bumps vs lattice spacing d, per sigma: from pixels (solid) and the
    continuum closed form exp(-d^2 / 4 sigma^2) (dashed); the connection threshold dotted.

    ``overlap``: :func:`manifold_lens.overlap.neighbour_overlap_curve` output (dims sigma, spacing).
    """
    _require(overlap, ["overlap_pixels"], "neighbour overlap vs spacing",
             "compute it with manifold_lens.neighbour_overlap_curve")
    d = overlap["spacing"].values
    colors = _sigma_colors(overlap.sizes["sigma"])
    fig = _figure(7.5, 4.5)
    ax = fig.add_subplot()
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


def onset_comparison(comparison: xr.Dataset, title: str | None = None) -> Figure:
    """Left: terminal accuracy of each run (markers) beside the predicted largest-cluster curve (line) vs keep
    fraction, per sigma; lambda_c predicted (dotted) and measured (solid). Right: predicted vs measured."""
    _require(comparison, ["lambda_c_predicted", "lambda_c_measured", "terminal_accuracy", "largest_cluster_ratio"],
             "predicted vs measured onset", "run manifold-lens percolate compare")
    colors = _sigma_colors(comparison.sizes["sigma"])
    fig = _figure(12.0, 4.6)
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
    left.plot([], [], color="#555", ls="-", label="lambda_c measured (logistic midpoint)")
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
    return fig


def _finite(ds, name, k):
    if name not in ds:
        return None
    v = float(ds[name].values[k])
    return v if np.isfinite(v) else None
