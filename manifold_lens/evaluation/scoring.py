"""Scoring generated samples: how many bumps, where, and whether it is correct (docs/science.md, section 3).

* correct: exactly one bump (SOS: one stripe crossing) of the data's width
  and every scored coordinate within ``tolerance`` px of the condition (1 px
  by default; an error within TOLERANCE_SLACK = 1e-4 px above it counts as
  within it, so a bump exactly ``tolerance`` px away, such as the nearest
  baseline's, is not decided by the centre fit's rounding, at most 5.3e-5 px
  on exactly rendered images: ``benchmarks/nearest_baseline.py``).
  Counting (:mod:`~manifold_lens.evaluation.localize`): a blob above half
  the image's peak is a bump, and so is a peak whose fitted height
  exceeds ``second_bump_threshold`` (0.25) of the rendered height, however
  bright the other one is. Width: the fitted width of the located bump along
  each scored axis (SOS: of the stripe carrying it) must lie within a factor
  ``max_width_ratio`` (1.5) of the data's sigma, both taken at least
  MIN_FIT_SIGMA = 0.5 px (narrower is not resolved by 1 px pixels; see
  :func:`width_ok`). A blob three times too wide is not one correct bump
  (docs/science.md, section 6).
  Periodic runs measure the error around the torus, min(|d|, N - |d|).
  A stripes-family condition with one coordinate outside the frame is a 1D
  example carrying only the in-frame coordinate: only that coordinate is
  scored and "one bump" means exactly one stripe along it (coordinate
  ``scored_axes`` = "x" or "y"; "xy" otherwise).
* learning phase: A, not exactly one bump of the right width (no structure:
  several bumps, none, or a blob too wide or too narrow); B, one bump of the
  right width at the wrong place; C, correct.

Aggregates per checkpoint (:func:`aggregate`): ``accuracy`` (all samples),
``accuracy_id`` (conditions in the training set), ``accuracy_ood`` (the
others; NaN when there are none), ``accuracy_region`` (per named region, dim
``region_name``), ``accuracy_condition`` and ``phase_fraction`` (dim
``phase_name``). The groups of ``accuracy_region`` may overlap: a condition
counts under its ``region`` (its role in training: train, unsampled,
frame_2d, or the hold-out that removed it) and, where the conditions carry
``holdout_region`` (:mod:`manifold_lens.datasets.dataset`), also under the
hold-out geometry it lies in. So a stripes run, whose in-frame conditions are
all ``frame_2d``, still reports band_x, band_y and intersection for a cross
in ``data.holdout``, on the same conditions as an SOS run with that cross held
out. Older results without ``holdout_region`` group by ``region`` alone.
The dims are called ``region_name`` and ``phase_name``
because ``region`` is already the per-condition region coordinate and
``phase`` the per-sample phase variable (xarray forbids a variable named like
a dimension it does not index).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..stores import as_strings
from .localize import MIN_FIT_SIGMA, localize
from .settings import EvaluationSettings, renamed_keywords

PHASES = ("A", "B", "C")
TOLERANCE_SLACK = 1e-4  # px: above the centre fit's error on exact renders (<= 5.3e-5 px), below its 0.005 px grid
PHASE_MEANINGS = {
    "A": "not exactly one bump of the data's width (no structure)",
    "B": "one bump of the data's width at the wrong place",
    "C": "one bump at the right place (correct)",
}


def scored_axes(x, y, family, image_size: int) -> np.ndarray:
    """Which coordinates a condition carries: "x" or "y" for a 1D stripe example, else "xy"."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    fam = np.broadcast_to(as_strings(family), x.shape)
    in_x = (x >= 0) & (x <= image_size - 1)
    in_y = (y >= 0) & (y <= image_size - 1)
    out = np.full(x.shape, "xy", dtype=object)
    stripes = fam == "stripes"
    out[stripes & in_x & ~in_y] = "x"
    out[stripes & in_y & ~in_x] = "y"
    return out


