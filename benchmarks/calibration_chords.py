"""Calibration of the chord statistics under noise: bias of each, new estimates against clean values and old.

    python benchmarks/calibration_chords.py [--seeds 4] [--draws 4] [--grid 16] [--units 64]

Known codes on a periodic grid x grid lattice of conditions, each embedded
isometrically in ``units`` dims by a random orthonormal frame (seed 0),
built here independently of the code under test except the Clifford torus
(two lines):

- ``factorized``: a(x) + b(y), a and b independent Gaussian vectors per value
  in orthogonal 24-dim subspaces (additive, x-on-y 0, not smooth);
- ``clifford``: (cos tx, sin tx, cos ty, sin ty) / sqrt 2 (additive, smooth);
- ``conjunctive``: 8 x 8 Gaussian bumps over (x, y), width one centre spacing
  (entangled, smooth; the ``conjunctive`` reference);
- ``fourier``: 64 random Fourier features cos(kx tx + ky ty + phi), integer
  frequencies in [-2, 2] (entangled).

Noise: independent Gaussian, the same variance in every unit, condition and
draw; SNR = per-unit signal variance over conditions / per-unit noise
variance (the ``signal_to_noise`` measure stores). For SNR 4, 1, 0.25 and
``draws`` draws, over ``seeds`` noise seeds, it prints the clean value and
the bias (mean +- sd over seeds) of the new estimates
(:func:`manifold_lens.measure`: chord-length-weighted summaries, sign-split
orthogonality and split-draw spectrum with >= 4 draws) and of the old ones
(unweighted mean |cos| / mean cos of the pooled cross-draw Gram; effective
dimension and top-4 share from the draw mean), each against the clean value
of its own definition. Everything runs on CPU; a few minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from manifold_lens.analysis import chords, geometry as geom  # noqa: E402
from manifold_lens.analysis.factorization import ConditionGrid, additive_operators, factorization_score  # noqa: E402
from manifold_lens.analysis.measure import measure  # noqa: E402
from manifold_lens.analysis.metric_variables import COS_BIN_EDGES  # noqa: E402

STATS = ["factorization_score", "continuity_index", "x_on_y_orthogonality", "x_on_x_orthogonality",
         "x_parallelism", "effective_dim", "explained_variance_top4"]
SNRS = (4.0, 1.0, 0.25)


def codes(n: int, units: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The known codes (conditions x units), centred, and the conditions' x, y."""
    gx, gy = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    x, y = gx.ravel().astype(float), gy.ravel().astype(float)
    tx, ty = 2 * np.pi * x / n, 2 * np.pi * y / n
    rng = np.random.default_rng(0)
    m = 8
    centres = 2 * np.pi * np.arange(m) / m
    wrap = lambda d: np.minimum(np.abs(d), 2 * np.pi - np.abs(d))  # noqa: E731
    bx = np.exp(-wrap(tx[:, None] - centres) ** 2 / (2 * (2 * np.pi / m) ** 2))
    by = np.exp(-wrap(ty[:, None] - centres) ** 2 / (2 * (2 * np.pi / m) ** 2))
    k = rng.integers(-2, 3, size=(2, 64))
    raw = {
        "factorized": np.hstack([rng.standard_normal((n, 24))[gx.ravel()], rng.standard_normal((n, 24))[gy.ravel()]]),
        "clifford": np.column_stack([np.cos(tx), np.sin(tx), np.cos(ty), np.sin(ty)]) / np.sqrt(2),
        "conjunctive": (bx[:, :, None] * by[:, None, :]).reshape(n * n, -1),
        "fourier": np.cos(tx[:, None] * k[0] + ty[:, None] * k[1] + rng.uniform(0, 2 * np.pi, 64)),
    }
    out = {}
    for name, c in raw.items():
        c = c - c.mean(axis=0)
        frame = np.linalg.qr(rng.standard_normal((units, c.shape[1])))[0]
        out[name] = c @ frame.T
    return out, x, y


