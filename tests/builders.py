"""Shared test helpers: tiny settings, the CLI runner, and synthetic results following the contracts.

A plain module (no fixtures, no tests), imported as ``from tests.builders import ...``;
test files never import from each other. Fixtures live in ``tests/conftest.py``.

The synthetic results are made with the real code paths wherever one exists:
evaluation aggregates come from ``evaluate.aggregate`` on per-sample scores
drawn with a known success rate, analysis results from ``measure`` on codes
that turn from random into a Clifford torus over "checkpoints", percolation
curves from ``lattice_percolation`` and the comparison from
``percolation_vs_accuracy``. Run stores for the comparison are created with
the run writer and no checkpoints (the comparison reads only their configs);
their evaluations follow the evaluation contract (group ``evaluation/<name>``,
``accuracy`` per checkpoint, ``source_run``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import hashlib
from pathlib import Path

import numpy as np
import xarray as xr
from typer.testing import CliRunner

from cli import app
from manifold_lens.analysis.measure import measure
from manifold_lens.analysis.references import ideal_codes, pixel_code, shuffled_code, stack_references
from manifold_lens.datasets.render import bump_intensity
from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.evaluation import aggregate
from manifold_lens.percolation import lattice_percolation
from manifold_lens.stores import RunWriter

# -- tiny settings --------------------------------------------------------------------

# a run that trains in about a second: 8 x 8 images, width-8 UNet, 12 steps
TINY = [
    "data.image_size=8",
    "model.base_channels=8",
    "model.embed_dim=32",
    "model.freq_dim=8",
    "train.steps=12",
    "train.batch_size=8",
    "train.checkpoint_every=6",
    "train.early_checkpoints=2",
    "train.warmup_steps=2",
]

# keyword arguments that keep a training loop silent
QUIET = dict(progress=False, log=lambda *a: None)


def set_args(overrides) -> list[str]:
    """Config overrides as CLI arguments: ``["--set", o1, "--set", o2, ...]``."""
    return [a for o in overrides for a in ("--set", o)]


# -- stores on disk --------------------------------------------------------------------

def fingerprint(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> SHA-1 of its bytes): equal before and after = nothing written."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- the CLI ----------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args):
    """Run ``manifold-lens`` with ``args`` (each turned into a string) through typer's test runner."""
    return runner.invoke(app, [str(a) for a in args])


