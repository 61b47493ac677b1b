"""The ``manifold-lens`` command line: a thin typer app over the library.

Each command parses its options, calls :mod:`manifold_lens` and prints what
:mod:`manifold_lens.summary` words. Errors caused by input are printed as one
line (``error: ...``) with exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from manifold_lens.errors import ManifoldLensError

app = typer.Typer(
    help="Train conditional DDPMs on Gaussian-bump images and look inside them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="Inspect the synthetic datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")

PROGRESS = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
DEVICE = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N.")
REPLACE = typer.Option(False, "--replace", help="Overwrite an existing results group of that name.")
PRESET = typer.Option(None, "--preset", help="Preset name (quick, paper-bump, paper-torus; `datasets list`).")
CONFIG = typer.Option(None, "--config", help="Config file (TOML) instead of a preset.")
SET = typer.Option([], "--set", help="Override a config key: --set train.steps=500 (repeatable).")


def fail(message: str, code: int = 2) -> None:
    """Print a one-line error and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn):
    """Turn ManifoldLensError (bad input) into a one-line message and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ManifoldLensError as e:
            fail(str(e))

    return wrapper


def echo_lines(lines) -> None:
    typer.echo("\n".join(lines))


def parse_csv(value: Optional[str], cast=str, option: str = "") -> Optional[list]:
    """'a,b,c' -> [cast(a), cast(b), cast(c)]; None stays None; a bad value fails naming ``option``."""
    if value is None:
        return None
    try:
        return [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        what, example = ("integers", "0,50") if cast is int else ("numbers", "0.5,1,2")
        fail(f"{option} {value!r}: give {what} separated by commas, e.g. {option} {example}")


# --- train ---------------------------------------------------------------------------
@app.command()
@user_errors
def train(
    out: Path = typer.Option(..., "--out", help="Run store to write (RUN.zarr)."),
    preset: Optional[str] = PRESET,
    config: Optional[Path] = CONFIG,
    set_: List[str] = SET,
    resume: bool = typer.Option(False, "--resume", help="Continue OUT from its last committed checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing OUT."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda or cuda:N (default: train.device)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Train a conditional DDPM into a crash-safe Zarr run store.

    Without --preset or --config the `quick` preset is used. With --resume the
    stored config is used; only train.steps and the checkpointing keys may change.
    """
    from manifold_lens.summary import run_lines
    from manifold_lens.training import train_run, training_config

    cfg = training_config(out, preset, config, set_, resume=resume and out.exists())
    run = train_run(cfg, out, resume=resume, overwrite=overwrite, device=device, progress=progress, log=typer.echo)
    echo_lines(run_lines(run))


# --- datasets --------------------------------------------------------------------------
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


# --- analyze / layers -------------------------------------------------------------------
@app.command()
@user_errors
def analyze(
    run: Path = typer.Argument(..., help="Run store to analyse (RUN.zarr)."),
    out: Path = typer.Option(..., "--out", help="Results store to write (RESULTS.zarr; created if missing)."),
    layers: Optional[str] = typer.Option(None, "--layers", help="Names, globs or aliases (layer4): see `layers`."),
    timesteps: Optional[str] = typer.Option(None, "--timesteps", help="Timesteps in [0, T), e.g. 0,50 (default 50)."),
    checkpoints: str = typer.Option("all", "--checkpoints", help="all, last, or steps like 0,500,1000."),
    mode: str = typer.Option("noised", "--mode", help="noised (ground truth noised to t) or trajectory (DDIM states)."),
    noise_draws: int = typer.Option(4, "--noise-draws", help="Noise draws per condition (K): inner products "
                                     "across draws cancel the noise (>= 2)."),
    embed: str = typer.Option("pca", "--embed", help="Embeddings to store: pca,isomap,umap."),
    device: str = DEVICE,
    name: Optional[str] = typer.Option(None, "--name", help="Results group name (default: default)."),
    replace: bool = REPLACE,
    x: Optional[str] = typer.Option(None, "--x", help="Grid x values (px): lo:hi[:step] or a,b,c (default: all)."),
    y: Optional[str] = typer.Option(None, "--y", help="Condition grid y values, as --x."),
    pool: bool = typer.Option(False, "--pool", help="Average spatial maps over space (unit = channel)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first noise draw."),
    batch_size: int = typer.Option(256, "--batch-size", help="Images per forward pass."),
    sampling_steps: int = typer.Option(50, "--sampling-steps", help="DDIM steps of the trajectory mode."),
    keep_activations: bool = typer.Option(False, "--keep-activations", help="Also store the mean activations."),
    references: bool = typer.Option(True, "--references/--no-references", help="Also measure pixels, the "
                                    "untrained network, a shuffled null and the ideal codes (dim reference)."),
    homology: Optional[bool] = typer.Option(None, "--homology/--no-homology", help="Persistent homology (H0/H1 "
                                            "diagrams, Betti-1) of every code (default: periodic data only)."),
    progress: bool = PROGRESS,
):
    """Measure geometry, factorization and continuity of a run's representations at every checkpoint,
    beside the same metrics of the pixels, the untrained network, a label-shuffled null and the ideal codes."""
    from manifold_lens.analysis import analyze_run
    from manifold_lens.summary import analysis_lines

    ds = analyze_run(run, out, layers=parse_csv(layers), timesteps=parse_csv(timesteps, int, "--timesteps"),
                     checkpoints=checkpoints, mode=mode, noise_draws=noise_draws, embed=parse_csv(embed),
                     device=device, name=name, replace=replace, progress=progress, x=x, y=y, seed=seed, pool=pool,
                     batch_size=batch_size, sampling_steps=sampling_steps, keep_activations=keep_activations,
                     references=references, homology=homology)
    typer.echo(f"wrote {out} group analysis/{name or 'default'}:")
    echo_lines(analysis_lines(ds))


