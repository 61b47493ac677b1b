"""Wall time of a study of 8 tiny runs: one worker vs two, and the study layer's overhead; prints figures.

    python benchmarks/study.py [--steps 300] [--out DIR]

The grid: 16 x 16 bumps, the quick model, ``--steps`` training steps, 4 keep
fractions x 2 seeds, evaluation of the last checkpoint (DDIM-10, one sample
per condition), no analysis. Three timings on an idle machine:

1. ``run_study`` with the local executor, ``--workers 1`` (2 torch threads);
2. the same with ``--workers 2`` (1 thread each);
3. the same 8 runs by hand in this process (``train_run`` then
   ``evaluate_run``, 2 threads): the study layer's overhead is (1) / (3) - 1
   (goal: under 5%).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from manifold_lens.config import load_config
from manifold_lens.evaluation import evaluate_run
from manifold_lens.studies import run_study
from manifold_lens.training import train_run

STUDY = """[study]
name = "bench"
preset = "quick"
seeds = [0, 1]
[study.set]
"data.image_size" = 16
"train.steps" = {steps}
"train.checkpoint_every" = {steps}
[study.grid]
"data.keep_fraction" = [0.25, 0.5, 0.75, 1.0]
[evaluate]
checkpoints = "last"
steps = 10
samples_per_condition = 1
[analyze]
enabled = false
"""
EVALUATE = {"checkpoints": "last", "steps": 10, "samples_per_condition": 1}


def by_hand(root: Path, steps: int) -> float:
    """The same 8 runs without the study layer, one after another in this process."""
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    for keep in (0.25, 0.5, 0.75, 1.0):
        for seed in (0, 1):
            cfg = load_config("quick", overrides=["data.image_size=16", f"train.steps={steps}",
                                                  f"train.checkpoint_every={steps}", f"data.keep_fraction={keep}",
                                                  f"train.seed={seed}"])
            d = root / f"keep={keep},seed={seed}"
            run = train_run(cfg, d / "run.zarr", progress=False, log=lambda *a: None)
            evaluate_run(run, out=d / "results.zarr", name="default", progress=False, **EVALUATE)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out", help="keep the study folders here (default: a temporary folder)")
    args = ap.parse_args()
    root = Path(args.out or tempfile.mkdtemp(prefix="study-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    study = root / "bench.toml"
    study.write_text(STUDY.format(steps=args.steps))
    print(f"8 runs (16 x 16, quick model, {args.steps} steps, evaluate last checkpoint), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    times = {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        statuses = run_study(study, root / f"workers{workers}", workers=workers, progress=False)
        times[workers] = time.perf_counter() - t0
        done = sum(s["state"] == "done" for s in statuses)
        print(f"  study, --workers {workers} ({2 // workers} thread(s) each): {times[workers]:6.1f} s wall, "
              f"{done}/8 done")
    hand = by_hand(root / "by-hand", args.steps)
    print(f"  the same runs by hand (2 threads):        {hand:6.1f} s wall")
    print(f"  --workers 2 vs 1: {times[1] / times[2]:.2f}x faster; study layer overhead (workers 1 vs by hand): "
          f"{100 * (times[1] / hand - 1):+.1f}%")
    if not args.out:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