def kill_after_commit(args, group: Path, timeout: float = 120.0) -> int:
    """Run ``manifold-lens ARGS`` in a child process and SIGKILL it once results group ``group`` (a folder in
    a results store) has committed a checkpoint; returns the committed count the kill left."""
    meta = Path(group) / "zarr.json"

    def committed() -> int:
        try:
            return int(json.loads(meta.read_text())["attributes"].get("committed", 0))
        except (OSError, ValueError, KeyError):
            return 0

    proc = subprocess.Popen([sys.executable, "-c", "from cli import app; app()", *map(str, args)],
                            cwd=Path(__file__).resolve().parents[1], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while committed() < 1:
            if proc.poll() is not None:
                raise AssertionError(f"exited ({proc.returncode}) before a commit: {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no checkpoint committed within {timeout:g} s")
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, "finished before it could be killed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    return committed()


# -- run stores and evaluations for the comparison --------------------------------------

def make_run(path: Path, sigma: float, keep: float, seed: int = 0) -> Path:
    """A run store without checkpoints: a 16 px quick config at ``sigma`` and ``keep`` fraction."""
    cfg = load_config("quick", overrides=["data.image_size=16", f"data.sigma={sigma}", f"data.keep_fraction={keep}",
                                          f"data.seed={seed}"])
    RunWriter.create(path, cfg, SyntheticDataset(cfg), param_names=[])
    return path


def fake_evaluation(run: Path, accuracy: float, steps=(0, 50, 100)) -> xr.Dataset:
    """An evaluation result following the contract; accuracy rises to ``accuracy`` at the last checkpoint."""
    ds = SyntheticDataset(load_config("quick", overrides=["data.image_size=16"]))
    cond = ds.conditions_dataset()
    n_ck = len(steps)
    acc = np.linspace(0.0, accuracy, n_ck)
    regions = ["train", "unsampled"]
    return xr.Dataset(
        {
            "accuracy": ("checkpoint", acc),
            "accuracy_id": ("checkpoint", acc),
            "accuracy_ood": ("checkpoint", acc * 0.5),
            "accuracy_region": (("checkpoint", "region"), np.stack([acc, acc], axis=1)),
            "accuracy_condition": (("checkpoint", "condition"), np.repeat(acc[:, None], cond.sizes["condition"], 1)),
            "correct": (("checkpoint", "condition", "sample"), np.zeros((n_ck, cond.sizes["condition"], 2), bool)),
        },
        coords={"checkpoint": list(steps), "x": cond.x, "y": cond.y, "in_train": cond.in_train,
                "region": regions},
        attrs={"source_run": str(Path(run).resolve())},
    )


# -- synthetic results following the contracts ------------------------------------------

STEPS = (0, 10, 100, 1000)
HOLDOUT = ["data.image_size=16", "data.holdout.kind=interior", "data.holdout.width=4"]


def synthetic_dataset(overrides=HOLDOUT) -> SyntheticDataset:
    return SyntheticDataset(load_config("quick", overrides=list(overrides)).data)


def synthetic_evaluation(dataset: SyntheticDataset | None = None, steps=STEPS, samples: int = 4, seed: int = 0,
                         source_run: str | None = None) -> xr.Dataset:
    """Per-sample scores whose success rate rises with step (held-out conditions lag), aggregated for real."""
    dataset = dataset or synthetic_dataset()
    cond = dataset.conditions_dataset()
    rng = np.random.default_rng(seed)
    in_train = cond["in_train"].values.astype(bool)
    rate = np.array(steps, float) / max(steps)
    p = np.where(in_train[None, :], 0.95 * rate[:, None], 0.5 * rate[:, None])  # (checkpoint, condition)
    correct = rng.random((len(steps), cond.sizes["condition"], samples)) < p[..., None]
    one_bump = rng.random(correct.shape) < 0.3 + 0.7 * rate[:, None, None]
    phase = np.where(correct, "C", np.where(one_bump, "B", "A")).astype(object)
    ds = xr.Dataset(
        {"correct": (("checkpoint", "condition", "sample"), correct),
         "phase": (("checkpoint", "condition", "sample"), phase)},
        coords={"checkpoint": list(steps), "sample": np.arange(samples), "x": cond.x, "y": cond.y,
                "region": cond.region, "in_train": cond.in_train, "family": cond.family},
        attrs={"sampler": "ddim", "sampler_steps": 50, "samples_per_condition": samples, "tolerance_px": 1.0,
               "config": load_config("quick", overrides=HOLDOUT).to_dict()},
    )
    if source_run:
        ds.attrs["source_run"] = str(source_run)
    return aggregate(ds)


def synthetic_analysis(n: int = 10, steps=STEPS, units: int = 24, embed=("pca",), seed: int = 0,
                       source_run: str | None = None) -> xr.Dataset:
    """``measure`` at each step of a code that turns from random into a Clifford torus, stacked like analyze,
    with the references analyze measures beside it (pixels: the rendered periodic bumps; init: the step-0
    code; shuffled; the ideal codes). The features are periodic (period n).

    The last step is exactly a (rotated) Clifford torus.
    """
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    x, y = xs.ravel(), ys.ravel()
    a, b = 2 * np.pi * x / n, 2 * np.pi * y / n
    basis = np.linalg.qr(rng.normal(size=(units, 4)))[0]  # orthonormal: an isometric copy of the torus
    torus = np.column_stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)]) @ basis.T
    noise = rng.normal(size=(n * n, units))
    parts, fixed = [], None
    for k, step in enumerate(steps):
        w = k / (len(steps) - 1)
        acts = xr.DataArray(w * torus + (1 - w) * noise, dims=("condition", "unit"),
                            coords={"x": ("condition", x), "y": ("condition", y),
                                    "in_train": ("condition", ~((x == 2) & (y == 3)))},
                            attrs={"periodic": 1, "period": [n, n]})
        m = measure(acts, embed=embed, seed=0, progress=False)
        if fixed is None:  # step 0 is the "untrained" code
            pixels = bump_intensity(x, y, n, 1.0, periodic=True)
            fixed = {"pixels": measure(pixel_code(pixels, acts), embed=()), "init": measure(acts, embed=()),
                     **{r: measure(c, embed=()) for r, c in ideal_codes(acts).items()}}
        m = stack_references(m, {**fixed, "shuffled": measure(shuffled_code(acts, 7919), embed=())})
        parts.append(m.expand_dims(layer=["bottleneck"]).expand_dims(timestep=[50]).expand_dims(checkpoint=[step]))
    ds = xr.concat(parts, "checkpoint", coords="minimal", compat="override", combine_attrs="override")
    ds.attrs["source_config"] = load_config("quick").to_dict()
    if source_run:
        ds.attrs["source_run"] = str(source_run)
    return ds


def synthetic_percolation() -> xr.Dataset:
    return lattice_percolation([0.1, 0.6, 1.0], 1.0, 0.005, 24, trials=4, progress=False)


