"""The report's figure plan: every figure the sources support, in page order, or why it is skipped."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from ..percolation import connection_radius, neighbour_overlap_curve
from ..studies.collect import THRESHOLD
from . import figures as plot
from .sources import Group, Sources

SECTIONS = ("Data", "Training", "Generation", "Representations", "Percolation")


@dataclass
class FigureEntry:
    """A figure of the report: written (``files``, ``size_px``) or skipped (``skipped`` says why)."""

    section: str
    title: str
    caption: str
    source: str
    stem: str = ""
    files: dict = field(default_factory=dict)
    size_px: tuple = ()
    skipped: str = ""


@dataclass
class Job:
    entry: FigureEntry
    draw: Callable | None = None


def _slug(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(str(p) for p in parts if p != "")).strip("_")


def _need_steps(ds: xr.Dataset, command: str) -> str:
    """A skip reason when ``ds`` has fewer than 2 checkpoints, else ''."""
    n = ds.sizes.get("checkpoint", 0)
    if n >= 2:
        return ""
    step = f" (step {int(ds['checkpoint'].values[0])})" if n else ""
    return f"needs at least 2 checkpoints, these results have {n}{step}; {command} with --checkpoints all"


def _run_name(path: str) -> str:
    return "/".join(Path(path).parts[-2:])


def _overlap_for(perc: xr.Dataset) -> tuple[xr.Dataset, float, float | None]:
    """The stored neighbour-overlap curve of a percolation group, or the closed form at its sigmas."""
    threshold = float(perc.attrs.get("threshold", THRESHOLD))
    spacing = perc.attrs.get("spacing_x")
    if "overlap_pixels" in perc:
        return perc[["overlap_pixels", "overlap_continuum"]], threshold, spacing
    sig = np.atleast_1d(perc["sigma"].values) if "sigma" in perc.dims else np.atleast_1d(perc.attrs.get("sigma", 1.0))
    top = max(1.5 * connection_radius(float(sig.max()), threshold), 2.0 * float(spacing or 1.0))
    return neighbour_overlap_curve(sig, np.linspace(0.0, top, 121), periodic=False), threshold, spacing


def plan(sources: Sources) -> list[Job]:
    """Every figure of the report, in page order, each with how to draw it or why it is skipped."""
    jobs: list[Job] = []
    several = len(sources.stores) > 1

    def add(section, key, title, caption, source, draw=None, skipped="", suffix=()):
        stem = _slug(f"{len(jobs) + 1:02d}", key, *suffix)
        jobs.append(Job(FigureEntry(section, title, caption, source, stem=stem, skipped=skipped), draw))

    def skip_all(section, figures, why):
        for key, title in figures:
            add(section, key, title, "", "", skipped=why)

    # Data and training: from run stores
    if not sources.runs:
        why = ("no run store: give RUN.zarr, or results whose source_run exists"
               + (f" ({'; '.join(sources.missing_runs.values())})" if sources.missing_runs else ""))
        skip_all("Data", [("dataset", "Dataset gallery and coverage map")], why)
        skip_all("Training", [("loss", "Training loss")], why)
    for path, why in sources.missing_runs.items():
        add("Data", "dataset", f"Dataset and training loss: {_run_name(path)}", "", path,
            skipped=f"the run store named by the results' source_run cannot be opened: {why}")
    for path, run in sources.runs.items():
        name = _run_name(path)
        cfg = run.config.data
        add("Data", "dataset", f"Dataset: {name}",
            f"Training examples (titled by their centre (x, y), px) and the coverage map of the candidate "
            f"conditions: trained (green) vs held out, by region. Family {cfg.family}, "
            f"{cfg.image_size} x {cfg.image_size} px, sigma {cfg.sigma_x:g} px, spacing {cfg.spacing_x:g} px.",
            path, lambda run=run, name=name: plot.dataset_preview(run.dataset, title=name), suffix=(run.path.stem,))
        add("Training", "loss", f"Training loss: {name}",
            "Loss (MSE of the predicted noise) per optimiser step with its running mean; dotted lines mark "
            "the saved checkpoints.", path,
            lambda run=run, name=name: plot.training_loss(run.loss, checkpoints=run.steps,
                                                          title=f"training loss: {name}"),
            skipped="" if run.loss.sizes.get("step", 0) else "the run has no recorded loss yet",
            suffix=(run.path.stem,))

    # Generation: evaluation groups
    evals = sources.of_kind("evaluation")
    if not evals:
        skip_all("Generation", [("accuracy_curve", "Accuracy vs step"), ("accuracy_map", "Accuracy per condition")],
                 "no evaluation results: run manifold-lens evaluate RUN.zarr --out RESULTS.zarr --checkpoints all")
    for g in evals:
        label = g.label(several)
        add("Generation", "accuracy_curve", f"Accuracy vs step ({label})",
            "Top: generation accuracy (exactly one bump of the data's width, both coordinates within tolerance) "
            "over training, overall, in-distribution, out-of-distribution and per hold-out region. Bottom: the "
            "learning phases of the samples, stacked: A not exactly one bump of the data's width (none, several, "
            "or a blob too wide or narrow), B one bump at the wrong place, C correct.", label,
            lambda ds=g.ds: plot.accuracy_curve(ds), skipped=_need_steps(g.ds, "manifold-lens evaluate"),
            suffix=(g.kind, g.name, g.store.stem if several else ""))
        add("Generation", "accuracy_map", f"Accuracy per condition ({label})",
            "Accuracy of each condition (fraction of its samples correct) over (x, y) at the last evaluated "
            "checkpoint; held-out regions are outlined in their colour.", label,
            lambda ds=g.ds: plot.accuracy_map(ds), suffix=(g.kind, g.name, g.store.stem if several else ""))

    # Representations: analysis groups
    analyses = sources.of_kind("analysis")
    if not analyses:
        skip_all("Representations", [("pca_spectrum", "PCA spectrum"), ("effective_dim", "Effective dimension vs step"),
                                     ("embedding", "3-D PCA / UMAP views"),
                                     ("chord_histograms", "Orthogonality and parallelism histograms"),
                                     ("similarity", "Similarity vs feature-value distance")],
                 "no analysis results: run manifold-lens analyze RUN.zarr --out RESULTS.zarr")
    for g in analyses:
        _plan_analysis(g, g.label(several), g.store.stem if several else "", add)

    # Percolation
    percs = sources.of_kind("percolation")
    if not percs:
        skip_all("Percolation", [("percolation_curves", "Percolation curves"),
                                 ("neighbour_overlap", "Neighbour overlap vs spacing")],
                 "no percolation results: run manifold-lens percolate --preset quick --out RESULTS.zarr")
    for g in percs:
        label, sfx = g.label(several), (g.kind, g.name, g.store.stem if several else "")
        add("Percolation", "percolation_curves", f"Percolation curves ({label})",
            "Site percolation of the training lattice: the largest connected cluster over kept sites (left) and "
            "over all sites (right) vs the keep fraction lambda, per bump width sigma (mean over trials, band "
            "+-1 std); dashed: the threshold estimate lambda_c with its standard error.", label,
            lambda ds=g.ds: plot.percolation_curves(ds), suffix=sfx)
        stored = "overlap_pixels" in g.ds
        add("Percolation", "neighbour_overlap", f"Neighbour overlap vs spacing ({label})",
            "Normalised overlap of two neighbouring bumps vs the distance between their centres, from rendered "
            "pixels (solid) and the continuum closed form (dashed), at the sigmas of this percolation group"
            + ("" if stored else " (drawn from the closed form and pixel sums at those sigmas; the group stores "
               "no overlap curve)") + ". Neighbours closer than where a curve crosses the threshold connect.",
            label, lambda ds=g.ds: plot.neighbour_overlap(*_overlap_for(ds)), suffix=sfx)
    comps = sources.of_kind("comparison")
    if not comps:
        add("Percolation", "onset_comparison", "Predicted vs measured onset", "", "",
            skipped="no comparison results: run manifold-lens percolate test STUDY_DIR --out RESULTS.zarr")
    for g in comps:
        label = g.label(several)
        add("Percolation", "onset_comparison", f"Predicted vs measured onset ({label})",
            "Left: terminal accuracy of each run vs its keep fraction beside the predicted largest-cluster curve of "
            "its dataset, per sigma. Right: the onset lambda_c predicted by percolation vs the measured onset, the "
            "midpoint of the sigmoid with a floor fitted to the accuracies (percolation.sigmoid).", label,
            lambda ds=g.ds: plot.onset_comparison(ds),
            suffix=(g.kind, g.name, g.store.stem if several else ""))
    return jobs


def _plan_analysis(g: Group, label: str, store_sfx: str, add) -> None:
    ds = g.ds
    base = (g.kind, g.name, store_sfx)
    add("Representations", "effective_dim", f"Effective dimension vs step ({label})",
        "Effective dimension (participation ratio of the PCA eigenvalues) of the representation over training, "
        "per layer and timestep.", label, lambda: plot.effective_dim_curve(ds),
        skipped=_need_steps(ds, "manifold-lens analyze"), suffix=base)
    add("Representations", "metrics", f"Factorization and continuity vs step ({label})",
        "Factorization score (share of the code explained by h = a(x) + b(y)), continuity index (~1 smooth, "
        "~0 values mutually orthogonal) and cross-validated linear decodability of x (blue) and y (red).", label,
        lambda: plot.metrics_curve(ds), skipped=_need_steps(ds, "manifold-lens analyze"), suffix=base)
    methods = [m for m in ("pca", "umap", "isomap") if f"embedding_{m}" in ds]
    for layer in [str(v) for v in ds["layer"].values]:
        for t in [int(v) for v in ds["timestep"].values]:
            where, sfx = f"{label}, {layer}, t = {t}", (*base, layer, f"t{t}")
            add("Representations", "pca_spectrum", f"PCA spectrum ({where})",
                "Explained-variance ratio of the first principal components at every checkpoint (colour: training "
                "step), the top 4 shaded and their share at the final step annotated; right: that share vs step.",
                where, lambda layer=layer, t=t: plot.pca_spectrum(ds, layer, t), suffix=sfx)
            if not methods:
                add("Representations", "embedding", f"3-D views ({where})", "", where,
                    skipped="no embeddings stored: analyze with --embed pca,umap", suffix=sfx)
            for m in methods:
                add("Representations", f"embedding_{m}", f"3-D {m.upper()} views ({where})",
                    f"3-D {m.upper()} embedding of the representation of every condition at early, middle and "
                    "final checkpoints, coloured by x (top, blues) and by y (bottom, reds); triangles mark "
                    "held-out conditions.", where, lambda layer=layer, t=t, m=m: plot.embedding_views(ds, m, layer, t),
                    suffix=sfx)
            add("Representations", "chord_histograms", f"Orthogonality and parallelism ({where})",
                "Histograms of the cosines between chords h(x2,y)-h(x1,y) and h(x,y2)-h(x,y1) at the final "
                "checkpoint: x-on-y, x-on-x and y-on-y orthogonality and the parallelism of the same chord at "
                "another y (or x), for the learned code (grey) and ideal 3-D and Clifford tori on the same grid.",
                where, lambda layer=layer, t=t: plot.chord_histograms(ds, layer=layer, timestep=t), suffix=sfx)
            add("Representations", "similarity", f"Similarity vs feature-value distance ({where})",
                "Mean cosine similarity of the x-codes (y averaged out; blue) and the y-codes (red) of values a "
                "given distance apart, at early, middle (dashed, lighter) and final checkpoints: a smooth manifold "
                "decays gradually, a hyper-factorized code drops to ~0 at the first step.", where,
                lambda layer=layer, t=t: plot.similarity_curves(ds, layer, t), suffix=sfx)
            if "persistence_diagram" in ds:
                add("Representations", "persistence_diagram", f"Persistence diagram ({where})",
                    "H0 (blue) and H1 (orange) bars of the Vietoris-Rips filtration of the grid cells at the final "
                    "checkpoint. A loop (red star) is an H1 bar longer than the longest H1 bar of every shuffled copy "
                    "of the points (dashed) that also closes later than twice its birth (dotted; holes between "
                    "neighbouring samples close within sqrt 2); betti_1 is the smaller of that count and the same "
                    "test in locally scaled distances: a torus has 2, a circle 1, a flat sheet or a one-hot code 0; "
                    "the title says \"inconclusive\" when the rule's neighbouring settings (betti_1_band) disagree. "
                    "Right: the H1 persistences by rank against the shuffled "
                    "copies' longest bars.", where,
                    lambda layer=layer, t=t: plot.persistence_diagram(ds, layer, t), suffix=sfx)
