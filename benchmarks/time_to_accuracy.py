"""Steps and seconds of training until the quick model generates 90 / 95 / 99% correct bumps, for three seeds.

    python benchmarks/time_to_accuracy.py [--preset quick] [--set train.lr=2e-3 ...] [--seeds 0 1 2]
                                          [--steps 1500] [--every 125] [--out DIR] [--keep]

Each seed trains one run (``manifold_lens.training.train_run``) to ``--steps``
with a checkpoint every ``--every`` steps, then evaluates every checkpoint
(``evaluate_run``: DDIM-20, 1 sample per condition, all in-frame conditions,
EMA weights; the settings the studies use). The step to a level is the first
checkpoint whose accuracy reaches it (so it is resolved to ``--every`` steps).
Seconds to a level = that step x the run's measured training seconds per step
(wall clock of the whole training call, checkpoint writes included, divided
by its steps): the checkpoints cost the same in every variant, and sampling
is not training. Run it on an idle machine: the seconds mean nothing while
another process competes for the cores (the steps do not depend on that).
Prints one row per seed and the mean, and a JSON line for the record.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from manifold_lens.config import load_config
from manifold_lens.evaluation import evaluate_run
from manifold_lens.training import train_run

LEVELS = (0.90, 0.95, 0.99)


def first_step(steps: np.ndarray, accuracy: np.ndarray, level: float) -> float:
    """The first checkpoint step whose accuracy reaches ``level`` (NaN when none does)."""
    hit = np.flatnonzero(accuracy >= level)
    return float(steps[hit[0]]) if len(hit) else float("nan")


def one_seed(args, seed: int, folder: Path) -> dict:
    overrides = [*args.set, f"train.seed={seed}", f"train.steps={args.steps}",
                 f"train.checkpoint_every={args.every}", "train.early_checkpoints=0"]
    cfg = load_config(args.preset, None, overrides)
    out = folder / f"seed{seed}.zarr"
    t0 = time.perf_counter()
    train_run(cfg, out, overwrite=out.exists(), device="cpu", progress=False, log=lambda *a: None)
    seconds = time.perf_counter() - t0
    ds = evaluate_run(out, "all", steps=20, samples_per_condition=1, device="cpu", progress=False)
    steps, acc = ds["checkpoint"].values, ds["accuracy"].values
    per_step = seconds / args.steps
    row = {"seed": seed, "train_seconds": seconds, "seconds_per_step": per_step,
           "curve": {int(s): round(float(a), 4) for s, a in zip(steps, acc)}}
    for level in LEVELS:
        s = first_step(steps, acc, level)
        row[f"steps_{level:.2f}"] = s
        row[f"seconds_{level:.2f}"] = s * per_step
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", action="append", default=[], help="config override, e.g. train.lr=2e-3 (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--every", type=int, default=125)
    p.add_argument("--out", type=Path, default=None, help="keep the run stores here (default: a temporary folder)")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}, "
          f"overrides {args.set or 'none'}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        rows = [one_seed(args, s, folder) for s in args.seeds]
    head = f"{'seed':>4} {'s/step':>7}" + "".join(f" {'steps ' + format(v, '.0%'):>10} {'s ' + format(v, '.0%'):>7}"
                                                  for v in LEVELS)
    print(head)
    for r in rows:
        print(f"{r['seed']:>4} {r['seconds_per_step']:7.3f}" + "".join(
            f" {r[f'steps_{v:.2f}']:10.0f} {r[f'seconds_{v:.2f}']:7.1f}" for v in LEVELS))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k.startswith(("steps_", "seconds_"))}
    print(f"{'mean':>4} {np.mean([r['seconds_per_step'] for r in rows]):7.3f}" + "".join(
        f" {mean[f'steps_{v:.2f}']:10.0f} {mean[f'seconds_{v:.2f}']:7.1f}" for v in LEVELS))
    for r in rows:
        print(f"seed {r['seed']} accuracy by step: {r['curve']}")
    print(json.dumps({"preset": args.preset, "overrides": args.set, "rows": rows}))


if __name__ == "__main__":
    main()
