"""Reference generators scored like the model: what memory alone would score (docs/science.md, section 3).

``nearest``: a generator that memorises its training set. At every evaluated
condition (x, y) it draws the training image of the *nearest training
condition*: Euclidean in (x, y) px (around the torus, as the scorer measures
it, where the evaluated condition's family is ``periodic``), over every
training condition of the run whatever its family (the model is conditioned
on (x, y) alone). Ties (equal squared distance to 1e-9 px^2) go to the lowest
x, then the lowest y, then the lowest candidate index. Its one image per
condition is located and scored exactly as the model's samples are
(:func:`~manifold_lens.evaluation.scoring.locate_samples`,
:func:`~manifold_lens.evaluation.scoring.score`,
:func:`~manifold_lens.evaluation.scoring.aggregate`), so its accuracy per
region is the accuracy a model reaches by snapping each condition to a
trained one. Deterministic (no sampling) and independent of the checkpoint.

By the scorer's geometry (lattice spacing 1 px, tolerance 1 px): in a held-out
band of w lattice columns only the two columns next to the trained ones are
within 1 px of a trained condition, so the band scores 2/w; a cross's
intersection (w x w) needs both coordinates within 1 px, (2/w)^2 (w = 2, 4,
6, 8: 100, 50, 33, 25% in a band). Trained conditions reproduce themselves
(in-distribution close to 100%, short of it only where the scorer rejects a
rendered training image). A stripes-family condition in the frame
(``frame_2d``) is snapped to a 1D stripe example outside it or an in-frame
rim example, and scored as the scorer scores that image.

Stored beside the model's accuracies (:func:`baseline_variables`) without the
``checkpoint`` dim: ``baseline_nearest_accuracy``, ``..._id``, ``..._ood``,
``..._region`` (dim ``region_name``, the same groups as ``accuracy_region``),
``..._condition`` and the memorised condition per evaluated one,
``baseline_nearest_index`` (into the run's candidate lattice) and
``baseline_nearest_distance`` (px).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..datasets.render import render_many
from ..stores import as_strings
from .scoring import aggregate, coordinate_error, locate_samples, score, scored_axes
from .settings import BASELINES, EvaluationSettings

__all__ = ["BASELINES", "BASELINE_LABEL", "baseline_name", "nearest_training", "nearest_baseline",
           "baseline_variables"]

BASELINE_LABEL = {"nearest": "nearest training condition (memorising)"}
AGGREGATES = ("accuracy", "accuracy_id", "accuracy_ood", "accuracy_region", "accuracy_condition")
_TIE = 1e-9  # px^2: squared distances closer than this are a tie
_CHUNK = 512  # evaluated conditions per distance block (memory: _CHUNK x training conditions)


def baseline_name(baseline: str, aggregate_name: str = "accuracy") -> str:
    """The stored name of a baseline's aggregate, e.g. ``baseline_nearest_accuracy_ood``."""
    return f"baseline_{baseline}_{aggregate_name}"


