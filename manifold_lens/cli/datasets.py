"""``manifold-lens datasets``: inspect the synthetic datasets."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .core import CONFIG, PRESET, SET, app, fail, user_errors

datasets_app = typer.Typer(help="Inspect the synthetic datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


@datasets_app.command("preview")
@user_errors
def datasets_preview(
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    examples: int = typer.Option(16, "--examples", help="Number of gallery images."),
    preset: Optional[str] = PRESET,
    config: Optional[Path] = CONFIG,
    set_: List[str] = SET,
):
    """Draw a gallery of examples and the coverage map (trained vs held out, by region)."""
    from manifold_lens.config import load_config
    from manifold_lens.datasets import SyntheticDataset
    from manifold_lens.plot import dataset_preview

    if examples < 1:
        fail(f"--examples {examples}: must be >= 1 (number of gallery images)")
    cfg = load_config(preset, config, set_)
    ds = SyntheticDataset(cfg.data)
    fig = dataset_preview(ds, n_examples=examples, title=f"{preset or config or 'quick'}: {cfg.data.family}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    typer.echo(f"wrote {out}: {len(ds)} training conditions of {ds.n_conditions}; regions: {', '.join(ds.regions)}")


@datasets_app.command("list")
def datasets_list():
    """List the shipped presets with their descriptions."""
    from manifold_lens.config import list_presets, preset_description

    for name in list_presets():
        typer.echo(f"{name:14s} {preset_description(name)}")