def coordinate_error(estimate, target, *, periodic=False, image_size: int | None = None) -> np.ndarray:
    """|estimate - target| in px; around the torus (min(|d|, N - |d|)) where ``periodic``. NaN stays NaN."""
    d = np.abs(np.asarray(estimate, dtype=np.float64) - np.asarray(target, dtype=np.float64))
    periodic = np.asarray(periodic, dtype=bool)
    if periodic.any():
        if image_size is None:
            raise ValueError("coordinate_error: periodic errors need image_size")
        dw = np.mod(d, image_size)
        d = np.where(periodic, np.minimum(dw, image_size - dw), d)
    return d


def width_ok(width_x_hat, width_y_hat, sigma=(1.0, 1.0), *, axes="xy",
             max_width_ratio: float = EvaluationSettings.default("max_width_ratio")) -> np.ndarray:
    """Whether the fitted widths match the data's, per sample; all inputs broadcast together.

    On each axis named in ``axes`` ("xy", "x" or "y", per sample) the fitted
    width and the data's sigma, both raised to MIN_FIT_SIGMA (0.5 px: a pixel
    grid does not resolve narrower Gaussians), must be within a factor
    ``max_width_ratio`` of each other. A NaN width (no bump) is not a match.
    """
    axes = as_strings(axes).astype(str)
    sx, sy = (max(float(s), MIN_FIT_SIGMA) for s in np.broadcast_to(np.asarray(sigma, dtype=np.float64), (2,)))
    ok = []
    for w, s, name in ((width_x_hat, sx, "x"), (width_y_hat, sy, "y")):
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.maximum(np.asarray(w, dtype=np.float64), MIN_FIT_SIGMA) / s
            ok.append((np.maximum(ratio, 1 / ratio) <= max_width_ratio) | (np.char.find(axes, name) < 0))
    return ok[0] & ok[1]


def score(x_hat, y_hat, n_bumps, x, y, *, axes="xy", tolerance: float = EvaluationSettings.default("tolerance"),
          periodic=False,
          image_size: int | None = None, width_ok=True) -> tuple[np.ndarray, np.ndarray]:
    """(correct, phase) per sample; all inputs broadcast together.

    correct = exactly one bump, of the right width (``width_ok``, see
    :func:`width_ok`), and each coordinate named in ``axes`` ("xy", "x" or
    "y", per sample) within ``tolerance`` px (+ TOLERANCE_SLACK); phase "A" (not exactly one bump
    of the right width) / "B" / "C".
    """
    axes = as_strings(axes).astype(str)
    ex = coordinate_error(x_hat, x, periodic=periodic, image_size=image_size)
    ey = coordinate_error(y_hat, y, periodic=periodic, image_size=image_size)
    limit = tolerance + TOLERANCE_SLACK
    with np.errstate(invalid="ignore"):
        ok_x = (ex <= limit) | (np.char.find(axes, "x") < 0)
        ok_y = (ey <= limit) | (np.char.find(axes, "y") < 0)
    one = (np.asarray(n_bumps) == 1) & np.asarray(width_ok, dtype=bool)
    correct = one & ok_x & ok_y
    phase = np.where(~one, "A", np.where(correct, "C", "B")).astype(object)
    return correct, phase


