"""The figures' shared style: colours per feature, region, phase and manifold, and small layout helpers.

Figures (:mod:`manifold_lens.plot`, this package's modules) take their colours and
helpers from here, so x is always blue, y red, and a figure whose input lacks
what it needs raises :class:`FigureDataError` with one line saying what is
missing and how to produce it.
"""

from __future__ import annotations

from pathlib import Path
from string import Formatter

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from ...errors import ManifoldLensError
from ...stores import select_checkpoints
from ...studies.groups import StudyDataError

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
PHASE_LABELS = {"A": "A: not one proper bump", "B": "B: one bump, wrong place", "C": "C: correct"}
REFERENCE_COLORS = {"learned": "#222222", "pixels": "#56b4e9", "init": "#999999", "shuffled": "#cc79a7",
                    "torus3d": "#e69f00", "clifford": "#009e73", "plane": "#0072b2",
                    "conjunctive": "#d55e00"}
REFERENCE_LABELS = {"learned": "learned", "pixels": "pixels (ground truth)", "init": "untrained network (init)",
                    "shuffled": "labels shuffled (null)", "torus3d": "ideal 3-D torus",
                    "clifford": "ideal Clifford torus", "plane": "ideal flat sheet",
                    "conjunctive": "conjunctive (smooth, entangled)"}
REFERENCE_MARKERS = {"learned": "o", "pixels": "s", "init": "D", "shuffled": "x", "torus3d": "^", "clifford": "v",
                     "plane": "P", "conjunctive": "*"}
MANIFOLD_COLORS, MANIFOLD_LABELS = REFERENCE_COLORS, REFERENCE_LABELS  # results written before the reference dim
CHORD_PANELS = (
    ("x_on_y", "x-on-y orthogonality", "black"),
    ("x_on_x", "x-on-x orthogonality", X_COLOR),
    ("y_on_y", "y-on-y orthogonality", Y_COLOR),
    ("x_parallelism", "x parallelism", X_COLOR),
    ("y_parallelism", "y parallelism", Y_COLOR),
)
STEP_LABEL = "training step (optimiser steps)"


# The results given to a figure lack what it needs (one line: what, and how to get it). The same class as the
# studies' StudyDataError, so a study computation's refusal inside a figure is skipped with its reason too.
FigureDataError = StudyDataError


def attrs_text(attrs: dict, templates, **extra) -> str:
    """The ``templates`` (format strings over ``attrs`` and ``extra``) whose fields are all known, comma-joined."""
    known = {**attrs, **extra}
    parts = []
    for template in templates:
        fields = [f for _, f, _, _ in Formatter().parse(template) if f]
        if all(f.split(":")[0] in known for f in fields):
            parts.append(template.format(**known))
    return ", ".join(parts)


def region_color(region: str) -> str:
    return REGION_COLORS.get(region, "#333333")


def new_figure(width: float, height: float, fig=None):
    """A new constrained-layout Figure of ``width`` x ``height`` inches, or ``fig`` (a Figure or SubFigure the
    caller gave, drawn into as it is)."""
    return Figure(figsize=(width, height), layout="constrained") if fig is None else fig


def root_figure(fig) -> Figure:
    """The Figure that holds ``fig`` (itself, or the root of a SubFigure)."""
    while not isinstance(fig, Figure):
        fig = fig.figure
    return fig


def single_axes(ax, width: float, height: float):
    """(figure, axes, whether the figure is the function's own): a new figure with one axes, or ``ax``'s."""
    if ax is None:
        fig = new_figure(width, height)
        return fig, fig.add_subplot(), True
    return root_figure(ax.figure), ax, False


def title(fig, ax, own: bool, text: str, fontsize: float = 10) -> None:
    """The figure's title when the figure is the function's own, else the given axes' title."""
    if own:
        fig.suptitle(text, fontsize=fontsize)
    else:
        ax.set_title(text, fontsize=fontsize)


def source_label(ds) -> str:
    """Short name of the run behind results: the last two parts of ``source_run`` (e.g. ``out/run.zarr``)."""
    src = ds.attrs.get("source_run") or ds.attrs.get("source") or ""
    return "/".join(Path(str(src)).parts[-2:]) if src else ""


def figure_title(what: str, ds, extra: str = "") -> str:
    """``what: run`` over ``extra``; results of an interrupted command say so ("unfinished: 3 of 5 checkpoints")."""
    src = source_label(ds)
    unfinished = f" [{ds.attrs.get('status', 'unfinished')}]" if int(ds.attrs.get("complete", 1)) == 0 else ""
    return what + (f": {src}" if src else "") + unfinished + (f"\n{extra}" if extra else "")


