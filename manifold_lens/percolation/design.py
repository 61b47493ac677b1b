"""Designing a percolation study: where the onset of each bump width is, and which keep fractions to train.

:func:`lattice_curves` gives the largest-cluster ratio of a kept subset of an
image's lattice of bump centres, one Newman-Ziff pass per realisation, read
at exactly ``max(1, round(lambda N))`` kept sites as a dataset keeps them.
:func:`design_keep_fractions` fits the test's sigmoid
(:mod:`~manifold_lens.percolation.sigmoid`) to the mean curve of each width
and proposes keep fractions that span each width's sweep from well below to
well above the predicted onset (``min_keep_fraction`` to max(0.75, onset +
0.25)), denser near it, so that a measured onset shifted from the prediction
still lies inside the sweep; with
warnings for widths that never connect or already percolate at the smallest
sensible keep fraction.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from ..datasets import lattice as lattice_axis
from ..errors import ConfigError
from ..versions import package_versions
from .kernels import newman_ziff
from .lattice import lattice_neighbourhood
from .settings import PercolationSettings, PercolationTestSettings, check_overlap, overlap_kind, renamed_keywords
from .sigmoid import FORMULA, onset

__all__ = ["DESIGN_GRID", "check_overlap", "design_keep_fractions", "lattice_curves", "lattice_side",
           "min_keep_fraction"]

_P = PercolationSettings
MIN_KEEP_FRACTION = 0.03  # below this (or 2 sites) a training set is too small to read an onset from
SPAN_HIGH = 0.75          # a design's sweep reaches at least this keep fraction ...
SPAN_ABOVE = 0.25         # ... and at least this far above the predicted onset
MAX_KEEP = 40             # most keep fractions per width a design proposes
MAX_TRIALS = 100_000      # most Newman-Ziff passes per width
MIN_DESIGN_KEEP = PercolationTestSettings.default("min_keep_fractions")  # the test's minimum design
DESIGN_GRID = np.round(np.arange(1, 101) / 100, 2)
DESIGN_TRIALS = 200       # Newman-Ziff passes of a design's predicted curve
CURVE_TRIALS = 100        # passes of lattice_curves by default


def lattice_side(image_size: int, spacing: float) -> int:
    """Sites per side of the lattice of centres 0, d, 2d, ... within an image_size px frame."""
    return len(lattice_axis(0, int(image_size) - 1, float(spacing)))


def min_keep_fraction(n_sites: int) -> float:
    """The smallest sensible keep fraction: max(0.03, 2 / sites), rounded up to 0.01."""
    return float(np.ceil(100 * max(MIN_KEEP_FRACTION, 2.0 / n_sites)) / 100)


def lattice_curves(sigma: float, image_size: int, spacing: float = _P.default("spacing"),
                   threshold: float = _P.default("threshold"), overlap: str = _P.default("overlap"),
                   keep_fractions=DESIGN_GRID, trials: int = CURVE_TRIALS, rng: np.random.Generator | None = None,
                   **retired) -> tuple[np.ndarray, int]:
    """Largest-cluster ratio (largest cluster over kept sites) of the image's lattice at each keep fraction.

    Returns (curves (len(keep_fractions), trials), neighbour count); each
    column is one random order of sites (one realisation), read at
    ``max(1, round(lambda N))`` kept sites. With no neighbours the ratio is
    1 / kept (isolated sites). ``method=`` is the retired name of ``overlap``.
    """
    overlap = overlap_kind(overlap, retired, "lattice_curves")
    renamed_keywords("lattice_curves", retired, {})
    rng = np.random.default_rng(0) if rng is None else rng
    side = lattice_side(image_size, spacing)
    oy, ox, _ = lattice_neighbourhood(sigma, spacing, threshold, (side, side), overlap)
    n = side * side
    kept = np.maximum(1, np.round(np.asarray(keep_fractions, dtype=np.float64) * n).astype(np.int64))
    curves = np.empty((len(kept), trials))
    for t in range(trials):
        largest, _ = newman_ziff(rng.permutation(n), (oy, ox), (side, side))
        curves[:, t] = largest[kept - 1] / kept
    return curves, len(oy)


def _spanning(lc: float, lo: float, keep: int) -> np.ndarray:
    """``keep`` keep fractions from ``lo`` (well below lc) to max(SPAN_HIGH, lc + SPAN_ABOVE) (well above it),
    denser near lc: the points sit at lc + g (edge - lc) for g = sign(u) u^2, u evenly spaced in [-1, 1], so a
    third of them lie within a ninth of the way to either end and an onset shifted by 0.2 still falls between
    two keep fractions inside the sweep."""
    hi = min(1.0, max(SPAN_HIGH, lc + SPAN_ABOVE))
    lc = float(np.clip(lc, lo, hi))
    u = np.linspace(-1, 1, keep)
    g = np.sign(u) * u**2
    lam = np.where(g < 0, lc + g * (lc - lo), lc + g * (hi - lc))
    for decimals in (2, 3):  # the coarsest rounding that keeps the points distinct
        out = np.unique(np.round(lam, decimals))
        if len(out) == keep:
            return out
    return np.unique(np.round(np.linspace(lo, hi, keep), 3))  # an onset at an end: spread evenly instead


def design_keep_fractions(sigmas, image_size: int, keep: int = 8, spacing: float = _P.default("spacing"),
                          threshold: float = _P.default("threshold"), overlap: str = _P.default("overlap"),
                          seed: int = _P.default("seed"), trials: int = DESIGN_TRIALS,
                          progress: bool = True) -> xr.Dataset:
    """Predicted onset per bump width and ``keep`` keep fractions concentrated around it.

    Args:
        sigmas: bump widths (px).
        image_size: frame side (px); the lattice has one site every ``spacing`` px.
        keep: keep fractions to propose per width (6 to 40; the test needs >= 6).
        threshold, overlap: when two training images connect (pixel or continuum overlaps).
        seed, trials: Newman-Ziff passes of the predicted curve.

    Returns a Dataset (dims ``sigma``, ``keep``, ``lambda_grid``) with
    ``lambda_c_predicted`` (midpoint of the sigmoid fitted to the mean
    largest-cluster ratio over keep fractions >= ``min_keep_fraction``),
    ``onset_width``, ``keep_fractions`` (sigma, keep; NaN where the width
    cannot be tested), ``warning`` (sigma; empty when none) and the curve.
    """
    if isinstance(trials, (int, float)) and not isinstance(trials, bool) and float(trials).is_integer() \
            and int(trials) > MAX_TRIALS:
        raise ConfigError(f"trials = {trials}: give 1 to {MAX_TRIALS} Newman-Ziff passes per width")
    overlap = _P(threshold=threshold, overlap=overlap, trials=trials, seed=seed).check().overlap
    sig = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    if sig.size == 0 or not np.all(np.isfinite(sig) & (sig > 0)):
        raise ConfigError(f"sigmas = {sig.tolist()}: give bump widths > 0 in px, e.g. sigmas=[0.3, 0.4, 0.5, 0.7]")
    if int(image_size) < 2:
        raise ConfigError(f"image_size = {image_size}: must be >= 2 px")
    if isinstance(keep, bool) or not float(keep).is_integer() or not MIN_DESIGN_KEEP <= int(keep) <= MAX_KEEP:
        raise ConfigError(f"keep = {keep}: give {MIN_DESIGN_KEEP} to {MAX_KEEP} keep fractions per width (the test "
                          f"needs >= {MIN_DESIGN_KEEP} for a verdict)")
    if isinstance(trials, bool) or not float(trials).is_integer() or not 1 <= int(trials) <= MAX_TRIALS:
        raise ConfigError(f"trials = {trials}: give 1 to {MAX_TRIALS} Newman-Ziff passes per width")
    keep, trials = int(keep), int(trials)
    if not (np.isfinite(spacing) and spacing > 0):
        raise ConfigError(f"spacing = {spacing}: must be a number > 0 (px)")
    side = lattice_side(image_size, spacing)
    n = side * side
    lo = min_keep_fraction(n)
    grid = DESIGN_GRID[DESIGN_GRID >= lo]
    rng = np.random.default_rng(seed)
    rows = []
    for s in tqdm(sig, desc="design", unit="sigma", disable=not progress):
        curves, count = lattice_curves(float(s), image_size, spacing, threshold, overlap, grid, int(trials), rng)
        mean = curves.mean(1)
        fit = onset(grid, mean)
        warning, lam = "", np.full(keep, np.nan)
        if count == 0:
            warning = (f"never connects: no neighbour overlaps >= {threshold:g} at spacing {spacing:g} px, the "
                       "largest cluster is one site at every keep fraction (widen sigma or lower the threshold)")
        elif not fit.ok:
            if mean[0] >= 0.5:  # most kept sites already form one cluster
                warning = (f"always percolates: already connected at the smallest sensible keep fraction {lo:g} "
                           f"(largest cluster {mean[0]:.2f} of kept sites); narrow sigma, widen the spacing or raise "
                           "the threshold")
            else:
                warning = f"no onset: {fit.status}"
        else:
            found = _spanning(fit.lambda_c, lo, keep)
            lam[:len(found)] = found
            if fit.lambda_c - 2 * fit.width < lo:
                warning = (f"onset near the smallest sensible keep fraction {lo:g}: its floor is barely measured "
                           "(nearly always percolates)")
        rows.append((fit, count, warning, lam, mean))
    one = {"units": "1"}
    return xr.Dataset(
        {
            "lambda_c_predicted": ("sigma", [r[0].lambda_c for r in rows], {
                **one, "long_name": "predicted onset (sigmoid midpoint of the largest-cluster ratio)"}),
            "onset_width": ("sigma", [r[0].width for r in rows], {**one, "long_name": "sigmoid width"}),
            "floor": ("sigma", [r[0].floor for r in rows], {**one, "long_name": "sigmoid floor"}),
            "ceiling": ("sigma", [r[0].ceiling for r in rows], {**one, "long_name": "sigmoid ceiling"}),
            "status": ("sigma", np.array([r[0].status for r in rows], dtype=object)),
            "neighbour_count": ("sigma", [r[1] for r in rows], {**one, "long_name": "lattice offsets that connect"}),
            "warning": ("sigma", np.array([r[2] for r in rows], dtype=object)),
            "keep_fractions": (("sigma", "keep"), np.array([r[3] for r in rows]), {
                **one, "long_name": "proposed keep fractions (concentrated around the onset)"}),
            "largest_cluster_ratio": (("sigma", "lambda_grid"), np.array([r[4] for r in rows]), {
                **one, "long_name": "mean largest cluster over kept sites", "description": f"{trials} passes"}),
        },
        coords={"sigma": ("sigma", sig, {"units": "px"}), "keep": np.arange(keep),
                "lambda_grid": ("lambda_grid", grid, {**one, "long_name": "keep fraction"})},
        attrs={"image_size": int(image_size), "spacing": float(spacing), "threshold": float(threshold),
               "overlap": overlap, "lattice": [side, side], "lattice_side": side, "n_sites": n,
               "min_keep_fraction": lo, "trials": int(trials), "seed": int(seed), "onset_model": FORMULA,
               "versions": package_versions()},
    )
