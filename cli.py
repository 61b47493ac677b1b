"""The ``manifold-lens`` command line: a thin typer app over the library.

Each command parses its options, calls :mod:`manifold_lens` (or the bundled
:mod:`trainers`) and shows progress. Errors caused by input are printed as one
line (``error: ...``) with exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import List, Optional

import typer

from manifold_lens.errors import ManifoldLensError

app = typer.Typer(
    help="Train conditional DDPMs on Gaussian-bump images and look inside them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Inspect the synthetic datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Turn ManifoldLensError (and ValueError from validation) into a one-line message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ManifoldLensError as e:
            fail(str(e))

    return wrapper


def parse_csv(value: Optional[str], cast=str) -> Optional[list]:
    """'a,b,c' -> [cast(a), cast(b), cast(c)]; None stays None."""
    if value is None:
        return None
    return [cast(v.strip()) for v in value.split(",") if v.strip()]


# ---------------------------------------------------------------------------
# Commands are added below, one section per command.
# ---------------------------------------------------------------------------


# --- train -----------------------------------------------------------------
@app.command()
@user_errors
def train(
    out: Path = typer.Option(..., "--out", help="Run store to write (RUN.zarr)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Preset name (quick, paper-bump, paper-torus)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (TOML) instead of a preset."),
    set_: List[str] = typer.Option([], "--set", help="Override a key: --set train.steps=500 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue OUT from its last committed checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu or cuda (default: train.device)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Train a conditional DDPM into a crash-safe Zarr run store.

    Without --preset or --config the `quick` preset is used. With --resume the
    stored config is used; only train.steps and the checkpointing keys may change.
    """
    from manifold_lens.config import load_config
    from trainers.train import select_device, train as run_training

    if resume and overwrite:
        fail("give either --resume or --overwrite, not both")
    if resume and not out.exists():
        fail(f"--resume: {out} does not exist; drop --resume to start a new run")
    if resume and not (preset or config):
        from manifold_lens.runstore import open_run

        cfg = open_run(out).config.with_overrides(set_).validate().resolved()
    else:
        cfg = load_config(preset, config, set_)
    if out.exists() and not (resume or overwrite):
        fail(f"{out} already exists: pass --resume to continue it or --overwrite to replace it")
    select_device(device or cfg.train.device)  # fail early on an unavailable device
    path = run_training(cfg, out, resume=resume, overwrite=overwrite, device=device, progress=progress,
                        log=typer.echo)
    from manifold_lens.runstore import open_run

    run = open_run(path)
    loss = run.loss.loss.values
    last = f", final loss {loss[-50:].mean():.4f} (mean of last 50 steps)" if len(loss) else ""
    typer.echo(f"wrote {path}: {len(run.steps)} checkpoints up to step {run.steps[-1]}{last}")


