"""Reports: every figure the given results support, as PNG and PDF, with an index page.

:func:`render_report` reads results stores (``evaluate``, ``analyze``,
``percolate``, ``percolate compare``) and run stores, draws each figure of
:mod:`manifold_lens.plot` the inputs support and writes ``DIR/index.html``
with a caption per figure and a table of key numbers (final accuracy overall,
in- and out-of-distribution, effective_dim, factorization_score,
continuity_index, lambda_c). It never recomputes a metric: numbers come from
the results, the dataset gallery and the loss from the run stores, whose path
is each result's ``source_run`` attribute (run stores can also be given
directly). The one thing drawn from settings rather than stored numbers is the
neighbour-overlap curve of a percolation group that does not hold one: a
closed form and a few pixel sums (:func:`manifold_lens.neighbour_overlap_curve`)
at the group's sigmas.

A figure the inputs cannot support is skipped with a one-line reason, listed
in the output and on the page. ``DIR`` must be new, empty or an earlier
report (its ``report.json`` lists its files, which are replaced); a directory
holding anything else is refused unless ``overwrite`` (other files are then
left alone, same-named ones replaced).
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr
import zarr
from tqdm.auto import tqdm

from . import plot
from .errors import ManifoldLensError
from .results import SCHEMA as RESULTS_SCHEMA, _restore, check_results_store, list_results
from .runstore import SCHEMA as RUN_SCHEMA, open_run
from .versions import package_versions

MANIFEST = "report.json"
INDEX = "index.html"
REPORT_SCHEMA = "manifold-lens.report"
FORMATS = ("png", "pdf")
SECTIONS = ("Data", "Training", "Generation", "Representations", "Percolation")
_BULKY = ("activations_", "image")  # per-unit / per-pixel variables no figure reads


@dataclass
class Group:
    """One results group: store path, kind, name and its (small) variables loaded."""

    store: Path
    kind: str
    name: str
    ds: xr.Dataset

    def label(self, several_stores: bool) -> str:
        return f"{self.kind}/{self.name}" + (f" in {self.store.name}" if several_stores else "")


@dataclass
class Sources:
    """What a report is drawn from: results groups, and run stores (opened, or why not)."""

    stores: list[Path] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    runs: dict = field(default_factory=dict)          # path -> Run
    missing_runs: dict = field(default_factory=dict)  # path -> reason

    def of_kind(self, kind: str) -> list[Group]:
        return [g for g in self.groups if g.kind == kind]


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
class KeyNumber:
    quantity: str
    value: str
    source: str


@dataclass
class Report:
    out: Path
    index: Path
    figures: list[FigureEntry]
    key_numbers: list[KeyNumber]

    @property
    def rendered(self) -> list[FigureEntry]:
        return [f for f in self.figures if not f.skipped]

    @property
    def skipped(self) -> list[FigureEntry]:
        return [f for f in self.figures if f.skipped]


# -- inputs ----------------------------------------------------------------------

def _schema(path: Path) -> str | None:
    try:
        return zarr.open_group(str(path), mode="r").attrs.get("schema")
    except Exception:
        return None


def _load_group(store: Path, kind: str, name: str) -> xr.Dataset:
    with xr.open_zarr(str(store), group=f"{kind}/{name}", consolidated=False) as ds:
        bulky = [v for v in ds.data_vars if str(v).startswith(_BULKY)]
        return _restore(ds.drop_vars(bulky).load())


def _open_run_or_reason(path: str, sources: Sources) -> None:
    if path in sources.runs or path in sources.missing_runs:
        return
    try:
        sources.runs[path] = open_run(path)
    except ManifoldLensError as e:
        sources.missing_runs[path] = str(e)


def load_sources(paths) -> Sources:
    """Open every results store and run store in ``paths`` (and the runs the results name as source_run)."""
    paths = list({Path(p).resolve(): Path(p) for p in _as_list(paths)}.values())  # each store once
    if not paths:
        raise ManifoldLensError("give at least one results store (RESULTS.zarr) or run store (RUN.zarr)")
    sources = Sources()
    for p in paths:
        if not p.exists():
            raise ManifoldLensError(f"{p}: no such results store or run store")
        schema = _schema(p)
        if schema == RUN_SCHEMA:
            _open_run_or_reason(str(p.resolve()), sources)
        elif schema == RESULTS_SCHEMA:
            check_results_store(p)
            sources.stores.append(p)
            for kind, names in list_results(p).items():
                for name in names:
                    sources.groups.append(Group(p, kind, name, _load_group(p, kind, name)))
        else:
            raise ManifoldLensError(f"{p}: neither a manifold-lens results store nor a run store")
    for g in sources.groups:
        src = g.ds.attrs.get("source_run")
        if src:
            _open_run_or_reason(str(src), sources)
    return sources


# -- figure plan ---------------------------------------------------------------------

@dataclass
class _Job:
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
    threshold = float(perc.attrs.get("threshold", 0.005))
    spacing = perc.attrs.get("spacing_x")
    if "overlap_pixels" in perc:
        return perc[["overlap_pixels", "overlap_continuum"]], threshold, spacing
    from .overlap import connection_radius, neighbour_overlap_curve

    sig = np.atleast_1d(perc["sigma"].values) if "sigma" in perc.dims else np.atleast_1d(perc.attrs.get("sigma", 1.0))
    top = max(1.5 * connection_radius(float(sig.max()), threshold), 2.0 * float(spacing or 1.0))
    return neighbour_overlap_curve(sig, np.linspace(0.0, top, 121), periodic=False), threshold, spacing


def plan(sources: Sources) -> list[_Job]:
    """Every figure of the report, in page order, each with how to draw it or why it is skipped."""
    jobs: list[_Job] = []
    several = len(sources.stores) > 1

    def add(section, key, title, caption, source, draw=None, skipped="", suffix=()):
        stem = _slug(f"{len(jobs) + 1:02d}", key, *suffix)
        jobs.append(_Job(FigureEntry(section, title, caption, source, stem=stem, skipped=skipped), draw))

    # Data and training: from run stores
    if not sources.runs:
        why = ("no run store: give RUN.zarr, or results whose source_run exists"
               + (f" ({'; '.join(sources.missing_runs.values())})" if sources.missing_runs else ""))
        add("Data", "dataset", "Dataset gallery and coverage map", "", "", skipped=why)
        add("Training", "loss", "Training loss", "", "", skipped=why)
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
        why = "no evaluation results: run manifold-lens evaluate RUN.zarr --out RESULTS.zarr --checkpoints all"
        add("Generation", "accuracy_curve", "Accuracy vs step", "", "", skipped=why)
        add("Generation", "accuracy_map", "Accuracy per condition", "", "", skipped=why)
    for g in evals:
        label = g.label(several)
        add("Generation", "accuracy_curve", f"Accuracy vs step ({label})",
            "Top: generation accuracy (exactly one bump, both coordinates within tolerance) over training, "
            "overall, in-distribution, out-of-distribution and per hold-out region. Bottom: the learning phases "
            "of the samples, stacked: A no single bump, B one bump at the wrong place, C correct.", label,
            lambda ds=g.ds: plot.accuracy_curve(ds), skipped=_need_steps(g.ds, "manifold-lens evaluate"),
            suffix=(g.kind, g.name, g.store.stem if several else ""))
        add("Generation", "accuracy_map", f"Accuracy per condition ({label})",
            "Accuracy of each condition (fraction of its samples correct) over (x, y) at the last evaluated "
            "checkpoint; held-out regions are outlined in their colour.", label,
            lambda ds=g.ds: plot.accuracy_map(ds), suffix=(g.kind, g.name, g.store.stem if several else ""))

    # Representations: analysis groups
    analyses = sources.of_kind("analysis")
    if not analyses:
        why = "no analysis results: run manifold-lens analyze RUN.zarr --out RESULTS.zarr"
        for key, title in (("pca_spectrum", "PCA spectrum"), ("effective_dim", "Effective dimension vs step"),
                           ("embedding", "3-D PCA / UMAP views"),
                           ("chord_histograms", "Orthogonality and parallelism histograms"),
                           ("similarity", "Similarity vs feature-value distance")):
            add("Representations", key, title, "", "", skipped=why)
    for g in analyses:
        _plan_analysis(g, g.label(several), g.store.stem if several else "", add)

    # Percolation
    percs = sources.of_kind("percolation")
    if not percs:
        why = "no percolation results: run manifold-lens percolate --preset quick --out RESULTS.zarr"
        add("Percolation", "percolation_curves", "Percolation curves", "", "", skipped=why)
        add("Percolation", "neighbour_overlap", "Neighbour overlap vs spacing", "", "", skipped=why)
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
            skipped="no comparison results: run manifold-lens percolate compare RUN.zarr ... --out RESULTS.zarr")
    for g in comps:
        label = g.label(several)
        add("Percolation", "onset_comparison", f"Predicted vs measured onset ({label})",
            "Left: terminal accuracy of each run vs its keep fraction beside the predicted largest-cluster curve of "
            "its dataset, per sigma. Right: the onset lambda_c predicted by percolation vs the midpoint of a "
            "logistic fit to the accuracies.", label, lambda ds=g.ds: plot.onset_comparison(ds),
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


# -- key numbers ---------------------------------------------------------------------

def _fmt(v, pct=False) -> str:
    v = float(v)
    if not np.isfinite(v):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.4g}"


def key_numbers(sources: Sources) -> list[KeyNumber]:
    """The headline numbers, read from the results at their last checkpoint."""
    rows: list[KeyNumber] = []
    several = len(sources.stores) > 1
    for g in sources.of_kind("evaluation"):
        last = g.ds.isel(checkpoint=-1)
        where = f"{g.label(several)}, step {int(last['checkpoint'])}"
        for name, what in (("accuracy", "final accuracy, overall"), ("accuracy_id", "final accuracy, in-distribution"),
                           ("accuracy_ood", "final accuracy, out-of-distribution")):
            if name in last:
                value = _fmt(last[name], pct=True)
                if value == "n/a" and name == "accuracy_ood":
                    value = "n/a (no held-out conditions)"
                rows.append(KeyNumber(what, value, where))
    for g in sources.of_kind("analysis"):
        last = g.ds.isel(checkpoint=-1)
        for layer in [str(v) for v in last["layer"].values]:
            for t in [int(v) for v in last["timestep"].values]:
                where = f"{g.label(several)}, {layer}, t = {t}, step {int(last['checkpoint'])}"
                for name in ("effective_dim", "factorization_score", "continuity_index"):
                    if name in last:
                        rows.append(KeyNumber(name, _fmt(last[name].sel(layer=layer, timestep=t)), where))
    for g in sources.of_kind("percolation"):
        if "lambda_c" not in g.ds:
            continue
        lc = g.ds["lambda_c"]
        sig = np.atleast_1d(g.ds["sigma"].values) if "sigma" in lc.dims else [None]
        for k, s in enumerate(sig):
            v = lc.isel(sigma=k) if s is not None else lc
            se = g.ds["lambda_c_stderr"].isel(sigma=k) if s is not None and "lambda_c_stderr" in g.ds else None
            value = _fmt(v) + (f" +- {_fmt(se)}" if se is not None and np.isfinite(float(se)) else "")
            rows.append(KeyNumber("lambda_c (percolation threshold)", value,
                                  g.label(several) + (f", sigma = {float(s):g} px" if s is not None else "")))
    for g in sources.of_kind("comparison"):
        for k, s in enumerate(g.ds["sigma"].values):
            r = g.ds.isel(sigma=k)
            rows.append(KeyNumber("lambda_c predicted / measured",
                                  f"{_fmt(r['lambda_c_predicted'])} / {_fmt(r['lambda_c_measured'])}",
                                  f"{g.label(several)}, sigma = {float(s):g} px"))
    return rows


# -- output directory ----------------------------------------------------------------

def _previous_report_files(out: Path) -> set[str] | None:
    """The files an earlier report in ``out`` wrote (from its manifest), or None when there is none."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("schema") != REPORT_SCHEMA:
        return None
    files = {INDEX, MANIFEST}
    for fig in manifest.get("figures", []):
        files.update(str(f) for f in fig.get("files", {}).values())
    return {f for f in files if "/" not in f and f not in ("", ".", "..")}


