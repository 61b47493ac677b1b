"""``manifold-lens analyze`` and ``manifold-lens layers``: a run's representations."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..analysis.settings import ExtractionSettings as XS
from ..analysis.settings import MeasureSettings as MS
from .core import DEVICE, JSON, PROGRESS, REPLACE, app, echo_json, echo_lines, parse_csv, setting_option, user_errors


@app.command()
@user_errors
def analyze(
    run: Path = typer.Argument(..., help="Run store to analyse (RUN.zarr)."),
    out: Path = typer.Option(..., "--out", help="Results store to write (RESULTS.zarr; created if missing)."),
    layers: Optional[str] = typer.Option(None, "--layers", help="Names, globs or aliases (layer4): see `layers`."),
    timesteps: Optional[str] = typer.Option(None, "--timesteps", help="Timesteps in [0, T), e.g. 0,50 (default 50)."),
    checkpoints: str = setting_option(MS, "checkpoints"),
    mode: str = setting_option(XS, "mode"),
    noise_draws: int = setting_option(XS, "noise_draws"),
    embed: str = typer.Option("pca", "--embed", help="Embeddings to store: pca,isomap,umap."),
    device: str = DEVICE,
    name: Optional[str] = typer.Option(None, "--name", help="Results group name (default: default)."),
    replace: bool = REPLACE,
    x: Optional[str] = typer.Option(None, "--x", help="Grid x values (px): lo:hi[:step] or a,b,c (default: all)."),
    y: Optional[str] = typer.Option(None, "--y", help="Condition grid y values, as --x."),
    pool: bool = setting_option(XS, "pool"),
    seed: int = setting_option(XS, "seed"),
    batch_size: int = setting_option(XS, "batch_size"),
    sampling_steps: int = setting_option(XS, "sampling_steps"),
    keep_activations: bool = setting_option(MS, "keep_activations"),
    references: bool = setting_option(MS, "references", "--references/--no-references"),
    homology: Optional[bool] = setting_option(MS, "homology", "--homology/--no-homology"),
    progress: bool = PROGRESS,
    as_json: bool = JSON,
):
    """Measure geometry, factorization and continuity of a run's representations at every checkpoint,
    beside the same metrics of the pixels, the untrained network, a label-shuffled null and the ideal codes."""
    from manifold_lens.analysis import analyze_run
    from manifold_lens.summary import analysis_lines, analysis_summary

    ds = analyze_run(run, out=out, layers=parse_csv(layers), timesteps=parse_csv(timesteps, int, "--timesteps"),
                     checkpoints=checkpoints, mode=mode, noise_draws=noise_draws, embed=parse_csv(embed),
                     device=device, name=name, replace=replace, progress=progress, x=x, y=y, seed=seed, pool=pool,
                     batch_size=batch_size, sampling_steps=sampling_steps, keep_activations=keep_activations,
                     references=references, homology=homology)
    group = f"analysis/{name or 'default'}"
    if as_json:
        echo_json({"out": str(out), "group": group, **analysis_summary(ds)})
        return
    typer.echo(f"wrote {out} group {group}:")
    echo_lines(analysis_lines(ds))


@app.command()
@user_errors
def layers(
    run: Path = typer.Argument(..., help="Run store (RUN.zarr)."),
    step: Optional[int] = typer.Option(None, "--step", help="Checkpoint step (default: the last)."),
    as_json: bool = JSON,
):
    """List the hookable layer names of a run's model with their output shapes (batch of 1)."""
    from manifold_lens.analysis import run_layers
    from manifold_lens.summary import layer_lines, layer_summary

    found = run_layers(run, step)
    echo_json(layer_summary(*found)) if as_json else echo_lines(layer_lines(*found))
