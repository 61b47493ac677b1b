"""Reports: every figure the given results support, as PNG and PDF, with an index page.

:func:`render_report` reads results stores (``evaluate``, ``analyze``,
``percolate``, ``percolate test``) and run stores, draws each figure of
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
in the output and on the page. Results of an interrupted evaluate or analyze
are drawn from their committed checkpoints and flagged as unfinished (page,
titles, key numbers); a group with nothing committed is left out with the
reason, never failing the report. ``DIR`` must be new, empty or an earlier
report (its ``report.json`` lists its files, which are replaced); a directory
holding anything else is refused unless ``overwrite`` (other files are then
left alone, same-named ones replaced).
"""


from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .. import plot
from ..errors import ManifoldLensError
from ..versions import package_versions
from .numbers import KeyNumber, key_numbers
from .page import INDEX, MANIFEST, REPORT_SCHEMA, index_html, now, prepare_out
from .plan import FigureEntry, plan
from .sources import as_list, load_sources

FORMATS = ("png", "pdf")


@dataclass
class Report:
    out: Path
    index: Path
    figures: list[FigureEntry]
    key_numbers: list[KeyNumber]
    unfinished: dict = field(default_factory=dict)       # "kind/name in store" -> "unfinished: 3 of 5 checkpoints"
    skipped_results: dict = field(default_factory=dict)  # "kind/name in store" -> why it is left out

    @property
    def rendered(self) -> list[FigureEntry]:
        return [f for f in self.figures if not f.skipped]

    @property
    def skipped(self) -> list[FigureEntry]:
        return [f for f in self.figures if f.skipped]


def _png_size(path: Path) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def render_report(paths, out=None, *, overwrite: bool = False, dpi: int = 110, formats=FORMATS,
                  progress: bool = True) -> Report:
    """Render every supported figure of ``paths`` (results and run stores) into ``out``; write the index page.

    Args:
        paths: results stores (RESULTS.zarr) and/or run stores (RUN.zarr); or one study directory (holding
            study.json), whose study-level report is rendered (:mod:`.study`).
        out: report directory (new, empty or an earlier report; see ``overwrite``); for a study default DIR/report.
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
    from ..studies.collect import is_study  # here: the studies package imports the runner, which reports

    study = [p for p in as_list(paths) if is_study(p)]
    if study:  # a study directory: its study-level report (default DIR/report)
        if len(as_list(paths)) > 1:
            raise ManifoldLensError(f"{study[0]}: a study directory is reported on its own; give only it")
        from .study import render_study_report
        return render_study_report(study[0], out, overwrite=overwrite, dpi=dpi, formats=formats, progress=progress)
    if out is None:
        raise ManifoldLensError("--out: give the report directory (only a study directory has a default)")
    sources = load_sources(paths)
    out = prepare_out(out, overwrite)
    jobs = plan(sources)
    todo = [j for j in jobs if not j.entry.skipped]
    for job in tqdm(todo, desc="report", unit="figure", disable=not progress):
        save_figure(job, out, dpi, formats)
    numbers = key_numbers(sources)
    entries = [j.entry for j in jobs]
    report = Report(out, out / INDEX, entries, numbers,
                    {f"{g.kind}/{g.name} in {g.store}": g.status for g in sources.unfinished},
                    dict(sources.skipped_groups))
    (out / MANIFEST).write_text(json.dumps({
        "schema": REPORT_SCHEMA, "created": now(), "inputs": [str(Path(p)) for p in as_list(paths)],
        "runs": sorted(sources.runs), "figures": [asdict(e) for e in entries],
        "unfinished": report.unfinished, "skipped_results": report.skipped_results,
        "key_numbers": [asdict(k) for k in numbers], "versions": package_versions(),
    }, indent=1, default=str))
    report.index.write_text(index_html(report, sources, paths))
    return report


def save_figure(job, out: Path, dpi: int, formats) -> None:
    """Draw ``job`` and save it in each format into ``out`` (its entry records the files), or record why not."""
    e = job.entry
    try:
        fig = job.draw()
    except plot.FigureDataError as err:
        e.skipped = str(err)
        return
    except Exception as err:  # noqa: BLE001 -- a figure must never take the report down; say what broke
        e.skipped = f"could not be drawn ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        return
    for k, fmt in enumerate(formats):
        name = f"{e.stem}.{fmt}"
        fig.savefig(out / name, dpi=dpi, format=fmt, metadata=_metadata(fmt, e.title))
        e.files[fmt] = name
        if k == 0:  # the layout is set by the first save; keep it instead of solving it again
            fig.set_layout_engine("none")
    e.size_px = _png_size(out / e.files["png"])


def _metadata(fmt: str, title: str) -> dict:
    return {"Title": title, "Creator" if fmt == "pdf" else "Software": "manifold-lens"}
