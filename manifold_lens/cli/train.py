"""``manifold-lens train``: a run store from a preset or config file."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Optional

import typer

from .core import CONFIG, JSON, OVERWRITE, PRESET, SET, app, echo_json, echo_lines, replace_flag, user_errors


@app.command()
@user_errors
def train(
    out: Path = typer.Option(..., "--out", help="Run store to write (RUN.zarr)."),
    preset: Optional[str] = PRESET,
    config: Optional[Path] = CONFIG,
    set_: List[str] = SET,
    resume: bool = typer.Option(False, "--resume", help="Continue OUT from its last committed checkpoint."),
    replace: bool = typer.Option(False, "--replace", help="Write over an existing run store OUT."),
    overwrite: bool = OVERWRITE,
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (default: train.device)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = JSON,
):
    """Train a conditional DDPM into a crash-safe Zarr run store.

    Without --preset or --config the `quick` preset is used. With --resume the
    stored config is used; only train.steps and the checkpointing keys may change.
    """
    from manifold_lens.summary import run_lines, run_summary
    from manifold_lens.training import train_run, training_config

    replace = replace_flag(replace, overwrite)
    cfg = training_config(out, preset, config, set_, resume=resume and out.exists())
    log = functools.partial(typer.echo, err=True) if as_json else typer.echo
    run = train_run(cfg, out, resume=resume, replace=replace, device=device, progress=progress, log=log)
    echo_json(run_summary(run)) if as_json else echo_lines(run_lines(run))