def nearest_training(x, y, train_x, train_y, *, periodic=False, image_size: int | None = None) -> tuple[np.ndarray,
                                                                                                        np.ndarray]:
    """(index into the training arrays, distance in px) of each condition's nearest training condition.

    Distance: Euclidean over (x, y) px, per axis around the torus where
    ``periodic`` (per condition; needs ``image_size``). Ties go to the lowest
    x, then the lowest y, then the lowest training index (see the module docstring).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    tx, ty = np.asarray(train_x, dtype=np.float64), np.asarray(train_y, dtype=np.float64)
    periodic = np.broadcast_to(np.asarray(periodic, dtype=bool), x.shape)
    order = np.lexsort((np.arange(len(tx)), ty, tx))  # the tie rule: lowest x, then y, then index
    tx, ty = tx[order], ty[order]
    index, distance = np.empty(len(x), dtype=np.int64), np.empty(len(x))
    for lo in range(0, len(x), _CHUNK):
        sl = slice(lo, lo + _CHUNK)
        per = periodic[sl, None]
        dx = coordinate_error(x[sl, None], tx[None, :], periodic=per, image_size=image_size)
        dy = coordinate_error(y[sl, None], ty[None, :], periodic=per, image_size=image_size)
        d2 = dx ** 2 + dy ** 2
        first = np.argmax(d2 <= d2.min(axis=1, keepdims=True) + _TIE, axis=1)  # first in tie order
        index[sl] = order[first]
        distance[sl] = np.sqrt(d2[np.arange(len(first)), first])
    return index, distance


def nearest_baseline(candidates: xr.Dataset, conditions: xr.Dataset, *, image_size: int, sigma=(1.0, 1.0),
                     settings: EvaluationSettings | None = None) -> xr.Dataset:
    """The ``nearest`` generator scored at ``conditions`` (dim ``condition``, as evaluated).

    ``candidates`` is the run's whole candidate lattice (x, y, family,
    in_train: where the training conditions are); ``sigma`` (px) the data's
    widths. Returns the variables of :func:`baseline_variables` for
    ``"nearest"`` over the evaluated conditions.
    """
    settings = (settings or EvaluationSettings()).check()
    train = np.flatnonzero(np.asarray(candidates["in_train"].values, dtype=bool))
    cx, cy = (np.asarray(candidates[k].values, dtype=np.float64) for k in ("x", "y"))
    cfam = as_strings(candidates["family"].values).astype(str)
    x, y = (np.asarray(conditions[k].values, dtype=np.float64) for k in ("x", "y"))
    family = as_strings(conditions["family"].values).astype(str)
    pick, distance = nearest_training(x, y, cx[train], cy[train], periodic=family == "periodic",
                                      image_size=image_size)
    src = train[pick]
    sx, sy = (float(s) for s in np.broadcast_to(np.asarray(sigma, dtype=np.float64), (2,)))
    images = render_many(cfam[src], cx[src], cy[src], image_size, sx, sy)[:, None]  # (C, 1, N, N)
    loc = locate_samples(images, conditions, image_size=image_size, sigma=(sx, sy), settings=settings)
    axes = scored_axes(x, y, family, image_size)
    correct, phase = score(loc["x_hat"], loc["y_hat"], loc["n_bumps"], x[:, None], y[:, None], axes=axes[:, None],
                           tolerance=settings.tolerance, periodic=(family == "periodic")[:, None],
                           image_size=image_size, width_ok=loc["width_ok"])
    keep = [c for c in ("in_train", "region", "holdout_region") if c in conditions.coords]
    scored = xr.Dataset({"correct": (("condition", "sample"), correct), "phase": (("condition", "sample"), phase)},
                        coords={c: ("condition", conditions[c].values) for c in keep},
                        attrs={"tolerance_px": float(settings.tolerance)})
    agg = aggregate(scored)
    what = (f"{BASELINE_LABEL['nearest']}: each condition drawn as the rendered training image of its nearest "
            "training condition (Euclidean in x, y; ties: lowest x, then y), located and scored like the model's "
            "samples; one image per condition, no sampling, the same at every checkpoint")
    out = xr.Dataset(coords={"condition": conditions["condition"].values} if "condition" in conditions.coords
                     else None)
    for name in AGGREGATES:
        var = agg[name]
        if "sample" in var.dims:
            var = var.isel(sample=0, drop=True)
        out[baseline_name("nearest", name)] = var.reset_coords(drop=True).assign_attrs(
            {**var.attrs, "long_name": f"{var.attrs.get('long_name', name)}: {BASELINE_LABEL['nearest']}",
             "description": what, "baseline": "nearest"})
    cond_index = (np.asarray(candidates["condition"].values)[src] if "condition" in candidates.coords else src)
    out["baseline_nearest_index"] = ("condition", cond_index.astype(np.int64),
                                     {"long_name": "candidate condition whose training image the nearest baseline "
                                                   "draws", "baseline": "nearest"})
    out["baseline_nearest_distance"] = ("condition", distance,
                                        {"long_name": "distance to the nearest training condition", "units": "px",
                                         "baseline": "nearest"})
    return out


def baseline_variables(candidates: xr.Dataset, conditions: xr.Dataset, *, image_size: int, sigma=(1.0, 1.0),
                       settings: EvaluationSettings | None = None) -> xr.Dataset:
    """Every baseline of ``settings.baselines`` scored at ``conditions`` (an empty Dataset for none)."""
    settings = (settings or EvaluationSettings()).check()
    parts = [nearest_baseline(candidates, conditions, image_size=image_size, sigma=sigma, settings=settings)
             for b in settings.baselines if b == "nearest"]
    return xr.merge(parts, combine_attrs="drop") if parts else xr.Dataset()
