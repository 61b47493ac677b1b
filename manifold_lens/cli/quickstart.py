"""``manifold-lens quickstart``: the whole workflow on the quick preset, in one call."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from ..analysis.settings import ExtractionSettings as XS
from ..percolation.settings import PercolationSettings as PS
from .core import DEVICE, OVERWRITE, PROGRESS, app, parse_csv, replace_flag, setting_option, user_errors


@app.command()
@user_errors
def quickstart(
    out: Path = typer.Argument(..., help="Directory for run.zarr, results.zarr and report/ (new or empty)."),
    set_: List[str] = typer.Option([], "--set", help="Override a quick-preset key: --set train.steps=500."),
    samples_per_condition: int = typer.Option(1, "--samples-per-condition", help="Generated images per condition."),
    sampler_steps: int = typer.Option(20, "--sampler-steps", help="DDIM steps of the evaluation sampler."),
    checkpoints: str = typer.Option("all", "--checkpoints", help="Checkpoints: all, last or steps like 0,500."),
    embed: str = typer.Option("pca", "--embed", help="Embeddings for the 3-D views: pca,umap,isomap."),
    noise_draws: int = setting_option(XS, "noise_draws"),
    trials: int = setting_option(PS, "trials"),
    device: str = DEVICE,
    replace: bool = typer.Option(False, "--replace", help="Write over an earlier quickstart in OUT."),
    overwrite: bool = OVERWRITE,
    progress: bool = PROGRESS,
):
    """Train the quick preset, evaluate it, analyse it, compute its percolation curve and write the report.

    About 3 minutes on 2 idle CPU cores. Then open OUT/report/index.html.

    Example: manifold-lens quickstart quickstart/
    """
    from manifold_lens.quickstart import quickstart as run_quickstart

    res = run_quickstart(out, set_, samples_per_condition=samples_per_condition, sampler_steps=sampler_steps,
                         checkpoints=checkpoints, embed=parse_csv(embed) or ["pca"], noise_draws=noise_draws,
                         trials=trials, device=device, replace=replace_flag(replace, overwrite), progress=progress,
                         log=typer.echo)
    typer.echo(f"done in {res.seconds / 60:.1f} min: run {res.run}, results {res.results}")
    typer.echo(f"open {res.index} in a browser (figures as PNG and PDF in {res.report})")
