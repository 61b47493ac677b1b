"""``manifold-lens evaluate``: generation accuracy of a run's checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .core import DEVICE, JSON, PROGRESS, REPLACE, app, echo_json, echo_lines, user_errors


@app.command()
@user_errors
def evaluate(
    run: Path = typer.Argument(..., help="Run store (RUN.zarr) to evaluate."),
    out: Path = typer.Option(..., "--out", help="Results store to write (created if missing)."),
    checkpoints: str = typer.Option("last", "--checkpoints", help="all, last or steps: STEP,STEP."),
    sampler: str = typer.Option("ddim", "--sampler", help="ddim, or ddpm (ancestral, all T steps)."),
    steps: Optional[int] = typer.Option(None, "--steps", help="DDIM steps, at most T (default 50)."),
    eta: float = typer.Option(0.0, "--eta", help="DDIM noise: 0 deterministic, 1 DDPM-like."),
    samples_per_condition: int = typer.Option(4, "--samples-per-condition", help="Images per condition."),
    conditions: str = typer.Option("all", "--conditions", help="all, train or heldout conditions."),
    tolerance: float = typer.Option(1.0, "--tolerance", help="Max error per coordinate, px."),
    second_bump_threshold: float = typer.Option(0.25, "--second-bump-threshold", help="A peak this fraction of "
                                                "the rendered bump height counts as a bump, in (0, 1]."),
    max_width_ratio: float = typer.Option(1.5, "--max-width-ratio", help="A bump wider or narrower than sigma by "
                                          "more than this factor is not correct (phase A), > 1."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling noise (same at every checkpoint)."),
    keep_images: bool = typer.Option(False, "--keep-images", help="Also store the generated images."),
    device: str = DEVICE,
    batch_size: int = typer.Option(512, "--batch-size", help="Images per forward pass."),
    name: Optional[str] = typer.Option(None, "--name", help="Group evaluation/NAME (default from settings: ddim50)."),
    replace: bool = REPLACE,
    progress: bool = PROGRESS,
    as_json: bool = JSON,
):
    """Generation accuracy: sample at every condition, locate the bump, score (phases A/B/C).

    Writes RESULTS.zarr group evaluation/NAME: per-sample x_hat, y_hat, widths, n_bumps,
    correct, phase and accuracy overall, in/out of distribution, per region. A second
    bump counts above half the brightest or above --second-bump-threshold of the
    rendered height; a bump whose width is off by more than --max-width-ratio is phase A.

    Example: manifold-lens evaluate run.zarr --out results.zarr --checkpoints all
    """
    from manifold_lens.evaluation import evaluate_run
    from manifold_lens.summary import evaluation_lines, evaluation_summary

    ds = evaluate_run(run, checkpoints, sampler=sampler, steps=steps, eta=eta,
                      samples_per_condition=samples_per_condition, conditions=conditions, tolerance=tolerance,
                      second_bump_threshold=second_bump_threshold, max_width_ratio=max_width_ratio,
                      seed=seed, keep_images=keep_images, device=device, batch_size=batch_size, out=out, name=name,
                      replace=replace, progress=progress)
    group = f"evaluation/{ds.attrs['name']}"
    if as_json:
        echo_json({"out": str(out), "group": group, "run": str(run), **evaluation_summary(ds)})
        return
    typer.echo(f"wrote {out} group {group}: {ds.sizes['checkpoint']} checkpoint(s) of {run}")
    echo_lines(evaluation_lines(ds))
