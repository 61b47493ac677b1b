"""Calibration of the loop count ``betti_1`` on known shapes (docs/science.md, section 3).

Prints, for each shape, sampling and noise level, the count of
:func:`manifold_lens.analysis.topology.persistent_homology` against the true
Betti-1 and its sensitivity band (the counts at the neighbouring settings of
the rule; "inconclusive" when they disagree). The shapes are built here, from
their own formulas, independently of the code they check; each is embedded
by a random rotation into 48 units (the one-hot code is its own basis) with
isotropic Gaussian noise of total norm ``noise`` x its RMS radius.

Samplings: ``grid`` (an even angle grid, nx x ny), ``arc`` (the 3-D torus
with its rows' ring samples spaced like its tube's: even in arc length),
``random`` (area-uniform random points), ``latlong`` (a sphere on a latitude-
longitude grid: rows crowd at the poles), ``even`` (a sphere by the Fibonacci
spiral).

    python benchmarks/calibration_loops.py            # the table of docs/science.md (about 15 min, one core)
    python benchmarks/calibration_loops.py --quick    # without the 32 x 32 grids and 400 / 1000 random points
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from manifold_lens.analysis import topology as topo

TRUTH = {"circle": 1, "cylinder": 1, "clifford": 2, "torus3d": 2, "sheet": 0, "sphere": 0, "onehot": 0}


def _grid(nx, ny):
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    return ix.ravel(), iy.ravel()


def _torus(u, v, ratio):
    ring = ratio + np.cos(v)  # r = 1, R = ratio
    return np.column_stack([ring * np.cos(u), ring * np.sin(u), np.sin(v)])


def shape(name: str, sampling: str, nx: int, ny: int, rng, ratio: float = 2.0, n_random: int = 576) -> np.ndarray:
    """Points of a known shape in its own coordinates."""
    ix, iy = _grid(nx, ny)
    ax, ay = 2 * np.pi * ix / nx, 2 * np.pi * iy / ny
    if name == "circle":
        t = 2 * np.pi * np.arange(nx * ny) / (nx * ny)
        return np.column_stack([np.cos(t), np.sin(t)])
    if name == "cylinder":
        return np.column_stack([np.cos(ax), np.sin(ax), iy * 2 * np.pi / nx])
    if name == "clifford":
        if sampling == "random":
            ax, ay = rng.uniform(0, 2 * np.pi, (2, n_random))
        return np.column_stack([np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay)])
    if name == "torus3d":
        if sampling == "random":  # area element (R + r cos v): rejection sampling of v
            u, v = rng.uniform(0, 2 * np.pi, (2, 8 * n_random))
            keep = rng.uniform(0, ratio + 1, 8 * n_random) < ratio + np.cos(v)
            return _torus(u[keep][:n_random], v[keep][:n_random], ratio)
        if sampling == "arc":  # ny tube rows, each ring sampled at the tube's step
            rows = []
            for j in range(ny):
                v = 2 * np.pi * j / ny
                m = int(round(ny * (ratio + np.cos(v))))
                rows.append(_torus(2 * np.pi * (np.arange(m) + 0.5 * (j % 2)) / m, np.full(m, v), ratio))
            return np.concatenate(rows)
        return _torus(ax, ay, ratio)
    if name == "sheet":
        return rng.uniform(0, 1, (n_random, 2)) if sampling == "random" else np.column_stack([ix, iy]).astype(float)
    if name == "sphere":
        if sampling == "latlong":
            th, ph = 2 * np.pi * ix / nx, np.pi * (iy + 0.5) / ny
        else:  # Fibonacci spiral: even
            k = np.arange(nx * ny) + 0.5
            ph, th = np.arccos(1 - 2 * k / (nx * ny)), np.pi * (1 + 5 ** 0.5) * k
        return np.column_stack([np.sin(ph) * np.cos(th), np.sin(ph) * np.sin(th), np.cos(ph)])
    if name == "onehot":
        return np.concatenate([np.eye(nx)[ix], np.eye(ny)[iy]], axis=1).astype(float)
    raise ValueError(name)


def embedded(name, sampling, nx, ny, noise, seed=0, units=48, **kw) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = shape(name, sampling, nx, ny, rng, **kw)
    if name != "onehot":
        frame, _ = np.linalg.qr(rng.standard_normal((units, pts.shape[1])))
        pts = pts @ frame.T
    radius = np.sqrt(np.mean(np.sum((pts - pts.mean(0)) ** 2, axis=1)))
    return pts + noise * radius / np.sqrt(pts.shape[1]) * rng.standard_normal(pts.shape)


def cases(quick: bool = False, part: str = "all"):
    """(shape, sampling, nx, ny, noise, extra) of the table: every shape at 16 x 16 with and without noise, the
    random samples, and (unless ``quick``) the 32 x 32 grids of the shapes that sampling unevenness affects."""
    out = []
    for noise in {"all": (0.0, 0.05), "clean": (0.0,), "noisy": (0.05,), "large": ()}[part]:
        out += [(s, "grid", 16, 16, noise, {}) for s in ("circle", "cylinder", "clifford", "sheet", "onehot")]
        out += [("sphere", "even", 16, 16, noise, {}), ("sphere", "latlong", 16, 16, noise, {})]
        out += [("torus3d", "grid", 16, 16, noise, {"ratio": r}) for r in (1.5, 2.0, 3.0, 4.0)]
        out += [("torus3d", "arc", 16, 16, noise, {"ratio": 2.0})]
        out += [("torus3d", "random", 0, 0, noise, {"ratio": r, "n_random": 576}) for r in (1.5, 2.0, 4.0)]
        out += [(s, "random", 0, 0, noise, {"n_random": 576}) for s in ("clifford", "sheet")]
    if not quick and part in ("all", "large"):
        out += [("torus3d", "random", 0, 0, 0.0, {"ratio": 2.0, "n_random": n}) for n in (400, 1000)]
        out += [("torus3d", "grid", 32, 32, 0.0, {"ratio": r}) for r in (2.0, 4.0)]
        out += [("sphere", "latlong", 32, 32, 0.0, {}), ("clifford", "grid", 32, 32, 0.0, {})]
    return out


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="16x16 grids and 576 random points only")
    parser.add_argument("--part", choices=("all", "clean", "noisy", "large"), default="all",
                        help="a part of the table: without noise, with noise, or the 32 x 32 grids and 400 / 1000 "
                        "random points (to run the parts side by side)")
    args = parser.parse_args(argv)
    print(f"rule: locally scaled (k = {topo.NEIGHBORS}) and plain Rips H1, {topo.NULL_DRAWS} shuffled nulls "
          f"(significance {1 / (topo.NULL_DRAWS + 1):.2f}), death/birth > {topo.MIN_DEATH_BIRTH_RATIO:g} scaled, "
          f"> {topo.PLAIN_MIN_RATIO:g} plain; betti_1 = the smaller count")
    print(f"{'shape':9} {'sampling':8} {'points':>6} {'R/r':>4} {'noise':>5} {'truth':>5} {'betti_1':>7} "
          f"{'band (rule, ratio -/+, alpha .10)':>33} {'verdict':>12} {'s':>5}")
    rows = []
    for name, sampling, nx, ny, noise, kw in cases(args.quick, args.part):
        x = embedded(name, sampling, nx, ny, noise, **kw)
        c = x - x.mean(0)
        t0 = time.time()
        h = topo.persistent_homology(c @ c.T)
        dt = time.time() - t0
        truth = TRUTH[name]
        verdict = ("right" if h.betti_1 == truth else "WRONG") + ("" if h.conclusive else ", inconcl.")
        band = ",".join(str(v) for v in h.band.values())
        print(f"{name:9} {sampling:8} {len(x):6d} {kw.get('ratio', float('nan')):4.1f} {noise:5.2f} {truth:5d} "
              f"{h.betti_1:7d} {band:>33} {verdict:>12} {dt:5.1f}", flush=True)
        rows.append({"shape": name, "sampling": sampling, "points": len(x), "noise": noise, "truth": truth,
                     "betti_1": h.betti_1, "band": dict(h.band), "seconds": dt, **kw})
    right = sum(r["betti_1"] == r["truth"] for r in rows)
    flagged = sum(r["betti_1"] != r["truth"] and len(set(r["band"].values())) > 1 for r in rows)
    print(f"{right} of {len(rows)} right; of the {len(rows) - right} wrong, {flagged} flagged inconclusive by the band")
    return rows


if __name__ == "__main__":
    main()
