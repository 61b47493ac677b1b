"""Time of ``manifold_lens.measure`` on a 32 x 32 condition grid x 4096 units; prints figures.

    python benchmarks/measure_speed.py [--side 32] [--units 4096] [--repeats 3] [--extras]

Two inputs: white Gaussian activations (a flat spectrum: the slowest case for
the Lanczos eigensolver) and a smooth 2-D manifold (Clifford torus plus random
smooth modes, mapped into the units with small noise). Prints the median wall
time and process CPU time of ``measure`` with default options; ``--extras``
also times a periodic call with persistent homology (ripser), the Isomap and
UMAP embeddings, 4 noise draws (the cross-draw estimator), and the references
an analysis adds: the shuffled null (once per checkpoint) and the pixels and
ideal codes (once per analysis).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import xarray as xr

from manifold_lens.analysis import measure
from manifold_lens.analysis.references import ideal_codes, pixel_code, shuffled_code
from manifold_lens.datasets.render import bump_intensity


def make_inputs(side: int, units: int, seed: int = 0) -> dict[str, xr.DataArray]:
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x, y = gx.ravel().astype(float), gy.ravel().astype(float)
    tx, ty = 2 * np.pi * x / side, 2 * np.pi * y / side
    latent = np.column_stack([np.cos(tx), np.sin(tx), np.cos(ty), np.sin(ty),
                              np.cos(2 * tx) * np.cos(ty), np.sin(tx + ty)])
    smooth = latent @ rng.standard_normal((latent.shape[1], units)) + 0.05 * rng.standard_normal((len(x), units))
    white = rng.standard_normal((len(x), units))
    coords = {"x": ("condition", x), "y": ("condition", y)}
    return {name: xr.DataArray(v.astype(np.float32), dims=("condition", "unit"), coords=coords)
            for name, v in (("white", white), ("smooth", smooth))}


def timed(fn, repeats: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return float(np.median(walls)), float(np.median(cpus))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=32, help="grid side: side^2 conditions")
    ap.add_argument("--units", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--extras", action="store_true", help="also time homology, Isomap and UMAP")
    args = ap.parse_args()
    inputs = make_inputs(args.side, args.units)
    n = args.side**2
    print(f"measure on {n} conditions x {args.units} units ({os.cpu_count()} CPUs, "
          f"median of {args.repeats}; load average {os.getloadavg()[0]:.1f})")
    measure(inputs["smooth"])  # warm-up: imports, first BLAS calls
    for name, da in inputs.items():
        wall, cpu = timed(lambda: measure(da), args.repeats)
        print(f"  default options, {name:6s} activations: {wall:6.2f} s wall, {cpu:6.2f} s CPU")
    if args.extras:
        da = inputs["smooth"]
        cases = {
            "periodic + homology (ripser)": dict(periodic=True, homology=True),
            "embed pca,isomap": dict(embed=("pca", "isomap")),
            "embed pca,umap (after one warm-up)": dict(embed=("pca", "umap")),
        }
        for label, kw in cases.items():
            if "umap" in label:
                measure(da, **kw)  # numba compilation happens once per process
            wall, cpu = timed(lambda: measure(da, **kw), 1)
            print(f"  {label:36s}: {wall:6.2f} s wall, {cpu:6.2f} s CPU")
        rng = np.random.default_rng(1)
        draws = xr.concat([da + 0.5 * rng.standard_normal(da.shape).astype(np.float32) for _ in range(4)], "draw")
        side = args.side
        pixels = pixel_code(bump_intensity(da.x.values, da.y.values, side), da)
        extra = {
            "4 noise draws (cross-draw Gram)": lambda: measure(draws.transpose("condition", "draw", "unit")),
            "reference: shuffled null (per ckpt)": lambda: measure(shuffled_code(da, 0), embed=()),
            "references: pixels + ideal (once)": lambda: [measure(c, embed=()) for c in
                                                         [pixels, *ideal_codes(da).values()]],
        }
        for label, fn in extra.items():
            wall, cpu = timed(fn, 1)
            print(f"  {label:36s}: {wall:6.2f} s wall, {cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