def locate_samples(images, conditions: xr.Dataset, *, image_size: int, sigma=(1.0, 1.0),
                   settings: EvaluationSettings | None = None, **options) -> dict[str, np.ndarray]:
    """Locate images (C, K, N, N) generated at ``conditions`` (dim ``condition``), each (C, K).

    ``settings`` (default :class:`EvaluationSettings`) gives the localizer's
    ``peak_fraction``, ``min_peak``, ``second_bump_threshold`` and the
    ``max_width_ratio``; ``options`` override single ones (``threshold`` is
    the deprecated name of ``peak_fraction``). Returns x_hat, y_hat, n_bumps,
    width_x_hat, width_y_hat and width_ok (:func:`width_ok` on the scored
    axes). For 1D stripe conditions ``n_bumps`` is the number of stripes
    along the carried axis (see :func:`scored_axes`).
    """
    settings = (settings or EvaluationSettings()).replace(**renamed_keywords(options)).check()
    imgs = np.asarray(images)
    C, K = imgs.shape[:2]
    fam = np.repeat(as_strings(conditions["family"].values), K)
    loc = localize(imgs.reshape(C * K, image_size, image_size), fam, sigma=sigma,
                   peak_fraction=settings.peak_fraction, min_peak=settings.min_peak,
                   second_bump_threshold=settings.second_bump_threshold)
    n = loc["n_bumps"].values.copy()
    axes = np.repeat(scored_axes(conditions["x"].values, conditions["y"].values, conditions["family"].values,
                                 image_size), K)
    if "n_stripes_x" in loc:
        n = np.where(axes == "x", loc["n_stripes_x"].values, n)
        n = np.where(axes == "y", loc["n_stripes_y"].values, n)
    out = {k: loc[k].values.reshape(C, K) for k in ("x_hat", "y_hat", "width_x_hat", "width_y_hat")}
    out["n_bumps"] = n.reshape(C, K)
    out["width_ok"] = width_ok(out["width_x_hat"], out["width_y_hat"], sigma, axes=axes.reshape(C, K),
                               max_width_ratio=settings.max_width_ratio)
    return out


def aggregate(ds: xr.Dataset) -> xr.Dataset:
    """Add the accuracy and phase aggregates to per-sample scores (``correct``, ``phase`` over condition, sample)."""
    ds = ds.copy()
    correct = ds["correct"].astype(np.float64)
    in_train = ds["in_train"].values.astype(bool)
    regions = as_strings(ds["region"].values)
    geometry = (as_strings(ds["holdout_region"].values) if "holdout_region" in ds.coords
                else np.full(len(regions), "none"))

    def mean_over(sel: np.ndarray) -> xr.DataArray:
        if not sel.any():
            return xr.full_like(correct.isel(condition=0, sample=0, drop=True), np.nan)
        return correct.isel(condition=np.flatnonzero(sel)).mean(("condition", "sample"))

    attrs = {"units": "1", "tolerance_px": ds.attrs.get("tolerance_px", np.nan)}
    ds["accuracy"] = correct.mean(("condition", "sample")).assign_attrs(
        long_name="generation accuracy, all evaluated conditions", **attrs)
    ds["accuracy_id"] = mean_over(in_train).assign_attrs(
        long_name="generation accuracy, in-distribution (conditions in the training set)", **attrs)
    ds["accuracy_ood"] = mean_over(~in_train).assign_attrs(
        long_name="generation accuracy, out-of-distribution (held-out conditions); NaN when none", **attrs)
    names = sorted(set(regions.tolist()) | (set(geometry.tolist()) - {"none"}))
    ds["accuracy_region"] = xr.concat([mean_over((regions == r) | (geometry == r)) for r in names],
                                      dim="region_name").assign_coords(
        region_name=np.array(names, dtype=object)).assign_attrs(
        long_name="generation accuracy per named region",
        description="a condition counts under its region and under its holdout_region (groups may overlap)",
        **attrs)
    if "checkpoint" in ds["accuracy_region"].dims:
        ds["accuracy_region"] = ds["accuracy_region"].transpose("checkpoint", "region_name")
    ds["accuracy_condition"] = correct.mean("sample").assign_attrs(
        long_name="generation accuracy per condition (fraction of its samples)", **attrs)
    phase = ds["phase"].copy(data=as_strings(ds["phase"].values))
    ds["phase_fraction"] = xr.concat(
        [(phase == p).mean(("condition", "sample")) for p in PHASES], dim="phase_name"
    ).assign_coords(phase_name=np.array(PHASES, dtype=object)).assign_attrs(
        long_name="fraction of samples in each learning phase", units="1",
        description="; ".join(f"{k}: {v}" for k, v in PHASE_MEANINGS.items()))
    if "checkpoint" in ds["phase_fraction"].dims:
        ds["phase_fraction"] = ds["phase_fraction"].transpose("checkpoint", "phase_name")
    return ds