@app.command()
@user_errors
def layers(
    run: Path = typer.Argument(..., help="Run store (RUN.zarr)."),
    step: Optional[int] = typer.Option(None, "--step", help="Checkpoint step (default: the last)."),
):
    """List the hookable layer names of a run's model with their output shapes (batch of 1)."""
    from manifold_lens.analysis import run_layers
    from manifold_lens.summary import layer_lines

    echo_lines(layer_lines(*run_layers(run, step)))


# --- percolate ---------------------------------------------------------------------------
def _is_numbers(token: str) -> bool:
    """True for '1', '0.5,2', '-1': a value (or comma list) of numbers."""
    try:
        return bool([float(v) for v in token.split(",") if v])
    except ValueError:
        return False


def _multi_value(base, options: tuple, accept):
    """A click command class whose ``options`` take several space-separated values (``--sigma 1 2`` ->
    ``--sigma 1,2``): the values after each such option that ``accept`` takes are joined into one comma list."""

    class MultiValue(base):
        def parse_args(self, ctx, args):
            out, args = [], list(args)
            while args:
                out.append(args.pop(0))
                vals = []
                while out[-1] in options and args and accept(args[0]):
                    vals.append(args.pop(0))
                out += [",".join(vals)] if vals else []
            return super().parse_args(ctx, out)

    return MultiValue


percolate_app = typer.Typer(
    cls=_multi_value(TyperGroup, ("--sigma", "--keep-fractions"), _is_numbers),
    invoke_without_command=True,
    help="Percolation of the training lattice: largest-cluster curves and thresholds (`percolate test`: against "
         "a study's trained models; `percolate design`: keep fractions for such a study).",
)
OVERLAP = typer.Option("pixel", "--overlap", "--method", help="When images connect: pixel (overlaps of the rendered "
                       "images, as the data are) or continuum (closed form, bumps only).")
app.add_typer(percolate_app, name="percolate")