def old_estimates(draws: np.ndarray, grid: ConditionGrid, pairs: dict) -> dict[str, float]:
    """The estimates before split draws: unweighted chord means of the pooled cross-draw Gram, the spectrum of
    the draw mean."""
    gram, cross = geom.draw_grams(draws)
    cross = gram if cross is None else cross
    cell = grid.cell_gram(cross)
    out = {}
    for name in ("x_on_y", "x_on_x", "x_parallelism"):
        key = name if name.endswith("parallelism") else f"{name}_orthogonality"
        out[key] = chords.summarize_cosines(chords.chord_cosines(cell, pairs[name]), name, COS_BIN_EDGES)[0]
    w, _ = geom.top_eigenpairs(gram, 4)
    out["effective_dim"] = geom.effective_dim_from_gram(gram)
    out["explained_variance_top4"] = float(np.sum(w[:4]) / np.trace(gram))
    out["factorization_score"] = factorization_score(cell, additive_operators(grid)[2])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--grid", type=int, default=16)
    ap.add_argument("--units", type=int, default=64)
    args = ap.parse_args(argv)
    t0 = time.time()
    known, x, y = codes(args.grid, args.units)
    grid = ConditionGrid.from_coords(x, y, periodic=True)
    pairs = chords.sample_chord_pairs(grid.index_grid(), 20000, seed=0)
    coords = {"x": ("condition", x), "y": ("condition", y)}

    def run(values):
        dims = ("draw", "condition", "unit") if values.ndim == 3 else ("condition", "unit")
        return measure(xr.DataArray(values, dims=dims, coords=coords), periodic=True, homology=False, embed=())

    print(f"# chord statistics: bias at SNR {', '.join(f'{s:g}' for s in SNRS)} with {args.draws} draws, "
          f"{args.grid} x {args.grid} periodic grid, {args.units} units, {args.seeds} noise seeds")
    print("| code | statistic | clean | " + " | ".join(f"new bias SNR {s:g}" for s in SNRS) + " | clean (old def.) | "
          + " | ".join(f"old bias SNR {s:g}" for s in SNRS) + " |")
    print("|" + " --- |" * (3 + 2 * len(SNRS) + 1))
    for name, code in known.items():
        clean_new = run(code)
        clean_old = old_estimates(code[None], grid, pairs)
        new = {s: [] for s in SNRS}
        old = {s: [] for s in SNRS}
        for snr in SNRS:
            sd = np.sqrt(code.var(axis=0).mean() / snr)
            for seed in range(args.seeds):
                draws = code[None] + sd * np.random.default_rng(seed + 1).standard_normal((args.draws, *code.shape))
                new[snr].append(run(draws))
                old[snr].append(old_estimates(draws, grid, pairs))
        for stat in STATS:
            c_new = float(clean_new[stat])
            c_old = clean_old.get(stat, c_new)
            cells = []
            for snr in SNRS:
                b = np.array([float(m[stat]) for m in new[snr]]) - c_new
                cells.append(f"{b.mean():+.3f} +- {b.std():.3f}")
            olds = []
            for snr in SNRS:
                b = np.array([o.get(stat, np.nan) for o in old[snr]]) - c_old
                olds.append(f"{b.mean():+.3f}" if stat in old[snr][0] else "(same)")
            print(f"| {name} | {stat} | {c_new:.3f} | " + " | ".join(cells) + f" | {c_old:.3f} | "
                  + " | ".join(olds) + " |")
        snr_est = [float(m["signal_to_noise"]) for s in SNRS for m in new[s]]
        print(f"| {name} | signal_to_noise (estimated, truth {', '.join(f'{s:g}' for s in SNRS)}) | | "
              + " | ".join(f"{np.mean(snr_est[i * args.seeds:(i + 1) * args.seeds]):.3f}"
                           for i in range(len(SNRS))) + " | | | | |", flush=True)
    print(f"# {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
