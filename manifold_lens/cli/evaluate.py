"""``manifold-lens evaluate``: generation accuracy of a run's checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..evaluation.settings import EvaluationSettings as ES
from .core import DEVICE, JSON, PROGRESS, REPLACE, app, echo_json, echo_lines, setting_option, user_errors


@app.command()
@user_errors
def evaluate(
    run: Path = typer.Argument(..., help="Run store (RUN.zarr) to evaluate."),
    out: Path = typer.Option(..., "--out", help="Results store to write (created if missing)."),
    checkpoints: str = typer.Option("last", "--checkpoints", help="all, last or steps: STEP,STEP."),
    sampler: str = setting_option(ES, "sampler"),
    steps: Optional[int] = setting_option(ES, "steps"),
    eta: float = setting_option(ES, "eta"),
    samples_per_condition: int = setting_option(ES, "samples_per_condition"),
    conditions: str = setting_option(ES, "conditions"),
    tolerance: float = setting_option(ES, "tolerance"),
    second_bump_threshold: float = setting_option(ES, "second_bump_threshold"),
    max_width_ratio: float = setting_option(ES, "max_width_ratio"),
    seed: int = setting_option(ES, "seed"),
    keep_images: bool = setting_option(ES, "keep_images"),
    device: str = DEVICE,
    batch_size: int = setting_option(ES, "batch_size"),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines",
                                   help="Also score the nearest-training-condition (memorising) baseline with the "
                                        "same scorer (baseline_nearest_accuracy*); --no-baselines leaves it out."),
    name: Optional[str] = typer.Option(None, "--name", help="Group evaluation/NAME (default from settings: ddim50)."),
    replace: bool = REPLACE,
    progress: bool = PROGRESS,
    as_json: bool = JSON,
):
    """Generation accuracy: sample at every condition, locate the bump, score (phases A/B/C).

    Writes RESULTS.zarr group evaluation/NAME: per-sample x_hat, y_hat, widths, n_bumps,
    correct, phase and accuracy overall, in/out of distribution, per region, and the
    same accuracies of a memorising generator (each condition drawn as its nearest
    training condition's image: baseline_nearest_accuracy*). A second
    bump counts above half the brightest or above --second-bump-threshold of the
    rendered height; a bump whose width is off by more than --max-width-ratio is phase A.

    Example: manifold-lens evaluate run.zarr --out results.zarr --checkpoints all
    """
    from manifold_lens.evaluation import evaluate_run
    from manifold_lens.summary import evaluation_lines, evaluation_summary

    ds = evaluate_run(run, checkpoints=checkpoints, sampler=sampler, steps=steps, eta=eta,
                      samples_per_condition=samples_per_condition, conditions=conditions, tolerance=tolerance,
                      second_bump_threshold=second_bump_threshold, max_width_ratio=max_width_ratio,
                      seed=seed, keep_images=keep_images, device=device, batch_size=batch_size, out=out, name=name,
                      replace=replace, progress=progress, baselines=ES.default("baselines") if baselines else ())
    group = f"evaluation/{ds.attrs['name']}"
    if as_json:
        echo_json({"out": str(out), "group": group, "run": str(run), **evaluation_summary(ds)})
        return
    typer.echo(f"wrote {out} group {group}: {ds.sizes['checkpoint']} checkpoint(s) of {run}")
    echo_lines(evaluation_lines(ds))