def prepare_out(out, overwrite: bool = False) -> Path:
    """Make ``out`` ready for a report; refuse a directory holding other files unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ManifoldLensError(f"--out {out}: is a file; give a directory for the report")
    if out.exists():
        ours = _previous_report_files(out) or set()
        foreign = sorted(p.name for p in out.iterdir() if p.name not in ours)
        if foreign and not overwrite:
            raise ManifoldLensError(f"--out {out}: holds files that are not a manifold-lens report (e.g. "
                                    f"{foreign[0]}); give a new or empty directory, or pass --overwrite")
        for name in ours:
            p = out / name
            if p.is_file():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


# -- rendering -----------------------------------------------------------------------

def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def render_report(paths, out, *, overwrite: bool = False, dpi: int = 110, formats=FORMATS,
                  progress: bool = True) -> Report:
    """Render every supported figure of ``paths`` (results and run stores) into ``out``; write the index page.

    Args:
        paths: results stores (RESULTS.zarr) and/or run stores (RUN.zarr).
        out: report directory (new, empty or an earlier report; see ``overwrite``).
        overwrite: write into a directory that holds other files (they are left alone).
        dpi: resolution of the PNGs (their size is the figure size in inches x dpi).
        formats: file formats per figure, from "png" and "pdf" (png is always written: the page shows it).
    Returns:
        a :class:`Report` listing the written and the skipped figures and the key numbers.
    """
    formats = tuple(dict.fromkeys(["png", *[f.lower() for f in formats]]))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ManifoldLensError(f"formats: {bad[0]!r} is not supported; choose from {', '.join(FORMATS)}")
    if int(dpi) < 20 or int(dpi) > 600:
        raise ManifoldLensError(f"--dpi {dpi}: give a resolution between 20 and 600")
    sources = load_sources(paths)
    out = prepare_out(out, overwrite)
    jobs = plan(sources)
    todo = [j for j in jobs if not j.entry.skipped]
    for job in tqdm(todo, desc="report", unit="figure", disable=not progress):
        e = job.entry
        try:
            fig = job.draw()
        except plot.FigureDataError as err:
            e.skipped = str(err)
            continue
        except Exception as err:  # a figure must never take the report down; say what broke
            e.skipped = f"could not be drawn ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            continue
        for k, fmt in enumerate(formats):
            name = f"{e.stem}.{fmt}"
            fig.savefig(out / name, dpi=dpi, format=fmt, metadata=_metadata(fmt, e.title))
            e.files[fmt] = name
            if k == 0:  # the layout is set by the first save; keep it instead of solving it again
                fig.set_layout_engine("none")
        e.size_px = _png_size(out / e.files["png"])
    numbers = key_numbers(sources)
    entries = [j.entry for j in jobs]
    report = Report(out, out / INDEX, entries, numbers)
    (out / MANIFEST).write_text(json.dumps({
        "schema": REPORT_SCHEMA, "created": _now(), "inputs": [str(Path(p)) for p in _as_list(paths)],
        "runs": sorted(sources.runs), "figures": [asdict(e) for e in entries],
        "key_numbers": [asdict(k) for k in numbers], "versions": package_versions(),
    }, indent=1, default=str))
    report.index.write_text(_html(report, sources, paths))
    return report


def _as_list(paths) -> list:
    return [paths] if isinstance(paths, (str, Path)) else list(paths)


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _metadata(fmt: str, title: str) -> dict:
    return {"Title": title, "Creator" if fmt == "pdf" else "Software": "manifold-lens"}


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0.2em} .meta{color:#666;font-size:0.9em} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:left;font-size:0.92em} th{background:#f3f3f3}
figure{margin:1.5em 0;padding-bottom:1em;border-bottom:1px solid #eee} img{max-width:100%;height:auto}
figcaption{font-size:0.92em;color:#333;margin-top:0.4em} .skipped{color:#8a4b00} code{background:#f5f5f5}"""


