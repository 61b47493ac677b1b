"""The runs of a collected study (:func:`~manifold_lens.studies.open_study`, dim ``run``) by grid point.

Shared by the study's claim computations (:mod:`.scaling`) and its figures
(:mod:`manifold_lens.plot`): the swept coordinates, the groups of runs that
share every other swept value and case, per-run values (or one region's
accuracy), and the mean over seeds with its standard error.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ManifoldLensError


class StudyDataError(ManifoldLensError):
    """A collected study (or results) lacks what a computation or figure needs: one line, what and how to get it.

    ``manifold_lens.plot.FigureDataError`` is this class.
    """


def swept_names(study: xr.Dataset) -> list[str]:
    """The study's swept coordinates, in grid order."""
    names = study.attrs.get("coordinate_names") or {}
    return [n for n in names.values() if n in study.coords]


def study_value(v) -> str:
    """A swept value as text (numbers with ``:g``)."""
    return f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)


def grid_groups(study: xr.Dataset, *keys: str) -> list[tuple[str, np.ndarray]]:
    """(label, run mask) per combination of the swept keys other than ``keys`` and the case, in order of
    appearance."""
    others = [n for n in swept_names(study) if n not in keys]
    if "case" not in keys and "case" in study.coords and any(str(c) for c in study["case"].values):
        others.append("case")
    if "case" in others:  # keys that only the cases set (one value per case) say nothing the case does not
        cases = study["case"].values.tolist()
        others = [o for o in others if o == "case" or any(
            len({v for v, c in zip(study[o].values.tolist(), cases) if c == case}) > 1 for case in set(cases))]
    combos = list(zip(*[study[o].values.tolist() for o in others])) if others else [()] * study.sizes["run"]
    out = []
    for combo in dict.fromkeys(combos):
        mask = np.array([c == combo for c in combos])
        label = ", ".join(f"{o}={study_value(v)}" if o != "case" else f"case {v or '(none)'}"
                          for o, v in zip(others, combo))
        out.append((label, mask))
    return out


def seed_mean(values: np.ndarray) -> tuple[float, float, int]:
    """Mean, standard error over seeds (NaN with one) and the number of finite values."""
    v = values[np.isfinite(values)]
    if not len(v):
        return np.nan, np.nan, 0
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan, len(v)


def study_coord(study: xr.Dataset, key: str, figure: str, hint: str = "") -> str:
    """The name of the study's coordinate for config ``key`` (e.g. ``data.holdout.width`` -> ``width``), found
    by its ``key`` attribute; a one-line :class:`StudyDataError` when the study does not vary it."""
    for name, coord in study.coords.items():
        if coord.attrs.get("key") == key and "run" in coord.dims:
            return str(name)
    raise StudyDataError(f"{figure}: the study does not sweep {key}" + (f" ({hint})" if hint else ""))


def run_values(study: xr.Dataset, var: str) -> np.ndarray:
    """Per-run values of ``var`` or of one region, ``"region:NAME"`` (NaN where a run has no such region)."""
    if var.startswith("region:"):
        region = var.split(":", 1)[1]
        if "accuracy_region" not in study or region not in [str(r) for r in study["region_name"].values]:
            return np.full(study.sizes["run"], np.nan)
        return study["accuracy_region"].sel(region_name=region).values.astype(np.float64)
    return study[var].values.astype(np.float64)


def require(ds, names, what: str, hint: str) -> None:
    """A one-line :class:`StudyDataError` naming the variables of ``names`` that ``ds`` lacks."""
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise StudyDataError(f"{what}: results have no {', '.join(missing)} ({hint})")
