"""``manifold-lens import`` and ``manifold-lens export``: checkpoint series in and out of run stores."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .core import JSON, PROGRESS, app, echo_json, echo_lines, parse_csv, user_errors


@app.command("import")
@user_errors
def import_(
    source: Path = typer.Argument(..., help="Folder of checkpoints: diffusers checkpoint-<step>/ folders, "
                                  ".safetensors files or .pt/.pth/.bin state dicts."),
    out: Path = typer.Option(..., "--out", help="Run store to write (RUN.zarr); an interrupted import continues."),
    adapter: Optional[Path] = typer.Option(None, "--adapter", help="Conditioning adapter (TOML): how (x, y) "
                                           "reaches the model, e.g. kind = \"coordinates\"."),
    data: Optional[Path] = typer.Option(None, "--data", help="Data section (TOML/JSON) of a bundled family "
                                        "(default: bumps on the model's frame)."),
    steps: Optional[str] = typer.Option(None, "--steps", help="The checkpoints' steps in name order: STEP,STEP "
                                        "(default: the numbers in their names)."),
    replace: bool = typer.Option(False, "--replace", help="Write over an existing run store OUT."),
    progress: bool = PROGRESS,
    as_json: bool = JSON,
):
    """Import a checkpoint series (diffusers, safetensors or state dicts) into a run store.

    Everything is checked before anything is written: one architecture across the
    steps, the scheduler config, the adapter against the model (one forward pass).

    Example: manifold-lens import ckpts/ --out run.zarr --adapter adapter.toml
    """
    from manifold_lens.interop import import_checkpoints
    from manifold_lens.summary import run_lines, run_summary

    run = import_checkpoints(source, out=out, adapter=adapter, data=data, steps=parse_csv(steps, int, "--steps"),
                             replace=replace, progress=progress)
    echo_json(run_summary(run)) if as_json else echo_lines(run_lines(run))


@app.command("export")
@user_errors
def export(
    run: Path = typer.Argument(..., help="Run store (RUN.zarr) to export."),
    format: str = typer.Option(..., "--format", help="safetensors or diffusers (save_pretrained folders)."),
    out: Path = typer.Option(..., "--out", help="Folder to write, one file or folder per checkpoint."),
    checkpoints: str = typer.Option("all", "--checkpoints", help="all, last or steps: STEP,STEP."),
    replace: bool = typer.Option(False, "--replace", help="Write into a folder that holds files (same names are "
                                 "replaced)."),
    progress: bool = PROGRESS,
    as_json: bool = JSON,
):
    """Export a run's checkpoints as .safetensors files (with the run config) or diffusers folders.

    Example: manifold-lens export run.zarr --format safetensors --out exported/
    """
    from manifold_lens.interop import export_checkpoints

    paths = export_checkpoints(run, format=format, out=out, checkpoints=checkpoints, replace=replace,
                               progress=progress)
    if as_json:
        echo_json({"out": str(out), "format": format, "written": [str(p) for p in paths]})
        return
    echo_lines([f"wrote {len(paths)} checkpoint(s) of {run} to {out} ({format}):", *(f"  {p}" for p in paths)])
