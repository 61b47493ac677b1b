"""``manifold-lens quickstart``: the whole study on the quick preset, in one call.

Trains the ``quick`` preset (with any ``--set`` overrides) into
``OUT/run.zarr``, evaluates every checkpoint, analyses every checkpoint,
computes the percolation curve of its training lattice (sigma, spacing and
lattice from the config) with the neighbour-overlap curve, all into
``OUT/results.zarr``, and renders the report into ``OUT/report``.

Training dominates the time. The evaluation defaults (DDIM with 20 steps, one
sample per condition: 256 samples per checkpoint on the quick preset, a
standard error of about 1.4 accuracy points at 95%) keep evaluation and
analysis of all 13 checkpoints to a few minutes on 2 CPU cores (the trained
quick model scores 99.8% with DDIM-20 at its last checkpoint). Pass
``--samples-per-condition`` or ``--sampler-steps`` for tighter numbers.
"""

from __future__ import annotations

import shutil
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from .analysis import analyze_run
from .analysis.settings import ExtractionSettings, MeasureSettings
from .config import load_config
from .devices import resolve_device
from .errors import ManifoldLensError
from .evaluation import evaluate_run
from .evaluation.settings import EvaluationSettings
from .memory import check_run_resources
from .percolation import connection_radius, dataset_percolation, neighbour_overlap_curve, percolate
from .percolation.settings import PercolationSettings
from .report import render_report
from .stores import RESULTS, RUN, store_schema, write_results
from .stores.lock import store_lock
from .summary import report_lines
from .training import train_run

RUN_STORE = "run.zarr"
RESULTS_STORE = "results.zarr"
REPORT = "report"


@dataclass
class QuickstartResult:
    run: Path
    results: Path
    report: Path
    index: Path
    seconds: float


def _replace_keyword(replace: bool, overwrite: bool | None) -> bool:
    """``replace``, or the deprecated ``overwrite`` keyword it renamed (with a DeprecationWarning)."""
    if overwrite is None:
        return replace
    warnings.warn("overwrite= is deprecated; use replace=", DeprecationWarning, stacklevel=3)
    return replace or overwrite


def check_out_dir(out: Path, replace: bool = False, *, overwrite: bool | None = None) -> None:
    """OUT must be new or empty; with ``replace`` it may hold an earlier quickstart's outputs (and only those).

    ``overwrite`` is the former name of ``replace`` (deprecated).
    """
    replace = _replace_keyword(replace, overwrite)
    if out.exists() and not out.is_dir():
        raise ManifoldLensError(f"OUT {out}: is a file; give a directory for the quickstart outputs")
    own = {RUN_STORE, RESULTS_STORE, REPORT}
    present = {p.name for p in out.iterdir() if not p.name.endswith(".lock")} if out.exists() else set()
    if not present:
        return
    if not replace:
        raise ManifoldLensError(f"out = {out}: already holds files; give a new directory or pass replace=True to "
                                f"write over its {RUN_STORE}, {RESULTS_STORE} and {REPORT}/")
    for name, schema in ((RUN_STORE, RUN), (RESULTS_STORE, RESULTS)):
        if name in present and store_schema(out / name) != schema:
            raise ManifoldLensError(f"out = {out}: {name} is not a manifold-lens {schema.split('.')[-1]} store; "
                                    "replace=True writes over only the quickstart's own outputs: move it away first")
    if present - own:
        raise ManifoldLensError(f"out = {out}: holds {', '.join(sorted(present - own))}, which the quickstart did "
                                "not write; replace=True writes over only its own outputs: give a new directory")


def remove_previous(out: Path) -> None:
    """Delete an earlier quickstart's stores in OUT (checked by :func:`check_out_dir`; their locks are held)."""
    for name in (RUN_STORE, RESULTS_STORE):
        if (out / name).exists():
            shutil.rmtree(out / name)