@percolate_app.callback()
@user_errors
def percolate(
    ctx: typer.Context,
    sigma: List[str] = typer.Option([], "--sigma", help="Bump widths (px): --sigma 0.5 1 2 (overrides a config's)."),
    spacing: Optional[float] = typer.Option(None, "--spacing", help="Lattice spacing d (px; default 1 or a config's)."),
    threshold: float = typer.Option(0.005, "--threshold", help="Overlap at which two sites connect, in (0, 1)."),
    lattice: Optional[int] = typer.Option(None, "--lattice", help="Sites per side L (default 256, or a config's)."),
    trials: int = typer.Option(20, "--trials", help="Newman-Ziff passes (random site orders) per sigma."),
    keep_fractions: List[str] = typer.Option([], "--keep-fractions", help="lambda values (default 0.01 .. 1)."),
    periodic: bool = typer.Option(False, "--periodic", help="Wrap the lattice into a torus (periodic bumps)."),
    overlap: str = OVERLAP,
    preset: Optional[str] = typer.Option(None, "--preset", help="Take sigma, spacing and lattice from a preset."),
    config: Optional[Path] = typer.Option(None, "--config", help="... or from a config file (TOML)."),
    set_: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set data.sigma=2."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results store to write (created if missing)."),
    name: str = typer.Option("default", "--name", help="Results group name: percolation/NAME."),
    replace: bool = REPLACE,
    seed: int = typer.Option(0, "--seed", help="Seed of the random site orders."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Largest-cluster curves of site percolation on the training lattice (Newman-Ziff).

    Two lattice sites connect when their bumps overlap by at least --threshold;
    keeping each site with probability lambda is site percolation with that
    neighbourhood. Writes largest_cluster_ratio (over kept sites),
    largest_cluster_fraction (over all sites) and the threshold lambda_c per
    sigma to RESULTS.zarr group percolation/NAME.

    Example: manifold-lens percolate --sigma 0.5 1 2 --lattice 256 --out results.zarr
    """
    if ctx.invoked_subcommand is not None:
        return
    from manifold_lens.config import load_config
    from manifold_lens.percolation import percolate as run_percolation
    from manifold_lens.percolation.design import check_overlap
    from manifold_lens.summary import percolation_lines

    use_config = bool(preset or config or set_)
    if not (sigma or use_config or out):
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if out is None:
        fail("--out: give a results store to write, e.g. --out results.zarr")
    method = check_overlap(overlap)
    lam = parse_csv(",".join(keep_fractions), float, "--keep-fractions") or None
    ds = run_percolation(parse_csv(",".join(sigma), float, "--sigma"), spacing=spacing, lattice_side=lattice,
                         periodic=periodic, config=load_config(preset, config, set_) if use_config else None,
                         threshold=threshold, trials=trials, keep_fractions=lam, method=method, seed=seed,
                         source=preset or str(config or "quick"), out=out, name=name, replace=replace,
                         progress=progress)
    typer.echo(f"wrote {out} group percolation/{name}:")
    echo_lines(percolation_lines(ds))


STUDY_DIR = typer.Argument(..., help="A study directory (manifold-lens study run) sweeping data.sigma and "
                           "data.keep_fraction.")
OUTCOME = typer.Option("accuracy_ood", "--outcome", help="Per-run outcome whose onset is measured: accuracy_ood "
                       "(default: accuracy on unsampled sites), accuracy_id or accuracy (both rise by memorisation).")
N_BOOT = typer.Option(1000, "--n-boot", help="Bootstrap resamples per side and width (95% percentile intervals).")
TEST_OUT = typer.Option(..., "--out", help="Results store to write (RESULTS.zarr; created if missing).")
TEST_NAME = typer.Option("default", "--name", help="Results group name: comparison/NAME.")
THRESHOLD = typer.Option(0.005, "--threshold", help="Overlap at which two images connect, in (0, 1).")


@percolate_app.command("test")
@user_errors
def percolate_test(
    ctx: typer.Context,
    study_dir: Path = STUDY_DIR,
    outcome: str = OUTCOME,
    threshold: float = THRESHOLD,
    overlap: str = OVERLAP,
    n_boot: int = N_BOOT,
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap and the Newman-Ziff passes."),
    out: Path = TEST_OUT,
    name: str = TEST_NAME,
    replace: bool = REPLACE,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
):
    """Does the outcome rise where the training set percolates? Predicted vs measured onsets, with a verdict.

    Per bump width, the same sigmoid (floor, ceiling, midpoint lambda_c) is
    fitted to the predicted largest-cluster ratio and to the outcome vs
    keep_fraction; both are bootstrapped (runs within each keep fraction;
    the runs' own training sets). Across widths: measured on predicted
    lambda_c with errors in both, and a collapse check. Prints the table and
    the verdict (consistent, inconsistent, insufficient) and writes
    RESULTS.zarr group comparison/NAME.

    Example: manifold-lens percolate test studies/percolation --out results.zarr
    """
    if ctx.info_name == "compare":
        typer.echo("note: `percolate compare` is now `percolate test`", err=True)
    from manifold_lens.percolation import percolation_test
    from manifold_lens.percolation.design import check_overlap
    from manifold_lens.stores import write_results, writing_results
    from manifold_lens.studies import open_study
    from manifold_lens.summary import percolation_test_lines

    check_overlap(overlap)
    with writing_results(out, "comparison", name, replace):  # refused before any work if NAME exists
        runs = open_study(study_dir, threshold=threshold)
        ds = percolation_test(runs, outcome=outcome, threshold=threshold, overlap=overlap, n_boot=n_boot, seed=seed,
                              progress=progress)
        write_results(out, "comparison", name, ds, replace=replace)
    typer.echo(f"wrote {out} group comparison/{name}:")
    echo_lines(percolation_test_lines(ds))


percolate_app.command("compare", hidden=True,
                      help="The former name of `percolate test` (same arguments).")(percolate_test)


@percolate_app.command("design", cls=_multi_value(TyperCommand, ("--sigma",), _is_numbers))
@user_errors
def percolate_design(
    sigma: List[str] = typer.Option(..., "--sigma", help="Bump widths (px): --sigma 0.3 0.4 0.5 0.7."),
    image_size: int = typer.Option(..., "--image-size", help="Frame side N (px) of the study's images."),
    keep: int = typer.Option(8, "--keep", help="Keep fractions to propose per width (>= 3)."),
    spacing: float = typer.Option(1.0, "--spacing", help="Lattice spacing d (px)."),
    threshold: float = THRESHOLD,
    overlap: str = OVERLAP,
    trials: int = typer.Option(200, "--trials", help="Newman-Ziff passes per width."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random site orders."),
):
    """Predicted onset per bump width and keep fractions concentrated around it, for a study's grid.

    Warns for widths that never connect or already percolate at the smallest
    sensible keep fraction (max(0.05, 2 / sites)).

    Example: manifold-lens percolate design --sigma 0.3 0.4 0.5 0.7 --image-size 16
    """
    from manifold_lens.percolation import design_keep_fractions
    from manifold_lens.summary import design_lines

    ds = design_keep_fractions(parse_csv(",".join(sigma), float, "--sigma"), image_size, keep=keep, spacing=spacing,
                               threshold=threshold, overlap=overlap, seed=seed, trials=trials)
    echo_lines(design_lines(ds))


# --- evaluate -----------------------------------------------------------------------------
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
):
    """Generation accuracy: sample at every condition, locate the bump, score (phases A/B/C).

    Writes RESULTS.zarr group evaluation/NAME: per-sample x_hat, y_hat, widths, n_bumps,
    correct, phase and accuracy overall, in/out of distribution, per region. A second
    bump counts above half the brightest or above --second-bump-threshold of the
    rendered height; a bump whose width is off by more than --max-width-ratio is phase A.

    Example: manifold-lens evaluate run.zarr --out results.zarr --checkpoints all
    """
    from manifold_lens.evaluation import evaluate_run
    from manifold_lens.summary import evaluation_lines

    ds = evaluate_run(run, checkpoints, sampler=sampler, steps=steps, eta=eta,
                      samples_per_condition=samples_per_condition, conditions=conditions, tolerance=tolerance,
                      second_bump_threshold=second_bump_threshold, max_width_ratio=max_width_ratio,
                      seed=seed, keep_images=keep_images, device=device, batch_size=batch_size, out=out, name=name,
                      replace=replace, progress=progress)
    typer.echo(f"wrote {out} group evaluation/{ds.attrs['name']}: {ds.sizes['checkpoint']} checkpoint(s) of {run}")
    echo_lines(evaluation_lines(ds))


# --- report / quickstart -------------------------------------------------------------------
@app.command()
@user_errors
def report(
    paths: List[Path] = typer.Argument(..., help="Results stores (RESULTS.zarr) and/or run stores (RUN.zarr), "
                                        "or one study directory (holding study.json)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Report directory: new, empty or an earlier report "
                                       "(a study's default: DIR/report)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a directory that holds other files "
                                   "(they are left alone; same-named files are replaced)."),
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

    rep = render_report(paths, out, overwrite=overwrite, dpi=dpi, formats=("png", "pdf") if pdf else ("png",),
                        progress=progress)
    echo_lines(report_lines(rep))


@app.command()
@user_errors
def quickstart(
    out: Path = typer.Argument(..., help="Directory for run.zarr, results.zarr and report/ (new or empty)."),
    set_: List[str] = typer.Option([], "--set", help="Override a quick-preset key: --set train.steps=500."),
    samples_per_condition: int = typer.Option(1, "--samples-per-condition", help="Generated images per condition."),
    sampler_steps: int = typer.Option(20, "--sampler-steps", help="DDIM steps of the evaluation sampler."),
    checkpoints: str = typer.Option("all", "--checkpoints", help="Checkpoints: all, last or steps like 0,500."),
    embed: str = typer.Option("pca", "--embed", help="Embeddings for the 3-D views: pca,umap,isomap."),
    noise_draws: int = typer.Option(4, "--noise-draws", help="Noise draws per condition in the analysis "
                                     "(inner products across draws cancel the noise)."),
    trials: int = typer.Option(20, "--trials", help="Newman-Ziff passes of the percolation curve."),
    device: str = DEVICE,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier quickstart in OUT."),
    progress: bool = PROGRESS,
):
    """Train the quick preset, evaluate it, analyse it, compute its percolation curve and write the report.

    About 3 minutes on 2 idle CPU cores. Then open OUT/report/index.html.

    Example: manifold-lens quickstart quickstart/
    """
    from manifold_lens.quickstart import quickstart as run_quickstart

    res = run_quickstart(out, set_, samples_per_condition=samples_per_condition, sampler_steps=sampler_steps,
                         checkpoints=checkpoints, embed=parse_csv(embed) or ["pca"], noise_draws=noise_draws,
                         trials=trials, device=device, overwrite=overwrite, progress=progress, log=typer.echo)
    typer.echo(f"done in {res.seconds / 60:.1f} min: run {res.run}, results {res.results}")
    typer.echo(f"open {res.index} in a browser (figures as PNG and PDF in {res.report})")


# --- study ---------------------------------------------------------------------------

study_app = typer.Typer(help="Studies: a grid of runs from one TOML file, on a local, Slurm or dask executor.",
                        no_args_is_help=True)
app.add_typer(study_app, name="study")


def _table(rows: list[dict]) -> list[str]:
    """Rows of dicts as aligned text columns (the keys of the first row, plus any later ones)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    fmt = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return [fmt(cols), *(fmt(row) for row in cells)]


@study_app.command("run")
@user_errors
def study_run(
    study_file: str = typer.Argument(..., metavar="STUDY",
                                     help="A study file (TOML), or the name of a bundled study (`study list`)."),
    out: Path = typer.Option(..., "--out", help="Study directory (created; a rerun finishes what is missing)."),
    scale: Optional[str] = typer.Option(None, "--scale", help="A scale of the study file: cpu or paper for the "
                                        "bundled studies (default: cpu when the file has scales)."),
    set_: List[str] = typer.Option([], "--set", help="Override a config key in every run: --set train.steps=200 "
                                   "(repeatable; not a key the grid sweeps; recorded in study.json)."),
    executor: Optional[str] = typer.Option(None, "--executor", help="local, slurm or dask (default: the file's)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Runs at once (default: the file's, else 1)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the table of runs; run and create nothing."),
    progress: bool = PROGRESS,
):
    """Train, evaluate and analyze every run of a study not yet done; each run in OUT/runs/<run-id>/.

    Examples: manifold-lens study run lesion --scale cpu --out lesion-study;
    manifold-lens study run my-study.toml --out my-study --workers 2
    """
    from manifold_lens.studies import run_study

    rows = run_study(study_file, out, scale=scale, overrides=set_, executor=executor, workers=workers,
                     dry_run=dry_run, progress=progress)
    if dry_run:
        typer.echo(f"{len(rows)} runs (dry run: nothing executed)")
        echo_lines(_table(rows))
        return
    states = [r["state"] for r in rows]
    typer.echo(f"{out}: {states.count('done')} of {len(rows)} runs done" +
               (f", {states.count('failed')} failed" if "failed" in states else ""))
    for r in rows:
        if r["state"] == "failed":
            typer.echo(f"  {r['run_id']}: failed in {r.get('stage', '?')}: {r['error']}")
    if "failed" in states:
        raise typer.Exit(1)


@study_app.command("status")
@user_errors
def study_status_cmd(out: Path = typer.Argument(..., help="A study directory.")):
    """Each run's state: done, running, pending, failed (with the error), interrupted, missing."""
    from manifold_lens.studies import study_status

    rows = study_status(out)
    states = [r["state"] for r in rows]
    echo_lines(_table([{**r, "seconds": None if r["seconds"] is None else f"{r['seconds']:.1f}"} for r in rows]))
    typer.echo(", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states)))


@study_app.command("list")
@user_errors
def study_list():
    """The bundled studies: name, claim, runs and estimated minutes at --scale cpu, description."""
    from manifold_lens.studies import list_studies, studies_dir

    studies = list_studies("cpu")
    if not studies:
        typer.echo("no bundled studies yet")
        return
    for s in studies:
        size = "" if s["runs"] is None else f"{s['runs']} runs" + (f", ~{s['minutes']:g} min" if s["minutes"] else "")
        typer.echo(f"{s['name']:<18} {s['claim'] or '-':<18} {size:<18} {s['description']}")
    typer.echo(f"(runs and minutes at --scale cpu on 2 CPU cores; run one with `manifold-lens study run NAME "
               f"--scale cpu|paper --out DIR`; files in {studies_dir()})")
