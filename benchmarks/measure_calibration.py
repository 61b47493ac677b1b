"""Calibration of the representation measures on known codes (issue 23): loop counts and chord statistics.

Runs the two parts in turn and prints their tables:

- loop counts (`calibration_loops.py`): circle, cylinder, Clifford torus, 3-D
  ring torus (R/r 1.5-4; even angle grid, arc-length grid, area-uniform random
  samples), sheet, sphere (even and latitude-longitude) and a one-hot code,
  with and without noise: ``betti_1`` and its sensitivity band against the
  truth;
- chord statistics (`calibration_chords.py`): the bias of the factorization
  score, continuity, orthogonality, parallelism, effective dimension and
  explained variance at SNR 4 / 1 / 0.25 with 4 noise draws, the unbiased
  (split-draw) estimates against the clean values and against the draw mean.

    python benchmarks/measure_calibration.py            # both parts, the loop part at 16x16 (--quick)
    python benchmarks/measure_calibration.py --full     # the loop part at 16x16 and 32x32 (much slower)

The tables and what they mean are in docs/science.md (sections 3.4, 6 and 7).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibration_chords  # noqa: E402
import calibration_loops  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the loop part at every size (minutes per 1,000 points)")
    args = ap.parse_args(argv)
    print("== loop counts (benchmarks/calibration_loops.py) ==", flush=True)
    calibration_loops.main([] if args.full else ["--quick"])
    print("\n== chord statistics (benchmarks/calibration_chords.py) ==", flush=True)
    calibration_chords.main([])


if __name__ == "__main__":
    main()