# --- datasets ----------------------------------------------------------------
@datasets_app.command("preview")
@user_errors
def datasets_preview(
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    preset: Optional[str] = typer.Option(None, "--preset", help="Preset name."),
    config: Optional[Path] = typer.Option(None, "--config", help="Config file (TOML)."),
    set_: List[str] = typer.Option([], "--set", help="Override a key, e.g. --set data.family=sos."),
    examples: int = typer.Option(16, "--examples", help="Number of gallery images."),
):
    """Draw a gallery of examples and the coverage map (trained vs held out, by region)."""
    from manifold_lens.config import load_config
    from manifold_lens.datasets import SyntheticDataset
    from manifold_lens.plot import dataset_preview

    cfg = load_config(preset, config, set_)
    ds = SyntheticDataset(cfg.data)
    fig = dataset_preview(ds, n_examples=examples, title=f"{preset or config or 'quick'}: {cfg.data.family}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    typer.echo(f"wrote {out}: {len(ds)} training conditions of {ds.n_conditions}; regions: {', '.join(ds.regions)}")


@datasets_app.command("list")
def datasets_list():
    """List the shipped presets with their descriptions."""
    import tomllib

    from manifold_lens.config import list_presets, presets_dir

    for name in list_presets():
        desc = tomllib.loads((presets_dir() / f"{name}.toml").read_text()).get("description", "")
        typer.echo(f"{name:14s} {desc}")


# --- analyze / layers ----------------------------------------------------------
def _int_list(value: Optional[str], option: str) -> Optional[list]:
    """'0,50,100' -> [0, 50, 100] with a one-line error naming the option."""
    try:
        return parse_csv(value, int)
    except ValueError:
        fail(f"{option} {value!r}: give integers separated by commas, e.g. {option} 0,50")


@app.command()
@user_errors
def analyze(
    run: Path = typer.Argument(..., help="Run store to analyse (RUN.zarr)."),
    out: Path = typer.Option(..., "--out", help="Results store to write (RESULTS.zarr; created if missing)."),
    layers: Optional[str] = typer.Option(None, "--layers", help="Module names, globs or aliases, comma-separated "
                                         "(default bottleneck; layer4 = encoder.2). See `manifold-lens layers`."),
    timesteps: Optional[str] = typer.Option(None, "--timesteps", help="Diffusion timesteps in [0, T), e.g. 0,50 "
                                            "(default round(0.05 T) = 50 for T = 1000)."),
    checkpoints: str = typer.Option("all", "--checkpoints", help="all, last, or steps like 0,500,1000."),
    mode: str = typer.Option("noised", "--mode", help="noised (ground truth noised to t) or trajectory (DDIM states)."),
    noise_draws: int = typer.Option(4, "--noise-draws", help="Noise draws averaged per condition (K)."),
    embed: str = typer.Option("pca", "--embed", help="Embeddings to store: pca,isomap,umap."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    name: Optional[str] = typer.Option(None, "--name", help="Results group name (default: default)."),
    replace: bool = typer.Option(False, "--replace", help="Overwrite an existing analysis group of that name."),
    x: Optional[str] = typer.Option(None, "--x", help="Condition grid x values: lo:hi[:step] or a,b,c (px; "
                                    "default every candidate condition)."),
    y: Optional[str] = typer.Option(None, "--y", help="Condition grid y values, as --x."),
    pool: bool = typer.Option(False, "--pool", help="Average spatial maps over space (unit = channel)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first noise draw."),
    batch_size: int = typer.Option(256, "--batch-size", help="Images per forward pass."),
    keep_activations: bool = typer.Option(False, "--keep-activations", help="Also store the mean activations."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Measure geometry, factorization and continuity of a run's representations at every checkpoint."""
    from manifold_lens.analyze import analyze_run, summary_lines

    def grid(value):
        return value if value is None or ":" in value else parse_csv(value, float)

    try:
        xs, ys = grid(x), grid(y)
    except ValueError:
        fail(f"--x/--y {x or y!r}: give numbers, e.g. --x 0:31:2 or --x 3,5,7")
    ds = analyze_run(run, out, layers=parse_csv(layers), timesteps=_int_list(timesteps, "--timesteps"),
                     checkpoints=checkpoints, mode=mode, noise_draws=noise_draws, embed=parse_csv(embed),
                     device=device, name=name, replace=replace, progress=progress, x=xs, y=ys, seed=seed,
                     pool=pool, batch_size=batch_size, keep_activations=keep_activations)
    group = f"analysis/{name or 'default'}"
    typer.echo(f"wrote {out} group {group}: {ds.sizes['checkpoint']} checkpoints x {ds.sizes['timestep']} "
               f"timesteps x {ds.sizes['layer']} layers, {ds.sizes.get('condition', 0)} conditions")
    for line in summary_lines(ds):
        typer.echo(line)


@app.command()
@user_errors
def layers(
    run: Path = typer.Argument(..., help="Run store (RUN.zarr)."),
    step: Optional[int] = typer.Option(None, "--step", help="Checkpoint step (default: the last)."),
):
    """List the hookable layer names of a run's model with their output shapes (batch of 1)."""
    import torch

    from manifold_lens.extract import DEFAULT_LAYERS, LAYER_ALIASES
    from manifold_lens.hooks import list_layers
    from manifold_lens.runstore import open_run

    r = open_run(run)
    model = r.load_model(step)
    ds = r.dataset
    x0 = torch.as_tensor(ds.render_conditions([0]))[:, None]
    cond = torch.tensor([[ds.x[0], ds.y[0]]], dtype=torch.float32)
    infos = list_layers(model, (x0, torch.zeros(1, dtype=torch.long), cond))
    width = max(len(i.name) for i in infos)
    tw = max(len(i.module_type) for i in infos)
    aliases = {v: k for k, v in LAYER_ALIASES.items()}
    for i in infos:
        shape = "not called" if i.output_shape is None else "(" + ", ".join(map(str, i.output_shape)) + ")"
        note = " (default)" if i.name in DEFAULT_LAYERS else (f" (alias {aliases[i.name]})" if i.name in aliases else "")
        typer.echo(f"{i.name:{width}s}  {i.module_type:{tw}s}  {shape}{note}")