def synthetic_comparison(root: Path) -> xr.Dataset:
    """The real comparison (percolation_vs_accuracy) of run stores with evaluations of a known logistic onset."""
    from manifold_lens.percolation.onset import logistic, percolation_vs_accuracy
    from manifold_lens.stores import write_results

    runs, store = [], root / "evals.zarr"
    for k, keep in enumerate([0.05, 0.1, 0.2, 0.4, 0.8]):
        run = make_run(root / f"run{k}.zarr", 1.0, keep, seed=k)
        write_results(fake_evaluation(run, logistic(keep, 0.9, 0.15, 0.03)), out=store, kind="evaluation",
                      name=f"run{k}")
        runs.append(run)
    return percolation_vs_accuracy(runs, [store], trials=4, keep_fractions=np.linspace(0.02, 1, 50),
                                   progress=False)


# -- a study directory (the layout of DIR/study.json and DIR/runs/<run_id>/) -------------

STUDY_KEYS = ["data.keep_fraction"]
STUDY_SET = ["data.holdout.kind=interior", "data.holdout.width=2"]


def write_study_manifest(root: Path, runs: list[dict], keys=STUDY_KEYS, name: str = "tiny-study") -> Path:
    """``root/study.json`` following the study contract; ``runs`` are {run_id, case, seed, swept, config}."""
    manifest = {"name": name, "source": str(root / "study.toml"), "created": "2026-01-01T00:00:00+00:00",
                "versions": {"manifold_lens": "test"}, "keys": list(keys), "runs": runs,
                "stages": {"evaluate": {"checkpoints": "all", "steps": 2, "samples_per_condition": 1},
                           "analyze": {"checkpoints": "last", "noise_draws": 2}},
                "executor": {"kind": "local", "workers": 1}}
    (root / "study.json").write_text(json.dumps(manifest, indent=1))
    return root / "study.json"


def write_run_status(root: Path, run_id: str, state: str, error: str = "") -> Path:
    """``root/runs/<run_id>/status.json`` with ``state`` (pending, running, done, failed)."""
    folder = root / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "status.json").write_text(json.dumps({
        "run_id": run_id, "state": state, "stage": "analyze" if state == "done" else "train", "error": error,
        "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:00:05+00:00", "host": "test",
        "pid": 0, "seconds": 5.0}))
    return folder / "status.json"


def make_study(root: Path, keep_fractions=(0.5, 1.0), seeds=(0, 1)) -> Path:
    """A real tiny study: per (keep fraction, seed) a trained run store (8x8, 12 steps), every checkpoint
    evaluated (DDIM-2, 1 sample) into ``evaluation/default`` and the last analysed (2 noise draws) into
    ``analysis/default``; study.json and each status.json written by hand. A few seconds per run."""
    from manifold_lens import analyze_run, evaluate_run
    from manifold_lens.training import train_run

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.toml").write_text('[study]\nname = "tiny-study"\npreset = "quick"\nseeds = [0, 1]\n'
                                     '[study.grid]\n"data.keep_fraction" = [0.5, 1.0]\n')
    runs = []
    for keep in keep_fractions:
        for seed in seeds:
            run_id = f"keep_fraction={keep:g},seed={seed}"
            folder = root / "runs" / run_id
            folder.mkdir(parents=True)
            cfg = load_config("quick", overrides=TINY + STUDY_SET + [f"data.keep_fraction={keep}",
                                                                    f"train.seed={seed}"])
            train_run(cfg, folder / "run.zarr", **QUIET)
            evaluate_run(folder / "run.zarr", checkpoints="all", steps=2, samples_per_condition=1, out=folder / "results.zarr",
                         name="default", progress=False)
            analyze_run(folder / "run.zarr", out=folder / "results.zarr", name="default", checkpoints="last",
                        noise_draws=2, progress=False)
            (folder / "log.txt").write_text("done\n")
            write_run_status(root, run_id, "done")
            runs.append({"run_id": run_id, "case": "", "seed": seed, "swept": {"data.keep_fraction": keep},
                         "config": cfg.to_dict()})
    write_study_manifest(root, runs)
    return root


def add_failed_runs(root: Path) -> list[str]:
    """Add two runs to a study's manifest that have no results: one failed (status.json with an error), one
    missing (no folder at all). Returns their run ids."""
    manifest = json.loads((root / "study.json").read_text())
    template = manifest["runs"][0]
    added = []
    for seed, state in [(0, "failed"), (1, None)]:
        run_id = f"keep_fraction=0.25,seed={seed}"
        manifest["runs"].append({**template, "run_id": run_id, "seed": seed, "swept": {"data.keep_fraction": 0.25}})
        if state:
            write_run_status(root, run_id, state, "Traceback (most recent call last):\nValueError: boom\n")
        added.append(run_id)
    (root / "study.json").write_text(json.dumps(manifest, indent=1))
    return added