def _html(report: Report, sources: Sources, paths) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>manifold-lens report</title>"
             f"<style>{_CSS}</style></head><body>",
             "<h1>manifold-lens report</h1>",
             f"<p class='meta'>Created {e(_now())} from "
             + ", ".join(f"<code>{e(str(p))}</code>" for p in _as_list(paths))
             + (f"; runs: " + ", ".join(f"<code>{e(r)}</code>" for r in sorted(sources.runs)) if sources.runs else "")
             + f". {len(report.rendered)} figures, {len(report.skipped)} skipped. Click a figure for its PDF.</p>"]
    parts.append("<h2>Key numbers</h2>")
    if report.key_numbers:
        parts.append("<table><tr><th>quantity</th><th>value</th><th>from</th></tr>" + "".join(
            f"<tr><td>{e(k.quantity)}</td><td><b>{e(k.value)}</b></td><td>{e(k.source)}</td></tr>"
            for k in report.key_numbers) + "</table>")
    else:
        parts.append("<p class='skipped'>No evaluation, analysis or percolation results given.</p>")
    toc = [s for s in SECTIONS if any(f.section == s for f in report.figures)]
    parts.append("<p>" + " · ".join(f"<a href='#{s.lower()}'>{s}</a>" for s in toc) + "</p>")
    for section in toc:
        parts.append(f"<h2 id='{section.lower()}'>{section}</h2>")
        for f in report.figures:
            if f.section != section:
                continue
            if f.skipped:
                parts.append(f"<p class='skipped' id='{e(f.stem)}'><b>{e(f.title)}</b>: skipped: {e(f.skipped)}</p>")
                continue
            links = " · ".join(f"<a href='{e(name)}'>{fmt.upper()}</a>" for fmt, name in f.files.items())
            target = f.files.get("pdf", f.files["png"])
            parts.append(f"<figure id='{e(f.stem)}'><a href='{e(target)}'><img src='{e(f.files['png'])}' "
                         f"alt='{e(f.title)}' loading='lazy'></a><figcaption><b>{e(f.title)}.</b> {e(f.caption)} "
                         f"<span class='meta'>({links})</span></figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def summary_lines(report: Report) -> list[str]:
    """What the CLI prints: each skipped figure with its reason, the key numbers, where the page is."""
    lines = [f"  skipped {f.title}: {f.skipped}" for f in report.skipped]
    lines += [f"  {k.quantity}: {k.value}  ({k.source})" for k in report.key_numbers]
    lines.append(f"wrote {len(report.rendered)} figures (PNG and PDF) to {report.out}; "
                 f"{len(report.skipped)} skipped")
    lines.append(f"open {report.index}")
    return lines