def require(ds, names, figure: str, hint: str) -> None:
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise FigureDataError(f"{figure}: results have no {', '.join(missing)} ({hint})")


def results_config(ds) -> dict:
    cfg = ds.attrs.get("config") or ds.attrs.get("source_config") or {}
    return cfg if isinstance(cfg, dict) else {}


def image_size_of(ds):
    return results_config(ds).get("data", {}).get("image_size")


def step_axis(ax, steps) -> None:
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


def axis_label(da: xr.DataArray, fallback: str) -> str:
    name = da.attrs.get("long_name", fallback)
    units = da.attrs.get("units")
    return f"{name} ({units})" if units and units != "1" else name


PLAIN = "measured"  # the layer name given to a plain measure() result


def as_analysis(ds: xr.Dataset) -> xr.Dataset:
    """Results in the shape of an analysis group: a plain :func:`manifold_lens.measure` result (no ``checkpoint``,
    ``layer`` or ``timestep`` dim) gets each as a length-1 dim (checkpoint 0, layer "measured", timestep 0)."""
    if not isinstance(ds, xr.Dataset):
        raise FigureDataError("give an xarray Dataset of measure() or analyze results")
    added = {}
    for dim, value in (("checkpoint", 0), ("layer", PLAIN), ("timestep", 0)):
        if dim not in ds.dims:
            added[dim] = [value]
    if not added:
        return ds
    out = ds.expand_dims(added)
    out.attrs.update({**ds.attrs, "plain_measure": 1})
    return out


def analysis_slice(analysis: xr.Dataset, layer=None, timestep=None) -> tuple[xr.Dataset, str]:
    """(analysis at one layer and timestep, a label such as "bottleneck, t = 50"); default: the first of each.
    A plain measure() result is taken as one layer, timestep and checkpoint (:func:`as_analysis`; label "")."""
    analysis = as_analysis(analysis)
    plain = int(analysis.attrs.get("plain_measure", 0))
    layers, times = [str(v) for v in analysis.layer.values], [int(v) for v in analysis.timestep.values]
    layer = layers[0] if layer is None else str(layer)
    timestep = times[0] if timestep is None else int(timestep)
    if layer not in layers:
        raise FigureDataError(f"layer {layer!r}: not in these results; present: {', '.join(layers)}")
    if timestep not in times:
        raise FigureDataError(f"timestep {timestep}: not in these results; present: {', '.join(map(str, times))}")
    return analysis.sel(layer=layer, timestep=timestep), "" if plain else f"{layer}, t = {timestep}"


def learned_and_references(ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset | None, list[str]]:
    """(the learned code's values, the references' values or None, the reference names to draw).

    Results written before references existed have no ``reference`` dim: the
    learned values are the data and there is nothing to compare with. The
    names drawn are the empirical references and the ideal codes that suit
    the data: the tori for periodic data, the flat sheet otherwise.
    """
    if "reference" not in ds.dims:
        return ds, None, []
    periodic = int(ds.attrs.get("measure_periodic", ds.attrs.get("periodic", 0)))
    ideal = ("torus3d", "clifford", "conjunctive") if periodic else ("plane", "conjunctive")
    names = [str(r) for r in ds["reference"].values if str(r) != "learned"
             and (str(r) in ("pixels", "init", "shuffled") or str(r) in ideal)]
    return ds.sel(reference="learned", drop=True), ds, names


def representative_checkpoints(steps, checkpoints=None) -> list[int]:
    """First, middle and final checkpoint steps (or the given ones, which must be present).

    The middle one is the checkpoint nearest half-way in training steps (early
    checkpoints are log-spaced, so the middle by count would be early in training).
    """
    steps = [int(s) for s in np.asarray(steps)]
    if checkpoints is None:
        middle = int(np.argmin(np.abs(np.array(steps) - (steps[0] + steps[-1]) / 2)))
        return [steps[i] for i in sorted({0, middle, len(steps) - 1})]
    try:
        return select_checkpoints([int(c) for c in np.atleast_1d(checkpoints)], steps, "these results")
    except ManifoldLensError as e:
        raise FigureDataError(str(e)) from None


def checkpoint_colors(steps):
    """A viridis colour per checkpoint (by order) and a ScalarMappable-like norm over the steps."""
    cmap = colormaps["viridis"]
    n = max(len(steps) - 1, 1)
    return [cmap(0.9 * i / n) for i in range(len(steps))], cmap
