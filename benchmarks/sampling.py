"""Samplers side by side on a trained run: seconds and accuracy of DDPM-1000, DDIM-50, DDIM-20.

    python benchmarks/sampling.py RUN.zarr [--checkpoint STEP] [--samples-per-condition 4]
                                  [--device auto] [--batch-size 512] [--memory]

RUN.zarr is a trained run, e.g. ``manifold-lens train --preset quick --out quick.zarr``.
Each sampler evaluates the same checkpoint (EMA weights when present), the
same conditions and the same initial noise (seed 0) through
``manifold_lens.evaluation.evaluate_run``; the time is wall-clock for sampling
plus localization and scoring (localization is a few ms), and the process CPU
time beside it (steadier than wall time on a shared machine; with CUDA only
wall time means anything). DDIM-S makes S model calls per batch against T for
DDPM, so the model-bound speed-up is T / S (20x for S = 50). Goal: DDIM-50 at
least 15x faster than DDPM-1000 and within 3 accuracy points of it. The
standard error printed beside each accuracy is the binomial one over all
samples (an optimistic bound: samples of one condition are correlated).

``--memory`` also measures the peak RSS of evaluating the last checkpoint vs
all checkpoints (DDIM-20, each in a fresh process): they should be about equal,
because checkpoints are loaded one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

from manifold_lens.evaluation import evaluate_run
from manifold_lens.stores import open_run

CASES = [("ddpm", None), ("ddim", 50), ("ddim", 20)]


def time_case(run, step, sampler, steps, args) -> dict:
    dev = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if args.device == "auto" else args.device))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0, c0 = time.perf_counter(), time.process_time()
    ds = evaluate_run(run, [step], sampler=sampler, steps=steps, samples_per_condition=args.samples_per_condition,
                      device=args.device, batch_size=args.batch_size, progress=False)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    acc = float(ds.accuracy.isel(checkpoint=0))
    n = ds.correct.size
    return {"sampler": f"{sampler}-{ds.attrs['sampler_steps']}", "seconds": seconds, "cpu_seconds": cpu,
            "accuracy": acc,
            "stderr": (acc * (1 - acc) / n) ** 0.5, "n": n, "correct": ds.correct.values.ravel(),
            "phases": ds.phase_fraction.isel(checkpoint=0).values}


def peak_rss_mb(run_path: str, checkpoints: str, args) -> float:
    code = (
        "import resource, sys; from manifold_lens.evaluation import evaluate_run; "
        f"evaluate_run({run_path!r}, {checkpoints!r}, steps=20, samples_per_condition=1, device={args.device!r}, "
        f"batch_size={args.batch_size}, progress=False); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="trained run store (RUN.zarr)")
    ap.add_argument("--checkpoint", type=int, default=None, help="training step (default: the last)")
    ap.add_argument("--samples-per-condition", type=int, default=4)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--memory", action="store_true", help="also compare peak RSS of 1 vs all checkpoints")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()

    run = open_run(args.run)
    step = run.steps[-1] if args.checkpoint is None else args.checkpoint
    cfg = run.config
    print(f"run {run.path}: {cfg.data.family} {cfg.data.image_size}x{cfg.data.image_size}, "
          f"{run.conditions.sizes['condition']} conditions x {args.samples_per_condition} samples, "
          f"checkpoint {step} ({'EMA' if run.has_ema else 'raw'}), T = {cfg.diffusion.timesteps}, "
          f"torch threads {torch.get_num_threads()}, device {args.device}, cpu count {os.cpu_count()}")
    rows = [time_case(run, step, s, k, args) for s, k in CASES]
    ref = rows[0]
    print(f"{'sampler':>10s} {'seconds':>9s} {'speed-up':>9s} {'cpu s':>9s} {'speed-up':>9s} {'accuracy':>9s} {'+-':>5s} "
          f"{'vs DDPM':>8s} {'agree':>6s}   phases A / B / C")
    for r in rows:
        agree = float(np.mean(r["correct"] == ref["correct"]))
        ph = " / ".join(f"{100 * p:.1f}" for p in r["phases"])
        print(f"{r['sampler']:>10s} {r['seconds']:9.1f} {ref['seconds'] / r['seconds']:8.1f}x "
              f"{r['cpu_seconds']:9.1f} {ref['cpu_seconds'] / r['cpu_seconds']:8.1f}x "
              f"{100 * r['accuracy']:8.1f}% {100 * r['stderr']:5.1f} {100 * (r['accuracy'] - ref['accuracy']):+7.1f}pt "
              f"{100 * agree:5.1f}%   {ph}")
    d50 = rows[1]
    print(f"goal DDIM-50 >= 15x faster than DDPM-1000: {ref['seconds'] / d50['seconds']:.1f}x "
          f"({'met' if ref['seconds'] / d50['seconds'] >= 15 else 'NOT met'}); within 3 points: "
          f"{100 * (d50['accuracy'] - ref['accuracy']):+.1f} ({'met' if abs(d50['accuracy'] - ref['accuracy']) <= 0.03 else 'NOT met'})")
    figures = {r["sampler"]: {k: r[k] for k in ("seconds", "cpu_seconds", "accuracy", "stderr", "n")} for r in rows}
    if args.memory:
        one = peak_rss_mb(str(run.path), "last", args)
        every = peak_rss_mb(str(run.path), "all", args)
        print(f"peak RSS, DDIM-20, 1 sample/condition: last checkpoint {one:.0f} MB, all {len(run.steps)} "
              f"checkpoints {every:.0f} MB ({every / one:.2f}x)")
        figures["memory_mb"] = {"last": one, "all": every, "checkpoints": len(run.steps)}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
