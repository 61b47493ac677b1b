"""``manifold-lens report``: figures and an index page from results, runs or a study."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .core import OVERWRITE, app, echo_lines, replace_flag, user_errors


@app.command()
@user_errors
def report(
    paths: List[Path] = typer.Argument(..., help="Results stores (RESULTS.zarr) and/or run stores (RUN.zarr), "
                                        "or one study directory (holding study.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report directory: new, empty or an earlier report "
                                       "(a study's default: DIR/report)."),
    replace: bool = typer.Option(False, "--replace", help="Write into a directory that holds other files "
                                 "(they are left alone; same-named files are replaced)."),
    overwrite: bool = OVERWRITE,
    dpi: int = typer.Option(110, "--dpi", help="Resolution of the PNGs (dots per inch)."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also write each figure as PDF."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Render every figure the results support (PNG and PDF) and DIR/index.html with key numbers.

    Reads only results and run stores (a result's source_run names its run); never
    recomputes a metric. Figures the inputs cannot support are skipped with a reason.

    On a study directory: study-level figures (accuracy vs each swept key, seeds as
    error bars) and a table of its runs, linking each run's own report.

    Example: manifold-lens report results.zarr --out report/
    """
    from manifold_lens.report import render_report
    from manifold_lens.summary import report_lines

    rep = render_report(paths, out, replace=replace_flag(replace, overwrite), dpi=dpi,
                        formats=("png", "pdf") if pdf else ("png",), progress=progress)
    echo_lines(report_lines(rep))
