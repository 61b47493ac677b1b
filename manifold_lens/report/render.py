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
holding anything else is refused unless ``replace`` (other files are then
left alone, same-named ones replaced).
"""


from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import ManifoldLensError
from ..studies.layout import is_study
from ..versions import package_versions
from .numbers import key_numbers
from .output import Report, save_figure
from .page import INDEX, MANIFEST, REPORT_SCHEMA, index_html, now, prepare_out
from .plan import plan
from .sources import as_list, load_sources
from .study import render_study_report

__all__ = ["FORMATS", "Report", "render_report", "save_figure"]

FORMATS = ("png", "pdf")


def render_report(paths, out=None, *, replace: bool = False, dpi: int = 110, formats=FORMATS,
                  progress: bool = True, overwrite: bool | None = None) -> Report:
    """Render every supported figure of ``paths`` (results and run stores) into ``out``; write the index page.

    Args:
        paths: results stores (RESULTS.zarr) and/or run stores (RUN.zarr); or one study directory (holding
            study.json), whose study-level report is rendered (:mod:`.study`).
        out: report directory (new, empty or an earlier report; see ``replace``); for a study default DIR/report.
        replace: write into a directory that holds other files (they are left alone; same-named ones replaced).
        dpi: resolution of the PNGs (their size is the figure size in inches x dpi).
        formats: file formats per figure, from "png" and "pdf" (png is always written: the page shows it).
    Returns:
        a :class:`Report` listing the written and the skipped figures and the key numbers.

    ``overwrite`` is the former name of ``replace`` (deprecated).
    """
    if overwrite is not None:
        warnings.warn("render_report(overwrite=...) is deprecated; use replace=...", DeprecationWarning, stacklevel=2)
        replace = replace or bool(overwrite)
    formats = tuple(dict.fromkeys(["png", *[f.lower() for f in formats]]))
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ManifoldLensError(f"formats: {bad[0]!r} is not supported; choose from {', '.join(FORMATS)}")
    if int(dpi) < 20 or int(dpi) > 600:
        raise ManifoldLensError(f"dpi = {dpi}: give a resolution between 20 and 600")

    study = [p for p in as_list(paths) if is_study(p)]
    if study:  # a study directory: its study-level report (default DIR/report)
        if len(as_list(paths)) > 1:
            raise ManifoldLensError(f"{study[0]}: a study directory is reported on its own; give only it")
        return render_study_report(study[0], out, replace=replace, dpi=dpi, formats=formats, progress=progress)
    if out is None:
        raise ManifoldLensError("out: give the report directory (only a study directory has a default)")
    sources = load_sources(paths)
    out = prepare_out(out, replace)
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