def percolation_of(config, trials: int = PercolationSettings.default("trials"),
                   threshold: float = PercolationSettings.default("threshold"), seed: int = 0,
                   progress: bool = True) -> xr.Dataset:
    """Largest-cluster curves of a config's training lattice, with the neighbour-overlap curve of its sigma.

    Bump and periodic families: site percolation on the frame's lattice (sigma,
    spacing and lattice side from ``config.data``). Other families: the exact
    coverage graph of the dataset's own candidate conditions. Dims (sigma,
    keep_fraction, trial) and (sigma, spacing) for the overlap curve.
    """
    d = config.data
    if d.family in ("bump", "periodic"):
        ds = percolate(config=config, threshold=threshold, trials=trials, seed=seed, progress=progress)
    else:
        full = config.with_overrides({"data.keep_fraction": 1.0})
        ds = dataset_percolation(full, trials=trials, threshold=threshold, seed=seed, progress=progress)
        ds = ds.expand_dims(sigma=[float(d.sigma_x)])  # every variable gains the sigma dim
        ds.attrs["spacing_x"] = float(d.spacing_x)
    top = max(1.5 * connection_radius(float(d.sigma_x), threshold), 3.0 * float(d.spacing_x))
    overlap = neighbour_overlap_curve([float(d.sigma_x)], np.linspace(0.0, top, 121),
                                      image_size=max(int(d.image_size), 32), periodic=False)
    ds = ds.assign_coords(spacing=overlap["spacing"])
    for name in ("overlap_pixels", "overlap_continuum"):
        ds[name] = overlap[name].assign_coords(sigma=ds["sigma"].values)
    ds.attrs.update({"config": config.to_dict(), "source": "quickstart",
                     "overlap_image_size": int(overlap.attrs["image_size"])})
    return ds


def quickstart(out, overrides=(), *, samples_per_condition: int = 1, sampler_steps: int = 20,
               checkpoints: str = "all", embed=MeasureSettings.default("embed"),
               noise_draws: int = ExtractionSettings.default("noise_draws"),
               trials: int = PercolationSettings.default("trials"),
               device: str = "auto", replace: bool = False, progress: bool = True, log=print,
               overwrite: bool | None = None) -> QuickstartResult:
    """Train, evaluate, analyse, percolate and report the quick preset into ``out`` (see the module docstring).

    Args:
        out: directory for run.zarr, results.zarr and report/ (new or empty, or ``replace``).
        overrides: ``key=value`` config overrides for training, e.g. ``["train.steps=20"]``.
        samples_per_condition, sampler_steps: evaluation samples per condition and DDIM steps.
        checkpoints: checkpoints to evaluate and analyse ("all", "last" or steps "0,500").
        embed: embeddings stored by the analysis (pca, umap, isomap).
        noise_draws: noise draws averaged per condition in the analysis.
        trials: Newman-Ziff passes of the percolation curve.
        replace: write over an earlier quickstart's outputs in ``out`` (and nothing else).
        log: called with one line per stage (``print`` by default).
        overwrite: the former name of ``replace`` (deprecated).
    """
    replace = _replace_keyword(replace, overwrite)
    t0 = time.perf_counter()
    out = Path(out)
    cfg = load_config("quick", overrides=list(overrides))
    resolve_device(device)  # fail before training on a bad device or evaluation setting
    EvaluationSettings(sampler="ddim", steps=sampler_steps,
                       samples_per_condition=samples_per_condition).check(timesteps=cfg.diffusion)
    run_path, results, report_dir = out / RUN_STORE, out / RESULTS_STORE, out / REPORT
    check_run_resources(cfg, run_path, resolve_device(device))
    check_out_dir(out, replace)
    with ExitStack() as held:  # both stores' writer locks, before anything is replaced, until the report is done
        for store in (run_path, results):
            held.enter_context(store_lock(store))
        remove_previous(out)
        out.mkdir(parents=True, exist_ok=True)
        d, tc = cfg.data, cfg.train

        log(f"[1/5] training the quick preset ({d.family}, {d.image_size}x{d.image_size} px, {tc.steps} steps) "
            f"into {run_path}")
        run = train_run(cfg, run_path, device=None if device == "auto" else device, progress=progress, log=log)
        chosen = run.select_checkpoints(checkpoints)

        log(f"[2/5] evaluating {len(chosen)} checkpoint(s): DDIM-{sampler_steps}, {samples_per_condition} "
            f"sample(s) x {run.conditions.sizes['condition']} conditions")
        evaluate_run(run, checkpoints=chosen, sampler="ddim", steps=sampler_steps,
                     samples_per_condition=samples_per_condition, device=device, out=results, name="default",
                     progress=progress)

        log(f"[3/5] analysing the representations of {len(chosen)} checkpoint(s)")
        analyze_run(run, out=results, checkpoints=chosen, embed=embed, noise_draws=noise_draws, device=device,
                    progress=progress)

        log(f"[4/5] percolation of the training lattice (sigma {d.sigma_x:g} px, spacing {d.spacing_x:g} px, "
            f"{trials} trials)")
        perc = percolation_of(cfg, trials=trials, progress=progress)
        perc.attrs["source_run"] = str(run.path)  # its lattice is this run's training lattice
        write_results(perc, out=results, kind="percolation", name="default")

        log(f"[5/5] rendering the report into {report_dir}")
        report = render_report([results], report_dir, overwrite=replace, progress=progress)
        for line in report_lines(report)[:-2]:
            log(line)
        return QuickstartResult(run_path, results, report_dir, report.index, time.perf_counter() - t0)
