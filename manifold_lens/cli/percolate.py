"""``manifold-lens percolate`` (curves), ``percolate test`` and ``percolate design``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from ..percolation.settings import PercolationSettings as PS
from ..percolation.settings import PercolationTestSettings as TS
from .core import JSON, REPLACE, app, echo_json, echo_lines, fail, parse_csv, setting_option, user_errors


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
OVERLAP = setting_option(PS, "overlap", "--overlap", "--method")
app.add_typer(percolate_app, name="percolate")


@percolate_app.callback()
@user_errors
def percolate(
    ctx: typer.Context,
    sigma: List[str] = typer.Option([], "--sigma", help="Bump widths (px): --sigma 0.5 1 2 (overrides a config's)."),
    spacing: Optional[float] = typer.Option(None, "--spacing", help="Lattice spacing d (px; default 1 or a config's)."),
    threshold: float = setting_option(PS, "threshold"),
    lattice: Optional[int] = typer.Option(None, "--lattice", "--lattice-side", help="Sites per side L (default "
                                          f"{PS.default('lattice_side')}, or a config's)."),
    trials: int = setting_option(PS, "trials"),
    keep_fractions: List[str] = typer.Option([], "--keep-fractions", help="lambda values (default 0.01 .. 1)."),
    periodic: bool = setting_option(PS, "periodic"),
    overlap: str = OVERLAP,
    preset: Optional[str] = typer.Option(None, "--preset", help="Take sigma, spacing and lattice from a preset."),
    config: Optional[Path] = typer.Option(None, "--config", help="... or from a config file (TOML)."),
    set_: List[str] = typer.Option([], "--set", help="Override a config key, e.g. --set data.sigma=2."),
    out: Optional[Path] = typer.Option(None, "--out", help="Results store to write (created if missing)."),
    name: str = typer.Option("default", "--name", help="Results group name: percolation/NAME."),
    replace: bool = REPLACE,
    seed: int = setting_option(PS, "seed"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = JSON,
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
    from manifold_lens.percolation.settings import check_overlap
    from manifold_lens.summary import percolation_lines, percolation_summary

    use_config = bool(preset or config or set_)
    if not (sigma or use_config or out):
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    if out is None:
        fail("--out: give a results store to write, e.g. --out results.zarr")
    overlap = check_overlap(overlap)
    lam = parse_csv(",".join(keep_fractions), float, "--keep-fractions") or None
    ds = run_percolation(parse_csv(",".join(sigma), float, "--sigma"), spacing=spacing, lattice_side=lattice,
                         periodic=periodic, config=load_config(preset, config, set_) if use_config else None,
                         threshold=threshold, trials=trials, keep_fractions=lam, overlap=overlap, seed=seed,
                         source=preset or str(config or "quick"), out=out, name=name, replace=replace,
                         progress=progress)
    if as_json:
        echo_json({"out": str(out), "group": f"percolation/{name}", **percolation_summary(ds)})
        return
    typer.echo(f"wrote {out} group percolation/{name}:")
    echo_lines(percolation_lines(ds))


STUDY_DIR = typer.Argument(..., help="A study directory (manifold-lens study run) sweeping data.sigma and "
                           "data.keep_fraction.")
OUTCOME = typer.Option(TS.default("outcome"), "--outcome", help="Per-run outcome whose onset is measured: accuracy_ood "
                       "(default: accuracy on unsampled sites), accuracy_id or accuracy (both rise by memorisation).")
N_BOOT = setting_option(TS, "n_boot")
TEST_OUT = typer.Option(None, "--out", help="Also write the test to this results store (group comparison/NAME); "
                        "it is always stored in the study's own DIR/results.zarr (group claims/percolation_test).")
TEST_NAME = typer.Option("default", "--name", help="Results group name with --out: comparison/NAME.")
THRESHOLD = setting_option(TS, "threshold")


@percolate_app.command("test")
@user_errors
def percolate_test(
    ctx: typer.Context,
    study_dir: Path = STUDY_DIR,
    outcome: str = OUTCOME,
    threshold: float = THRESHOLD,
    overlap: str = OVERLAP,
    n_boot: int = N_BOOT,
    seed: int = setting_option(TS, "seed"),
    min_train_accuracy: float = setting_option(TS, "min_train_accuracy"),
    min_keep_fractions: int = setting_option(TS, "min_keep_fractions"),
    min_seeds: int = setting_option(TS, "min_seeds"),
    out: Optional[Path] = TEST_OUT,
    name: str = TEST_NAME,
    replace: bool = REPLACE,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    as_json: bool = JSON,
):
    """Does the outcome rise where the training set percolates? Predicted vs measured onsets, with a verdict.

    Per bump width, the same sigmoid (floor, ceiling, midpoint lambda_c) is
    fitted to the predicted largest-cluster ratio and to the outcome vs
    keep_fraction at the runs' keep fractions, each with a profile-likelihood
    interval that holds with few seeds (never narrower than the keep
    fractions bracketing the onset); the outcome's ceiling is bounded by the
    runs' in-distribution accuracy, and runs below --min-train-accuracy are
    left out. A width below --min-keep-fractions x --min-seeds gets no
    verdict. Across widths: measured on predicted lambda_c with errors in
    both (reported), and a collapse check. Prints the table and
    the verdict (consistent, inconsistent, insufficient) and stores the test
    in the study (DIR/results.zarr group claims/percolation_test, replacing an
    earlier one), where the study's report reads it; --out also writes it to
    RESULTS.zarr group comparison/NAME (refused if it exists, unless --replace).

    Example: manifold-lens percolate test studies/percolation
    """
    if ctx.info_name == "compare":
        typer.echo("note: `percolate compare` is now `percolate test`", err=True)
    from manifold_lens.percolation.settings import check_overlap
    from manifold_lens.stores import write_results, writing_results
    from manifold_lens.studies.claims import study_percolation_test
    from manifold_lens.studies.layout import CLAIMS_KIND, PERCOLATION_TEST, study_results
    from manifold_lens.summary import percolation_test_lines, percolation_test_summary

    check_overlap(overlap)
    # the study's own claim group holds the latest test asked for (a derived result: replaced, never refused)
    kwargs = dict(outcome=outcome, threshold=threshold, overlap=overlap, n_boot=n_boot, seed=seed, replace=True,
                  progress=progress, min_train_accuracy=min_train_accuracy, min_keep_fractions=min_keep_fractions,
                  min_seeds=min_seeds)
    groups = [f"{study_results(study_dir)} group {CLAIMS_KIND}/{PERCOLATION_TEST}"]
    if out is None:
        ds = study_percolation_test(study_dir, **kwargs)
    else:
        with writing_results(out=out, kind="comparison", name=name, replace=replace):  # refused before any work
            ds = study_percolation_test(study_dir, **kwargs)
            write_results(ds, out=out, kind="comparison", name=name, replace=replace)
        groups.append(f"{out} group comparison/{name}")
    if as_json:
        echo_json({"written": groups, **percolation_test_summary(ds)})
        return
    typer.echo(f"wrote {' and '.join(groups)}:")
    echo_lines(percolation_test_lines(ds))


percolate_app.command("compare", hidden=True,
                      help="The former name of `percolate test` (same arguments).")(percolate_test)


@percolate_app.command("design", cls=_multi_value(TyperCommand, ("--sigma",), _is_numbers))
@user_errors
def percolate_design(
    sigma: List[str] = typer.Option(..., "--sigma", help="Bump widths (px): --sigma 0.3 0.4 0.5 0.7."),
    image_size: int = typer.Option(..., "--image-size", help="Frame side N (px) of the study's images."),
    keep: int = typer.Option(8, "--keep", help="Keep fractions to propose per width (6 to 40; the test needs >= 6)."),
    spacing: float = typer.Option(1.0, "--spacing", help="Lattice spacing d (px)."),
    threshold: float = THRESHOLD,
    overlap: str = OVERLAP,
    trials: int = typer.Option(200, "--trials", help="Newman-Ziff passes per width (1 to 100000)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random site orders."),
    as_json: bool = JSON,
):
    """Predicted onset per bump width and keep fractions spanning it, for a study's grid.

    Each width's keep fractions run from the smallest sensible keep fraction
    (max(0.03, 2 / sites)) to max(0.75, onset + 0.25), denser near the
    predicted onset, so a measured onset away from the prediction stays inside
    the sweep. Run at least 3 seeds (vary data.seed): the test gives no verdict
    on a width below 6 keep fractions x 3 converged seeds. Warns for widths
    that never connect or already percolate at the smallest keep fraction.

    Example: manifold-lens percolate design --sigma 0.3 0.4 0.5 0.7 --image-size 16
    """
    from manifold_lens.percolation import design_keep_fractions
    from manifold_lens.summary import design_lines, design_summary

    ds = design_keep_fractions(parse_csv(",".join(sigma), float, "--sigma"), image_size, keep=keep, spacing=spacing,
                               threshold=threshold, overlap=overlap, seed=seed, trials=trials)
    echo_json(design_summary(ds)) if as_json else echo_lines(design_lines(ds))
