"""Time to render a full report from stored results at the paper-bump size.

Builds, once, a results store and a run store of paper-bump dimensions
(32 x 32 frame: 1024 conditions; the preset's checkpoint schedule, 31
checkpoints over 20000 steps; 2 layers; 4 samples per condition) and then
times ``render_report`` on them (goal: under 30 s on 2 cores), with the time
of each figure (drawing plus PNG and PDF).

The numbers in the stores are real metric outputs, not placeholders, but the
setup keeps them cheap: ``measure`` runs on a few codes on the 32 x 32 grid
(64 units; a random code turning into a Clifford torus) that are reused
across checkpoints, and the evaluation aggregates per-sample scores drawn at
a rising success rate. The UMAP variable holds the PCA embedding (UMAP is
computed by analyze, not by the report; drawing it costs the same). The run
store holds the dataset and 20000 loss values but no weights: a report never
loads a model.

    python benchmarks/report.py [--checkpoints 31] [--layers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manifold_lens.config import load_config  # noqa: E402
from manifold_lens.datasets import SyntheticDataset  # noqa: E402
from manifold_lens.evaluation import aggregate  # noqa: E402
from manifold_lens.analysis import measure  # noqa: E402
from manifold_lens.percolation import lattice_percolation  # noqa: E402
from manifold_lens.quickstart import percolation_of  # noqa: E402
from manifold_lens.report import render_report  # noqa: E402
from manifold_lens.report.plan import plan  # noqa: E402
from manifold_lens.report.sources import load_sources  # noqa: E402
from manifold_lens.stores import RunWriter, write_results  # noqa: E402
from trainers.train import checkpoint_schedule  # noqa: E402


def make_run(path: Path, cfg) -> list[int]:
    """A run store with the paper-bump dataset, its checkpoint steps and a loss history (no weights)."""
    tc = cfg.train
    steps = checkpoint_schedule(tc.steps, tc.checkpoint_every, tc.early_checkpoints)
    writer = RunWriter.create(path, cfg, SyntheticDataset(cfg.data), param_names=[])
    rng = np.random.default_rng(0)
    done = 0
    for s in steps:
        losses = [(k, 0.02 + 0.5 / np.sqrt(k) + 0.01 * rng.random()) for k in range(done + 1, s + 1)]
        writer.commit_checkpoint(s, s * tc.batch_size / 1024, {}, None, {}, {}, losses)
        done = s
    writer.set_status("complete")
    return steps


def make_evaluation(cfg, steps, run_path, samples=4) -> xr.Dataset:
    cond = SyntheticDataset(cfg.data).conditions_dataset()
    rng = np.random.default_rng(1)
    rate = np.clip(np.log1p(steps) / np.log1p(max(steps)), 0, 1) ** 4
    correct = rng.random((len(steps), cond.sizes["condition"], samples)) < 0.97 * rate[:, None, None]
    phase = np.where(correct, "C", np.where(rng.random(correct.shape) < rate[:, None, None], "B", "A")).astype(object)
    ds = xr.Dataset({"correct": (("checkpoint", "condition", "sample"), correct),
                     "phase": (("checkpoint", "condition", "sample"), phase)},
                    coords={"checkpoint": steps, "sample": np.arange(samples), "x": cond.x, "y": cond.y,
                            "region": cond.region, "in_train": cond.in_train, "family": cond.family},
                    attrs={"sampler": "ddim", "sampler_steps": 50, "samples_per_condition": samples,
                           "tolerance_px": 1.0, "source_run": str(run_path), "config": cfg.to_dict()})
    return aggregate(ds)


def make_analysis(cfg, steps, run_path, layers: int, distinct: int = 4, units: int = 64) -> xr.Dataset:
    n = cfg.data.image_size
    rng = np.random.default_rng(2)
    ys, xs = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="ij")
    x, y = xs.ravel(), ys.ravel()
    a, b = 2 * np.pi * x / n, 2 * np.pi * y / n
    torus = np.column_stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)]) @ np.linalg.qr(rng.normal(size=(units, 4)))[0].T
    noise = rng.normal(size=(n * n, units)) * 0.5
    codes = []
    for k in range(distinct):
        w = k / (distinct - 1)
        da = xr.DataArray(w * torus + (1 - w) * noise, dims=("condition", "unit"),
                          coords={"x": ("condition", x), "y": ("condition", y),
                                  "in_train": ("condition", np.ones(n * n, bool))})
        m = measure(da, embed=("pca",), seed=0, progress=False)
        m["embedding_umap"], m["embedding_umap_2d"] = m["embedding_pca"], m["embedding_pca_2d"]
        codes.append(m)
    names = ["bottleneck", "encoder.2", "decoder.0", "decoder.1"][:layers]
    parts = []
    for i, s in enumerate(steps):
        m = codes[min(distinct - 1, i * distinct // len(steps))]
        per_layer = [m.expand_dims(layer=[name]) for name in names]
        parts.append(xr.concat(per_layer, "layer", coords="minimal", compat="override")
                     .expand_dims(timestep=[50]).expand_dims(checkpoint=[s]))
    ds = xr.concat(parts, "checkpoint", coords="minimal", compat="override", combine_attrs="override")
    ds.attrs.update({"source_run": str(run_path), "source_config": cfg.to_dict()})
    return ds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=int, default=2, help="layers in the analysis (1-4)")
    ap.add_argument("--dpi", type=int, default=110)
    ap.add_argument("--keep", type=Path, default=None, help="keep the stores and the report in this directory")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs visible; torch threads are not used by the report")
    root = args.keep or Path(tempfile.mkdtemp(prefix="ml-report-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    cfg = load_config("paper-bump")
    t0 = time.perf_counter()
    run_path, store = root / "run.zarr", root / "results.zarr"
    if not store.exists():
        steps = make_run(run_path, cfg)
        write_results(make_evaluation(cfg, steps, run_path.resolve()), out=store, kind="evaluation", name="ddim50")
        write_results(make_analysis(cfg, steps, run_path.resolve(), args.layers), out=store, kind="analysis",
                      name="default")
        perc = percolation_of(cfg, trials=20, progress=False)
        write_results(perc, out=store, kind="percolation", name="default")
        write_results(store, "percolation", "sweep", lattice_percolation([0.5, 1, 2], 1.0, 0.005, 64, trials=20,
                                                                           progress=False))
    print(f"setup (stores of paper-bump size): {time.perf_counter() - t0:.1f} s in {root}")

    t0 = time.perf_counter()
    sources = load_sources([store])
    t_load = time.perf_counter() - t0
    jobs = [j for j in plan(sources) if not j.entry.skipped]
    print(f"{len(sources.groups)} results groups; evaluation {dict(sources.groups[0].ds.sizes)}")
    times = []
    for job in jobs:
        t = time.perf_counter()
        fig = job.draw()
        fig.savefig(io.BytesIO(), format="png", dpi=args.dpi)
        fig.set_layout_engine("none")
        fig.savefig(io.BytesIO(), format="pdf")
        times.append((time.perf_counter() - t, job.entry.stem))

    out = root / "report"
    t0 = time.perf_counter()
    rep = render_report([store], out, overwrite=True, dpi=args.dpi, progress=False)
    total = time.perf_counter() - t0
    print(f"loading the results: {t_load:.2f} s")
    print("slowest figures (draw + PNG + PDF):")
    for t, stem in sorted(times, reverse=True)[:6]:
        print(f"  {t:6.2f} s  {stem}")
    print(f"full report: {len(rep.rendered)} figures ({len(rep.skipped)} skipped) in {total:.1f} s "
          f"(goal < 30 s on 2 cores); {out / 'index.html'}")


if __name__ == "__main__":
    main()
