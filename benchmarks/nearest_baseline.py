"""The memorising baseline on known answers; prints figures.

    python benchmarks/nearest_baseline.py [--image-size 16 32]

1. The centre fit's error on exactly rendered images (bumps and SOS, every
   lattice position, sigma 0.5-3 px): the scorer's TOLERANCE_SLACK (1e-4 px)
   must exceed it, or a condition exactly ``tolerance`` px from a trained one
   would be decided by rounding.
2. The ``nearest`` generator's accuracy per region against the geometry,
   computed here without the localizer: a held-out condition is correct when
   its nearest training condition lies within the tolerance on every scored
   axis. Bands of width w (band_x, both families) and a cross (bands and
   intersection) at w = 2, 4, 6, 8: expected 2/w in a band and (2/w)^2 at the
   intersection (lattice spacing 1 px, tolerance 1 px, N even). The last
   figure is the scorer without the slack: the fit's rounding (1e-14 to 1e-5
   px at an integer centre) then decides the conditions exactly 1 px from a
   trained one, and a band scores anywhere from 0 to 3/4 of 2/w (N = 16).
"""

from __future__ import annotations

import argparse

import numpy as np

from manifold_lens.config import load_config
from manifold_lens.datasets import SyntheticDataset
from manifold_lens.datasets.render import render_many
from manifold_lens.evaluation import nearest_baseline, select_conditions
from manifold_lens.evaluation.localize import localize
from manifold_lens.evaluation import scoring
from manifold_lens.evaluation.scoring import TOLERANCE_SLACK


def fit_error(image_size: int) -> None:
    print(f"1. centre fit error on exact renders, N = {image_size} (max over the lattice, px); "
          f"slack {TOLERANCE_SLACK:g} px")
    g = np.arange(float(image_size))
    x, y = (a.ravel() for a in np.meshgrid(g, g))
    for sigma in (0.5, 1.0, 1.5, 2.0, 3.0):
        row = []
        for family in ("bump", "sos"):
            loc = localize(render_many(family, x, y, image_size, sigma, sigma), family, sigma=sigma)
            err = np.maximum(np.abs(loc.x_hat.values - x), np.abs(loc.y_hat.values - y))
            row.append(f"{family} {np.nanmax(err):.1e}")
        print(f"   sigma {sigma:3.1f}: " + ", ".join(row))


def geometric(data: SyntheticDataset, region: str, tolerance: float = 1.0) -> float:
    """The fraction of a region's conditions whose nearest trained condition is within ``tolerance`` per axis."""
    train = data.train
    sel = (data.region == region) | (data.holdout_region == region)
    ok = []
    for cx, cy in zip(data.x[sel], data.y[sel]):
        d2 = (data.x[train] - cx) ** 2 + (data.y[train] - cy) ** 2
        k = np.flatnonzero(d2 <= d2.min() + 1e-9)
        k = k[np.lexsort((data.y[train][k], data.x[train][k]))][0]
        ok.append(abs(data.x[train][k] - cx) <= tolerance and abs(data.y[train][k] - cy) <= tolerance)
    return float(np.mean(ok))


def baselines(image_size: int) -> None:
    print(f"2. nearest baseline per region, N = {image_size}: scored / geometry / formula / scored without slack")
    for family, kind in (("bump", "band_x"), ("sos", "band_x"), ("bump", "cross"), ("sos", "cross")):
        for w in (2, 4, 6, 8):
            data = SyntheticDataset(load_config("quick", overrides=[
                f"data.image_size={image_size}", f"data.family={family}", f"data.holdout.kind={kind}",
                f"data.holdout.width={w}"]).data)
            cond = select_conditions(data.conditions_dataset())
            acc = nearest_baseline(cond, cond, image_size=image_size, sigma=(data.sigma_x, data.sigma_y))
            acc = acc["baseline_nearest_accuracy_region"]
            scoring.TOLERANCE_SLACK = 0.0
            try:
                bare = nearest_baseline(cond, cond, image_size=image_size, sigma=(data.sigma_x, data.sigma_y))
            finally:
                scoring.TOLERANCE_SLACK = TOLERANCE_SLACK
            bare = bare["baseline_nearest_accuracy_region"]
            cells = []
            for region, formula in (("band_x", 2 / w), ("intersection", (2 / w) ** 2)):
                if region in acc.region_name.values:
                    cells.append(f"{region} {100 * float(acc.sel(region_name=region)):5.1f} / "
                                 f"{100 * geometric(data, region):5.1f} / {100 * min(formula, 1):5.1f} / "
                                 f"{100 * float(bare.sel(region_name=region)):5.1f}%")
            print(f"   {family:4s} {kind:6s} w = {w}: " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, nargs="+", default=[16, 32])
    args = parser.parse_args()
    for n in args.image_size:
        fit_error(n)
        baselines(n)


if __name__ == "__main__":
    main()
